"""Probe: does refitting WeightedL1 on all rows of (X, y) with its learned penalties change test R^2 / F1?

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_estimator_refit.py

The designs, seeds and split of ``bench_estimator_sklearn.py``; per design and start, the means over 5 seeds
of test R^2, support F1 and nonzeros of ``coef_`` (fitted on the 75% training part) and of the lower-level
solution on all rows at the learned ``x_``.
"""

import os
import sys

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fbjax  # noqa: E402
from bench_estimator_sklearn import DESIGNS  # noqa: E402


def score(d, w):
    w = np.asarray(w)
    pred = d.A_test @ w
    r2 = 1 - np.sum((d.b_test - pred) ** 2) / np.sum((d.b_test - d.b_test.mean()) ** 2)
    supp, true = np.abs(w) > 1e-10, d.beta != 0
    return r2, 2 * np.sum(supp & true) / (supp.sum() + true.sum()), supp.sum()


for name, make in DESIGNS.items():
    for start in ("scalar", 0.2):
        rows = []
        for seed in range(5):
            d = make(seed)
            X, y = np.vstack([d.A_train, d.A_val]), np.concatenate([d.b_train, d.b_val])
            est = fbjax.WeightedL1(start=start).fit(X, y)
            w_all = fbjax.solve(fbjax.LeastSquares(X, y, l2=1.0 / X.shape[0]), est.x_, tol=1e-10).y
            rows.append(score(d, est.coef_) + score(d, w_all))
        r = np.mean(rows, 0)
        print(f"{name:36s} {start!s:6s} no refit: R2 {r[0]:.3f} F1 {r[1]:.3f} nnz {r[2]:.1f} | "
              f"refit on all rows: R2 {r[3]:.3f} F1 {r[4]:.3f} nnz {r[5]:.1f}", flush=True)  # fmt: skip
