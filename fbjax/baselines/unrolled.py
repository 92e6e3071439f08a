"""Unrolled differentiation (RMD / FMD of SPNBO's Table 1; Franceschi et al. 2017; Sparse-HO's
"forward" and "backward" iterative differentiation).

The solution map is replaced by ``K`` steps of ISTA or FISTA from a fixed start ``y0``:

    ISTA:   y_{k+1} = T(gamma Psi(x), y_k - gamma grad F(y_k))                       (eq. 15)
    FISTA:  y_{k+1} = T(gamma Psi(x), z_k - gamma grad F(z_k)),
            z_{k+1} = y_{k+1} + (t_k - 1)/t_{k+1} (y_{k+1} - y_k)   (no restart: a fixed program)

and ``y_K(x)`` is differentiated with ordinary autodiff: reverse mode through ``lax.scan`` (RMD)
or forward mode (FMD, :func:`fbjax.baselines.hypergradient` with ``mode="forward"``).

Cost, measured in ``fbjax reproduce hypergrad-compare`` and notebook 1:

- RMD stores the ``K`` carries: memory ``O(K p)`` (plus ``O(K n)`` residuals of ``A y``), time
  ``~2-3x`` the ``K``-step solve. ``checkpoint_every=c`` keeps only every ``c``-th carry and
  recomputes segments in the backward pass (``jax.checkpoint``): memory ``O((K/c + c) p)``,
  about one extra forward pass of time.
- FMD propagates the ``p x p`` Jacobian ``dy_k/dx``: memory ``O(p^2)`` independent of ``K``, time
  ``O(K p)`` matrix-vector products.

Where ``S`` is differentiable and ISTA's support has settled, ``dy_K/dx`` converges linearly to
``dS/dx``: the unrolled hypergradient tends to the implicit one (Sparse-HO, fbjax ``policy="null"``
and ``"sc"`` agree there). At a biactive point the iteration map is itself nondifferentiable; the
derivative autodiff takes of the soft-threshold at ``|v| = u`` is the one-sided value JAX's ``max``
picks, an accident of rounding. Supports any :class:`fbjax.SmoothLoss` (dense or BCOO).
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp

from fbjax import _checks, _errors
from fbjax import weights as _w
from fbjax.fb import prox_grad_step
from fbjax.solvers import check_gamma, default_gamma, validate

ALGORITHMS = ("ista", "fista")


def _step(F, w, gamma, algorithm):
    if algorithm == "ista":
        return lambda c: (prox_grad_step(F, w, c[0], gamma), c[1], c[2])

    def fista(c):
        y, z, t = c
        y_new = prox_grad_step(F, w, z, gamma)
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        return y_new, y_new + ((t - 1.0) / t_new) * (y_new - y), t_new

    return fista


def _scan(body, carry, num_iter: int, checkpoint_every: int | None):
    """``num_iter`` applications of ``body``; with ``checkpoint_every`` the segments are rematerialised."""
    _checks.check_count(num_iter=num_iter)
    _checks.check_count(none_ok=True, checkpoint_every=checkpoint_every)
    run = lambda c, k: jax.lax.scan(lambda c_, _: (body(c_), None), c, None, length=k)[0]  # noqa: E731
    if not checkpoint_every or checkpoint_every >= num_iter:
        return run(carry, num_iter)
    segments, rest = divmod(num_iter, checkpoint_every)
    segment = jax.checkpoint(lambda c: run(c, checkpoint_every))
    carry = jax.lax.scan(lambda c, _: (segment(c), None), carry, None, length=segments)[0]
    return run(carry, rest) if rest else carry


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)  # compiled once per shape and settings: an eager
# call (a finite-difference loop) reuses it; one that fails raises its message alone
def unrolled(
    F, x, num_iter: int, psi="exp", *, algorithm: str = "ista", gamma=None, y0=None, checkpoint_every: int | None = None
):
    """``y_K(x)``: ``K = num_iter`` ISTA/FISTA steps from ``y0`` (default 0), differentiable in ``x``
    and in the data of ``F`` by plain autodiff (both modes).

    ``gamma`` defaults to ``0.99 / Lambda_F`` (held fixed: no gradient flows through it).
    ``checkpoint_every`` trades memory for time in reverse mode (see the module docstring).
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    x, y0 = validate(F, x, y0)
    gamma = jax.lax.stop_gradient(default_gamma(F) if gamma is None else check_gamma(F, gamma))
    w = _w.weights(_w.resolve(psi), x)
    one = jnp.ones((), y0.dtype)
    body = _step(F, w, gamma, algorithm)
    return _scan(body, (y0, y0, one), num_iter, checkpoint_every)[0]
