"""Table 3's NTRBA-SC under other initial trust radii (the paper code's Delta_0 is 0.1).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_table3_radius.py RADIUS [RADIUS ...]

For each radius: NTRBA-SC on the nine Table 3 configurations (seeds 0-4, published band, 60
iterations, calibrated start), printing F1 mean ± std, the per-seed F1, and how many runs never took
a step. Context (benchmarks/RESULTS.md, Table 3): at Delta_0 = 0.1 seed 2 of (0.90, 100, 150) is
rejected at its first trial (ared/pred 0.079 < eta_accept = 0.1) and never leaves x0.
"""

import dataclasses
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from fbjax.experiments import bilevel, specs  # noqa: E402

exp = specs.get("table3")
for radius in map(float, sys.argv[1:]):
    s = dataclasses.replace(exp.settings, radius=radius)
    t0, means = time.perf_counter(), []
    for c in exp.configs:
        out = bilevel.run_batch("ntrba-sc", s, bilevel.stack([exp.make(k, **c.kwargs) for k in range(exp.seeds)]))
        f1 = out["f1"]
        means.append(f1.mean())
        print(f"radius {radius:g} {c.label}: F1 {f1.mean():.3f} ± {f1.std():.3f} {np.round(f1, 3)}, "
              f"never left x0: {int(np.sum(out['accepted'] == 0))}", flush=True)  # fmt: skip
    print(f"radius {radius:g}: min over configurations {min(means):.3f}, {time.perf_counter() - t0:.0f} s", flush=True)
