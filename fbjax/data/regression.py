"""The other synthetic designs: Experiment 2's three groups and the AIP slides' two designs.

All are seeded (one ``numpy`` generator) and return a :class:`~fbjax.data.RegressionDesign` (a
:class:`~fbjax.data.ClassificationDesign` for the classification one).
"""

from __future__ import annotations

import numpy as np

from fbjax import _checks
from fbjax.data.synthetic import ClassificationDesign, RegressionDesign, split


def three_group(
    seed: int, p: int, n_over_p: float, sparsity: float, *, corr: float = 0.7, noise: float = 0.1
) -> RegressionDesign:
    """Experiment 2 (Table 1): signal, correlated-noise and pure-noise features, 60/20/20 split.

    Draw for draw the paper code's ``make_three_group_dataset`` (``expes_fb/expe2_feature_resolution``)
    with ``rng = default_rng(seed)``: ``n = int(n_over_p * p)`` samples in all; ``k = max(int(sparsity *
    p), 2)`` signal columns with ``beta = +-1``; ``c = min(2k, p - k - 1)`` correlated-noise columns
    ``corr * A_sig,(j mod k) + sqrt(1 - corr^2) xi_j`` (zero coefficient); the rest i.i.d. noise columns;
    ``b = A beta + noise * eps``; sorted 60/20/20 row split; ``l2 = 1/n_train``.
    """
    _checks.check_count(p=p)
    _checks.check_positive(n_over_p=n_over_p)
    _checks.check_positive(zero_ok=True, noise=noise)
    if not 0 < sparsity < 1 / 3:
        raise ValueError(f"sparsity must lie in (0, 1/3), got {sparsity}")
    if not -1 <= corr <= 1:
        raise ValueError(f"corr must lie in [-1, 1], got {corr}")
    n = int(n_over_p * p)
    k = max(int(sparsity * p), 2)
    c = min(2 * k, p - k - 1)
    rng = np.random.default_rng(seed)
    sig = rng.standard_normal((n, k))
    cor = corr * sig[:, np.arange(c) % k] + np.sqrt(1.0 - corr**2) * rng.standard_normal((n, c))
    A = np.concatenate([sig, cor, rng.standard_normal((n, p - k - c))], axis=1)
    beta = np.zeros(p)
    beta[:k] = rng.choice([-1.0, 1.0], size=k)
    b = A @ beta + noise * rng.standard_normal(n)
    parts = split(A, b, rng, paper_code=True)
    groups = {"signal": np.arange(k), "corr": np.arange(k, k + c), "noise": np.arange(k + c, p)}
    return RegressionDesign(**parts, beta=beta, groups=groups, l2=1.0 / parts["A_train"].shape[0], seed=seed)


def aip_regression(seed: int, n: int, m: int, nz: int, *, snr: float = 10.0) -> RegressionDesign:
    """The AIP 2025 slides' overparameterised regression (NMSE table): ``n`` samples per split,
    ``m`` features, ``nz`` nonzero coefficients.

    ``A`` has i.i.d. standard Gaussian rows; ``beta`` has ``nz`` entries ``N(0, 1)`` at random
    positions; ``b = A beta + sigma eps`` with ``sigma = ||beta|| / snr`` (noise variance 1% of the
    signal's for ``snr = 10``, the floor the slides' weighted NMSE sits on). Train, validation and
    test have ``n`` rows each. The slides give only ``(n, m, nz)``; the rest is chosen here.
    """
    parts, beta, groups = _aip_draw(seed, n, m, nz, snr)
    return RegressionDesign(**parts, beta=beta, groups=groups, l2=1.0 / n, seed=seed)


def aip_classification(seed: int, n: int, m: int, nz: int, *, snr: float = 10.0) -> ClassificationDesign:
    """The AIP 2025 slides' sparse logistic classification (F1 table): the regression design's draw
    (same ``seed``, same ``A`` and ``beta``) with labels ``b = sign(A beta + sigma eps)`` in
    ``{-1, +1}``, ``sigma = ||beta|| / snr``. The slides give only ``(n, m, nz)``."""
    parts, beta, groups = _aip_draw(seed, n, m, nz, snr)
    for k in ("b_train", "b_val", "b_test"):
        parts[k] = np.where(parts[k] >= 0, 1.0, -1.0)
    return ClassificationDesign(**parts, beta=beta, groups=groups, l2=1.0 / n, seed=seed)


def _aip_draw(seed, n, m, nz, snr):
    _checks.check_count(n=n, m=m, nz=nz)
    if not snr > 0:
        raise ValueError(f"snr must be > 0 (inf: no noise), got {snr!r}")
    if not 0 < nz <= m:
        raise ValueError(f"need 0 < nz <= m, got nz={nz}, m={m}")
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((3 * n, m))
    beta = np.zeros(m)
    support = rng.choice(m, size=nz, replace=False)
    beta[support] = rng.standard_normal(nz)
    b = A @ beta + np.linalg.norm(beta) / snr * rng.standard_normal(3 * n)
    parts = split(A, b, rng, fractions=(1 / 3, 1 / 3))
    groups = {"support": np.sort(support), "off": np.setdiff1d(np.arange(m), support)}
    return parts, beta, groups
