"""Setting 2's sparse path (session 27): the JAX methods of ``fbjax reproduce exp5-s2`` on a large sparse file,
timed per block (3 seeds, one compiled program run for each; compilation included in the first).

Usage:
    python benchmarks/make_sparse_libsvm.py /tmp/sparse6k.svm
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_exp5_sparse.py /tmp/sparse6k.svm [--methods scalar,nba-null,ntrba-sc]

``scalar-cv`` (scikit-learn's saga over 30 C x 5 folds per seed) is left out by default: on the 6000 x 20000
file its first block ran past 11 minutes and was stopped.
"""

import argparse
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
from fbjax.data.real import real_binary  # noqa: E402
from fbjax.experiments import specs  # noqa: E402
from fbjax.experiments.bilevel import run_batch, stack  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--methods", default="scalar,nba-null,ntrba-sc")
    args = ap.parse_args()
    settings = specs.get("exp5-s2").settings
    t0 = time.perf_counter()
    data = stack([real_binary(s, args.path) for s in range(3)])
    print(f"designs: {time.perf_counter() - t0:.1f} s; A_train {data[0]['A_train'].shape}, "
          f"nse {data[0]['A_train'].nse} (BCOO: {isinstance(data, list)})", flush=True)
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        out = run_batch(method, settings, data)
        wall = time.perf_counter() - t0
        print(f"{method}: {wall:.1f} s for 3 seeds; test F1 {np.mean(out['cls_f1_test']):.3f}, "
              f"active {100 * np.mean(out['nnz']) / out['best_x'].shape[1]:.2f}%, "
              f"validation log-loss {np.mean(out['best_val_loss']):.4f}", flush=True)


if __name__ == "__main__":
    main()
