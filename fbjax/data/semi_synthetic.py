"""The semi-synthetic sparse-classification design of Experiment 5, Setting 1 (main paper, Sec. 5.5.1).

Real feature columns give the correlation structure and a sparse logistic signal is injected. From a real
matrix ``X`` (n x d, dense or SciPy sparse):

- ``background``: the ``min(n_background, d)`` columns of largest variance;
- ``dist`` / ``hid``: ``n_pairs`` disjoint pairs of background columns, the most correlated first (greedy on
  ``|corr|``; the lower column index is the distractor, the other the hidden feature);
- ``easy``: ``n_easy`` injected i.i.d. standard Gaussian columns; ``noise``: the other background columns.

Columns ``A = [easy, dist, hid, noise]`` (dense); ``beta = +-beta_std`` on easy and hidden features, zero
elsewhere; labels ``b = sign(A beta + noise * eps)`` in ``{-1, +1}`` (0 counts as +1). The columns, signs and
labels are drawn once per ``X`` (generators seeded ``build_seed`` and ``label_seed``); ``seed`` draws the
60/20/20 split (from ``seed + 100``; part sizes truncated), so seeds are the paper's "train/val/test splits".

Two-pass calibration on the training split (``l2 = 1/n_train``, ``alpha_max = ||grad F(0)||_inf``), with
the logistic gradient in place of the squared-loss one of :func:`~fbjax.data.calibrated_degenerate`:

1. ``alpha = easy_frac alpha_max`` on easy, ``dist_frac alpha_max`` on distractor, ``background_frac
   alpha_max`` on noise columns and ``SENTINEL alpha_max`` on hidden ones; solve -> ``beta_S``;
2. ``alpha_hid,j = |grad_j F(beta_S)| (1 + delta)``; a hidden column with ``|grad_j F(beta_S)| (1 + delta) <
   1e-12`` (no signal in the training rows) gets ``0.5 alpha_max``.

Hidden features are then strictly zero at ``x0`` but 5% inside their threshold: biactive for the band.
The paper's settings (10 easy, 15 pairs, 500 background, beta 1, logit noise 0.2, slack 0.05, fractions
0.05 / 0.05 / 0.7) are the defaults; the paper code's sentinel is ``alpha_max``, ours the calibrated
design's ``SENTINEL alpha_max`` (the hidden features must be zero after pass 1 whatever ``beta_S``).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse

from fbjax import _checks
from fbjax.data.real import load
from fbjax.data.synthetic import SENTINEL, ClassificationDesign, _solve_float64, split
from fbjax.losses import Logistic


@dataclasses.dataclass(frozen=True)
class CalibratedClassificationDesign(ClassificationDesign):
    """A :class:`ClassificationDesign` with the calibrated start ``x0`` (hidden features biactive)."""

    x0: np.ndarray = None


def top_variance_columns(X, k: int) -> np.ndarray:
    """Indices of the ``k`` columns of ``X`` of largest variance (ties: the lower index first)."""
    if scipy.sparse.issparse(X):
        X = scipy.sparse.csc_matrix(X)
        mean = np.asarray(X.mean(axis=0)).ravel()
        var = np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2
    else:
        var = np.var(X, axis=0)
    return np.argsort(-var, kind="stable")[:k]


def correlated_pairs(X: np.ndarray, n_pairs: int) -> list[tuple[int, int]]:
    """``n_pairs`` disjoint column pairs ``(i, j)``, ``i < j``, by decreasing ``|corr(X_i, X_j)|`` (greedy;
    a constant column correlates 0 with every other)."""
    Xc = X - X.mean(axis=0)
    norms = np.linalg.norm(Xc, axis=0)
    Xn = Xc / np.where(norms > 0, norms, 1.0)
    i, j = np.triu_indices(X.shape[1], k=1)
    order = np.argsort(-np.abs((Xn.T @ Xn)[i, j]), kind="stable")
    pairs, used = [], set()
    for a, b in zip(i[order], j[order]):
        if a not in used and b not in used:
            pairs.append((int(a), int(b)))
            used.update((a, b))
            if len(pairs) == n_pairs:
                break
    return pairs


def semi_synthetic(
    seed: int, X, *, n_easy: int = 10, n_pairs: int = 15, n_background: int = 500, beta_std: float = 1.0,
    noise: float = 0.2, delta: float = 0.05, easy_frac: float = 0.05, dist_frac: float = 0.05,
    background_frac: float = 0.7, build_seed: int = 0, label_seed: int = 1,
) -> CalibratedClassificationDesign:
    """Experiment 5, Setting 1, on the real matrix ``X`` (n x d, dense or SciPy sparse); ``seed`` picks the split."""
    _checks.check_count(n_pairs=n_pairs, n_background=n_background)
    _checks.check_count(minimum=0, n_easy=n_easy)
    _checks.check_positive(beta_std=beta_std, easy_frac=easy_frac, dist_frac=dist_frac, background_frac=background_frac)
    _checks.check_positive(zero_ok=True, noise=noise, delta=delta)  # (a NaN noise labelled every row -1)
    n, d = X.shape
    if not np.all(np.isfinite(X.data if scipy.sparse.issparse(X) else X)):
        raise ValueError("X has non-finite entries")
    background = top_variance_columns(X, min(n_background, d))
    if background.size < 2 * n_pairs:
        raise ValueError(f"X has {d} columns; {n_pairs} distractor/hidden pairs need at least {2 * n_pairs}")
    if n < 5:
        raise ValueError(f"X has {n} rows; a 60/20/20 split needs at least 5")
    Xb = X[:, background]
    Xb = np.asarray(Xb.todense() if scipy.sparse.issparse(Xb) else Xb, dtype=np.float64)
    pairs = correlated_pairs(Xb, n_pairs)
    dist, hid = [a for a, _ in pairs], [b for _, b in pairs]
    rest = np.setdiff1d(np.arange(Xb.shape[1]), dist + hid)
    rng = np.random.default_rng(build_seed)
    A = np.concatenate([rng.standard_normal((n, n_easy)), Xb[:, dist], Xb[:, hid], Xb[:, rest]], axis=1)
    bounds = np.cumsum([0, n_easy, n_pairs, n_pairs, rest.size])
    groups = {name: np.arange(bounds[i], bounds[i + 1]) for i, name in enumerate(["easy", "dist", "hid", "noise"])}
    beta = np.zeros(A.shape[1])
    beta[groups["easy"]] = beta_std * rng.choice([-1.0, 1.0], n_easy)
    beta[groups["hid"]] = beta_std * rng.choice([-1.0, 1.0], n_pairs)
    logit = A @ beta + noise * np.random.default_rng(label_seed).standard_normal(n)
    b = np.where(logit >= 0, 1.0, -1.0)

    parts = split(A, b, np.random.default_rng(seed + 100), paper_code=True)
    A_tr, b_tr = parts["A_train"], parts["b_train"]
    l2 = 1.0 / A_tr.shape[0]
    alpha_max = float(np.max(np.abs(A_tr.T @ b_tr)) / (2 * A_tr.shape[0]))
    alpha = np.empty(A.shape[1])
    for name, frac in (("easy", easy_frac), ("dist", dist_frac), ("noise", background_frac), ("hid", SENTINEL)):
        alpha[groups[name]] = frac * alpha_max
    beta_s = _solve_float64(A_tr, b_tr, l2, np.log(alpha), loss=Logistic)
    with jax.enable_x64(True):  # grad F(beta_S); its ridge term is 0 on the hidden features (beta_S is 0 there)
        grad = np.asarray(Logistic(jnp.asarray(A_tr), jnp.asarray(b_tr), l2=l2).grad(jnp.asarray(beta_s)))
    alpha_hid = np.abs(grad[groups["hid"]]) * (1.0 + delta)
    alpha[groups["hid"]] = np.where(alpha_hid < 1e-12, 0.5 * alpha_max, alpha_hid)
    return CalibratedClassificationDesign(**parts, beta=beta, groups=groups, l2=l2, seed=seed, x0=np.log(alpha))


def semi_synthetic_from(seed: int, source: str, max_samples: int | None = None, **kwargs):
    """:func:`semi_synthetic` on the features of :func:`fbjax.data.real.load` ``(source, max_samples)`` (a
    LIBSVM path, or ``"digits"`` offline; the experiment's generator)."""
    return semi_synthetic(seed, load(source, max_samples)[0], **kwargs)
