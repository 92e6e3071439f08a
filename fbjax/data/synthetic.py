"""The calibrated degenerate design of the main paper (Sec. 5.2, Experiments 3-4).

Columns ``A = [A_easy, A_dist, A_hid, A_noise]``; easy, distractor and noise columns are i.i.d.
standard Gaussian, and hidden column ``j`` is paired with distractor ``j``:
``A_hid,j = rho A_dist,j + sqrt(1 - rho^2) xi_j``. ``beta*`` is ``+-beta_std`` (random signs) on
easy and hidden features and zero elsewhere; ``b = A beta* + sigma eps``. Group sizes:
``n_easy = n_dist = n_hid = max(round(0.04 p), 5)``, the rest noise. Rows are split 60/20/20
(train/validation/test) by a random permutation.

Two-pass calibration of ``x0 = log(alpha0)`` on the training split with ``l2 = 1/n_train``:

1. ``alpha_easy = 0.5 beta_std``, ``alpha_dist = 0.5 (1 - rho^2)/rho beta_std``,
   ``alpha_noise = 10 beta_std``, ``alpha_hid = SENTINEL``; solve the lower level -> ``beta_S``.
2. ``alpha_hid,j = |A_tr,hid,j^T (A_tr beta_S - b_tr)| / n_train * (1 + delta)``, ``delta = 0.05``.

The hidden coordinates are then strictly zero at ``x0`` (``beta_S`` is still the solution) but
only 5% inside the threshold: biactive for the default band, and starved by Sparse-HO.

Choices the paper's text leaves open, made here: ``pi`` is the identity pairing, ``[.]`` is
rounding, the sentinel is ``1e6 beta_std``, and all draws come from one ``numpy`` generator
seeded with ``seed`` in the order: easy, distractor, xi, noise columns, signs, noise, permutation.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from fbjax import _checks
from fbjax.losses import LeastSquares, Logistic

SENTINEL = 1e6
MODELS = {"least-squares": LeastSquares, "logistic": Logistic}  # the smooth part of both levels


def held_out_loss(model: str, A, b, y, intercept=0.0):
    """The upper level on a held-out split ``(A, b)``: the MSE ``||A y + c - b||^2 / n`` for
    ``"least-squares"``, the mean logistic loss (binary cross-entropy, ``b in {-1, +1}``) of ``A y + c`` for
    ``"logistic"``; ``c`` the ``intercept`` (default 0)."""
    t = A @ y + intercept
    return jnp.mean((t - b) ** 2) if model == "least-squares" else jnp.mean(Logistic.loss(t, b))


@dataclasses.dataclass(frozen=True)
class RegressionDesign:
    """A seeded regression instance with train/validation/test splits (float64 NumPy arrays).

    ``groups`` maps a group name to its feature indices; ``beta`` is the data-generating vector.
    """

    A_train: np.ndarray
    b_train: np.ndarray
    A_val: np.ndarray
    b_val: np.ndarray
    A_test: np.ndarray
    b_test: np.ndarray
    beta: np.ndarray
    groups: dict
    l2: float
    seed: int
    model: ClassVar[str] = "least-squares"  # a key of MODELS

    @property
    def n_train(self) -> int:
        return self.A_train.shape[0]

    @property
    def p(self) -> int:
        return self.A_train.shape[1]

    @property
    def alpha_max(self) -> float:
        """``max_j |A_tr,j^T b_tr| / n_train``: the smallest scalar penalty with ``S = 0`` (ridge aside)."""
        return float(np.max(np.abs(self.A_train.T @ self.b_train)) / self.n_train)

    def bounds(self, lo: float = -5.0, hi: float = float(np.log(0.9))) -> tuple[float, float]:
        """The box of the paper's code for ``x = log(alpha)``: ``log(alpha_max) + [lo, hi]``."""
        return float(np.log(self.alpha_max) + lo), float(np.log(self.alpha_max) + hi)

    def lower_level(self, dtype=None):
        """The lower level's smooth part ``MODELS[self.model]`` on the training split: for regression the
        paper's ``||A_tr y - b_tr||^2/(2 n_tr) + l2/2 ||y||^2`` as a LeastSquares."""
        return MODELS[self.model](jnp.asarray(self.A_train, dtype), jnp.asarray(self.b_train, dtype), l2=self.l2)

    def validation_loss(self, y):
        """The upper level :func:`held_out_loss` on the validation split (for regression the paper's
        validation MSE ``||A_val y - b_val||^2 / n_val``)."""
        return held_out_loss(self.model, jnp.asarray(self.A_val, y.dtype), jnp.asarray(self.b_val, y.dtype), y)


