"""Choosing coordinate descent's work budget in ``solver="auto"`` (session 23): CD with ``max_updates = E * p``
coordinate updates, then FISTA from its point (what ``fbjax.solvers.cd_then_fista`` does with ``E = CD_EPOCHS``),
for several ``E`` on ill-conditioned and paper designs, cold start, uniform ``alpha = r * alpha_max``.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cd_budget_choice.py 150,300,600
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cd_budget_choice.py 40,80,200000   # 200000: no budget

Per design, ratio and ``E``: CD sweeps, FISTA iterations after it, warm median of 3 (ms); ``NC``: not converged.
Raw output of session 23: ``benchmarks/results/cd_budget_choice_s23.log``.
"""
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.data import aip_regression, calibrated_degenerate  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402
from fbjax.solvers import coordinate_descent, default_gamma, fista  # noqa: E402

TOL = 1e-10


def budgeted(epochs):
    """CD within ``epochs * p`` updates, then FISTA where it has not converged: (y, CD sweeps, FISTA iterations, converged)."""

    def run(F, x):
        w, gamma = jnp.exp(x), default_gamma(F)
        cd = coordinate_descent(F, w, jnp.zeros_like(x), gamma, TOL, max_iter=200_000, max_updates=epochs * x.shape[0])
        rest = jax.lax.cond(
            cd.converged, lambda s: s._replace(num_iter=jnp.zeros_like(s.num_iter)),
            lambda s: fista(F, w, s.y, gamma, TOL, max_iter=200_000), cd,
        )
        return rest.y, cd.num_iter, rest.num_iter, rest.converged

    return jax.jit(run)


def designs():
    for rho, l2 in ((0.99, None), (0.99, 1e-6), (0.95, None)):
        A, b, _, _ = ar1_regression(0, 400, 600, rho)
        yield f"ar1 {rho} l2={l2}", A, b, l2 or 1 / 400
    d = calibrated_degenerate(0, 500, 750, 0.98)
    yield "cal750", d.A_train, d.b_train, d.l2
    d = aip_regression(0, 200, 2000, 20)
    yield "aip200", d.A_train, d.b_train, d.l2


def main():
    budgets = [int(e) for e in sys.argv[1].split(",")]
    for name, A, b, l2 in designs():
        F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
        alpha_max = float(jnp.max(jnp.abs(F.grad(jnp.zeros(A.shape[1])))))
        fns = {e: budgeted(e) for e in budgets}
        for r in (0.1, 0.02, 0.005, 0.001):
            x = jnp.full(A.shape[1], np.log(r * alpha_max))
            row = [f"{name} a={r}"]
            for e, f in fns.items():
                _, sweeps, iters, ok = jax.block_until_ready(f(F, x))
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    jax.block_until_ready(f(F, x))
                    times.append(time.perf_counter() - t0)
                nc = "" if bool(ok) else " NC"
                row.append(f"S={e}: cd {int(sweeps)} fi {int(iters)} {1e3 * statistics.median(times):7.1f} ms{nc}")
            print(" | ".join(row), flush=True)


if __name__ == "__main__":
    main()
