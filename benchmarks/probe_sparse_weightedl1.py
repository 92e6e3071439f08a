"""``WeightedL1(loss="logistic")`` on a sparse matrix of RCV1's size (session 27): the route for Experiment 5's
paper-scale sparse data, which the seed sweeps of ``fbjax reproduce exp5-s2`` would hold densely.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_sparse_weightedl1.py

A random 16000 x 47236 CSR matrix of density 0.0016 (RCV1's shape and density; not RCV1) with uniform [0, 1]
entries, labels ``1{X w + 0.1 eps > 0}`` for 200 random nonzero ``w_j ~ N(0, 25)``; the first 12000 rows fit,
the last 4000 validate. ``WeightedL1(loss="logistic", start=0.1, max_iter=K)`` for K = 2 and 10, each fit
timed whole (the first includes compilation; the second compiles again, since ``max_iter`` is static).
"""

import time

import jax
import numpy as np
import scipy.sparse

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    n, d = 16000, 47236
    X = scipy.sparse.random(n, d, density=0.0016, random_state=0, format="csr")
    X.data = rng.random(X.nnz)
    w = np.zeros(d)
    w[rng.choice(d, 200, replace=False)] = 5 * rng.standard_normal(200)
    y = np.where(X @ w + 0.1 * rng.standard_normal(n) > 0, 1, 0)
    print(f"X {n} x {d}, nnz {X.nnz}, positive rate {y.mean():.3f}", flush=True)
    for iters in (2, 10):
        t0 = time.perf_counter()
        est = fbjax.WeightedL1(loss="logistic", start=0.1, max_iter=iters)
        est.fit(X[:12000], y[:12000], X[12000:], y[12000:])
        print(f"max_iter={iters}: {time.perf_counter() - t0:.1f} s, nonzeros {int(np.sum(est.coef_ != 0))}, "
              f"validation log-loss {float(est.validation_loss_):.4f}", flush=True)


if __name__ == "__main__":
    main()