@dataclasses.dataclass(frozen=True)
class ClassificationDesign(RegressionDesign):
    """A :class:`RegressionDesign` with labels ``b in {-1, +1}`` and the weighted sparse logistic model:
    ``mean_i log(1 + exp(-b_i a_i^T y)) + l2/2 ||y||^2`` below, the mean validation log-loss above."""

    model: ClassVar[str] = "logistic"

    @property
    def alpha_max(self) -> float:
        """``||grad F(0)||_inf = max_j |A_tr,j^T b_tr| / (2 n_train)`` for the logistic loss."""
        return float(np.max(np.abs(self.A_train.T @ self.b_train)) / (2 * self.n_train))


@dataclasses.dataclass(frozen=True)
class CalibratedDesign(RegressionDesign):
    """One calibrated degenerate instance: a :class:`RegressionDesign` with the calibrated ``x0``."""

    x0: np.ndarray = None
    rho: float = None


def split(A, b, rng, fractions=(0.6, 0.2), paper_code=False):
    """Random 60/20/20 row split (by one permutation from ``rng``): ``dict`` of the six arrays.

    ``paper_code``: the paper code's splits, part sizes ``int(fraction * n)`` (truncated, not rounded)
    and rows of each part in increasing index order.
    """
    n = A.shape[0]
    perm = rng.permutation(n)
    size = (lambda f: int(f * n)) if paper_code else (lambda f: int(round(f * n)))  # noqa: E731
    n_tr, n_val = size(fractions[0]), size(fractions[1])
    if min(n_tr, n_val, n - n_tr - n_val) < 1:
        raise ValueError(f"a split of n = {n} samples leaves a part empty (train, validation, test: {n_tr}, {n_val}, "
                         f"{n - n_tr - n_val}): draw more samples")  # fmt: skip
    tr, val, te = perm[:n_tr], perm[n_tr : n_tr + n_val], perm[n_tr + n_val :]
    if paper_code:
        tr, val, te = np.sort(tr), np.sort(val), np.sort(te)
    return dict(A_train=A[tr], b_train=b[tr], A_val=A[val], b_val=b[val], A_test=A[te], b_test=b[te])


