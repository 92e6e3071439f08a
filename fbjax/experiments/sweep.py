"""Run an :class:`~fbjax.experiments.specs.Experiment`: one compiled program per (configuration,
method) over all seeds, appended to ``runs.jsonl`` as soon as it finishes (resumable; a block of which some seeds
are on disk, from an earlier run with fewer ``--seeds``, runs the others only)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from fbjax._batching import shard_count
from fbjax.experiments.bilevel import run_batch, stack
from fbjax.experiments.store import RunStore


def check_settings(exp, out: str) -> None:
    """Record ``exp.settings`` in ``out/settings.json``; refuse to resume a folder run with others."""
    path = os.path.join(out, "settings.json")
    mine = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(exp.settings).items()}
    if os.path.exists(path):
        with open(path) as f:
            theirs = json.load(f)
        diff = {k: (theirs.get(k), v) for k, v in mine.items() if theirs.get(k) != v}
        if diff:
            what = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
            raise ValueError(f"{out} holds results run with other settings ({what}); use another --out or delete it")
        return
    os.makedirs(out, exist_ok=True)
    with open(path + ".part", "w") as f:  # then renamed: a run killed here leaves no cut settings.json
        json.dump(mine, f, indent=1)
    os.replace(path + ".part", path)


def check_model(exp, design) -> None:
    """Refuse a generator whose design's model (``design.model``) is not ``exp.settings.model``: the
    sweep would otherwise fit, e.g., +-1 labels by least squares without a word."""
    if design.model != exp.settings.model:
        raise ValueError(
            f"{exp.name}: the generator makes {type(design).__name__} (model {design.model!r}) but the "
            f"settings say model={exp.settings.model!r}; set Settings(model={design.model!r})"
        )


def scalar_starts(store: RunStore, config: str, seeds, dtype):
    """The scalar block's best penalties of ``config`` (seeds stacked), read back from the store: the
    weighted runs of ``Settings(start="scalar")`` start there instead of re-running the grid."""
    import jax.numpy as jnp

    best = {r["seed"]: r["best_x"] for r in store.select(config=config, method="scalar")}
    return jnp.asarray([best[s] for s in seeds], dtype)


def run(exp, out: str, how: str = "auto", progress: bool = True) -> RunStore:
    import jax
    from tqdm import tqdm

    jax.config.update("jax_enable_x64", True)
    check_settings(exp, out)
    store = RunStore(os.path.join(out, "runs.jsonl"))
    seeds = list(range(exp.seeds))
    blocks = [(c, m) for c in exp.configs for m in exp.methods]
    # the seeds of each block not on disk yet (all of them, or those past an earlier run's --seeds)
    todo = [(c, m, [s for s in seeds if not store.has(c.label, m, [s])]) for c, m in blocks]
    todo = [block for block in todo if block[2]]
    done = len(blocks) * len(seeds) - sum(len(missing) for *_, missing in todo)
    if done:
        print(f"{exp.name}: resuming, {len(blocks) - len(todo)} of {len(blocks)} blocks already in {store.path}"
              f" ({done} of {len(blocks) * len(seeds)} runs)", file=sys.stderr)  # fmt: skip
    bar = tqdm(todo, desc=exp.name, unit="block", file=sys.stderr, disable=not progress)
    cache: dict = {}
    for config, method, missing in bar:
        bar.set_postfix_str(f"{config.label} {method}")
        if config.label not in cache:
            cache.clear()
            designs = [exp.make(s, **config.kwargs) for s in seeds]
            check_model(exp, designs[0])
            cache[config.label] = designs, {}  # the designs, and their stacks per set of seeds
        designs, stacks = cache[config.label]
        if tuple(missing) not in stacks:
            stacks[tuple(missing)] = stack([designs[s] for s in missing])
        data = stacks[tuple(missing)]
        if exp.settings.start == "scalar" and method != "scalar" and store.has(config.label, "scalar", missing):
            per_seed = isinstance(data, list)  # sparse designs: one dict per seed (bilevel.stack)
            xs = scalar_starts(store, config.label, missing, (data[0] if per_seed else data)["x0"].dtype)
            data = [dict(one, x_scalar=x) for one, x in zip(data, xs)] if per_seed else dict(data, x_scalar=xs)
        devices = shard_count(len(missing))  # the block's seeds are split over this many devices (batch_map)
        t0 = time.perf_counter()
        res = run_batch(method, exp.settings, data, how)
        wall = time.perf_counter() - t0
        rows = []
        for i, s in enumerate(missing):
            row = {"experiment": exp.name, "config": config.label, "method": method, "seed": s,
                   "block_wall_s": wall, "backend": jax.default_backend(), "devices": devices}  # fmt: skip
            row.update({k: float(v[i]) if v.ndim == 1 else v[i] for k, v in res.items()})  # metrics; trajectories
            rows.append(row)
        store.add(rows)
    return store.of_seeds(seeds)
