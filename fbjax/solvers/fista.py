"""FISTA with adaptive (gradient) restart, stopping on the FB residual.

    y_{k+1} = T(gamma Psi(x), z_k - gamma grad F(z_k))
    restart (t <- 1, z <- y) when <z_k - y_{k+1}, y_{k+1} - y_k> > 0   (O'Donoghue & Candes, 2015)

Fixed shapes and dense linear algebra only: the GPU-friendly solver, and the one for BCOO ``A``.
The residual ``||R_gamma(x, y)||_inf`` is checked every ``check_every`` iterations at the
returned iterate itself, so ``converged`` certifies the point handed back.

With ``newton_every = m > 0``, once the signs of ``y`` have not changed over ``m`` checks, FISTA tries a
Newton step on the support ``S`` with those signs ``s``:

    y_S <- y_S - [hess F(y)]_{S,S}^{-1} (grad F(y)_S + w_S s_S),    y_{S^c} = 0,

the exact minimiser of ``F + sum_i w_i s_i y_i`` on ``S`` for least squares (the lower level's solution when
``S`` and ``s`` are right), a Newton step for other losses. It is kept only where the signs on ``S`` hold and it
lowers the residual (FISTA then goes on from it, restarted), so ``converged`` still certifies the point handed
back; a singular block (Cholesky's NaN or a rounding-level pivot) is never kept, nor a step that flips a sign (on
a near-singular block such a step can land far off at a lower residual, where FISTA then crawls). On
ill-conditioned designs FISTA settles the signs long before it meets a tight ``tol`` (after 22% of its
iterations along the estimator's start grid on an AR(1) rho = 0.99 design, ``benchmarks/RESULTS.md``). The
reduced solve is the adjoint's Cholesky on the gathered block (:func:`fbjax.adjoint.dense_solver`) on the smaller
of two static buckets, ``cholesky_max()`` and ``newton_size`` coordinates, that holds the support: a larger
support is not tried. Under ``vmap`` a step due for one member is computed for all (on the bucket of the largest
support) and kept where it was due.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fbjax._batching import batch_switch, zeros_of
from fbjax.adjoint import cholesky_max, dense_solver
from fbjax.fb import prox_grad_step, residual_and_grad
from fbjax.losses import SmoothLoss
from fbjax.solvers._common import Solution


def fista_step(F: SmoothLoss, w, gamma, carry):
    """One FISTA iteration with adaptive restart on ``carry = (y, z, t)`` (the module docstring)."""
    y, z, t = carry
    y_new = prox_grad_step(F, w, z, gamma)
    restart = jnp.vdot(z - y_new, y_new - y) > 0
    t_new = jnp.where(restart, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)))
    z_new = jnp.where(restart, y_new, y_new + ((t - 1.0) / t_new) * (y_new - y))
    return y_new, z_new, jnp.where(restart, 1.0, t_new).astype(t.dtype)


def newton_attempt(F: SmoothLoss, w, gamma, tol, every: int, size: int):
    """``(carry, res, g, signs, since) -> the same``: count the checks over which the signs of ``y`` have not
    changed, and every ``every`` of them try the Newton step on the support (the module docstring), kept where it
    keeps the signs and lowers the residual ``res``; buckets ``cholesky_max()`` and ``size`` (capped at ``p``)."""
    sizes = tuple(sorted({min(k, w.shape[0]) for k in (cholesky_max(), size)}))

    def newton(size):  # (F, w, gamma, y, grad F(y)) -> (y_N, its residual, grad F(y_N)) on a bucket of size
        def branch(operands):  # every traced value an operand: batch_switch's custom_vmap refuses closed-over ones
            F, w, gamma, y, g = operands
            s = jnp.sign(y)
            solve = dense_solver(F, y, gamma * (g + w * s), s != 0, gamma, size, cholesky=True)
            y_new = y + solve(s)  # gamma H_SS q = -gamma (g + w s)_S
            return (y_new, *residual_and_grad(F, w, y_new, gamma))

        return branch

    branches = [newton(k) for k in sizes]

    def attempt(carry, res, g, signs, since):
        s = jnp.sign(carry[0])
        since = jnp.where(jnp.all(s == signs), since + 1, 0)
        count = jnp.sum(s != 0)
        due = (since > 0) & (since % every == 0) & (res > tol) & (count <= sizes[-1])
        bucket = jnp.where(due, 1 + jnp.sum(count > jnp.asarray(sizes[:-1], jnp.int32)), 0)  # 0: no step
        ops = (F, w, gamma, carry[0], g)
        y_new, res_new, g_new = batch_switch(bucket, [zeros_of(branches[0]), *branches], ops)  # vmap: the largest
        # kept where the signs on S hold and the residual drops: a NaN (singular block) never is, nor a step that
        # flips a sign (S or s was wrong; on a near-singular block such a step can land far off at a lower residual)
        keep = due & jnp.all(jnp.sign(y_new) == s) & (res_new < res)
        carry = jax.tree.map(lambda a, b: jnp.where(keep, a, b), (y_new, y_new, jnp.ones_like(carry[2])), carry)
        return carry, jnp.where(keep, res_new, res), jnp.where(keep, g_new, g), s, since

    return attempt


def fista(F: SmoothLoss, w, y0, gamma, tol, max_iter: int = 20_000, check_every: int = 10, certify=None,
          newton_every: int = 0, newton_size: int = 512) -> Solution:
    """``certify(y) -> (residual, grad)``: the stopping test (default: ``F``'s FB residual at ``y``);
    ``newton_every``, ``newton_size``: the Newton step on the support (module docstring; 0: never)."""
    if certify is not None and newton_every:
        raise ValueError("fista: a Newton step is certified by F's own residual; do not pass certify with it")
    certify = certify or (lambda y: residual_and_grad(F, w, y, gamma))
    step = lambda _, carry: fista_step(F, w, gamma, carry)  # noqa: E731
    if newton_every:  # its state (the last signs, the checks since they changed) rides in the loop only then
        attempt = newton_attempt(F, w, gamma, tol, newton_every, newton_size)
        newton_state = (jnp.sign(y0), jnp.zeros((), jnp.int32))
    else:
        newton_state = ()

    def cond(state):
        _, k, res, *_ = state
        return (res > tol) & (k < max_iter)

    def body(state):
        carry, k, _, _, *newton_state = state
        carry = jax.lax.fori_loop(0, check_every, step, carry)
        res, g = certify(carry[0])
        if newton_every:
            carry, res, g, *newton_state = attempt(carry, res, g, *newton_state)
        return carry, k + check_every, res, g, *newton_state

    one = jnp.ones((), y0.dtype)
    init = ((y0, y0, one), jnp.zeros((), jnp.int32), *certify(y0), *newton_state)
    (y, _, _), k, res, g, *_ = jax.lax.while_loop(cond, body, init)
    return Solution(y, res, k, res <= tol, g)
