"""What ``solver="auto"`` (coordinate descent finished by FISTA where it stalls) costs against CD alone.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_compile_auto.py [--repeats 5]

For ``jax.jit(jax.value_and_grad(phi))`` with ``phi(x) = ||A_val argmin(F, x) - b_val||^2 / n_val`` on
calibrated designs, and each solver in ``("cd", "auto", "fista")``: the compile time (``lower`` +
``compile``, tracing included; the smaller of two rounds, the solvers alternating, after a warm-up compile)
and the median run time of ``--repeats`` calls. CD converges on these designs, so ``auto`` runs CD's
iterations only and its extra cost is the FISTA branch it compiles.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402

SOLVERS = ("cd", "auto", "fista")


def program(d, solver):
    F = d.lower_level()
    A_val, b_val = jnp.asarray(d.A_val), jnp.asarray(d.b_val)
    return jax.jit(jax.value_and_grad(lambda x: jnp.mean((A_val @ fbjax.argmin(F, x, solver=solver) - b_val) ** 2)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}")
    print("| design | solver | compile (s) | run (ms) | Phi |\n|---|---|---|---|---|")
    for n, p in ((100, 150), (200, 300)):
        d = calibrated_degenerate(0, n, p, 0.95)
        x = jnp.asarray(d.x0)
        program(calibrated_degenerate(1, 20, 30, 0.95), "cd").lower(jnp.zeros(30)).compile()  # one-time costs
        best = {s: float("inf") for s in SOLVERS}
        for _ in range(2):
            for s in SOLVERS:
                t = time.perf_counter()
                compiled = program(d, s).lower(x).compile()
                best[s] = min(best[s], time.perf_counter() - t)
        for s in SOLVERS:
            compiled = program(d, s).lower(x).compile()
            jax.block_until_ready(compiled(x))
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                v, _ = jax.block_until_ready(compiled(x))
                times.append(time.perf_counter() - t)
            print(f"| calibrated n={n} p={p} | {s} | {best[s]:.2f} | {1e3 * statistics.median(times):.2f} | {float(v):.12g} |")


if __name__ == "__main__":
    main()
