"""Compile and run time of a whole NTRBA run on the ``fbjax.argmin`` oracle (``jax.jit`` of ``fbjax.ntrba``).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_compile_outer.py [--repeats 3] [--baseline-rev REV]
        [--out benchmarks/results/compile_outer.json]

Problems: the calibrated design n=200 p=300 rho=0.95 (60 iterations, the lower level warm-started through
``aux``, as in Table 3) and the random n=2000 p=3000 design of ``bench_hypergradient.py`` (30 iterations,
cold lower-level starts). "compile" is ``lower`` + ``compile`` of the jitted run (tracing included), "run"
the median of ``--repeats`` calls after it. ``--baseline-rev REV`` also times ``fbjax.ntrba`` as it was at
git revision ``REV`` (read with ``git show``), in the same process. After a warm-up compile (a 2-iteration
run: the first trace in a process pays one-time costs), the versions alternate for two rounds and the
smaller compile time and run time of the two rounds are reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_forward_sklearn import at_revision  # noqa: E402
from bench_hypergradient import machine_meta, random_problem, record  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402


def problems():
    d = calibrated_degenerate(0, 200, 300, 0.95)
    yield "calibrated n=200 p=300 rho=0.95, 60 iterations, warm", d.lower_level(), jnp.asarray(d.x0), jnp.asarray(d.A_val), jnp.asarray(d.b_val), 60, True
    F, x, A_val, b_val = random_problem(3000)
    yield "random n=2000 p=3000, 30 iterations, cold", F, x, A_val, b_val, 30, False


def measure(ntrba, F, x, A_val, b_val, max_iter, warm, repeats):
    def phi(x, y0):
        y = fbjax.argmin(F, x, y0=y0)
        return jnp.mean((A_val @ y - b_val) ** 2), y

    if warm:
        fun = jax.value_and_grad(phi, has_aux=True)
        run = jax.jit(lambda x0: ntrba(fun, x0, max_iter=max_iter, radius=0.1, aux0=jnp.zeros_like(x0)))
    else:
        fun = jax.value_and_grad(lambda x: phi(x, None)[0])
        run = jax.jit(lambda x0: ntrba(fun, x0, max_iter=max_iter, radius=0.1))
    t0 = time.perf_counter()
    compiled = run.lower(x).compile()
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = jax.block_until_ready(compiled(x))
        times.append(time.perf_counter() - t0)
    return {"compile_s": compile_s, "run_s": statistics.median(times), "best_value": float(res.best_value)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--out", default="benchmarks/results/compile_outer.json")
    args = ap.parse_args()
    versions = {"this": fbjax.ntrba}
    if args.baseline_rev:
        versions[f"@{args.baseline_rev}"] = at_revision(args.baseline_rev, "fbjax/outer/ntrba.py", "ntrba")
    meta = machine_meta(baseline_rev=args.baseline_rev)
    rows = []
    for i, (name, F, x, A_val, b_val, max_iter, warm) in enumerate(problems()):
        if i == 0:
            measure(fbjax.ntrba, F, x, A_val, b_val, 2, warm, 1)  # warm-up
        row = {"problem": name}
        for _ in range(2):
            for label, ntrba in versions.items():
                for key, val in measure(ntrba, F, x, A_val, b_val, max_iter, warm, args.repeats).items():
                    key = f"{key}{'' if label == 'this' else label}"
                    row[key] = min(row.get(key, val), val) if key.endswith("_s") else val
        record(args.out, meta, rows, row)
    print("\n| problem | version | compile (s) | run (s) | best Phi |\n|---|---|---|---|---|")
    for r in rows:
        for label in versions:
            sfx = "" if label == "this" else label
            print(f"| {r['problem']} | {label} | {r['compile_s' + sfx]:.2f} | {r['run_s' + sfx]:.3f} | {r['best_value' + sfx]:.12g} |")


if __name__ == "__main__":
    main()
