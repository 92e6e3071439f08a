"""Lower-level solvers: ``y ~ S(x) = argmin_y F(y) + sum_i psi(x_i)|y_i|`` to ``||R_gamma||_inf <= tol``.

- :func:`fista`: FISTA with adaptive restart (GPU-friendly; dense or BCOO; any :class:`SmoothLoss`), run by
  ``solver="fista"`` through :func:`fista_any` (an intercept's joint problem for a :class:`fbjax.WithIntercept`);
  ``solver="fista-newton"`` adds a Newton step on the support once FISTA's signs settle (:func:`fista_newton`).
- :func:`coordinate_descent`: cyclic proximal CD on working sets with Anderson extrapolation (CPU-friendly;
  dense linear models, with or without an intercept).

:func:`solve` validates the inputs, picks the solver (``"auto"``: CD for dense linear models, with or without
an intercept, on CPU, finished by FISTA where CD does not reach ``tol`` within its work budget
(:func:`cd_then_fista`); FISTA otherwise) and returns a :class:`Solution` with the convergence certificate.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from fbjax import _checks, _errors
from fbjax import weights as _w
from fbjax.fb import residual_and_grad
from fbjax.intercept import WithIntercept, linear_part
from fbjax.losses import LinearModelLoss, SmoothLoss
from fbjax.solvers._common import Solution
from fbjax.solvers.cd import coordinate_descent
from fbjax.solvers.fista import fista

__all__ = ["Solution", "cd_then_fista", "coordinate_descent", "fista", "fista_any", "fista_newton", "solve",
           "default_gamma", "check_gamma"]


def fista_any(F: SmoothLoss, w, y0, gamma, tol, newton_every: int = 0, **kwargs) -> Solution:
    """:func:`fista`; for a :class:`fbjax.WithIntercept` on the joint problem in ``(y, c')`` (no root per
    gradient: :class:`fbjax.intercept.Joint`) with its own step (:func:`default_gamma` of it), certified by the
    profiled loss's FB residual at ``y`` with the step ``gamma``, and without Newton steps (``newton_every`` is
    ignored there: the joint problem's Hessian block has no gathered form)."""
    if not isinstance(F, WithIntercept):
        return fista(F, w, y0, gamma, tol, newton_every=newton_every, **kwargs)
    J = F.joint()
    certify = lambda z: residual_and_grad(F, w, z[:-1], gamma)  # noqa: E731
    wJ = jnp.append(w, jnp.zeros((), w.dtype))
    sol = fista(J, wJ, J.lift(y0), default_gamma(J), tol, certify=certify, **kwargs)
    return sol._replace(y=sol.y[:-1])


NEWTON_EVERY = 10  # unchanged-sign checks (of 10 iterations each) before fista_newton tries a Newton step: of 3, 5,
# 10, 20 the fastest on the estimator's start grid where it costs most (AR(1), rho 0.99); 5 ties summed over
# eight designs, 3 is 1.5x slower there (more failed tries; RESULTS.md)


def fista_newton(F: SmoothLoss, w, y0, gamma, tol, **kwargs) -> Solution:
    """:func:`fista_any` with a Newton step on the support once the signs of ``y`` have not changed over
    ``NEWTON_EVERY`` checks (:mod:`fbjax.solvers.fista`): the same certificate, far fewer iterations where FISTA
    settles the signs long before it meets ``tol`` (ill-conditioned designs, tight tolerances)."""
    return fista_any(F, w, y0, gamma, tol, newton_every=NEWTON_EVERY, **kwargs)


SOLVERS = {"fista": fista_any, "fista-newton": fista_newton, "cd": coordinate_descent}
NAMES = ("auto", *SOLVERS)  # what ``solver=`` accepts


def default_gamma(F: SmoothLoss):
    """``gamma = 0.99 / Lambda_F``, inside the interval ``(0, 1/Lambda_F)`` of Lemma 10."""
    return 0.99 / F.lipschitz


def check_gamma(F: SmoothLoss, gamma):
    gamma = jnp.asarray(gamma, F.lipschitz.dtype)
    bad = ~((gamma > 0) & (gamma < 1 / F.lipschitz))
    return _errors.error_if(gamma, bad, "step gamma must lie in (0, 1/Lambda_F) (Lemma 10); see F.lipschitz")


