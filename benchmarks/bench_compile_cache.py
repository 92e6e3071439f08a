"""Compiled programs cached across processes (session 33): fbjax's whole programs trace their checks as
``checkify`` values (``fbjax._errors.checked_jit``), so they hold no host callback and JAX's persistent
compilation cache keeps them.

1. ``--first-fit R``: fresh processes, each timing one call that compiles: ``WeightedL1().fit`` (squared loss on
   the calibrated (0.95, 100, 150) design, seed 0; logistic loss on a 200 x 300 design) and ``fbjax demo
   --no-plot`` (the whole command, wall time). Per case: ``R`` runs without a cache, then one run into an empty
   cache folder (it writes the programs) and ``R`` runs that read it.
2. ``--overhead R``: the warm run time of the estimator's program with checks as values (``_learn.program``)
   against the same function under plain ``jax.jit`` (checks through ``eqx.error_if``), alternated in one
   process, median of ``R`` after a warm-up, on three designs.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_compile_cache.py --first-fit 3
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_compile_cache.py --overhead 7
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_compile_cache.py --refused 2

3. ``--refused R``: what a program that checkify refuses costs when it is tried anyway. The estimator's grid
   vmapped as on a GPU (``grid_search``'s default method set to ``"vmap"``) on the calibrated design; the first
   fit in a fresh process with ``_learn`` as committed (told beforehand only off the CPU, so here it traces,
   is refused, and runs plain jit) against ``_learn`` as plain ``jax.jit``; ``R`` rounds.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

FIT = """
import time, jax, numpy as np
jax.config.update("jax_enable_x64", True)
import fbjax
from fbjax.data import calibrated_degenerate
if "{case}" == "squared":
    d = calibrated_degenerate(0, 100, 150, 0.95)
    args, est = (d.A_train, d.b_train, d.A_val, d.b_val), fbjax.WeightedL1()
else:
    r = np.random.default_rng(0)
    X = r.standard_normal((200, 300)); t = X[:, :10] @ np.ones(10) + 0.5 * r.standard_normal(200)
    args, est = (X, np.where(t > 0, 1, 0)), fbjax.WeightedL1(loss="logistic")
t0 = time.perf_counter(); est.fit(*args); print("FIT", time.perf_counter() - t0, est.validation_loss_)
"""


REFUSED = """
import time, jax
jax.config.update("jax_enable_x64", True)
import fbjax
from fbjax import estimator
from fbjax.baselines import grid
from fbjax.data import calibrated_degenerate
grid.grid_search.__defaults__ = ("vmap",)  # the GPU's grid, on the CPU
if "{mode}" == "plain":
    estimator._learn = jax.jit(estimator._learn.__wrapped__, static_argnums=(0, 1))
d = calibrated_degenerate(0, 100, 150, 0.95)
t0 = time.perf_counter(); est = fbjax.WeightedL1().fit(d.A_train, d.b_train, d.A_val, d.b_val)
print("FIT", time.perf_counter() - t0, est.validation_loss_)
"""


def refused(rounds):
    rows = []
    for _ in range(rounds):
        for mode in ("refused, then plain", "plain"):
            script = REFUSED.format(mode="plain" if mode == "plain" else "checked")
            run = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
            line = [ln for ln in run.stdout.splitlines() if ln.startswith("FIT")][0].split()
            rows.append({"mode": mode, "seconds": float(line[1]), "validation_loss": float(line[2])})
            print(rows[-1], flush=True)
    return rows


def one_run(case, cache):
    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
    t0 = time.perf_counter()
    if case == "demo":
        with tempfile.TemporaryDirectory() as out:
            flags = ["--compile-cache", cache or "none", "--no-plot", "--out", out]
            subprocess.run([sys.executable, "-m", "fbjax.cli", "demo", *flags], env=env, check=True,
                           capture_output=True)  # fmt: skip
        return {"seconds": time.perf_counter() - t0}
    run = subprocess.run([sys.executable, "-c", FIT.format(case=case)], env=env, check=True, capture_output=True,
                         text=True)  # fmt: skip
    line = [ln for ln in run.stdout.splitlines() if ln.startswith("FIT")][0].split()
    return {"seconds": float(line[1]), "process": time.perf_counter() - t0, "validation_loss": float(line[2])}


def first_fit(rounds):
    rows = []
    for case in ("squared", "logistic", "demo"):
        for r in range(rounds):
            rows.append({"case": case, "cache": "none", **one_run(case, None)})
            print(rows[-1], flush=True)
        folder = tempfile.mkdtemp(prefix="fbjax-cc-")
        try:
            for r in range(rounds + 1):
                rows.append({"case": case, "cache": "cold" if r == 0 else "warm", **one_run(case, folder)})
                print(rows[-1], flush=True)
        finally:
            shutil.rmtree(folder)
    return rows


def overhead(rounds):
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    import fbjax
    from fbjax import estimator
    from fbjax.data import calibrated_degenerate

    checked = estimator._learn
    plain = jax.jit(checked.__wrapped__, static_argnums=(0, 1))
    seen = {}

    def spy(*args):
        seen["args"] = args
        return checked(*args)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 1000))
    y = X[:, :20] @ rng.standard_normal(20) + 0.5 * rng.standard_normal(400)
    d = calibrated_degenerate(0, 100, 150, 0.95)
    cases = {
        "calibrated (0.95, 100, 150), seed 0": (fbjax.WeightedL1(), (d.A_train, d.b_train, d.A_val, d.b_val)),
        "random 400 x 1000, 20 nonzeros": (fbjax.WeightedL1(), (X, y)),
        "random 400 x 1000, logistic": (fbjax.WeightedL1(loss="logistic"), (X, np.where(y > 0, 1, 0))),
    }
    rows = []
    estimator._learn = spy
    try:
        for name, (est, data) in cases.items():
            est.fit(*data)
            args = seen["args"]
            programs = {"values (checkify)": lambda: checked.program(*args)[1], "callbacks (eqx)": lambda: plain(*args)}
            times = {k: [] for k in programs}
            for fn in programs.values():
                jax.block_until_ready(fn())  # compile
            for _ in range(rounds):
                for k, fn in programs.items():
                    t0 = time.perf_counter()
                    jax.block_until_ready(fn())
                    times[k].append(time.perf_counter() - t0)
            med = {k: float(np.median(v)) for k, v in times.items()}
            rows.append({"design": name, **{f"median {k}": v for k, v in med.items()},
                         "ratio": med["values (checkify)"] / med["callbacks (eqx)"]})  # fmt: skip
            print(rows[-1], flush=True)
    finally:
        estimator._learn = checked
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--first-fit", type=int, default=0)
    ap.add_argument("--overhead", type=int, default=0)
    ap.add_argument("--refused", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    result = {}
    if a.first_fit:
        result["first_fit"] = first_fit(a.first_fit)
    if a.overhead:
        result["overhead"] = overhead(a.overhead)
    if a.refused:
        result["refused"] = refused(a.refused)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
