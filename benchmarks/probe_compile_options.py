"""XLA:CPU compile options for ``WeightedL1``'s program: the defaults against ``xla_cpu_use_fusion_emitters = False``
(the legacy fusion emitters, passed to that one program's ``jax.jit`` as ``compiler_options``), each in fresh
processes (compiled programs are per process). Measured in session 31 and not adopted (benchmarks/RESULTS.md).

Per case: the first fit (compile included), the median of 3 refits, and the validation loss to full precision.
Cases: breast cancer (standardised, all 569 rows) with the logistic loss, without and with ``fit_intercept``;
AIP regression (seed 0, n 200, m 600, nz 60: training and validation rows stacked) and calibrated (0.95, 100, 150)
with the squared loss. ``--rounds`` alternates the two settings that many times.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_compile_options.py
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def child(defaults: bool):
    import jax
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    jax.config.update("jax_enable_x64", True)
    import fbjax
    from fbjax import estimator
    from fbjax.data import aip_regression, calibrated_degenerate

    if not defaults:
        jit = jax.jit(estimator._learn.__wrapped__, static_argnums=(0, 1), compiler_options=OPTIONS)
        estimator._learn = jit
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    a, c = aip_regression(0, 200, 600, 60), calibrated_degenerate(0, 100, 150, 0.95)
    cases = {
        "breast cancer, logistic": (lambda: fbjax.WeightedL1("logistic"), X, y),
        "breast cancer, logistic, fit_intercept": (lambda: fbjax.WeightedL1("logistic", fit_intercept=True), X, y),
        "AIP (200, 600, 60), squared": (fbjax.WeightedL1, np.vstack([a.A_train, a.A_val]),
                                        np.concatenate([a.b_train, a.b_val])),
        "calibrated (0.95, 100, 150), squared": (fbjax.WeightedL1, np.vstack([c.A_train, c.A_val]),
                                                 np.concatenate([c.b_train, c.b_val])),
    }  # fmt: skip
    out = {}
    for name, (make, X_, y_) in cases.items():
        t = time.perf_counter()
        make().fit(X_, y_)
        first = time.perf_counter() - t
        times = []
        for _ in range(3):
            t = time.perf_counter()
            est = make().fit(X_, y_)
            times.append(time.perf_counter() - t)
        out[name] = dict(first=first, fit=statistics.median(times), val=float(est.validation_loss_))
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs = {"XLA defaults": [], "legacy fusion emitters": []}
    for _ in range(args.rounds):
        for label in runs:
            cmd = [sys.executable, __file__, "--child", "defaults" if label == "XLA defaults" else "options"]
            runs[label].append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    print("| case | compile options | first fit (s), each round | fit (s), each round | validation loss |")
    print("|---|---|---|---|---|")
    for name in runs["XLA defaults"][0]:
        for label, rounds in runs.items():
            first = ", ".join(f"{r[name]['first']:.2f}" for r in rounds)
            fit = ", ".join(f"{r[name]['fit']:.3f}" for r in rounds)
            vals = sorted({repr(r[name]["val"]) for r in rounds})
            print(f"| {name} | {label} | {first} | {fit} | {' / '.join(vals)} |")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2] == "defaults")
    else:
        main()
