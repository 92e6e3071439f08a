"""Smooth parts ``F`` of the lower-level problem ``min_y F(y) + sum_i psi(x_i) |y_i|``.

Every ``F`` fbjax ships is a regularised linear model

    F(y) = (1/n) sum_i l(a_i^T y, b_i) + (l2/2) ||y||^2,

with ``A`` dense (``jax.Array``) or sparse (``jax.experimental.sparse.BCOO``; a SciPy sparse matrix is taken as
the BCOO of its entries). Assumption 1 of the
main paper (``Lambda_F``-smoothness) holds with ``Lambda_F = c ||A||_2^2 / n + l2`` where
``c = sup l''``; Assumption 2 (strong convexity) holds with ``mu_F >= l2``.

The solvers and the adjoint only use the :class:`SmoothLoss` interface (``grad``, ``hvp``,
``hess_block``, ``lipschitz``), so a user can plug in any smooth, strongly convex ``F`` by
subclassing it. Coordinate descent additionally uses the linear-model structure below.
"""

from __future__ import annotations

import abc
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.experimental import sparse

from fbjax import _checks, _errors
from fbjax._batching import batch_when

PAGE, PAGES = 128, 8  # gathered Hessian-block operator: pages of >= PAGE columns, at most PAGES of them


class SmoothLoss(eqx.Module):
    """Interface of the smooth part ``F`` (Assumptions 1-2 of the main paper).

    Subclasses provide ``value``, ``grad``, ``hvp`` and the field ``lipschitz`` (``Lambda_F``).
    ``hess_block`` defaults to ``|S|`` Hessian-vector products; linear models override it.
    """

    lipschitz: eqx.AbstractVar[jax.Array]

    @abc.abstractmethod
    def value(self, y: jax.Array) -> jax.Array: ...

    @abc.abstractmethod
    def grad(self, y: jax.Array) -> jax.Array: ...

    @abc.abstractmethod
    def hvp(self, y: jax.Array, v: jax.Array) -> jax.Array: ...

    @property
    @abc.abstractmethod
    def n_features(self) -> int: ...

    def hess_block(self, y: jax.Array, idx: jax.Array) -> jax.Array:
        """``[hess F(y)]_{idx, idx}`` as a dense ``(k, k)`` matrix, without forming ``p x p``."""
        eye = jax.nn.one_hot(idx, self.n_features, dtype=y.dtype)  # (k, p)
        return jax.vmap(lambda e: self.hvp(y, e))(eye)[:, idx]

    def hess_rank_bound(self) -> jax.Array | int:
        """An upper bound on ``rank hess F(y)`` for every ``y`` (default ``n_features``: none known). A working
        set ``S`` larger than it has a singular ``[hess F]_{S,S}``."""
        return self.n_features

    def hess_block_matvec(self, y: jax.Array, idx: jax.Array, count=None):
        """``v -> [hess F(y)]_{idx, idx} v`` (default: through the dense block). ``count``, when
        given, says that only ``idx[:count]`` matter: entries past it may be skipped (they are
        masked out by the caller), so an implementation may return anything finite there."""
        H = self.hess_block(y, idx)
        return lambda v: H @ v


def _rmatvec(A, r):
    """``A^T r`` without materialising ``A^T`` for dense ``A`` (an XLA:CPU pitfall)."""
    return A.T @ r if _checks.is_sparse(A) else r @ A


def _columns_t(A, A_T, idx):
    """Dense ``A[:, idx]^T`` (``k x n``): rows of the kept transpose ``A_T`` (a contiguous gather) if
    there is one, else a gather across ``A`` (BCOO: a product with a one-hot selection)."""
    if A_T is not None:
        return A_T.at[idx].get(mode="clip")
    if _checks.is_sparse(A):
        return (A @ jax.nn.one_hot(idx, A.shape[1], dtype=A.dtype).T).T
    return A.T.at[idx].get(mode="clip")


