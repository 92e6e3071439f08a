"""Library-GD Sparse-HO at seed 0 against the issue's measurement of the sparse-ho library.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_sparse_ho_gd.py

The issue reports support F1 0.735 at (rho, n, p) = (0.98, 200, 300) and 0.806 at (0.95, 500, 750)
after 50 iterations of the library's GradientDescent (null policy), calibrated design, seed 0; our
``sparse-ho-gd`` row gets 0.612 and 0.775. This prints F1 (at the best and at the last iterate) and
the best validation loss for the ways the library could differ from our run: no box (the library's
GradientDescent does not project), no ridge (its ``WeightedLasso``), its inner tolerance, and the start
(calibrated x0, or the uniform log(f alpha_max)). About 2 minutes on 2 cores.
"""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.baselines import sparse_ho_gd  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.experiments.bilevel import Settings, f1_score  # noqa: E402

VARIANTS = {
    "as in table3 (box, ridge 1/n_train, calibrated x0)": {},
    "no box": dict(box=False),
    "no ridge": dict(l2=0.0),
    "no box, no ridge": dict(box=False, l2=0.0),
    "no box, no ridge, inner tol 1e-5": dict(box=False, l2=0.0, tol=1e-5),
    "start log(alpha_max / 5)": dict(start=0.2),
    "start log(alpha_max / 5), no box, no ridge": dict(start=0.2, box=False, l2=0.0),
    "start log(alpha_max / 10)": dict(start=0.1),
}


def run(rho, n, p, seed=0, box=True, l2=None, tol=1e-10, start=None, iters=50):
    d = calibrated_degenerate(seed, n=n, p=p, rho=rho)
    F = fbjax.LeastSquares(jnp.asarray(d.A_train), jnp.asarray(d.b_train), l2=d.l2 if l2 is None else l2)

    def phi(x, y0):
        y = fbjax.argmin(F, x, policy="null", y0=y0, biactive_rtol=0.0, tol=tol, max_iter=100_000)
        return d.validation_loss(y), jax.lax.stop_gradient(y)

    x0 = jnp.asarray(d.x0) if start is None else jnp.full(p, np.log(start * d.alpha_max))
    bounds = Settings().box_bounds(d.alpha_max)
    x0 = jnp.clip(x0, *bounds) if box else x0
    kw = dict(zip(("lower", "upper"), bounds)) if box else {}
    res = sparse_ho_gd(jax.jit(jax.value_and_grad(phi, has_aux=True)), x0, max_iter=iters,
                       aux0=fbjax.solve(F, x0).y, **kw)  # fmt: skip
    f1 = lambda x: float(f1_score(fbjax.solve(F, x).y, d.beta))  # noqa: E731
    return f1(res.best_x), f1(res.x), float(res.best_value)


for (rho, n, p), issue in (((0.98, 200, 300), 0.735), ((0.95, 500, 750), 0.806)):
    for name, kw in VARIANTS.items():
        best, last, val = run(rho, n, p, **kw)
        print(f"({rho}, {n}, {p}) [issue: {issue}] {name}: F1 best {best:.3f}, last {last:.3f}, best val {val:.4f}",
              flush=True)  # fmt: skip
