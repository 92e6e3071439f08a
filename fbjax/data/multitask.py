"""Frecon et al.'s synthetic multi-task group-lasso design (NeurIPS 2018; slides ``004_``).

``T`` regression tasks share one unknown partition of the ``P`` features into ``L`` groups:

    y_t = X_t w_t* + sigma eps_t,   X_t in R^{N x P} i.i.d. N(0, 1),   eps_t ~ N(0, I),

with ``w_t*`` group-sparse: each group is active in a task with probability ``active`` (at least
one group per task), active coefficients i.i.d. ``N(0, 1)``. The slides give ``T = 500``,
``N = 25``, ``P = 50``, ``sigma = 0.1`` and a figure with ``L = 5`` contiguous groups of 10;
the activation rule, the ``N(0, 1)`` coefficients and the validation/test sizes are chosen here.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fbjax import _checks


class MultiTaskDesign(NamedTuple):
    X_train: np.ndarray  # (T, N, P)
    y_train: np.ndarray  # (T, N)
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    W: np.ndarray  # (T, P) true coefficients
    groups: np.ndarray  # true group labels: (P,) of the features (group_tasks) or (T,) of the tasks (task_clusters)


def group_tasks(
    seed: int = 0, T: int = 500, N: int = 25, P: int = 50, L: int = 5, *, sigma: float = 0.1,
    active: float = 0.4, n_val: int = 25, n_test: int = 50,
) -> MultiTaskDesign:  # fmt: skip
    """Draw the design; groups are contiguous blocks of ``P // L`` features (the last takes the rest)."""
    _check_sizes(T=T, N=N, P=P, L=L, n_val=n_val, n_test=n_test, sigma=sigma)
    if not (1 <= L <= P):
        raise ValueError(f"need 1 <= L <= P, got L={L}, P={P}")
    if not 0 < active <= 1:
        raise ValueError(f"active must lie in (0, 1], got {active!r}")
    rng = np.random.default_rng(seed)
    groups = np.minimum(np.arange(P) // (P // L), L - 1)
    on = rng.random((T, L)) < active
    on[np.arange(T), rng.integers(0, L, T)] |= ~on.any(axis=1)
    W = rng.standard_normal((T, P)) * on[:, groups]
    return _draw(rng, W, groups, sigma, (N, n_val, n_test))


def task_clusters(
    seed: int = 0, T: int = 60, N: int = 10, P: int = 20, L: int = 3, *, sigma: float = 0.1,
    n_val: int = 25, n_test: int = 50, classification: bool = False,
) -> MultiTaskDesign:  # fmt: skip
    """Tasks in ``L`` hidden clusters with a rank-one coefficient block each (the ICPR 2020 setting of
    task groups under a trace norm): ``w_t* = a_t v_l`` for the tasks ``t`` of cluster ``l`` (contiguous
    blocks of ``T // L``), ``v_l ~ N(0, I_P)``, ``a_t ~ N(0, 1)``. ``N < P`` by default, so a task
    alone is underdetermined and only its cluster's direction makes it learnable. Our choices: the
    slides specify no synthetic design for this model. ``classification=True``: labels
    ``sign(X_t w_t* + sigma eps)`` in ``{-1, +1}`` (the ICPR model's binary tasks)."""
    _check_sizes(T=T, N=N, P=P, L=L, n_val=n_val, n_test=n_test, sigma=sigma)
    if not (1 <= L <= T):
        raise ValueError(f"need 1 <= L <= T, got L={L}, T={T}")
    rng = np.random.default_rng(seed)
    groups = np.minimum(np.arange(T) // (T // L), L - 1)
    W = rng.standard_normal(T)[:, None] * rng.standard_normal((L, P))[groups]
    d = _draw(rng, W, groups, sigma, (N, n_val, n_test))
    if classification:
        d = d._replace(**{k: np.where(getattr(d, k) >= 0, 1.0, -1.0) for k in ("y_train", "y_val", "y_test")})
    return d


def _check_sizes(*, sigma, **counts) -> None:
    """Raise ValueError naming the first count that is not an int ``>= 1``, or a noise ``sigma`` not ``>= 0``."""
    _checks.check_count(**counts)
    _checks.check_positive(zero_ok=True, sigma=sigma)


def _draw(rng, W, groups, sigma, sizes) -> MultiTaskDesign:
    """Gaussian designs ``X_t`` and ``y_t = X_t w_t* + sigma eps`` for the train, validation and test sizes."""
    T, P = W.shape
    out = []
    for n in sizes:
        X = rng.standard_normal((T, n, P))
        out += [X, np.einsum("tnp,tp->tn", X, W) + sigma * rng.standard_normal((T, n))]
    return MultiTaskDesign(*out, W, groups)
