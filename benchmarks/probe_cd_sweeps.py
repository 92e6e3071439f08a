"""How many sweeps coordinate descent needs, and what it costs against FISTA, across the designs fbjax is
run on (session 23): the data behind the sweep budget of ``solver="auto"`` (``fbjax.solvers.cd_then_fista``).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cd_sweeps.py [--solvers cd,fista,auto] [--repeats 3]

Per design and uniform penalty ``alpha = r * alpha_max`` (cold start ``y0 = 0``, tol 1e-10, float64):
CD sweeps and FISTA iterations to convergence, and the median warm time of each solver in ``--solvers``
(one compiled program per design and solver, reused over the penalties).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.data import aip_regression, calibrated_degenerate, three_group  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402


def designs():
    for rho, n, p in ((0.90, 100, 150), (0.98, 200, 300), (0.98, 500, 750)):
        d = calibrated_degenerate(0, n, p, rho)
        yield f"calibrated rho={rho} n={n} p={p}", d.A_train, d.b_train, d.l2
    for p, r in ((200, 0.8), (200, 1.0)):
        d = three_group(0, p, r, 0.05)
        yield f"three_group p={p} n/p={r}", d.A_train, d.b_train, d.l2
    for n, m, nz in ((100, 1000, 10), (200, 2000, 20)):
        d = aip_regression(0, n, m, nz)
        yield f"aip n={n} m={m} nz={nz}", d.A_train, d.b_train, d.l2
    for rho, n, p in ((0.9, 400, 600), (0.99, 400, 600)):
        A, b, _, _ = ar1_regression(0, n, p, rho)
        yield f"ar1 rho={rho} n={n} p={p}", A, b, 1.0 / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--solvers", default="cd,fista,auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ratios", default="0.5,0.1,0.02,0.005")
    args = ap.parse_args()
    solvers = args.solvers.split(",")
    ratios = [float(r) for r in args.ratios.split(",")]
    for name, A, b, l2 in designs():
        F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
        alpha_max = float(jnp.max(jnp.abs(F.grad(jnp.zeros(A.shape[1])))))
        print(f"\n{name} (n_train={A.shape[0]}, l2={l2:.2g})")
        fns = {s: jax.jit(lambda F, x, s=s: fbjax.solve(F, x, solver=s, max_iter=200_000)) for s in solvers}
        for r in ratios:
            x = jnp.full(A.shape[1], np.log(r * alpha_max))
            row = [f"  alpha={r:<6g}"]
            for s, f in fns.items():
                sol = f(F, x)
                jax.block_until_ready(sol.y)
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    jax.block_until_ready(f(F, x).y)
                    times.append(time.perf_counter() - t0)
                ok = "" if bool(sol.converged) else " (NOT CONVERGED)"
                row.append(f"{s} {int(sol.num_iter):6d} it {1e3 * statistics.median(times):8.1f} ms{ok}")
            row.append(f"support {int(jnp.sum(sol.y != 0))}")
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
