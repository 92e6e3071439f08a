"""Cyclic proximal coordinate descent (the paper's lower-level solver, Sec. 5), dense ``A``.

For ``F(y) = mean_i l(a_i^T y, b_i) + l2/2 ||y||^2`` with ``t = A y`` kept up to date, the update
of coordinate ``j`` with curvature bound ``L_j = c ||A_j||^2 / n + l2`` is

    y_j <- T(psi(x_j) / L_j,  y_j - (A_j^T l'(t) / n + l2 y_j) / L_j),    t <- t + A_j dy_j,

which for least squares is the exact elastic-net coordinate minimisation. Epochs follow the
working-set scheme of glmnet: one sweep over all coordinates, then sweeps over the nonzero ones
until they settle, then the FB residual ``||R_gamma||_inf`` on all coordinates decides whether to
stop. The CPU-friendly solver; BCOO designs use :func:`fbjax.solvers.fista`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fbjax import _checks
from fbjax.fb import residual_and_grad, soft_threshold
from fbjax.losses import LinearModelLoss
from fbjax.solvers._common import Solution


def coordinate_descent(F: LinearModelLoss, w, y0, gamma, tol, max_iter: int = 5_000) -> Solution:
    if not isinstance(F, LinearModelLoss) or _checks.is_sparse(F.A):
        raise ValueError(
            "solver='cd' needs a dense linear-model loss (LeastSquares or Logistic with a dense A); "
            "use solver='fista' for BCOO designs or custom losses"
        )
    A = F.A
    n, p = A.shape
    AT = A.T  # rows are columns of A: contiguous access per coordinate
    L = F.coordinate_lipschitz()

    def update(j, carry):
        y, t, dmax = carry
        a = AT[j]
        g = a @ F.dloss(t, F.b) / n + F.l2 * y[j]
        yj = soft_threshold(w[j] / L[j], y[j] - g / L[j])
        d = yj - y[j]
        t = t + d * a  # exact no-op when d = 0 (bitwise the same as a lax.cond, ~20% faster at p = 3000)
        return y.at[j].set(yj), t, jnp.maximum(dmax, L[j] * jnp.abs(d))

    def sweep(y, t, idx, count):
        return jax.lax.fori_loop(0, count, lambda k, c: update(idx[k], c), (y, t, jnp.zeros((), y.dtype)))

    def active_sweeps(y, t, epochs):
        def cond(s):
            return (s[2] > 0.25 * tol) & (s[3] < max_iter)

        def body(s):
            y, t, _, e = s
            idx = jnp.nonzero(y != 0, size=p, fill_value=0)[0]
            y, t, dmax = sweep(y, t, idx, jnp.sum(y != 0))
            return y, t, dmax, e + 1

        y, t, _, epochs = jax.lax.while_loop(cond, body, (y, t, jnp.asarray(jnp.inf, y.dtype), epochs))
        return y, t, epochs

    def cond(state):
        _, _, k, res, _ = state
        return (res > tol) & (k < max_iter)

    def body(state):
        y, t, k, _, _ = state
        y, t, _ = sweep(y, t, jnp.arange(p), p)
        y, t, k = active_sweeps(y, t, k + 1)
        return (y, t, k, *residual_and_grad(F, w, y, gamma))

    init = (y0, A @ y0, jnp.zeros((), jnp.int32), *residual_and_grad(F, w, y0, gamma))
    y, _, k, res, g = jax.lax.while_loop(cond, body, init)
    return Solution(y, res, k, res <= tol, g)
