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


class MultiTaskDesign(NamedTuple):
    X_train: np.ndarray  # (T, N, P)
    y_train: np.ndarray  # (T, N)
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    W: np.ndarray  # (T, P) true coefficients
    groups: np.ndarray  # (P,) true group label of each feature


def group_tasks(
    seed: int = 0, T: int = 500, N: int = 25, P: int = 50, L: int = 5, *, sigma: float = 0.1,
    active: float = 0.4, n_val: int = 25, n_test: int = 50,
) -> MultiTaskDesign:  # fmt: skip
    """Draw the design; groups are contiguous blocks of ``P // L`` features (the last takes the rest)."""
    if not (1 <= L <= P):
        raise ValueError(f"need 1 <= L <= P, got L={L}, P={P}")
    rng = np.random.default_rng(seed)
    groups = np.minimum(np.arange(P) // (P // L), L - 1)
    on = rng.random((T, L)) < active
    on[np.arange(T), rng.integers(0, L, T)] |= ~on.any(axis=1)
    W = rng.standard_normal((T, P)) * on[:, groups]

    def draw(n):
        X = rng.standard_normal((T, n, P))
        return X, np.einsum("tnp,tp->tn", X, W) + sigma * rng.standard_normal((T, n))

    (Xtr, ytr), (Xva, yva), (Xte, yte) = draw(N), draw(n_val), draw(n_test)
    return MultiTaskDesign(Xtr, ytr, Xva, yva, Xte, yte, W, groups)
