"""A random sparse binary task as a LIBSVM file, for timing ``fbjax reproduce exp5-s2`` on sparse designs
without the paper's downloads (session 27).

Usage:
    python benchmarks/make_sparse_libsvm.py OUT [--n 6000] [--d 20000] [--density 0.0016] [--seed 0]

``X``: uniform [0, 1] entries at the given density (RCV1's is 0.0016); labels ``1{X w + 0.1 eps > 0}`` for 200
random nonzero ``w_j ~ N(0, 25)``. Not RCV1: only its sparsity pattern's statistics are alike.
"""

import argparse

import numpy as np
import scipy.sparse
from sklearn.datasets import dump_svmlight_file


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--d", type=int, default=20000)
    ap.add_argument("--density", type=float, default=0.0016)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    X = scipy.sparse.random(args.n, args.d, density=args.density, random_state=args.seed, format="csr")
    X.data = rng.random(X.nnz)
    w = np.zeros(args.d)
    w[rng.choice(args.d, 200, replace=False)] = 5 * rng.standard_normal(200)
    y = np.where(X @ w + 0.1 * rng.standard_normal(args.n) > 0, 1, -1)
    dump_svmlight_file(X, y, args.out)
    print(f"{args.out}: {args.n} x {args.d}, nnz {X.nnz}, positive rate {np.mean(y > 0):.3f}")


if __name__ == "__main__":
    main()
