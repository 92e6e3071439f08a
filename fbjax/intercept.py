"""An unpenalised intercept, profiled out of the lower level: :class:`WithIntercept`.

For a linear model with an intercept ``c`` that is neither penalised nor ridged,

    F(y, c) = (1/n) sum_i l(a_i^T y + c, b_i) + (l2/2) ||y||^2,

the lower level ``min_{y, c} F(y, c) + sum_i psi(x_i) |y_i|`` is ``min_y G(y) + sum_i psi(x_i) |y_i|`` with

    G(y) = min_c F(y, c) = F(y, c(y)),     c(y) the root of  sum_i l'(a_i^T y + c, b_i) = 0,

so ``S(x)`` keeps the shape of ``x`` and :func:`fbjax.argmin`, the solvers and the adjoint apply as they are.
With ``t = A y``, ``d = l''(t + c(y))`` and ``D = diag(d)``:

    grad G(y) = A^T l'(t + c(y)) / n + l2 y                        (the envelope theorem)
    hess G(y) = A^T (D - d d^T / 1^T d) A / n + l2 I               (the Schur complement of the intercept)
    grad c(y) = -A^T d / 1^T d                                     (the implicit function theorem)

``hess G`` is at least ``l2 I`` (Assumption 2 with ``mu_F = l2``), and ``u^T hess G u - l2 ||u||^2`` is the
``d``-weighted variance of ``A u`` over the rows (over ``n``), at most ``max d`` times the plain one: Assumption 1
holds with ``Lambda_G = c ||P A||_2^2 / n + l2``, ``c = sup l''`` and ``P = I - 1 1^T / n`` the centring. That is
``F``'s constant on centred columns, far below ``F``'s where the columns have large means.

``c(y)`` is found by Newton's method safeguarded by bisection (``O(n)`` a step) and differentiated by the
implicit function theorem in every argument (a ``jax.custom_jvp``), so an upper level of ``A_val y + c(y)``
and the cotangents of the data are exact.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp

from fbjax import _errors
from fbjax.losses import LinearModelLoss, SmoothLoss, _columns_t, _rmatvec, checked_lipschitz, spectral_norm_sq

MAX_STEPS = 100  # safeguarded Newton steps (5-6 measured); bisection alone reaches rounding within ~60


@functools.partial(jax.jit, static_argnums=0)  # eager calls (WithIntercept.intercept, margins): compiled once a shape
def _root(link, t, b, start=None):
    """``c`` with ``sum_i l'(t_i + c, b_i) = 0``: Newton steps from ``start`` (default: the bracket's middle),
    bisection where a step leaves the bracket. Stops where the sum is at its rounding level
    (``4 eps sum_i |l'_i|``) or the step or the bracket is at ``c``'s."""
    eps = 4 * jnp.finfo(t.dtype).eps

    def body(state):
        c, lo, hi, _, k = state
        # l' and l'' in one pass (a jvp of l' shares its work, e.g. the logistic sigmoid)
        slopes, curvatures = jax.jvp(lambda u: link.dloss(u, b), (t + c,), (jnp.ones_like(t),))
        gc = jnp.sum(slopes)  # increasing in c (l is convex)
        lo, hi = jnp.where(gc <= 0, c, lo), jnp.where(gc >= 0, c, hi)
        newton = c - gc / jnp.sum(curvatures)
        new = jnp.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
        at_root = jnp.abs(gc) <= eps * jnp.sum(jnp.abs(slopes))
        new = jnp.where(at_root, c, new)
        done = at_root | (jnp.abs(new - c) <= eps * (1 + jnp.abs(c))) | (hi - lo <= eps * (1 + jnp.abs(c)))
        return new, lo, hi, done, k + 1

    lo, hi = link.intercept_bracket(t, b)
    c0 = 0.5 * (lo + hi) if start is None else jnp.clip(start, lo, hi)
    init = (c0, lo, hi, jnp.asarray(False), 0)
    return jax.lax.while_loop(lambda s: (s[4] < MAX_STEPS) & ~s[3], body, init)[0]


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def intercept_at(link, t, b):
    """``c(t, b) = argmin_c mean_i l(t_i + c, b_i)`` for the margins ``t`` (``link``: a LinearModelLoss class)."""
    return _root(link, t, b)


@intercept_at.defjvp
def _intercept_jvp(link, primals, tangents):
    t, b = primals
    c = intercept_at(link, t, b)
    _, dg = jax.jvp(lambda t_, b_: jnp.sum(link.dloss(t_ + c, b_)), (t, b), tangents)
    return c, -dg / jnp.sum(link.d2loss(t + c, b))


def refit_intercept(link, t, b):
    """Margins ``t + delta`` with ``delta`` the intercept's exact correction: ``argmin_d mean_i l(t_i + d, b_i)``,
    from ``d = 0`` (for ``t`` that already hold a near-optimal intercept: coordinate descent's intercept block)."""
    return t + _root(link, t, b, start=jnp.zeros((), t.dtype))


def linear_part(F):
    """The :class:`LinearModelLoss` behind ``F`` (``F`` itself, or a :class:`WithIntercept`'s base), else None."""
    return F.base if isinstance(F, WithIntercept) else F if isinstance(F, LinearModelLoss) else None


@functools.partial(_errors.checked_jit, jit=eqx.filter_jit)  # (not jax.jit: BCOO designs; the class is static)
def _checked_profile(link, A, b, l2, lipschitz):
    """``(b, Lambda_G)``: ``b`` checked to admit a finite intercept (raising eagerly or under ``jit``), and
    ``Lambda_G = c ||P A||^2 / n + l2`` unless given; one compiled program per shape, as ``_checked_data``."""
    lo, hi = link.intercept_bracket(jnp.zeros_like(b), b)
    bad = ~((jnp.sum(link.dloss(lo, b)) <= 0) & (jnp.sum(link.dloss(hi, b)) >= 0))
    b = _errors.error_if(b, bad, "WithIntercept: no finite intercept minimises the loss (logistic: both labels must "
                             "occur in b)")  # fmt: skip
    given = lipschitz is not None
    if not given:
        lipschitz = link.curvature * spectral_norm_sq(jax.lax.stop_gradient(A), center=True) / A.shape[0] + l2
    return b, checked_lipschitz(lipschitz, b.dtype, given)


class WithIntercept(SmoothLoss):
    """The profiled loss ``G(y) = min_c F(y, c)`` of a linear model ``F`` with an unpenalised intercept.

    ``WithIntercept(fbjax.Logistic(A, b))`` is sparse logistic regression with an intercept:
    ``argmin(WithIntercept(F), x)`` is its coefficient vector and ``.intercept(y)`` the intercept ``c(y)``
    that goes with it (differentiable, so ``L(A_val y + c(y))`` has the exact hypergradient). Dense or BCOO
    ``A``, as ``F``. The solvers do not find ``c(y)`` at every gradient: coordinate descent (dense ``A``)
    minimises over ``c`` exactly after each sweep, FISTA runs on the joint problem (:class:`Joint`); both
    certify on ``G``. For least squares on a dense ``A`` centring ``A`` and ``b`` is the same model
    (:class:`fbjax.WeightedL1` does that).
    """

    base: LinearModelLoss
    lipschitz: jax.Array

    def __init__(self, base: LinearModelLoss, lipschitz=None):
        """``lipschitz``: ``Lambda_G`` if known (default ``c ||P A||_2^2 / n + l2``, by power iteration)."""
        if not isinstance(base, LinearModelLoss):
            raise TypeError(f"WithIntercept needs a LinearModelLoss (e.g. Logistic), got {type(base).__name__}")
        b, self.lipschitz = _checked_profile(type(base), base.A, base.b, base.l2, lipschitz)
        self.base = eqx.tree_at(lambda F: F.b, base, b)

    @property
    def n_features(self) -> int:
        return self.base.n_features

    def intercept(self, y):
        """``c(y) = argmin_c F(y, c)``."""
        return intercept_at(type(self.base), self.base.A @ y, self.base.b)

    def margins(self, y):
        """``A y + c(y)``, the linear model's margins with the intercept."""
        t = self.base.A @ y
        return t + intercept_at(type(self.base), t, self.base.b)  # (not self.intercept: A y once)

    def value(self, y):
        return self.base.value_at(y, self.margins(y))

    def grad(self, y):
        return self.base.grad_at(y, self.margins(y))

    def _weights(self, y):  # d / n and 1^T d / n
        w = self.base.curvature_weights(self.margins(y))
        return w, jnp.sum(w)

    def hvp(self, y, v):
        w, h = self._weights(y)
        wt = w * (self.base.A @ v)
        return _rmatvec(self.base.A, wt - w * (jnp.sum(wt) / h)) + self.base.l2 * v

    def hess_block(self, y, idx):
        """``[hess G(y)]_{S,S} = A_S^T (D - d d^T / 1^T d) A_S / n + l2 I``."""
        w, h = self._weights(y)
        # the intercept's column from the block's own gather of A_S (XLA computes it once): O(n |S|), where the
        # full A^T d is O(n p): 13.4 ms against 6.7 at 2000 x 10000, |S| = 128, dense (RESULTS.md)
        g = _columns_t(self.base.A, self.base.A_T, idx) @ w
        return self.base.weighted_block(w, idx) - jnp.outer(g, g) / h

    def hess_block_matvec(self, y, idx, count=None):
        """``v -> [hess G(y)]_{S,S} v``, ``S = idx[:count]``: the block's operator less ``g g^T v / 1^T d`` with
        ``g = A_S^T d`` from the same gathered pages (``O(n count)``, not a full ``A^T d``)."""
        w, h = self._weights(y)
        fwd, bwd = self.base.paged_columns(idx, count)
        g = bwd(w)  # 0 past count's pages; v is 0 past count (the caller masks it), so g^T v is the block's
        return lambda v: bwd(w * fwd(v)) + self.base.l2 * v - g * (jnp.vdot(g, v) / h)

    def hess_rank_bound(self):
        """``n_samples - 1`` without a ridge (``D - d d^T / 1^T d`` has rank ``n - 1``), else ``n_features``."""
        return jnp.where(self.base.l2 > 0, self.n_features, min(self.base.n_samples - 1, self.n_features))

    def joint(self) -> "Joint":
        """The same problem in ``(y, c')``, ``c' = c + mean(A) y`` (:class:`Joint`)."""
        return Joint(self)


class Joint(SmoothLoss):
    """``J(y, c') = F(y, c' - m^T y)``, ``m = A^T 1 / n`` the columns' means: the intercept model in coordinates
    where the margins are ``P A y + c'`` (``P`` the centring), on ``p + 1`` variables (``c'`` last, unpenalised).

    ``hess J = M^T D M / n + l2 diag(1, ..., 1, 0)`` with ``M = [P A, 1]`` and ``P A`` orthogonal to ``1``:
    ``Lambda_J = c max(||P A||^2 / n, 1) + l2 = max(Lambda_G - l2, c) + l2``. Minimising it over ``c'`` gives
    ``G``, so a first-order solver on ``J`` needs no root per gradient (:func:`fbjax.solvers.fista` on it,
    certified on ``G``)."""

    profiled: WithIntercept
    means: jax.Array
    lipschitz: jax.Array

    def __init__(self, profiled: WithIntercept):
        base = profiled.base
        self.profiled = profiled
        ones = jnp.ones(base.n_samples, base.lipschitz.dtype)
        self.means = jax.lax.stop_gradient(_rmatvec(base.A, ones)) / base.n_samples
        self.lipschitz = jnp.maximum(profiled.lipschitz - base.l2, base.curvature) + base.l2

    @property
    def n_features(self) -> int:
        return self.profiled.n_features + 1

    def _margins(self, z):
        y, c = z[:-1], z[-1]
        return self.profiled.base.A @ y - jnp.vdot(self.means, y) + c

    def value(self, z):
        return self.profiled.base.value_at(z[:-1], self._margins(z))

    def grad(self, z):
        base = self.profiled.base
        r = base.dloss(self._margins(z), base.b) / base.n_samples
        gy = _rmatvec(base.A, r) - self.means * jnp.sum(r) + base.l2 * z[:-1]
        return jnp.append(gy, jnp.sum(r))

    def hvp(self, z, v):
        return jax.jvp(self.grad, (z,), (v,))[1]

    def lift(self, y):
        """``(y, c(y) + m^T y)``: the point of ``J`` that ``y`` stands for."""
        return jnp.append(y, self.profiled.intercept(y) + jnp.vdot(self.means, y))

