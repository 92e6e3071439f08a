"""``WeightedL1``'s start grid with Newton steps on settled supports (session 32): ``solver="fista-newton"``
(FISTA that tries a Newton step on the support once its signs have not changed over ``NEWTON_EVERY`` checks)
against plain FISTA (the grid's solver since session 18), on the designs of ``probe_grid_solver.py``.

1. The grid alone: the 100-point path with warm starts at ``||R_gamma||_inf <= 1e-8`` as one jitted ``lax.scan``
   (the estimator's program shape): first call (compile and run) and the median of 3 warm runs, FISTA
   iterations over the path, the best grid index and the largest relative difference of the grid's losses.
2. ``WeightedL1(max_iter=30).fit`` with ``fbjax.estimator.GRID_SOLVER_CPU`` set to each (``jax.clear_caches()``
   between, since it is read when the fit is traced), and once more with ``argmin_kw={"solver": "fista-newton"}``
   (the outer run's solves too, not only the grid's): the first fit (compile included) and the median of 2 warm
   fits, with the fitted scalar penalty, validation loss and support; on the first four designs.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_grid_newton.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_grid_newton.py --grid-only --every 3,5,10,20   # the choice of 10
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_grid_newton.py --first-fit 3   # compile cost, fresh processes

``--first-fit R``: the first ``WeightedL1(max_iter=30).fit`` (compile included) in a fresh process per fit, each
grid solver in turn, ``R`` rounds, on the small calibrated design and the AIP (100, 300, 30) one (where a fit
runs in about 0.1 s, so the first fit is its compile).
"""

import argparse
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import estimator, solvers  # noqa: E402
from fbjax.baselines.grid import log_grid, scalar_penalties  # noqa: E402
from probe_grid_solver import designs  # noqa: E402
from probe_grid_tol import timed  # noqa: E402

TOL = 1e-8
SOLVERS = {"fista": 0, "fista-newton": solvers.NEWTON_EVERY}


def grid(A, b, A_val, b_val, variants=SOLVERS):
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / A.shape[0])
    gamma, p = solvers.default_gamma(F), F.n_features
    xs = scalar_penalties(log_grid(jnp.max(jnp.abs(F.grad(jnp.zeros(p))))), p)
    out = {}
    for name, every in variants.items():
        def step(y, x, every=every):
            sol = solvers.fista(F, jnp.exp(x), y, gamma, TOL, newton_every=every)
            return sol.y, (jnp.mean((A_val @ sol.y - b_val) ** 2), sol.num_iter)

        run = jax.jit(lambda F: jax.lax.scan(step, jnp.zeros(p), xs)[1])
        t = time.perf_counter()
        jax.block_until_ready(run(F))
        first = time.perf_counter() - t
        (values, iters), warm = timed(lambda: jax.block_until_ready(run(F)), 3)
        out[name] = values
        print(f"  grid, {name}: first call {first:.2f} s, warm median {warm:.2f} s, {int(iters.sum())} iterations, "
              f"best index {int(jnp.argmin(values))}, best loss {float(values.min()):.10g}")
    a, *others = out.values()
    rel = max(float(jnp.max(jnp.abs(c / a - 1))) for c in others)
    print(f"  largest relative difference of the grid's losses from plain FISTA's: {rel:.1e}")


def fits(A, b, A_val, b_val):
    fitted = {}
    variants = [(name, None) for name in SOLVERS] + [("fista-newton", {"solver": "fista-newton"})]
    for name, kw in variants:
        estimator.GRID_SOLVER_CPU = name
        jax.clear_caches()
        t = time.perf_counter()
        fbjax.WeightedL1(max_iter=30, argmin_kw=kw).fit(A, b, A_val, b_val)
        first = time.perf_counter() - t
        est, warm = timed(lambda: fbjax.WeightedL1(max_iter=30, argmin_kw=kw).fit(A, b, A_val, b_val), 2)
        fitted[name, str(kw)] = est
        print(f"  WeightedL1(max_iter=30{'' if kw is None else f', argmin_kw={kw}'}).fit, grid {name}: first fit "
              f"{first:.2f} s, warm median {warm:.2f} s; alpha_scalar_ {est.alpha_scalar_:.10g}, validation_loss_ "
              f"{est.validation_loss_:.10g}, nnz {int(np.sum(np.abs(est.coef_) > 1e-10))}")
    a, *others = fitted.values()
    for c in others:
        print(f"  penalties against the first fit's: max relative difference "
              f"{float(jnp.max(jnp.abs(c.alpha_ / a.alpha_ - 1))):.1e}")
    estimator.GRID_SOLVER_CPU = "fista-newton"


def first_fits(rounds):
    for i in (3, 4):
        times = {name: [] for name in SOLVERS}
        for _ in range(rounds):
            for name in SOLVERS:
                out = subprocess.run([sys.executable, __file__, "--child", name, str(i)], capture_output=True,
                                     text=True, check=True)
                label, t = out.stdout.strip().rsplit(" ", 1)
                times[name].append(float(t))
        for name, ts in times.items():
            print(f"{label}: first fit, grid {name}: median {np.median(ts):.2f} s ({', '.join(f'{t:.2f}' for t in ts)})")


def child(name, i):
    label, *data = list(designs())[i]
    estimator.GRID_SOLVER_CPU = name
    t = time.perf_counter()
    fbjax.WeightedL1(max_iter=30).fit(*data)
    print(label, time.perf_counter() - t)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
        sys.exit()
    parser = argparse.ArgumentParser()
    parser.add_argument("--first-fit", type=int, default=0, help="rounds of first fits in fresh processes")
    parser.add_argument("--grid-only", action="store_true", help="the grid alone, no fits")
    parser.add_argument("--every", default=str(solvers.NEWTON_EVERY), help="newton_every values, comma-separated")
    args = parser.parse_args()
    if args.first_fit:
        first_fits(args.first_fit)
        sys.exit()
    variants = {"fista": 0, **{f"fista-newton, every {k}": int(k) for k in args.every.split(",")}}
    for i, (name, *data) in enumerate(designs()):
        print(name, flush=True)
        grid(*data, variants)
        if i < 4 and not args.grid_only:
            fits(*data)
