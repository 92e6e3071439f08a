"""Bregman-smoothed dual forward-backward (Frecon, Salzo & Pontil, NeurIPS 2018; slides ``004_``).

Primal lower level, groups ``l = 1..L`` with masks ``theta_l`` (``theta`` of shape ``(L, p)``):

    w(theta, lam) = argmin_w  f(w) + sum_l lam_l ||theta_l * w||_2,    A_theta w = (theta_l * w)_l.

Dual: ``min_u f*(-A_theta^T u) + sum_l iota_{B(lam_l)}(u_l)``, with ``w = grad f*(-A_theta^T u)``.
The projection onto the dual-norm balls is replaced by the Bregman prox of
``phi_l(u) = -sqrt(lam_l^2 - ||u||^2)`` (``dom phi_l = B(lam_l)``, so the constraint is implicit):

    u^{i+1} = prox^phi(grad phi(u^i) + beta A_theta grad f*(-A_theta^T u^i)),
    (run as v^{i+1} = v^i + beta A_theta grad f*(-A_theta^T prox^phi(v^i)) on v = grad phi(u): the same
    sequence, free of the rounding of sqrt(lam^2 - ||u||^2) at the ball's boundary)
    grad phi_l(u) = u / sqrt(lam_l^2 - ||u||^2),   prox^phi_l(v) = lam_l v / sqrt(1 + ||v||^2),
    w^{(k)} = grad f*(-A_theta^T u^{(k)}),

a smooth map of ``(theta, lam)`` differentiated by unrolling (reverse mode, as Frecon et al.).
``phi_l`` is ``1/lam_l``-strongly convex and ``u -> f*(-A^T u)`` is ``||A_theta||^2/mu_f``-smooth,
so the default step is ``beta = mu_f / (max_l lam_l ||A_theta||^2)``; ``||w^{(k)} - w*||^2 = O(1/k)``
(slides, Thm. 1).

Supported class: ``f = fbjax.LeastSquares`` with ``l2 > 0`` (``grad f*`` is then the linear solve
``(A^T A/n + l2 I)^{-1}(s + A^T b/n)``, one Cholesky factorisation per call); anything else raises.
Groups of size one (``theta=None``) give the weighted-l1 problem with ``lam_i = psi(x_i)``.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from fbjax import _errors
from fbjax import weights as _w
from fbjax.baselines.unrolled import _scan
from fbjax.losses import LeastSquares


def bregman_prox(v, lam):
    """``argmin_u -sqrt(lam^2 - ||u||^2) - <u, v> = lam v / sqrt(1 + ||v||^2)``, group-wise over the
    last axis (``v`` of shape ``(L, m)``, ``lam`` of shape ``(L,)``; ``m = 1`` for singletons)."""
    return lam[:, None] * v / jnp.sqrt(1.0 + jnp.sum(v * v, axis=-1, keepdims=True))


def bregman_grad(u, lam):
    """``grad phi(u) = u / sqrt(lam^2 - ||u||^2)`` group-wise (inverse of :func:`bregman_prox`)."""
    return u / jnp.sqrt(lam[:, None] ** 2 - jnp.sum(u * u, axis=-1, keepdims=True))


def spectral_bregman_prox(v, lam, num_iter: int = 40):
    """``prox^phi(v)`` for ``phi(U) = -sum_i sqrt(lam^2 - sigma_i(U)^2)``, whose domain is the spectral-norm
    ball of radius ``lam`` (the dual ball of the trace norm): ``lam V (I + V^T V)^{-1/2}``, i.e. the
    singular values mapped by ``s -> lam s / sqrt(1 + s^2)`` as in :func:`bregman_prox`.

    ``v`` of shape ``(L, m, k)``, ``lam`` of shape ``(L,)``. The inverse square root of ``S = I + V^T V``
    (the smaller side) comes from ``num_iter`` coupled Newton-Schulz steps on ``S / tr S`` (matmuls only:
    reverse mode stays finite where ``V^T V`` has repeated eigenvalues, unlike an ``eigh`` whose
    derivative divides by eigenvalue gaps); 40 steps cover ``tr S`` up to about ``1e13``. In float32 it
    breaks down (non-finite) once ``1 / tr S`` falls below the float32 resolution, i.e. ``||V||`` of a few
    thousand, which the dual FB iterate reaches after a few thousand steps: use float64 for long runs.
    """
    tall = v.shape[-2] >= v.shape[-1]
    G = jnp.swapaxes(v, -1, -2) @ v if tall else v @ jnp.swapaxes(v, -1, -2)
    eye = jnp.eye(G.shape[-1], dtype=v.dtype)
    S = eye + G
    c = jnp.trace(S, axis1=-2, axis2=-1)[..., None, None]

    def step(_, YZ):
        Y, Z = YZ
        T = 0.5 * (3.0 * eye - Z @ Y)
        return Y @ T, T @ Z

    Z = jax.lax.fori_loop(0, num_iter, step, (S / c, jnp.broadcast_to(eye, S.shape)))[1] / jnp.sqrt(c)
    return lam[:, None, None] * (v @ Z if tall else Z @ v)


def conjugate_parts(F: LeastSquares):
    """``(chol, c, mu_f)``: ``grad f*(s) = M^{-1}(s + c)`` with ``M = hess F = chol chol^T``, ``c = A^T b / n``,
    and ``mu_f = lambda_min(M)`` (arrays, so that it vmaps over tasks)."""
    if not isinstance(F, LeastSquares):
        raise TypeError(
            f"the Bregman dual forward-backward needs grad f* in closed form: F must be fbjax.LeastSquares, got {type(F).__name__}"
        )
    n, p = F.A.shape
    A = F.A.todense() if hasattr(F.A, "todense") else F.A
    M = A.T @ A / n + F.l2 * jnp.eye(p, dtype=A.dtype)
    ev = jax.lax.stop_gradient(jnp.linalg.eigvalsh(M))
    mu_f = ev[0]
    # f must be strongly convex (mu_f above rounding level); otherwise NaN, which dual_fb's finite check
    # turns into an error. The select also orders the factorisation after eigvalsh: two batched LAPACK
    # calls side by side under vmap deadlock a 2-thread XLA:CPU pool (jaxlib 0.10; tests/test_batched_lapack.py).
    M = jnp.where(mu_f > p * jnp.finfo(M.dtype).eps * ev[-1], M, jnp.nan)
    return jsl.cho_factor(M, lower=True)[0], F.b @ A / n, mu_f


def conjugate_solve(chol, c, s):
    """``grad f*(s) = M^{-1}(s + c)`` from :func:`conjugate_parts`."""
    return jsl.cho_solve((chol, True), s + c)


_NOT_STRONG = "f not strongly convex (l2 = 0 with fewer samples than features?) or data that are not finite"


def conjugate_gradient_map(F: LeastSquares):
    """``(grad f*, mu_f)`` for ``f = F``: ``grad f*(s) = M^{-1}(s + A^T b / n)``, ``M = hess F``."""
    chol, c, mu_f = conjugate_parts(F)
    return (lambda s: conjugate_solve(chol, c, s)), mu_f


def _default_step(mu_f, lam, theta=None):
    """``beta = mu_f / (max_l lam_l ||A_theta||^2)`` with ``||A_theta||^2 = max_j sum_l theta_{l,j}^2`` (1 for
    singleton groups), held fixed in autodiff."""
    norm_A = 1.0 if theta is None else jnp.max(jnp.sum(theta * theta, axis=0))
    return mu_f / jax.lax.stop_gradient(jnp.max(lam) * norm_A)


def _positive(lam, who):
    """``lam``, raising unless every group penalty is ``> 0`` (``phi_l`` needs the ball ``B(lam_l)``)."""
    return _errors.error_if(lam, ~jnp.all(lam > 0), f"fbjax.baselines.{who}: the penalties lam must all be > 0")


def _iterate(primal, A_op, prox, step, v0, w0, num_iter, checkpoint_every, who, hint=_NOT_STRONG):
    """The Bregman dual FB on ``v = grad phi(u)`` (so ``u = prox^phi(v)``):
    ``v <- v + beta A grad f*(-A^* u)``, the same sequence as the u-form without evaluating
    ``sqrt(lam^2 - ||u||^2)``, which rounds to 0 when ``||v||`` is large; returns ``w^{(K)}``.
    ``primal(u, w_prev)`` is ``grad f*(-A^* u)``; ``w_prev`` (the last primal iterate, ``w0`` first) is a
    warm start for a ``grad f*`` computed by Newton steps, ignored where it is a closed form."""

    def body(carry):
        v, w = carry
        w = primal(prox(v), w)
        return v + step * A_op(w), w

    v, w = _scan(body, (v0, w0), num_iter, checkpoint_every)
    w = primal(prox(v), w)
    return _errors.error_if(w, ~jnp.all(jnp.isfinite(w)), f"fbjax.baselines.{who}: non-finite iterate ({hint})")


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)  # compiled once per shape and settings: an eager
# call (a finite-difference loop) reuses it; one that fails raises its message alone
def dual_fb(F: LeastSquares, lam, num_iter: int, theta=None, *, step=None, checkpoint_every: int | None = None):
    """``w^{(K)}(theta, lam)``, ``K = num_iter`` Bregman dual FB steps from ``u = 0``.

    Args:
      F: ``fbjax.LeastSquares`` with ``l2 > 0`` (or ``A`` of full column rank).
      lam: ``(L,)`` group penalties ``> 0`` (singletons: ``(p,)``, ``lam_i = psi(x_i)``).
      theta: ``(L, p)`` nonnegative group masks or memberships, or None for singleton groups.
      step: ``beta``; default ``mu_f / (max lam ||A_theta||^2)`` (held fixed in autodiff).
    """
    grad_conj, mu_f = conjugate_gradient_map(F)
    p = F.n_features
    lam = jnp.asarray(lam, F.A.dtype)
    if theta is None:
        if lam.shape != (p,):
            raise ValueError(f"lam must have shape ({p},) for singleton groups, got {lam.shape}")
        A_op, At_op = (lambda w: w[:, None]), (lambda u: u[:, 0])
    else:
        theta = jnp.asarray(theta, F.A.dtype)
        if theta.ndim != 2 or theta.shape[1] != p or lam.shape not in ((), (theta.shape[0],)):
            raise ValueError(f"theta must be (L, {p}) and lam scalar or (L,), got {theta.shape} and {lam.shape}")
        lam = jnp.broadcast_to(lam, theta.shape[:1])
        A_op, At_op = (lambda w: theta * w[None, :]), (lambda u: jnp.sum(theta * u, axis=0))
    lam = _positive(lam, "dual_fb")
    if step is None:
        step = _default_step(mu_f, lam, theta)
    primal = lambda u, _: grad_conj(-At_op(u))  # noqa: E731
    w0 = jnp.zeros(p, F.A.dtype)
    return _iterate(primal, A_op, lambda v: bregman_prox(v, lam), step, jnp.zeros_like(A_op(w0)), w0, num_iter, checkpoint_every, "dual_fb")


def _logistic_conjugate(X, y, l2, newton_steps):
    """``grad f*(s) = argmin_w f(w) - <s, w>`` for ``f(w) = mean_i log(1 + exp(-y_i x_i^T w)) + l2/2 ||w||^2``
    (``mu_f = l2``): ``newton_steps`` Newton steps from a warm start (the previous dual FB iterate's
    primal, which moves by ``O(beta)``), unrolled like the rest."""
    N, P = X.shape

    def grad_conj(s, w):
        def newton(w, _):
            m = y * (X @ w)
            sig = jax.nn.sigmoid(-m)
            g = -(X.T @ (y * sig)) / N + l2 * w - s
            H = (X.T * (sig * (1.0 - sig))) @ X / N + l2 * jnp.eye(P, dtype=X.dtype)
            return w - jsl.solve(H, g, assume_a="pos"), None

        return jax.lax.scan(newton, w, None, length=newton_steps)[0]

    return grad_conj


def task_fb(
    X, y, lam, num_iter: int, theta, *, l2: float, loss: str = "squared", newton_steps: int = 3, step=None,
    checkpoint_every: int | None = None,
):  # fmt: skip
    """``W^{(K)}(theta)``: K Bregman dual FB steps for task groups with trace norms (Frecon, Salzo & Pontil,
    ICPR 2020; slides ``004_``, example 2)::

        min_W  sum_t f_t(w_t) + lam sum_l ||diag(theta_l) W||_tr,   f_t = loss_t + l2/2 ||w_t||^2,

    ``loss="squared"``: ``||y_t - X_t w_t||^2 / (2N)``, ``grad f_t*`` one Cholesky solve;
    ``loss="logistic"`` (the ICPR model; ``y`` in ``{-1, +1}``): ``mean log(1 + exp(-y_t * X_t w_t))``,
    ``grad f_t*`` by ``newton_steps`` warm-started Newton steps (the first iterate gets 20 from 0).
    ``W`` of shape ``(T, P)`` (a row per task), ``theta`` of shape ``(L, T)`` (task memberships; rows of
    ``W`` scaled task-wise by ``theta_l``). The dual variable of group ``l`` lives in the spectral-norm
    ball and its Bregman prox is :func:`spectral_bregman_prox`. Differentiable in ``theta`` (and the
    data) by unrolling, like :func:`dual_fb`.
    """
    X, y = jnp.asarray(X), jnp.asarray(y)
    if X.ndim != 3 or y.shape != X.shape[:2]:
        raise ValueError(f"X must be (T, N, P) and y (T, N), got {X.shape} and {y.shape}")
    theta = jnp.asarray(theta, X.dtype)
    if theta.ndim != 2 or theta.shape[1] != X.shape[0]:
        raise ValueError(f"theta must be (L, T) with T = {X.shape[0]} tasks, got {theta.shape}")
    lam = _positive(jnp.broadcast_to(jnp.asarray(lam, X.dtype), theta.shape[:1]), "task_fb")
    W0 = jnp.zeros(X.shape[::2], X.dtype)
    if loss == "squared":
        chol, c, mu = jax.vmap(lambda X_t, y_t: conjugate_parts(LeastSquares(X_t, y_t, l2=l2, lipschitz=1.0)))(X, y)
        grad_conj, mu_f = (lambda S, _: jax.vmap(conjugate_solve)(chol, c, S)), jnp.min(mu)
    elif loss == "logistic":
        if not l2 > 0:
            raise ValueError(f"loss='logistic' needs l2 > 0 (it makes f strongly convex), got {l2}")
        y = _errors.error_if(y, ~jnp.all(jnp.abs(y) == 1), "task_fb: logistic labels y must be in {-1, +1}")
        conj = lambda steps: jax.vmap(lambda X_t, y_t, s_t, w_t: _logistic_conjugate(X_t, y_t, l2, steps)(s_t, w_t))  # noqa: E731
        grad_conj, mu_f = (lambda S, W: conj(newton_steps)(X, y, S, W)), l2
        W0 = conj(20)(X, y, W0, W0)  # grad f*(0) = argmin f, from 0
    else:
        raise ValueError(f"loss must be 'squared' or 'logistic', got {loss!r}")
    A_op = lambda W: theta[:, :, None] * W[None]  # noqa: E731
    primal = lambda U, W: grad_conj(-jnp.sum(theta[:, :, None] * U, axis=0), W)  # noqa: E731
    if step is None:  # the same formula with the task-wise theta; mu_f = min_t mu_t
        step = _default_step(mu_f, lam, theta)
    v0 = jnp.zeros((theta.shape[0], *X.shape[::2]), X.dtype)
    prox = lambda v: spectral_bregman_prox(v, lam)  # noqa: E731
    hint = f"{_NOT_STRONG}, or float32 with a large num_iter: see spectral_bregman_prox"
    return _iterate(primal, A_op, prox, step, v0, W0, num_iter, checkpoint_every, "task_fb", hint)


def bregman_argmin(F: LeastSquares, x, num_iter: int, psi="exp", **kwargs):
    """The weighted-l1 baseline: :func:`dual_fb` with singleton groups and ``lam = psi(x)``."""
    return dual_fb(F, _w.weights(_w.resolve(psi), jnp.asarray(x)), num_iter, **kwargs)
