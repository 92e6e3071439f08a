"""One seed sweep of a paper experiment on one device against the same sweep split over all devices.

Usage (two XLA:CPU host devices on a 2-core machine; JAX reads the count at start-up):

    XLA_FLAGS=--xla_force_host_platform_device_count=2 OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/bench_sharded_sweep.py [--experiment table3] [--config "rho=0.95 n=200"] \\
        [--method ntrba-sc] [--seeds 6] [--repeats 3]

``fbjax.batch_map(..., shard=False)`` and ``shard=None`` (the default: split over the largest number of
devices that divides the seed count) compile the same program (``fbjax.experiments.bilevel.run_one``) in
one process, in two alternating rounds (the first compile of a process pays JAX's own start-up); compile time
(lower + compile) and the median run over ``--repeats`` after one warm-up are printed per round, with the
largest difference between the two programs' outputs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.experiments import bilevel, specs  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiment", default="table3")
    ap.add_argument("--config", default="rho=0.95 n=200", help="prefix of the configuration's label")
    ap.add_argument("--method", default="ntrba-sc")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    exp = specs.get(a.experiment)
    config = next(c for c in exp.configs if c.label.startswith(a.config))
    data = bilevel.stack([exp.make(s, **config.kwargs) for s in range(a.seeds)])
    print(f"{a.experiment} {config.label} {a.method}, {a.seeds} seeds, devices: {jax.devices()}")
    results = {}
    for rnd, shard in [(r, s) for r in (1, 2) for s in (False, None)]:
        fn = jax.jit(lambda d: fbjax.batch_map(lambda one: bilevel.run_one(a.method, exp.settings, one), d, shard=shard))
        t0 = time.perf_counter()
        compiled = fn.lower(data).compile()
        comp = time.perf_counter() - t0
        header = compiled.as_text().splitlines()[0]
        parts = header.split("num_partitions=")[1].split(",")[0] if "num_partitions=" in header else "1"
        out = jax.block_until_ready(compiled(data))
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(data))
            times.append(time.perf_counter() - t0)
        results[shard] = jax.device_get(out)
        print(f"round {rnd} shard={shard!s:5} devices used {parts}: compile {comp:6.2f} s  run {statistics.median(times):6.2f} s "
              f"(median of {a.repeats})  F1 {np.round(results[shard]['f1'], 3)}")  # fmt: skip
    diff = max(float(np.max(np.abs(np.asarray(results[False][k]) - np.asarray(results[None][k])))) for k in results[None])
    print(f"largest difference between the two programs' outputs: {diff:.3g}")


if __name__ == "__main__":
    main()
