"""Which lower-level solver for ``WeightedL1``'s start grid (session 29): the 100-point path with warm starts at
``||R_gamma||_inf <= 1e-8``, as ``fbjax.estimator`` runs it, with

- ``fista``: FISTA at every point (the estimator's grid from session 18 to 28);
- ``sticky``: coordinate descent until the first point where it does not converge within ``k p`` updates,
  FISTA (from CD's point there) to the path's end: the penalties fall along the path, so the supports grow and
  the solves get harder;
- ``reset``: every point tries CD first with a budget of ``k p`` updates (``solver="auto"``'s
  ``cd_then_fista`` with ``CD_EPOCHS = k``).

Each variant is one jitted ``lax.scan`` over the grid (the estimator's program shape); medians of 3 warm runs,
with the best grid index and validation loss. Designs: a random 750 x 3000 one (2% support), the two of
``probe_grid_tol.py``, the small calibrated (0.95, 100, 150) one and the four of ``bench_estimator_sklearn.py``
(seed 0, its training and validation rows).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_grid_solver.py
"""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_estimator_sklearn import DESIGNS  # noqa: E402
from fbjax import solvers  # noqa: E402
from fbjax.baselines.grid import log_grid, scalar_penalties  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from probe_grid_tol import designs as tol_designs, timed  # noqa: E402

TOL = 1e-8
VARIANTS = (("fista", 0), ("sticky", 10), ("sticky", 20), ("reset", 5), ("reset", 10))


def designs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 3000))
    beta = np.zeros(3000)
    beta[:60] = rng.standard_normal(60)
    y = X @ beta + 0.5 * rng.standard_normal(1000)
    yield "random 750 x 3000, 60 nonzeros", X[:750], y[:750], X[750:], y[750:]
    yield from tol_designs()
    d = calibrated_degenerate(0, 100, 150, 0.95)
    yield "calibrated (0.95, 100, 150), seed 0", d.A_train, d.b_train, d.A_val, d.b_val
    for name, make in DESIGNS.items():
        d = make(0)
        yield name + ", seed 0", d.A_train, d.b_train, d.A_val, d.b_val


def path(F, A_val, b_val, kind, k):
    """The grid's validation losses, one solve per point from the previous point's solution."""
    gamma, p = solvers.default_gamma(F), F.n_features
    alpha_max = jnp.max(jnp.abs(F.grad(jnp.zeros(p))))

    def fista(w, y0):
        return solvers.fista(F, w, y0, gamma, TOL).y

    def sticky(w, y0, cd_ok):  # CD within its budget while it has met tol so far; else FISTA from its point
        def cd(y0):
            sol = solvers.coordinate_descent(F, w, y0, gamma, TOL, max_updates=k * p)
            return jax.lax.cond(sol.converged, lambda s: (s.y, True), lambda s: (fista(w, s.y), False), sol)

        return jax.lax.cond(cd_ok, cd, lambda y0: (fista(w, y0), False), y0)

    def step(carry, x):
        y, cd_ok = carry
        w = jnp.exp(x)
        if kind == "sticky":
            y, cd_ok = sticky(w, y, cd_ok)
        elif kind == "reset":  # solver="auto"'s rule, with the budget k p
            y = solvers.cd_then_fista(F, w, y, gamma, TOL).y
        else:
            y = fista(w, y)
        return (y, cd_ok), jnp.mean((A_val @ y - b_val) ** 2)

    xs = scalar_penalties(log_grid(alpha_max), p)
    return jax.lax.scan(step, (jnp.zeros(p), jnp.asarray(True)), xs)[1]


if __name__ == "__main__":
    for name, A, b, A_val, b_val in designs():
        print(name)
        F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / A.shape[0])
        for kind, k in VARIANTS:
            solvers.CD_EPOCHS = k  # cd_then_fista's budget ("reset"), read when the program is traced
            run = jax.jit(lambda F, kind=kind, k=k: path(F, A_val, b_val, kind, k))
            v, t = timed(lambda: jax.block_until_ready(run(F)), 3)
            print(f"  {kind:6s} k = {k:2d}: median {t:.2f} s, best index {int(jnp.argmin(v))}, "
                  f"best loss {float(v.min()):.10g}", flush=True)
