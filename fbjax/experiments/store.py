"""Incremental, resumable results: one JSON line per (configuration, method, seed).

A sweep appends the rows of a finished block (one configuration x method, all seeds) at once and
flushes, so an interrupted run loses at most the block in flight and the next run skips every
block already on disk.
"""

from __future__ import annotations

import json
import os

import numpy as np


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


class RunStore:
    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.rows: list[dict] = []
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            self.rows.append(json.loads(line))
                        except json.JSONDecodeError:  # a line cut by an interruption
                            continue

    def has(self, config: str, method: str, seeds) -> bool:
        done = {(r["config"], r["method"], r["seed"]) for r in self.rows}
        return all((config, method, s) in done for s in seeds)

    def add(self, rows: list[dict]) -> None:
        rows = [{k: _plain(v) for k, v in r.items()} for r in rows]
        with open(self.path, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.rows.extend(rows)

    def select(self, **match) -> list[dict]:
        return [r for r in self.rows if all(r.get(k) == v for k, v in match.items())]
