"""Does a process load a cached fit when it traced other fbjax programs first?

JAX's persistent compilation cache keys a program by its text. ``checkify`` numbers each check from a counter
global to the process and writes the number into the program, so a checked program's text used to depend on how many
checks the process had traced before it. Each case is a fresh process on one cache folder (empty at the start):

    fit        WeightedL1().fit on the calibrated (0.95, 100, 150) design (the cached program)
    other+fit  first a fit on a 60 x 40 random design (another program), then the same fit
    eager+fit  first an eager fbjax.ntrba run on a quadratic, then the same fit

run in the order fit (writes the cache), fit, other+fit, eager+fit, other+fit; each prints the timed fit's seconds.
A fit that loads its program takes about 1.5 s here, one that compiles 4-6 s.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cache_history.py
"""

import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time, jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
import fbjax
from fbjax.data import calibrated_degenerate
case = sys.argv[1]
if case.startswith("other"):
    r = np.random.default_rng(1); A = r.standard_normal((60, 40))
    fbjax.WeightedL1(max_iter=5).fit(A, A[:, :3].sum(1) + 0.1 * r.standard_normal(60))
if case.startswith("eager"):
    fbjax.ntrba(jax.value_and_grad(lambda x: jnp.sum((x - 1.0) ** 2)), jnp.zeros(3), max_iter=5)
d = calibrated_degenerate(0, 100, 150, 0.95)
t = time.perf_counter()
m = fbjax.WeightedL1().fit(d.A_train, d.b_train, d.A_val, d.b_val)
print(f"{case}: fit {time.perf_counter() - t:.2f} s, validation loss {m.validation_loss_:.6f}")
"""


def main():
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": cache}
        for case in ("fit", "fit", "other+fit", "eager+fit", "other+fit"):
            out = subprocess.run([sys.executable, "-c", CHILD, case], env=env, capture_output=True, text=True)
            print(out.stdout.strip() or out.stderr[-2000:], f"({len(os.listdir(cache))} files in the cache)", flush=True)


if __name__ == "__main__":
    main()
