"""fbjax.WeightedL1 against scikit-learn's LassoCV and ElasticNetCV: test R^2, support F1, fit time.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_estimator_sklearn.py [--seeds 5]
        [--out benchmarks/results/estimator_sklearn.json] [--argmin-solver NAME]

``--argmin-solver NAME`` adds both ``WeightedL1`` rows again with ``argmin_kw={"solver": NAME}`` (the outer run's
lower-level solver; the default is ``"auto"``), measured in the same run.

Protocol (the user's view: one data set, each estimator with its defaults). Every estimator gets the same
``(X, y)``, the design's training and validation rows stacked, and is scored on the design's test rows:
- ``WeightedL1()``: per-feature penalties learned by NTRBA-SC on a 25% held-out part of ``(X, y)`` (its
  own split, ``random_state=0``), the model fitted on the other 75% (no refit on all rows), from its
  default start (the grid's best scalar penalty) and from Table 1's uniform start ``alpha_max / 5``;
- ``LassoCV(cv=5)``: one penalty from a 100-value path by 5-fold CV, refitted on all rows;
- ``ElasticNetCV(cv=5, l1_ratio=[.1, .5, .7, .9, .95, .99, 1])``: the same with the l1 ratio picked too.
No intercept anywhere (the designs have none), scikit-learn's ``max_iter=10_000``, fbjax in float64.

Designs: the AIP slides' i.i.d. Gaussian regression (``fbjax.data.aip_regression``, n rows per split) and
Experiment 2's three groups with correlated noise features (``fbjax.data.three_group``, 60/20/20 split).
Per design and estimator: mean and std over seeds of the test R^2 and support F1 (``|w_i| > 1e-10``
against ``beta != 0``), the mean number of nonzeros, the median fit time over the seeds and, for fbjax, the
median of the validation loss it minimized (``validation_loss_``, on its own held-out rows); fbjax's
first fit (which compiles) is a separate warm-up on seed 0, reported as compile time = first fit minus
the median. Results go to ``--out`` as JSON, one design at a time (a rerun skips finished designs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.data import aip_regression, three_group  # noqa: E402

DESIGNS = {
    "aip (100, 300, 30)": lambda s: aip_regression(s, 100, 300, 30),
    "aip (200, 600, 60)": lambda s: aip_regression(s, 200, 600, 60),
    "three-group (p 200, n/p 1.0, 5%)": lambda s: three_group(s, 200, 1.0, 0.05),
    "three-group (p 200, n/p 0.8, 10%)": lambda s: three_group(s, 200, 0.8, 0.10),
}


def estimators(argmin_solver=None):
    from sklearn.linear_model import ElasticNetCV, LassoCV

    extra = {}
    if argmin_solver:
        kw = {"solver": argmin_solver}
        extra = {f"fbjax WeightedL1, {argmin_solver}": lambda: fbjax.WeightedL1(argmin_kw=kw),
                 f"fbjax WeightedL1(start=0.2), {argmin_solver}": lambda: fbjax.WeightedL1(start=0.2, argmin_kw=kw)}
    return {
        "fbjax WeightedL1": lambda: fbjax.WeightedL1(),
        "fbjax WeightedL1(start=0.2)": lambda: fbjax.WeightedL1(start=0.2),
        **extra,
        "sklearn LassoCV": lambda: LassoCV(cv=5, fit_intercept=False, max_iter=10_000),
        "sklearn ElasticNetCV": lambda: ElasticNetCV(
            cv=5, l1_ratio=[0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0], fit_intercept=False, max_iter=10_000
        ),
    }


def one_fit(make, d):
    X, y = np.vstack([d.A_train, d.A_val]), np.concatenate([d.b_train, d.b_val])
    t0 = time.perf_counter()
    est = make().fit(X, y)
    seconds = time.perf_counter() - t0
    w = np.asarray(est.coef_)
    pred = d.A_test @ w
    r2 = 1 - np.sum((d.b_test - pred) ** 2) / np.sum((d.b_test - d.b_test.mean()) ** 2)
    supp, true = np.abs(w) > 1e-10, d.beta != 0
    f1 = 2 * np.sum(supp & true) / max(supp.sum() + true.sum(), 1)
    val = getattr(est, "validation_loss_", None)  # fbjax: the upper level it minimized, on its held-out rows
    return dict(seconds=seconds, r2=float(r2), f1=float(f1), nnz=int(supp.sum()), val=val)


def bench_design(name, seeds, argmin_solver=None):
    rows = {}
    for label, make in estimators(argmin_solver).items():
        first = one_fit(make, DESIGNS[name](0))["seconds"]  # warm-up (fbjax compiles here)
        runs = [one_fit(make, DESIGNS[name](s)) for s in range(seeds)]
        med = statistics.median(r["seconds"] for r in runs)
        rows[label] = dict(
            runs=runs, fit_s=med, compile_s=max(first - med, 0.0),
            **{f"{k}_{f.__name__}": float(f([r[k] for r in runs])) for k in ("r2", "f1", "nnz") for f in (np.mean, np.std)},
        )  # fmt: skip
        print(f"  {label:41s} R2 {rows[label]['r2_mean']:.3f} ± {rows[label]['r2_std']:.3f}   F1 "
              f"{rows[label]['f1_mean']:.3f} ± {rows[label]['f1_std']:.3f}   nnz {rows[label]['nnz_mean']:6.1f}   "
              f"fit {med:6.2f} s (compile {rows[label]['compile_s']:.1f} s)"
              + (f"   val loss {np.median([r['val'] for r in runs]):.4g}" if runs[0]["val"] is not None else ""), flush=True)  # fmt: skip
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/estimator_sklearn.json")
    parser.add_argument("--argmin-solver", default=None, help="also WeightedL1 with argmin_kw={'solver': this}")
    args = parser.parse_args()
    done = json.load(open(args.out)) if os.path.exists(args.out) else {}
    warnings.filterwarnings("ignore", message=".*did not converge.*")  # reported through R^2 / F1 instead
    for name in DESIGNS:
        if name in done and done[name]["seeds"] == args.seeds:
            print(f"{name}: done (in {args.out})")
            continue
        print(name, flush=True)
        done[name] = dict(seeds=args.seeds, rows=bench_design(name, args.seeds, args.argmin_solver))
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(done, f, indent=1)


if __name__ == "__main__":
    main()
