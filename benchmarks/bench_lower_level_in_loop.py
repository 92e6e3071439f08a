"""The lower-level solver inside the paper's outer loops: FISTA against coordinate descent, same run.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_lower_level_in_loop.py [--configs 0.98,500,750 ...]
        [--repeats 3] [--baseline-rev REV] [--out benchmarks/results/lower_level_in_loop.json]

For each Table 3 configuration (rho, n, p; 5 seeds in one compiled program, as ``fbjax reproduce``) and each
method (scalar grid, Sparse-HO null + NBA, Sparse-HO's library rule, NTRBA-SC), the block is run with
``Settings(solver=...)`` for FISTA and coordinate descent: the first call (compilation included) and the
median of ``--repeats`` further calls, with the block's F1 and best validation loss, which must agree.
``--baseline-rev REV`` adds fbjax's coordinate descent as it was at git revision ``REV``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_forward_sklearn import at_revision  # noqa: E402
from bench_hypergradient import machine_meta, record  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.experiments import bilevel  # noqa: E402

METHODS = ("scalar", "nba-null", "sparse-ho-gd", "ntrba-sc")


@contextlib.contextmanager
def cd_solver(fn):
    """``solver="cd"`` runs ``fn`` (a previous revision's coordinate descent) inside the block."""
    saved = fbjax.solvers.SOLVERS["cd"]
    fbjax.solvers.SOLVERS["cd"] = fn
    bilevel._COMPILED.clear()
    jax.clear_caches()  # fbjax.solve's compiled programs are keyed on the name "cd"
    try:
        yield
    finally:
        fbjax.solvers.SOLVERS["cd"] = saved
        bilevel._COMPILED.clear()
        jax.clear_caches()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["0.90,100,150", "0.95,200,300", "0.98,500,750"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-rev", default=None)
    ap.add_argument("--out", default="benchmarks/results/lower_level_in_loop.json")
    args = ap.parse_args()
    variants = [("fista", "fista", contextlib.nullcontext), ("cd", "cd", contextlib.nullcontext)]
    if args.baseline_rev:
        old = at_revision(args.baseline_rev, "fbjax/solvers/cd.py", "coordinate_descent")
        variants.append((f"cd@{args.baseline_rev}", "cd", lambda: cd_solver(old)))
    meta, rows = machine_meta(baseline_rev=args.baseline_rev), []
    for cfg in args.configs:
        rho, n, p = float(cfg.split(",")[0]), *map(int, cfg.split(",")[1:])
        data = bilevel.stack([calibrated_degenerate(s, n=n, p=p, rho=rho) for s in range(5)])
        for method in METHODS:
            row = {"config": f"rho={rho} n={n} p={p}", "method": method}
            for name, solver, ctx in variants:
                with ctx():
                    settings = bilevel.Settings(solver=solver)
                    t0 = time.perf_counter()
                    out = bilevel.run_batch(method, settings, data)
                    first = time.perf_counter() - t0
                    times = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        out = bilevel.run_batch(method, settings, data)
                        times.append(time.perf_counter() - t0)
                row[f"{name}_first_s"], row[f"{name}_s"] = first, statistics.median(times)
                row[f"{name}_f1"] = [round(float(v), 6) for v in out["f1"]]
                row[f"{name}_best_val"] = [float(v) for v in out["best_val_loss"]]
            record(args.out, meta, rows, row)
    names = [v[0] for v in variants]
    print("\n| config | method | " + " | ".join(f"{v}: s (first call)" for v in names)
          + " | fista / cd | F1 (mean) | max rel. diff. of best val. loss |")  # fmt: skip
    print("|---" * (5 + len(names)) + "|")
    for r in rows:
        cells = " | ".join(f"{r[f'{v}_s']:.2f} ({r[f'{v}_first_s']:.1f})" for v in names)
        f1 = " / ".join(f"{np.mean(r[f'{v}_f1']):.3f}" for v in names)
        ref = np.asarray(r["fista_best_val"])
        diff = max(float(np.max(np.abs(np.asarray(r[f"{v}_best_val"]) - ref) / ref)) for v in names)
        print(f"| {r['config']} | {r['method']} | {cells} | {r['fista_s'] / r['cd_s']:.2f} | {f1} | {diff:.0e} |")


if __name__ == "__main__":
    main()
