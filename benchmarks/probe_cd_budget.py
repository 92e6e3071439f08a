"""``solver="auto"`` with and without CD's work budget (``fbjax.solvers.CD_EPOCHS``), end to end (session 23).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cd_budget.py [--repeats 3] [--cases table3,weightedl1]

Variants, alternated in one process (``jax.clear_caches()`` between them, since the budget is read when
tracing): ``CD_EPOCHS = 150`` (the default) and no budget (``CD_EPOCHS`` so large that only ``max_iter``
binds: the behaviour before session 23). Cases:

- ``table3``: one Table 3 block with ``Settings(solver="auto")``, 5 seeds in one program as ``fbjax reproduce``
  runs it, at (0.98, 500, 750) (where coordinate descent beat FISTA 2.6-3.5x in the loops, session 12), for
  Sparse-HO's library rule and NTRBA-SC;
- ``weightedl1``: ``WeightedL1(max_iter=20).fit`` on the ill-conditioned AR(1) design (rho 0.99, n 400,
  p 600; 88-91 s in session 22).

Per case and variant: the first call (compile included), the median of ``--repeats`` further calls, and a
check that both variants give the same result (F1 and best validation loss, or the learned penalties).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402
from fbjax.experiments import bilevel  # noqa: E402

VARIANTS = {"budget 150p": 150, "no budget": 2**31}


def timed(fn, repeats):
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), out


def cases(names):
    if "table3" in names:
        data = bilevel.stack([calibrated_degenerate(s, n=500, p=750, rho=0.98) for s in range(5)])
        for method in ("sparse-ho-gd", "ntrba-sc"):
            def run(method=method):
                out = bilevel.run_batch(method, bilevel.Settings(solver="auto"), data)
                return np.concatenate([np.asarray(out["f1"]), np.asarray(out["best_val_loss"])])
            yield f"table3 (0.98, 500, 750) {method}", run
    if "weightedl1" in names:
        X, y, _, _ = ar1_regression(0, 400, 600, 0.99)
        yield "WeightedL1(max_iter=20) AR(1) 0.99, n 400, p 600", lambda: fbjax.WeightedL1(max_iter=20).fit(X, y).alpha_


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cases", default="table3,weightedl1")
    args = ap.parse_args()
    for name, fn in cases(args.cases.split(",")):
        results = {}
        for variant, epochs in VARIANTS.items():
            fbjax.solvers.CD_EPOCHS = epochs
            bilevel._COMPILED.clear()
            jax.clear_caches()
            results[variant] = timed(fn, args.repeats)
            first, med, _ = results[variant]
            print(f"{name} | {variant}: first {first:.1f} s, median {med:.2f} s", flush=True)
        a, b = (np.asarray(r[2]) for r in results.values())
        rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
        ratio = results["no budget"][1] / results["budget 150p"][1]
        print(f"{name} | no budget / budget: {ratio:.2f}; max rel. difference of the results {rel:.1e}", flush=True)


if __name__ == "__main__":
    main()
