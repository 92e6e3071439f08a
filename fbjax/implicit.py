"""``fbjax.argmin``: the solution map ``S`` as a ``jax.custom_vjp`` (Alg. 1, Cor. 13).

Forward: a lower-level solve to ``||R_gamma(x, y)||_inf <= tol``. Backward, for the cotangent
``z = grad_y L`` that reverse mode delivers:

    (u, v) = H(x, y);  codes = partition(u, v)              Alg. 1, Phase 1
    (sigma, q) = policy(codes, z, reduced solve)            Phases 2-3: H_S q_S = -z_S
    x_bar = gamma psi'(x) sigma q                           Phase 4 (eq. 24 without grad_x L)

so ``jax.grad`` of ``x -> L(x, argmin(F, x))`` is ``h = grad_x L + gamma JPsi(x) D q``, an element of
the residual-enlarged subdifferential (Cor. 13); ``grad_x L`` comes from ordinary autodiff.

Cotangents for the data inside ``F`` (``A``, ``b``, ``l2``, ...) follow from the same selected
element: differentiating the reduced optimality system ``grad_S F_theta(y) + Psi_S sigma_S = 0``
gives ``theta_bar = [d_theta grad F_theta(y)]^T (gamma q)``, computed with one ``jax.vjp`` of
``F.grad``. At non-degenerate points both cotangents are the exact derivatives.

Note: the ``"sc"`` policy reads the sign of ``z``, so the backward map is positively homogeneous,
not linear, in ``z``: ``jax.grad`` and ``jax.vjp`` are well defined; linear transposition is not.

Second order, forward over reverse (``jax.hessian`` of ``Phi``, or ``jax.jvp`` of ``jax.grad`` for a
Hessian-vector product): JAX differentiates the forward solver's iterations, and the reduced adjoint has its own
forward-mode rule on the selected set (:mod:`fbjax.adjoint`), so at a non-degenerate point this is ``Phi``'s
Hessian (tested against the closed form on the support). At a degenerate point it is whatever the one-sided
derivatives of the iterations give, not an element of a generalized Hessian. Reverse over reverse (``jax.grad``
of ``jax.grad``) is not available: the solvers' while loops have no reverse-mode rule.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from fbjax import _checks, _errors
from fbjax import weights as _w
from fbjax.adjoint import reduced_adjoint
from fbjax.coderivative import resolve_policy
from fbjax.fb import BIACTIVE_RTOL, forward_map, partition
from fbjax.solvers import check_gamma, default_gamma, pick_solver, validate
from fbjax._checks import budget

_NOT_CONVERGED = (
    "fbjax.argmin: the lower-level solver did not reach ||R_gamma(x, y)||_inf <= tol within max_iter "
    "iterations; raise max_iter, loosen tol, or call fbjax.solve to inspect the residual (tol is absolute, in the "
    "units of grad F: on data of large scale the residual stalls near its rounding floor, about eps Lambda_F "
    "||y||_inf; rescale A and b, as fbjax.WeightedL1 does)"
)


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)
def adjoint_selection(
    F, x, y, z, gamma, psi="exp", policy="sc", biactive_rtol=BIACTIVE_RTOL, adjoint="auto", max_support=None, grad=None,
    biactive_floor=0.0,
):  # fmt: skip
    """Alg. 1, Phases 1-3 at ``y = S(x)``: returns ``(codes, sigma, q)``; ``grad = grad F(y)`` if known."""
    _checks.check_shape("z", z, jnp.shape(y))
    u, v = forward_map(F, x, y, gamma, psi, grad)
    codes = partition(u, v, biactive_rtol, biactive_floor)
    sigma, q = reduced_adjoint(resolve_policy(policy), F, y, z, codes, gamma, adjoint, max_support=max_support)
    return codes, sigma, q


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)
def solution_vjp(
    F, x, y, z, gamma, psi="exp", policy="sc", biactive_rtol=BIACTIVE_RTOL, adjoint="auto", max_support=None, grad=None,
    biactive_floor=0.0,
):  # fmt: skip
    """Cotangents ``(F_bar, x_bar)`` of ``S`` at ``y = S(x)`` for ``z = grad_y L`` (Alg. 1)."""
    _, sigma, q = adjoint_selection(
        F, x, y, z, gamma, psi, policy, biactive_rtol, adjoint, max_support, grad, biactive_floor
    )
    x_bar = gamma * _w.derivative(_w.resolve(psi), x) * sigma * q
    _, pull = jax.vjp(lambda F_: F_.grad(y), F)
    (F_bar,) = pull(gamma * q)
    return F_bar, x_bar


_FORWARD_MODE = (
    "fbjax.argmin has a reverse-mode rule only (a jax.custom_vjp): use jax.grad, jax.vjp or jax.jacrev. Forward "
    "mode (jax.jvp, jax.jacfwd, jax.linearize) applies over reverse mode only: jax.hessian, jax.jvp of jax.grad"
)


@dataclasses.dataclass(frozen=True)
class _Config:
    psi: _w.Weight
    policy: Any
    tol: float
    max_iter: int | None
    solver: str
    biactive_rtol: float
    biactive_floor: float
    adjoint: str
    max_support: int | None
    throw: bool


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)
def _forward(cfg: _Config, F, x, y0, steps):
    """``(S(x), grad F(S(x)))``. Compiled once per configuration, so eager calls (and FD loops) reuse it; inlined
    under jit. An eager call that fails (a solve that does not converge) raises its message alone, not after
    equinox's traceback; so does the forward of an eager ``jax.grad``, whose backward (:func:`solution_vjp`) is
    its own compiled program too (the custom VJP sits outside the compiled programs: inside one, an eager
    ``jax.grad`` would transpose it into a program whose failed check arrives through JAX's callback text)."""
    kwargs = {} if cfg.max_iter is None else {"max_iter": cfg.max_iter}
    sol = pick_solver(F, cfg.solver)(F, _w.weights(cfg.psi, x), y0, steps[0], cfg.tol, **kwargs)
    y = _errors.error_if(sol.y, ~sol.converged, _NOT_CONVERGED) if cfg.throw else sol.y
    return y, sol.grad


def _solve(cfg: _Config, F_static, F_dyn, x, y0, steps):
    """``steps = (gamma, partition_gamma)``: the solver's FB step and the step the backward reads at."""
    return _forward(cfg, eqx.combine(F_dyn, F_static), x, y0, steps)[0]


def _fwd(cfg, F_static, F_dyn, x, y0, steps):
    y, grad = _forward(cfg, eqx.combine(F_dyn, F_static), x, y0, steps)
    return y, (F_dyn, x, y, steps[1], grad)


def _bwd(cfg, F_static, res, z):
    # Only the partition depends on the step: q scales as 1 / gamma, so gamma q and x_bar do not.
    F_dyn, x, y, gamma_p, grad = res
    F = eqx.combine(F_dyn, F_static)
    F_bar, x_bar = solution_vjp(
        F, x, y, z, gamma_p, cfg.psi, cfg.policy, cfg.biactive_rtol, cfg.adjoint, cfg.max_support, grad,
        cfg.biactive_floor,
    )  # fmt: skip
    F_bar_dyn, _ = eqx.partition(F_bar, eqx.is_array)
    return F_bar_dyn, x_bar, None, None


_argmin = jax.custom_vjp(_solve, nondiff_argnums=(0, 1))
_argmin.defvjp(_fwd, _bwd)


def argmin(
    F,
    x,
    psi="exp",
    policy="sc",
    *,
    tol=None,
    max_iter=None,
    solver="auto",
    gamma=None,
    y0=None,
    biactive_rtol=BIACTIVE_RTOL,
    biactive_floor=0.0,
    partition_gamma=None,
    adjoint="auto",
    max_support=None,
    throw=True,
):
    """``S(x) = argmin_y F(y) + sum_i psi(x_i) |y_i|``, differentiable in reverse mode.

    The gradient of ``L(x, S(x))`` is the residual-enlarged subgradient of Alg. 1. The part that
    flows through ``S`` is zero on a coordinate that is inactive and outside the band
    (``|v_i| < u_i``), under every policy. So an outer solver leaves that penalty where it is while
    the coordinate stays off. Start from penalties low enough that the relevant features are active,
    e.g. the best scalar penalty of a grid.

    Args:
      F: the smooth part (:class:`fbjax.LeastSquares`, :class:`fbjax.Logistic`, either with an unpenalised
        intercept profiled out (:class:`fbjax.WithIntercept`), or a :class:`fbjax.SmoothLoss`); differentiable
        (its data get correct cotangents).
      x: hyperparameters, shape ``(p,)``.
      psi: ``"exp"`` (default), ``"softplus"`` or an elementwise callable with ``psi' > 0``.
      policy: biactive selection, ``"sc"`` (Def. 2, default), ``"null"`` (Sparse-HO) or a
        :class:`fbjax.coderivative.Policy`.
      tol: stop when ``||R_gamma(x, y)||_inf <= tol`` (default 1e-10 in float64, 1e-4 in float32). Absolute, in
        the units of ``grad F``: meant for data of unit scale (``R_gamma`` cannot fall much below its rounding
        floor, about ``eps Lambda_F ||y||_inf``, so features or targets of order 1e4 and more need a looser
        ``tol`` or rescaled data; :class:`fbjax.WeightedL1` rescales by powers of two itself).
      max_iter: solver budget (FISTA iterations or CD epochs).
      solver: ``"auto"`` (CD on CPU for dense linear models, intercept or not, finished by FISTA with Newton
        steps where CD fails its budget; FISTA otherwise), ``"cd"``,
        ``"fista"``, ``"fista-newton"`` (FISTA with Newton steps on its settled support: for cold or distant
        starts on ill-conditioned designs, :func:`fbjax.solvers.fista_newton`).
      gamma: FB step in ``(0, 1/Lambda_F)``; default ``0.99 / F.lipschitz``.
      y0: warm start (no gradient flows into it).
      biactive_rtol: relative biactive band of :func:`fbjax.fb.partition` (default 0.1).
      biactive_floor: floor of the band's scale, ``rtol * max(|v|, u, floor)`` (default 0: scale-free;
        1 is the setting behind the paper's published tables and only sound at their calibrated
        start: elsewhere it flags most coordinates as biactive, see :mod:`fbjax.fb`).
      partition_gamma: the step ``> 0`` at which the backward reads the partition, ``H(x, y)`` with
        this step instead of ``gamma`` (default: ``gamma``). The hypergradient depends on it only
        through the band: the reduced adjoint's ``gamma q`` does not depend on the step, and with
        ``biactive_floor = 0`` neither does the band on zero coordinates. The paper's code reads the
        partition at ``1 / max_j ||A_j||^2 / n`` (``fbjax.experiments.bilevel``).
      adjoint: reduced solve, ``"auto"``, ``"dense"`` (gathered block) or ``"cg"`` (masked CG on all p).
        ``"auto"`` switches over gathered buckets, or uses one of size p where p is at most the backend's
        Cholesky limit (:func:`fbjax.adjoint.buckets_for`). CG that stalls (an ill-conditioned working set) is
        finished by Cholesky on the gathered candidate set, up to :func:`fbjax.adjoint.direct_max` coordinates.
      max_support: static size of the one gathered bucket for the reduced solve (skips the bucket
        switch of ``"auto"``: compiles faster, runs somewhat faster); larger working sets fall back to CG.
      throw: raise (also under jit) when the solve does not converge; ``False`` returns the last
        iterate silently - use :func:`fbjax.solve` to get the certificate instead.
    """
    x, y0 = validate(F, x, y0)
    for name, val in (("biactive_rtol", biactive_rtol), ("biactive_floor", biactive_floor)):
        if not (np.isfinite(val) and val >= 0):
            raise ValueError(f"fbjax.argmin: {name} must be a finite number >= 0, got {val!r}")
    gamma = default_gamma(F) if gamma is None else check_gamma(F, gamma)
    tol, max_iter = budget(tol, max_iter, x.dtype)
    if max_support is not None:
        _checks.check_count(**{"fbjax.argmin: max_support": max_support})
    cfg = _Config(
        psi=_w.resolve(psi),
        policy=resolve_policy(policy),
        tol=tol,
        max_iter=max_iter,
        solver=solver,
        biactive_rtol=float(biactive_rtol),
        biactive_floor=float(biactive_floor),
        adjoint=adjoint,
        max_support=None if max_support is None else int(max_support),
        throw=bool(throw),
    )
    pick_solver(F, solver)  # fail early on a bad solver name / unsupported design
    if partition_gamma is None:
        gamma_p = gamma
    else:
        gamma_p = jnp.asarray(partition_gamma, gamma.dtype)
        bad = ~((gamma_p > 0) & jnp.isfinite(gamma_p))
        gamma_p = _errors.error_if(gamma_p, bad, "fbjax.argmin: partition_gamma must be finite and > 0")
    steps = (jax.lax.stop_gradient(gamma), jax.lax.stop_gradient(gamma_p))
    if not _errors.traced((F, x, y0, steps)):  # an eager call, nothing to differentiate: the custom VJP's
        return _forward(cfg, F, x, y0, steps)[0]  # eager dispatch would add about 0.5 ms a call
    F_dyn, F_static = eqx.partition(F, eqx.is_array)
    try:
        return _argmin(cfg, F_static, F_dyn, x, y0, steps)
    except TypeError as e:  # JAX's one line: "can't apply forward-mode autodiff (jvp) to a custom_vjp function."
        if "forward-mode" not in str(e):
            raise
        raise TypeError(_FORWARD_MODE) from None
