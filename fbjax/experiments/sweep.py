"""Run an :class:`~fbjax.experiments.specs.Experiment`: one compiled program per (configuration,
method) over all seeds, appended to ``runs.jsonl`` as soon as it finishes (resumable)."""

from __future__ import annotations

import os
import sys
import time

from fbjax.experiments.bilevel import run_batch, stack
from fbjax.experiments.store import RunStore

SCALARS = ("best_val_loss", "f1", "hid_recall", "test_mse", "nmse_val", "nmse_test", "hid_grad_norm_k0",
           "grad_norm_k0", "nnz")  # fmt: skip


def run(exp, out: str, how: str = "auto", progress: bool = True) -> RunStore:
    import jax
    from tqdm import tqdm

    jax.config.update("jax_enable_x64", True)
    store = RunStore(os.path.join(out, "runs.jsonl"))
    seeds = list(range(exp.seeds))
    blocks = [(c, m) for c in exp.configs for m in exp.methods]
    todo = [(c, m) for c, m in blocks if not store.has(c.label, m, seeds)]
    if len(todo) < len(blocks):
        print(f"{exp.name}: resuming, {len(blocks) - len(todo)} of {len(blocks)} blocks already in {store.path}",
              file=sys.stderr)  # fmt: skip
    bar = tqdm(todo, desc=exp.name, unit="block", file=sys.stderr, disable=not progress)
    cache: dict = {}
    for config, method in bar:
        bar.set_postfix_str(f"{config.label} {method}")
        if config.label not in cache:
            cache.clear()
            cache[config.label] = stack([exp.make(s, **config.kwargs) for s in seeds])
        t0 = time.perf_counter()
        res = run_batch(method, exp.settings, cache[config.label], how)
        wall = time.perf_counter() - t0
        rows = []
        for i, s in enumerate(seeds):
            row = {"experiment": exp.name, "config": config.label, "method": method, "seed": s,
                   "block_wall_s": wall, "backend": jax.default_backend()}  # fmt: skip
            row.update({k: float(res[k][i]) for k in SCALARS})
            row.update({"values": res["values"][i], "grad_norms": res["grad_norms"][i], "best_x": res["best_x"][i]})
            rows.append(row)
        store.add(rows)
    return store
