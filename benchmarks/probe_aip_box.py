"""The AIP design's hardest row, (n, m, nz) = (200, 600, 120), under other lower ends of the box.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_aip_box.py C [C ...]   # C: a number or "none"

For each C: NTRBA-SC (the aip-regression settings: scale-free band, start at the seed's best grid
penalty, 50 iterations) on seeds 0-4 with x = log(alpha) in [log(alpha_max) + C, log(0.9 alpha_max)],
printing the per-seed validation NMSE, the accepted steps and the range of the best x relative to
log(alpha_max). Context (benchmarks/RESULTS.md, AIP regression): at C = -5 (the paper code's box) seed 1
ends at 0.330 with its penalties on the bound.
"""

import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from fbjax.experiments import bilevel, specs  # noqa: E402

for text in sys.argv[1:]:
    exp = specs.get("aip-regression", box_lower=-np.inf if text == "none" else float(text))
    (config,) = [c for c in exp.configs if c.key == (200, 600, 120)]
    data = bilevel.stack([exp.make(k, **config.kwargs) for k in range(exp.seeds)])
    t0 = time.perf_counter()
    out = bilevel.run_batch("ntrba-sc", exp.settings, data)
    rel = out["best_x"] - np.log(np.asarray(data["alpha_max"]))[:, None]
    print(f"C = {text}: validation NMSE {out['nmse_val'].mean():.4f} ± {out['nmse_val'].std():.4f} "
          f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    for k in range(exp.seeds):
        print(f"  seed {k}: NMSE {out['nmse_val'][k]:.3f}, accepted {int(out['accepted'][k])}, "
              f"best x - log(alpha_max) in [{rel[k].min():.2f}, {rel[k].max():.2f}]")  # fmt: skip
