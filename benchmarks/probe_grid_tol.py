"""The start grid's tolerance in ``WeightedL1`` (session 28): ``||R_gamma||_inf <= 1e-10`` (fbjax's default
tolerance, used before) against ``1e-8`` (the paper code's grid tolerance, ``Settings.grid_tol``; the default now).

1. The 100-point grid alone (``best_scalar_penalty``, FISTA path with warm starts, jitted): median of 3 warm
   runs per tolerance, the best grid index and the largest relative difference of the grid's validation losses.
2. ``WeightedL1(max_iter=30).fit``: both values of ``fbjax.estimator.GRID_TOL``, alternated over 2 rounds
   (``jax.clear_caches()`` between, since the constant is read when the fit is traced), median of the warm fits;
   the fitted ``alpha_scalar_``, ``validation_loss_`` and support compared.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_grid_tol.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import estimator  # noqa: E402
from fbjax.baselines.grid import best_scalar_penalty  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402

TOLS = (1e-10, 1e-8)


def designs():
    d = calibrated_degenerate(0, 500, 750, 0.95)
    yield "calibrated (0.95, 500, 750), seed 0", d.A_train, d.b_train, d.A_val, d.b_val
    A, b, A_val, b_val = ar1_regression(0, 300, 600, 0.99)
    yield "AR(1) rho 0.99, n 300, p 600", A, b, A_val, b_val


def timed(f, repeats):
    out, ts = f(), []  # warm-up (compiles)
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return out, float(np.median(ts))


def grid(A, b, A_val, b_val):
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / A.shape[0])
    alpha_max = jnp.max(jnp.abs(F.A.T @ F.b)) / A.shape[0]
    val = lambda w: jnp.mean((A_val @ w - b_val) ** 2)  # noqa: E731
    values = {}
    for tol in TOLS:
        fit = lambda x, w0, tol=tol: fbjax.solve(F, x, y0=w0, solver="fista", tol=tol).y  # noqa: E731
        run = jax.jit(lambda F: best_scalar_penalty(fit, val, alpha_max, F.n_features)[1])
        v, t = timed(lambda: jax.block_until_ready(run(F)), 3)
        values[tol] = v
        print(f"  grid, tol {tol:g}: median {t:.2f} s, best index {int(jnp.argmin(v))}, best loss {float(v.min()):.10g}")
    rel = float(jnp.max(jnp.abs(values[1e-8] / values[1e-10] - 1)))
    print(f"  largest relative difference of the grid's losses: {rel:.1e}")


def fits(A, b, A_val, b_val):
    times, fitted = {t: [] for t in TOLS}, {}
    for _ in range(2):
        for tol in TOLS:
            estimator.GRID_TOL = tol
            jax.clear_caches()
            est = fbjax.WeightedL1(max_iter=30)
            est, t = timed(lambda est=est: est.fit(A, b, A_val, b_val), 2)
            times[tol].append(t)
            fitted[tol] = est
    for tol in TOLS:
        e = fitted[tol]
        print(f"  WeightedL1(max_iter=30).fit, grid tol {tol:g}: median {np.median(times[tol]):.2f} s "
              f"(rounds {', '.join(f'{t:.2f}' for t in times[tol])}); alpha_scalar_ {e.alpha_scalar_:.10g}, "
              f"validation_loss_ {e.validation_loss_:.10g}, nnz {int(np.sum(np.abs(e.coef_) > 1e-10))}")
    a, c = fitted[1e-10], fitted[1e-8]
    print(f"  penalties: max relative difference {float(jnp.max(jnp.abs(c.alpha_ / a.alpha_ - 1))):.1e}")


if __name__ == "__main__":
    for name, *data in designs():
        print(name)
        grid(*data)
        fits(*data)