def ar1_design(rng, n: int, p: int, rho: float) -> np.ndarray:
    """``n x p`` Gaussian design whose columns form an AR(1) chain: unit variance, correlation ``rho^|i-j|``
    between columns ``i`` and ``j`` (ill-conditioned supports for ``rho`` near 1; the adjoint's CG tests).
    ``rho`` in ``[-1, 1]`` (outside, ``sqrt(1 - rho^2)`` is NaN)."""
    _checks.check_count(n=n, p=p)
    if not -1 <= rho <= 1:
        raise ValueError(f"rho must lie in [-1, 1], got {rho!r}")
    Z = rng.standard_normal((n, p))
    A = np.empty((n, p))
    A[:, 0] = Z[:, 0]
    for j in range(1, p):
        A[:, j] = rho * A[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    return A


def ar1_regression(seed: int, n: int, p: int, rho: float, n_val: int = 50):
    """A regression on :func:`ar1_design`: every fifth coefficient 1, noise 0.1, and ``n_val`` i.i.d.
    Gaussian validation rows without noise; ``(A, b, A_val, b_val)``, seeded (the ill-conditioned
    instances of the adjoint's tests and of the solver and adjoint probes in ``benchmarks/``)."""
    _checks.check_count(n_val=n_val)
    rng = np.random.default_rng(seed)
    A = ar1_design(rng, n, p, rho)
    beta = np.zeros(p)
    beta[::5] = 1.0
    b = A @ beta + 0.1 * rng.standard_normal(n)
    A_val = rng.standard_normal((n_val, p))
    return A, b, A_val, A_val @ beta


def _group_sizes(p: int) -> tuple[int, int, int, int]:
    k = max(int(round(0.04 * p)), 5)
    n_noise = p - 3 * k
    if n_noise < 0:
        raise ValueError(f"p={p} is too small for the four-group design (needs p >= {3 * k})")
    return k, k, k, n_noise


def calibrated_degenerate(
    seed: int, n: int, p: int, rho: float, *, beta_std: float = 1.0, sigma: float = 0.05, delta: float = 0.05
) -> CalibratedDesign:
    """The calibrated degenerate design of Sec. 5.2 with ``n`` samples (all splits) and ``p`` features."""
    _checks.check_count(n=n, p=p)
    _checks.check_positive(beta_std=beta_std)
    _checks.check_positive(zero_ok=True, sigma=sigma, delta=delta)
    if not 0 < rho < 1:
        raise ValueError(f"rho must lie in (0, 1), got {rho}")
    if n < 5:
        raise ValueError(f"n must be >= 5 for a 60/20/20 split, got {n}")
    n_easy, n_dist, n_hid, n_noise = _group_sizes(p)
    rng = np.random.default_rng(seed)
    easy = rng.standard_normal((n, n_easy))
    dist = rng.standard_normal((n, n_dist))
    hid = rho * dist + np.sqrt(1.0 - rho**2) * rng.standard_normal((n, n_hid))
    noise = rng.standard_normal((n, n_noise))
    A = np.concatenate([easy, dist, hid, noise], axis=1)
    bounds = np.cumsum([0, n_easy, n_dist, n_hid, n_noise])
    groups = {name: np.arange(bounds[i], bounds[i + 1]) for i, name in enumerate(["easy", "dist", "hid", "noise"])}
    beta = np.zeros(p)
    signal = np.concatenate([groups["easy"], groups["hid"]])
    beta[signal] = beta_std * rng.choice([-1.0, 1.0], size=signal.size)
    b = A @ beta + sigma * rng.standard_normal(n)

    parts = split(A, b, rng, paper_code=True)
    A_tr, b_tr = parts["A_train"], parts["b_train"]
    l2 = 1.0 / A_tr.shape[0]

    alpha = np.empty(p)
    alpha[groups["easy"]] = 0.5 * beta_std
    alpha[groups["dist"]] = 0.5 * (1.0 - rho**2) / rho * beta_std
    alpha[groups["noise"]] = 10.0 * beta_std
    alpha[groups["hid"]] = SENTINEL * beta_std
    beta_s = _solve_float64(A_tr, b_tr, l2, np.log(alpha))
    g_hid = A_tr[:, groups["hid"]].T @ (A_tr @ beta_s - b_tr) / A_tr.shape[0]
    alpha[groups["hid"]] = np.abs(g_hid) * (1.0 + delta)
    return CalibratedDesign(**parts, beta=beta, groups=groups, l2=l2, seed=seed, x0=np.log(alpha), rho=rho)


def _solve_float64(A, b, l2, x, loss=LeastSquares) -> np.ndarray:
    from fbjax.solvers import solve

    with jax.enable_x64(True):
        sol = solve(loss(jnp.asarray(A), jnp.asarray(b), l2=l2), jnp.asarray(x), tol=1e-12, max_iter=100_000)
        if not bool(sol.converged):
            raise RuntimeError(f"calibration solve did not converge (||R||_inf = {float(sol.residual):.2e})")
        return np.asarray(sol.y)
