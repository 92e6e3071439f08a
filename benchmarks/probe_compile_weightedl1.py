"""Where a first ``WeightedL1().fit`` spends its compile time: tracing, lowering to MLIR, XLA's compile.

Usage:
    python benchmarks/probe_compile_weightedl1.py [--design aip|three-group] [--argmin-kw JSON] [--repeats 3]
    XLA_FLAGS=--xla_gpu_autotune_level=0 python benchmarks/probe_compile_weightedl1.py   # a GPU without autotuning

One process, one design (seed 0 of ``bench_estimator_sklearn.py``'s AIP (100, 300, 30) or three-group
(p 200, n/p 1.0, 5%)), float64. The first fit is timed whole and split by JAX's own compile events
(``jax.monitoring``: tracing, jaxpr -> MLIR, backend compile, summed over every program it compiles); then
the median of ``--repeats`` further fits on the same data (cached program) gives the run time.
``--argmin-kw`` is passed as ``WeightedL1(argmin_kw=...)``, e.g. ``'{"max_support": 64}'`` for one static
adjoint bucket instead of the ``lax.switch`` over all of them. Session 21's H100 runs, before and after the
one-bucket rule for ``p <= cholesky_max()``, are in benchmarks/RESULTS.md ("On a GPU, a third time").
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402

from bench_estimator_sklearn import DESIGNS as SKLEARN_DESIGNS  # noqa: E402

DESIGNS = {"aip": "aip (100, 300, 30)", "three-group": "three-group (p 200, n/p 1.0, 5%)"}  # their names there
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--design", choices=DESIGNS, default="aip")
    ap.add_argument("--argmin-kw", type=json.loads, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    seconds = collections.Counter()
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, s, **kw: seconds.update({EVENTS[event]: s}) if event in EVENTS else None
    )
    d = SKLEARN_DESIGNS[DESIGNS[args.design]](0)
    X, y = np.vstack([d.A_train, d.A_val]), np.concatenate([d.b_train, d.b_val])
    jax.block_until_ready(jax.numpy.zeros(1) + 1)  # start the backend outside the timing
    seconds.clear()
    t = time.perf_counter()
    est = fbjax.WeightedL1(argmin_kw=args.argmin_kw).fit(X, y)
    first = time.perf_counter() - t
    split = dict(seconds)
    runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fbjax.WeightedL1(argmin_kw=args.argmin_kw).fit(X, y)
        runs.append(time.perf_counter() - t)
    run = statistics.median(runs)
    print(json.dumps(dict(
        backend=jax.default_backend(), device=jax.devices()[0].device_kind, design=args.design,
        argmin_kw=args.argmin_kw, first_fit=round(first, 2), run=round(run, 3), compile_total=round(first - run, 2),
        **{k: round(v, 2) for k, v in split.items()}, n_iter=est.n_iter_, val=est.validation_loss_,
    )))  # fmt: skip


if __name__ == "__main__":
    main()
