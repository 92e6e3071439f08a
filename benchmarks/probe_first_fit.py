"""A first ``WeightedL1`` fit in a fresh process: its wall time, the time JAX spent tracing, lowering and compiling
the fit's program (``_learn``) and everything else it compiled (the programs of eager operations), from
``jax_log_compiles``; then the median of 3 refits. ``--rounds`` fresh processes per case.

Cases: breast cancer (standardised, all 569 rows), logistic, without and with ``fit_intercept``; calibrated
(0.95, 100, 150) with the squared loss (training and validation rows stacked).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_first_fit.py
"""

import argparse
import json
import logging
import re
import statistics
import subprocess
import sys
import time

CASES = ("breast cancer, logistic", "breast cancer, logistic, fit_intercept", "calibrated (0.95, 100, 150), squared")


def child(case: str):
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    import fbjax
    from fbjax.data import calibrated_degenerate

    if case.startswith("breast"):
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        make = lambda: fbjax.WeightedL1("logistic", fit_intercept=case.endswith("fit_intercept"))  # noqa: E731
    else:
        d = calibrated_degenerate(0, 100, 150, 0.95)
        X, y = np.vstack([d.A_train, d.A_val]), np.concatenate([d.b_train, d.b_val])
        make = fbjax.WeightedL1
    messages = []

    class Handler(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logging.getLogger("jax").addHandler(Handler())
    logging.getLogger("jax").setLevel(logging.DEBUG)
    jax.config.update("jax_log_compiles", True)
    t = time.perf_counter()
    make().fit(X, y)
    first = time.perf_counter() - t
    jax.config.update("jax_log_compiles", False)
    learn = other = 0.0
    for m in messages:
        found = re.search(r"Finished (.*?) in ([0-9.e-]+) sec", m)
        if found and "_learn" in found.group(1):
            learn += float(found.group(2))
        elif found:
            other += float(found.group(2))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        make().fit(X, y)
        times.append(time.perf_counter() - t)
    print(json.dumps(dict(first=first, learn=learn, other=other, fit=statistics.median(times))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("| case | first fit (s) | `_learn` trace + compile (s) | other compiles (s) | refit (s) |")
    print("|---|---|---|---|---|")
    for case in CASES:
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True,
                                          check=True).stdout) for _ in range(args.rounds)]  # fmt: skip
        cols = [", ".join(f"{r[k]:.2f}" for r in runs) for k in ("first", "learn", "other", "fit")]
        print(f"| {case} | " + " | ".join(cols) + " |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