def page_size(k: int) -> int:
    """Columns per page of the gathered operator for a bucket of ``k``: at least ``PAGE``, at most ``PAGES`` pages."""
    return max(PAGE, -(-k // PAGES))


def _sq_col_norms(A):
    if _checks.is_sparse(A):  # a BCOO may repeat an index (its entries add up): square the sums, not the parts
        A = A if A.unique_indices else A.sum_duplicates(nse=A.nse)
        return jnp.zeros(A.shape[1], A.dtype).at[A.indices[:, 1]].add(A.data**2)
    return jnp.sum(A * A, axis=0)


@functools.partial(jax.jit, static_argnames=("iters", "center"))  # one compiled loop per shape, not one per call
def spectral_norm_sq(A, iters: int = 100, margin: float = 1.05, center: bool = False) -> jax.Array:
    """Upper estimate of ``||A||_2^2`` (``center``: of ``||P A||_2^2``, ``P = I - 1 1^T / n`` the centring of
    the columns, without forming ``P A``): power iteration on ``A^T A`` (``A^T P A``) times a safety ``margin``.

    Power iteration converges from below, so the margin keeps ``gamma = 1/Lambda_F`` inside
    ``(0, 1/Lambda_F_true)``; pass ``lipschitz=`` to a loss to use a known constant instead.
    """
    p = A.shape[1]
    v0 = jax.random.normal(jax.random.PRNGKey(0), (p,), dtype=A.dtype)
    apply = (lambda v: (u := A @ v) - jnp.mean(u)) if center else (lambda v: A @ v)  # noqa: E731

    def step(_, v):
        w = _rmatvec(A, apply(v))  # A^T P = (P A)^T: P is symmetric and idempotent
        return w / jnp.linalg.norm(w)

    v = jax.lax.fori_loop(0, iters, step, v0 / jnp.linalg.norm(v0))
    return margin * jnp.sum(apply(v) ** 2)  # NaN (0 / 0) for A = 0; not guarded here, since each guard tried changed
    # how XLA compiles the programs around it (the last bit of the estimate in some, and so of every step and
    # solution: measured in session 34); checked_lipschitz names the case


def checked_lipschitz(lipschitz, dtype, given: bool) -> jax.Array:
    """``Lambda_F`` as a constant of ``dtype``, raising unless it is finite and ``> 0`` (the step ``gamma = 0.99 /
    Lambda_F`` must be a finite number ``> 0``); ``given``: passed as ``lipschitz=``, not estimated."""
    lipschitz = jax.lax.stop_gradient(jnp.asarray(lipschitz, dtype))
    if jnp.ndim(lipschitz) != 0:
        raise ValueError(f"lipschitz must be a scalar, got shape {jnp.shape(lipschitz)}")
    bad = ~((lipschitz > 0) & jnp.isfinite(lipschitz))
    if given:
        return _errors.error_if(lipschitz, bad, "lipschitz (Lambda_F, passed to the loss) must be finite and > 0")
    return _errors.error_if(lipschitz, bad, "Lambda_F (the loss's lipschitz) must be finite and > 0; with A = 0 "
                            "the power iteration has no direction to find (0 / 0): pass lipschitz=l2, with l2 > 0")


@functools.partial(_errors.checked_jit, jit=eqx.filter_jit)  # (not jax.jit: BCOO designs; the class is static)
def _checked_data(link, A, b, l2, lipschitz):
    """``(A, b, l2, Lambda_F, ||A_j||^2)`` for a :class:`LinearModelLoss` ``link``, checked (finite data, targets
    the link accepts, ``l2 >= 0``; raising eagerly or under ``jit``): one compiled program per shape and link.
    Done eagerly, each check and reduction compiled a program of its own at a new shape, a dozen or so."""
    A, b = _checks.finite("A", A), link._check_targets(_checks.finite("b", b))
    l2 = _errors.error_if(l2, ~(l2 >= 0), "l2 must be >= 0 (it is the ridge that makes F strongly convex)")
    given = lipschitz is not None
    if not given:
        lipschitz = link.curvature * spectral_norm_sq(jax.lax.stop_gradient(A)) / A.shape[0] + l2
    return A, b, l2, checked_lipschitz(lipschitz, A.dtype, given), jax.lax.stop_gradient(_sq_col_norms(A))


class LinearModelLoss(SmoothLoss):
    """``F(y) = mean_i l(a_i^T y, b_i) + l2/2 ||y||^2``; subclasses define the link ``l``."""

    A: jax.Array | sparse.BCOO
    b: jax.Array
    l2: jax.Array
    lipschitz: jax.Array
    A_T: jax.Array | None  # A's transpose, kept for column access (see __init__); None if not kept
    column_sq_norms: jax.Array  # ||A_j||^2, kept with the data: a solve need not reduce A again
    curvature: eqx.AbstractClassVar[float]  # sup_t l''(t, b)

    def __init__(self, A, b, l2=None, lipschitz=None, keep_transpose: bool | None = None):
        """``keep_transpose``: also keep ``A^T`` (dense ``A`` only), for the column reads of coordinate
        descent and of the gathered Hessian blocks. Twice the memory, as scikit-learn's copy of ``X`` to
        Fortran order; it saves a transpose of ``A`` in every solve (0.35 s of 0.74 s at 6666 x 10000
        on XLA:CPU) and makes a gather of columns contiguous. Default: on XLA:CPU only (a GPU reads
        columns without the copy, and FISTA, its default solver, needs none)."""
        A = _checks.as_float_array("A", A)
        if A.ndim != 2 or 0 in A.shape:
            raise ValueError(f"A must be a 2-D matrix (n_samples, n_features), both >= 1, got shape {A.shape}")
        dtype = A.dtype
        n = A.shape[0]
        b = _checks.as_float_array("b", b, dtype)
        _checks.check_shape("b", b, (n,))
        l2 = jnp.asarray(1.0 / n if l2 is None else l2, dtype)
        if l2.ndim != 0:
            raise ValueError(f"l2 must be a scalar, got shape {l2.shape}")
        self.A, self.b, self.l2, self.lipschitz, self.column_sq_norms = _checked_data(type(self), A, b, l2, lipschitz)
        if keep_transpose is None:
            keep_transpose = jax.default_backend() == "cpu"
        # outside _checked_data: a transpose made in a program that a fit's program then reads slowed that
        # program's compile by 1.5-2 s (benchmarks/RESULTS.md, "Building the loss inside the estimator's program")
        self.A_T = self.A.T if keep_transpose and not _checks.is_sparse(self.A) else None

    @staticmethod
    def _check_targets(b):
        return b

    @staticmethod
    @abc.abstractmethod
    def loss(t, b): ...

    @staticmethod
    @abc.abstractmethod
    def dloss(t, b): ...

    @staticmethod
    @abc.abstractmethod
    def d2loss(t, b): ...

    @staticmethod
    def intercept_bracket(t, b):
        """``(lo, hi)`` with ``sum_i l'(t_i + lo, b_i) <= 0 <= sum_i l'(t_i + hi, b_i)``: an interval holding
        the intercept ``argmin_c mean_i l(t_i + c, b_i)`` (:class:`fbjax.WithIntercept`); a link defines it."""
        raise NotImplementedError("this loss does not define intercept_bracket, which fbjax.WithIntercept needs")

    @property
    def n_samples(self) -> int:
        return self.A.shape[0]

    @property
    def n_features(self) -> int:
        return self.A.shape[1]

    def hess_rank_bound(self):
        """``n_samples`` without a ridge (``A^T diag(l'') A / n`` has rank at most ``n``), else ``n_features``."""
        return jnp.where(self.l2 > 0, self.n_features, min(self.n_samples, self.n_features))

    def value(self, y):
        return self.value_at(y, self.A @ y)

    def value_at(self, y, t):
        """``F(y)`` from the margins ``t = A y`` already at hand (coordinate descent keeps them)."""
        return jnp.mean(self.loss(t, self.b)) + 0.5 * self.l2 * jnp.vdot(y, y)

    def grad(self, y):
        return self.grad_at(y, self.A @ y)

    def grad_at(self, y, t):
        """``grad F(y)`` from the margins ``t = A y``."""
        return _rmatvec(self.A, self.dloss(t, self.b)) / self.n_samples + self.l2 * y

    def curvature_weights(self, t):
        """``l''(t) / n`` at the margins ``t``: ``hess F = A^T diag(them) A + l2 I``."""
        return self.d2loss(t, self.b) / self.n_samples

    def hvp(self, y, v):
        w = self.curvature_weights(self.A @ y)
        return _rmatvec(self.A, w * (self.A @ v)) + self.l2 * v

    def hess_block(self, y, idx):
        """``[hess F(y)]_{S,S} = A_S^T diag(l''(A y)) A_S / n + l2 I`` (Alg. 1, step 10)."""
        return self.weighted_block(self.curvature_weights(self.A @ y), idx)

    def weighted_block(self, w, idx):
        """``A_S^T diag(w) A_S + l2 I`` with ``S = idx``: the Hessian block for curvature weights ``w``."""
        cols_t = _columns_t(self.A, self.A_T, idx)
        return (cols_t * w) @ cols_t.T + self.l2 * jnp.eye(idx.shape[0], dtype=cols_t.dtype)

    def hess_block_matvec(self, y, idx, count=None):
        """``v -> [hess F(y)]_{idx, idx} v`` through :meth:`weighted_block_matvec`."""
        return self.weighted_block_matvec(self.curvature_weights(self.A @ y), idx, count)

    def weighted_block_matvec(self, w, idx, count=None):
        """``v -> A_K^T (w * (A_K v)) + l2 v`` on gathered columns ``K = idx`` (``w = l''(A y) / n``: ``hess F``),
        through :meth:`paged_columns`: a product costs ``O(n count)`` up to one page, whatever ``len(idx)``."""
        fwd, bwd = self.paged_columns(idx, count)
        return lambda v: bwd(w * fwd(v)) + self.l2 * v

    def paged_columns(self, idx, count=None):
        """``(v -> A_K v, r -> A_K^T r)`` on gathered columns ``K = idx``.

        The columns are gathered once and applied in pages (:func:`page_size` columns each, so at most
        ``PAGES`` of them: a bounded program); with ``count``, the pages past ``idx[:count]`` are neither
        gathered nor multiplied (``A_K^T r`` is 0 there, and ``v`` is read only up to them).
        """
        k = idx.shape[0]
        count = k if count is None else count
        starts = range(0, k, page_size(k))

        def page(j, fn, operands):  # page 0 always runs (a page past count only adds 0)
            return fn(operands) if j == 0 else batch_when(j < count, fn, operands)

        size = [min(starts.step, k - j) for j in starts]
        cols_t = [page(j, lambda o: _columns_t(*o), (self.A, self.A_T, idx[j : j + s])) for j, s in zip(starts, size)]

        def fwd(v):
            return sum(page(j, lambda o: o[1] @ o[0], (P, v[j : j + s])) for j, s, P in zip(starts, size, cols_t))

        def bwd(r):
            return jnp.concatenate([page(j, lambda o: o[0] @ o[1], (P, r)) for j, P in zip(starts, cols_t)])

        return fwd, bwd

    def coordinate_lipschitz(self):
        """``L_j = c ||A_j||^2 / n + l2``: curvature bounds for coordinate descent."""
        return self.curvature * self.column_sq_norms / self.n_samples + self.l2


class LeastSquares(LinearModelLoss):
    """``F(y) = ||A y - b||^2 / (2 n) + l2/2 ||y||^2`` (the paper's weighted elastic net)."""

    curvature = 1.0

    @staticmethod
    def loss(t, b):
        return 0.5 * (t - b) ** 2

    @staticmethod
    def dloss(t, b):
        return t - b

    @staticmethod
    def d2loss(t, b):
        return jnp.ones_like(t)

    @staticmethod
    def intercept_bracket(t, b):
        """``l'(t + c, b) = t + c - b``: the root ``mean(b - t)`` lies between ``min(b - t)`` and ``max(b - t)``."""
        return jnp.min(b - t), jnp.max(b - t)


class Logistic(LinearModelLoss):
    """``F(y) = mean_i log(1 + exp(-b_i a_i^T y)) + l2/2 ||y||^2`` with labels ``b in {-1, +1}``."""

    curvature = 0.25

    @staticmethod
    def _check_targets(b):
        return _errors.error_if(b, ~jnp.all((b == 1) | (b == -1)), "Logistic labels b must be in {-1, +1}")

    @staticmethod
    def loss(t, b):
        return jnp.logaddexp(0.0, -b * t)

    @staticmethod
    def dloss(t, b):
        return -b * jax.nn.sigmoid(-b * t)

    @staticmethod
    def d2loss(t, b):
        s = jax.nn.sigmoid(b * t)
        return s * (1.0 - s)

    @staticmethod
    def intercept_bracket(t, b):
        """``[-max t - m, -min t + m]`` with ``m = log(n) + 1``: at its lower end every ``l'(t_i + c, b_i)`` is
        below ``-(1 - 1/(e n))`` for a positive label and in ``(0, 1/(e n))`` for a negative one, so the sum is
        negative once one label is positive (symmetrically positive at the upper end). Both labels must occur."""
        m = jnp.log(t.shape[0]) + 1.0
        return -jnp.max(t) - m, -jnp.min(t) + m
