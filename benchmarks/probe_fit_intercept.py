"""``WeightedL1(fit_intercept=True)`` on scikit-learn's diabetes data (session 29): its target has mean 152 and its
features are centred, so the model without an intercept cannot fit it. A 75/25 train/test split
(``random_state=0``); test R^2, the intercept and the number of nonzero coefficients, next to ``LassoCV()``
(which fits an intercept by default).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_fit_intercept.py
"""

import jax
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LassoCV
from sklearn.model_selection import train_test_split

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402

if __name__ == "__main__":
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X * 10, y, random_state=0)  # features of unit scale
    for fit_intercept in (False, True):
        est = fbjax.WeightedL1(max_iter=30, fit_intercept=fit_intercept).fit(X_train, y_train)
        print(f"WeightedL1(fit_intercept={fit_intercept}): test R^2 {est.score(X_test, y_test):.3f}, "
              f"intercept_ {est.intercept_:.2f}, nnz {int(np.sum(np.asarray(est.coef_) != 0))}")
    lasso = LassoCV().fit(X_train, y_train)
    print(f"LassoCV(): test R^2 {lasso.score(X_test, y_test):.3f}, intercept_ {lasso.intercept_:.2f}, "
          f"nnz {int(np.sum(lasso.coef_ != 0))}")
