"""FISTA with adaptive (gradient) restart, stopping on the FB residual.

    y_{k+1} = T(gamma Psi(x), z_k - gamma grad F(z_k))
    restart (t <- 1, z <- y) when <z_k - y_{k+1}, y_{k+1} - y_k> > 0   (O'Donoghue & Candes, 2015)

Fixed shapes and dense linear algebra only: the GPU-friendly solver, and the one for BCOO ``A``.
The residual ``||R_gamma(x, y)||_inf`` is checked every ``check_every`` iterations at the
returned iterate itself, so ``converged`` certifies the point handed back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fbjax.fb import prox_grad_step, residual_and_grad
from fbjax.losses import SmoothLoss
from fbjax.solvers._common import Solution


def fista(F: SmoothLoss, w, y0, gamma, tol, max_iter: int = 20_000, check_every: int = 10, certify=None) -> Solution:
    """``certify(y) -> (residual, grad)``: the stopping test (default: ``F``'s FB residual at ``y``)."""
    certify = certify or (lambda y: residual_and_grad(F, w, y, gamma))

    def step(_, carry):
        y, z, t = carry
        y_new = prox_grad_step(F, w, z, gamma)
        restart = jnp.vdot(z - y_new, y_new - y) > 0
        t_new = jnp.where(restart, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)))
        z_new = jnp.where(restart, y_new, y_new + ((t - 1.0) / t_new) * (y_new - y))
        return y_new, z_new, jnp.where(restart, 1.0, t_new).astype(t.dtype)

    def cond(state):
        _, k, res, _ = state
        return (res > tol) & (k < max_iter)

    def body(state):
        carry, k, _, _ = state
        carry = jax.lax.fori_loop(0, check_every, step, carry)
        return (carry, k + check_every, *certify(carry[0]))

    one = jnp.ones((), y0.dtype)
    init = ((y0, y0, one), jnp.zeros((), jnp.int32), *certify(y0))
    (y, _, _), k, res, g = jax.lax.while_loop(cond, body, init)
    return Solution(y, res, k, res <= tol, g)
