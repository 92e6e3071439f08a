"""Smoothing + implicit differentiation ("Approx", Pedregosa 2016; SPNBO's Table 1).

The l1 term is replaced by a smooth surrogate ``r_mu(t) ~ |t|`` and the smoothed lower level

    y_mu(x) = argmin_y  E_mu(x, y) = F(y) + sum_i psi(x_i) r_mu(y_i)

is solved to ``||grad_y E_mu||_inf <= tol`` by accelerated gradient with adaptive restart. Its
hypergradient is the implicit function theorem (IFT) on ``grad_y E_mu(x, y) = 0``:

    [hess F(y) + diag(psi(x) r_mu''(y))] q = z,     x_bar = -psi'(x) r_mu'(y) q,

solved matrix-free by conjugate gradients (lineax) inside :func:`jax.lax.custom_root`, so the data
of ``F`` get cotangents too. Surrogates (``kind``):

- ``"be"`` (Berkovier-Engelman / Chen-Mangasarian, the AIP slides' ``sqrt(y^2 + gamma^2)``):
  ``r(t) = sqrt(t^2 + mu^2) - mu``; C^infinity, ``|r - |t|| <= mu``.
- ``"huber"`` (Nesterov smoothing with the prox-function ``t^2/2``): ``r(t) = t^2/(2 mu)`` for
  ``|t| <= mu``, ``|t| - mu/2`` else; C^1 with a piecewise ``r'' = 1/mu`` on ``|t| < mu``.

The price, shown in notebook 3 and the comparison harness: ``y_mu`` is never sparse - every
coordinate the l1 problem sets to zero becomes ``O(mu)`` (BE: ``|y_i| ~ mu |grad_i F| /
sqrt(psi_i^2 - grad_i F^2)``), the smoothed minimiser leaves the l1 boundary (main paper, Fig. 2
left) and the hypergradient is biased by an amount that grows with ``mu``; as ``mu -> 0`` the
solve becomes ill-conditioned (curvature ``psi/mu``). Supports any :class:`fbjax.SmoothLoss`.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from fbjax import _checks, _errors
from fbjax import weights as _w
from fbjax.solvers import validate


class Surrogate(NamedTuple):
    r: Callable
    dr: Callable
    d2r: Callable


def _be(mu):
    s = lambda t: jnp.sqrt(t * t + mu * mu)  # noqa: E731
    return Surrogate(lambda t: s(t) - mu, lambda t: t / s(t), lambda t: mu * mu / s(t) ** 3)


def _huber(mu):
    inside = lambda t: jnp.abs(t) <= mu  # noqa: E731
    return Surrogate(
        lambda t: jnp.where(inside(t), 0.5 * t * t / mu, jnp.abs(t) - 0.5 * mu),
        lambda t: jnp.clip(t / mu, -1.0, 1.0),
        lambda t: jnp.where(inside(t), 1.0 / mu, 0.0),
    )


SURROGATES = {"be": _be, "huber": _huber}

_NOT_CONVERGED = (
    "fbjax.baselines.smoothed_argmin: accelerated gradient did not reach ||grad E_mu||_inf <= tol "
    "within max_iter; raise max_iter or mu (the condition number grows like psi/(mu l2))"
)


def surrogate(kind: str, mu) -> Surrogate:
    """The smooth surrogate ``r_mu`` of ``|t|`` (``"be"`` or ``"huber"``)."""
    try:
        return SURROGATES[kind](mu)
    except KeyError:
        raise ValueError(f"kind must be one of {sorted(SURROGATES)}, got {kind!r}") from None


def _accelerated_gradient(grad, y0, step, tol, max_iter):
    """Nesterov's method with gradient restart on a smooth strongly convex objective."""

    def cond(state):
        _, _, _, k, g = state
        return (jnp.max(jnp.abs(g)) > tol) & (k < max_iter)

    def body(state):
        y, z, t, k, _ = state
        y_new = z - step * grad(z)
        restart = jnp.vdot(z - y_new, y_new - y) > 0
        t_new = jnp.where(restart, 1.0, 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t)))
        z_new = jnp.where(restart, y_new, y_new + ((t - 1.0) / t_new) * (y_new - y))
        return y_new, z_new, t_new.astype(t.dtype), k + 1, grad(y_new)

    one = jnp.ones((), y0.dtype)
    y, _, _, k, g = jax.lax.while_loop(cond, body, (y0, y0, one, jnp.zeros((), jnp.int32), grad(y0)))
    return y, jnp.max(jnp.abs(g)) <= tol


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)  # compiled once per shape and settings: an eager
# call (a finite-difference loop) reuses it; one that fails raises its message alone
def smoothed_argmin(
    F, x, mu, psi="exp", *, kind: str = "be", y0=None, tol=None, max_iter: int = 100_000, cg_rtol=None
):
    """``y_mu(x) = argmin_y F(y) + sum_i psi(x_i) r_mu(y_i)``, differentiable by the IFT.

    Args:
      F: any :class:`fbjax.SmoothLoss`; x: ``(p,)``; mu: smoothing parameter ``> 0``.
      kind: ``"be"`` (``sqrt(t^2+mu^2) - mu``) or ``"huber"``.
      tol: stop when ``||grad_y E_mu||_inf <= tol`` (default 1e-10 float64, 1e-4 float32);
        raises (also under jit) when not reached within ``max_iter``.
      cg_rtol: relative tolerance of the CG adjoint solve (default ``tol``-like: 1e-10 / 1e-5).
    """
    (mu,) = _checks.check_positive(mu=mu)  # a number, or a scalar array (checked when the program runs)
    x, y0 = validate(F, x, y0)
    mu = jnp.asarray(mu, x.dtype)
    tol, max_iter = _checks.budget(tol, max_iter, x.dtype, "||grad E_mu||_inf")
    max_iter = 100_000 if max_iter is None else max_iter
    if cg_rtol is None:
        cg_rtol = 1e-10 if jnp.finfo(x.dtype).bits >= 64 else 1e-5
    (cg_rtol,) = _checks.check_positive(cg_rtol=cg_rtol)
    psi = _w.resolve(psi)
    r = surrogate(kind, mu)

    def grad_E(y):  # closes over F, x, mu: custom_root differentiates through them
        return F.grad(y) + _w.weights(psi, x) * r.dr(y)

    step = 1.0 / (F.lipschitz + jnp.max(_w.weights(psi, x)) / mu)

    def solve(g, y_init):
        y, ok = _accelerated_gradient(g, y_init, jax.lax.stop_gradient(step), tol, max_iter)
        return _errors.error_if(y, ~ok, _NOT_CONVERGED)

    def tangent_solve(matvec, b):
        op = lx.FunctionLinearOperator(matvec, jax.eval_shape(lambda: b), tags=lx.positive_semidefinite_tag)
        # condition number ~ psi/(mu l2): CG needs far more than p steps for small mu (and float32 fails)
        return lx.linear_solve(op, b, lx.CG(rtol=cg_rtol, atol=0.0, max_steps=20 * b.shape[0] + 200)).value

    return jax.lax.custom_root(grad_E, y0, solve, tangent_solve)
