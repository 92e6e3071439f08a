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

import jax
import jax.numpy as jnp
import numpy as np

SENTINEL = 1e6


@dataclasses.dataclass(frozen=True)
class CalibratedDesign:
    """One calibrated degenerate instance; arrays are float64 NumPy arrays."""

    A_train: np.ndarray
    b_train: np.ndarray
    A_val: np.ndarray
    b_val: np.ndarray
    A_test: np.ndarray
    b_test: np.ndarray
    beta: np.ndarray
    groups: dict
    x0: np.ndarray
    l2: float
    rho: float
    seed: int

    @property
    def n_train(self) -> int:
        return self.A_train.shape[0]

    @property
    def p(self) -> int:
        return self.A_train.shape[1]

    def lower_level(self, dtype=None):
        """The paper's lower level ``||A_tr y - b_tr||^2/(2 n_tr) + l2/2 ||y||^2`` as a LeastSquares."""
        from fbjax.losses import LeastSquares

        return LeastSquares(jnp.asarray(self.A_train, dtype), jnp.asarray(self.b_train, dtype), l2=self.l2)

    def validation_loss(self, y):
        """The paper's upper level: validation MSE ``||A_val y - b_val||^2 / n_val``."""
        A, b = jnp.asarray(self.A_val, y.dtype), jnp.asarray(self.b_val, y.dtype)
        return jnp.mean((A @ y - b) ** 2)


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

    perm = rng.permutation(n)
    n_tr, n_val = int(round(0.6 * n)), int(round(0.2 * n))
    tr, val, te = perm[:n_tr], perm[n_tr : n_tr + n_val], perm[n_tr + n_val :]
    l2 = 1.0 / n_tr

    alpha = np.empty(p)
    alpha[groups["easy"]] = 0.5 * beta_std
    alpha[groups["dist"]] = 0.5 * (1.0 - rho**2) / rho * beta_std
    alpha[groups["noise"]] = 10.0 * beta_std
    alpha[groups["hid"]] = SENTINEL * beta_std
    beta_s = _solve_float64(A[tr], b[tr], l2, np.log(alpha))
    g_hid = A[tr][:, groups["hid"]].T @ (A[tr] @ beta_s - b[tr]) / n_tr
    alpha[groups["hid"]] = np.abs(g_hid) * (1.0 + delta)

    return CalibratedDesign(
        A_train=A[tr], b_train=b[tr], A_val=A[val], b_val=b[val], A_test=A[te], b_test=b[te],
        beta=beta, groups=groups, x0=np.log(alpha), l2=l2, rho=rho, seed=seed,
    )  # fmt: skip


def _solve_float64(A, b, l2, x) -> np.ndarray:
    from fbjax.losses import LeastSquares
    from fbjax.solvers import solve

    with jax.enable_x64(True):
        sol = solve(LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2), jnp.asarray(x), tol=1e-12, max_iter=100_000)
        if not bool(sol.converged):
            raise RuntimeError(f"calibration solve did not converge (||R||_inf = {float(sol.residual):.2e})")
        return np.asarray(sol.y)