CD_EPOCHS = 150  # the work CD may spend before FISTA takes over, in coordinate updates per feature


def cd_then_fista(F: LinearModelLoss, w, y0, gamma, tol, **kwargs) -> Solution:
    """Coordinate descent, finished by FISTA from its last point where it does not reach ``tol`` within
    ``CD_EPOCHS * p`` coordinate updates (the sum of the swept working sets' sizes) or its sweeps. The finish
    takes Newton steps on its settled support (:func:`fista_newton`): CD fails its budget on ill-conditioned
    designs, where FISTA settles the signs long before it meets ``tol`` (an ill-conditioned fit 24% faster,
    every other fit the same; benchmarks/RESULTS.md, "Newton steps on FISTA's settled supports").

    On a well-conditioned design CD converges within that budget, and on large working sets it is
    the faster solver. On an ill-conditioned one (correlated features with a small ridge; unstandardized
    features with large means) a sweep moves ``y`` by about ``R / cond``: CD needs thousands of sweeps
    over large working sets where FISTA's acceleration needs fewer, cheaper iterations, and near ``tol``
    the Anderson extrapolation cannot beat rounding. The budget bounds what CD can lose there
    (benchmarks/RESULTS.md, "solver='auto'"); ``num_iter`` adds both solvers' counts. Where CD
    converges the FISTA branch does not run (under ``vmap``, where ``lax.cond`` runs both branches, it
    costs one gradient: FISTA's initial residual check).
    """
    updates = min(CD_EPOCHS * w.shape[0], 2**31 - 1)  # an int32 counter
    sol = coordinate_descent(F, w, y0, gamma, tol, max_updates=updates, **kwargs)

    def finish(sol):
        more = fista_newton(F, w, sol.y, gamma, tol, **kwargs)
        return more._replace(num_iter=sol.num_iter + more.num_iter)

    return jax.lax.cond(sol.converged, lambda s: s, finish, sol)


def pick_solver(F: SmoothLoss, solver: str):
    if solver == "auto":
        lin = linear_part(F)
        dense_linear = lin is not None and not _checks.is_sparse(lin.A)
        return cd_then_fista if dense_linear and jax.default_backend() == "cpu" else fista_any
    try:
        return SOLVERS[solver]
    except KeyError:
        raise ValueError(f"unknown solver {solver!r}; choose from {NAMES}") from None


def validate(F: SmoothLoss, x, y0=None):
    """Static checks of ``x`` (and ``y0``) against ``F``; returns the arrays with the loss dtype."""
    if not isinstance(F, SmoothLoss):
        raise TypeError(f"F must be a fbjax.SmoothLoss (e.g. LeastSquares, Logistic), got {type(F).__name__}")
    p = F.n_features
    dtype = F.lipschitz.dtype
    x = jnp.asarray(x)
    _checks.check_float("x", x)
    _checks.check_shape("x", x, (p,))
    x = _checks.finite("x", x.astype(dtype))
    if y0 is None:
        y0 = jnp.zeros(p, dtype)
    else:
        y0 = jnp.asarray(y0)
        _checks.check_shape("y0", y0, (p,))
        y0 = _checks.finite("y0", y0.astype(dtype))
    return x, y0


def solve(F: SmoothLoss, x, psi="exp", *, y0=None, gamma=None, tol=None, max_iter=None, solver="auto") -> Solution:
    """Solve the lower level at ``x`` to ``||R_gamma(x, y)||_inf <= tol``; never raises on
    non-convergence (inspect ``Solution.converged``; :func:`fbjax.argmin` raises)."""
    x, y0 = validate(F, x, y0)
    gamma = default_gamma(F) if gamma is None else check_gamma(F, gamma)
    tol, max_iter = _checks.budget(tol, max_iter, x.dtype)
    pick_solver(F, solver)  # fail early on a bad name or an unsupported design
    return _run(F, x, y0, jax.lax.stop_gradient(gamma), _w.resolve(psi), tol, max_iter, solver)


@eqx.filter_jit
def _run(F, x, y0, gamma, psi, tol, max_iter, solver) -> Solution:
    """Compiled once per (loss structure, shapes, configuration); reused by eager callers."""
    kwargs = {} if max_iter is None else {"max_iter": max_iter}
    return pick_solver(F, solver)(F, _w.weights(psi, x), y0, gamma, tol, **kwargs)
