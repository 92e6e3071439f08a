"""Incremental, resumable results: one JSON line per (configuration, method, seed).

A sweep appends the rows of a finished block (one configuration x method, its seeds) at once and
flushes, so an interrupted run loses at most the block in flight and the next run skips every
seed already on disk. A run killed while it wrote a block leaves some of its rows and a cut last line:
the cut line is skipped and ended before the next rows are appended, and the block's missing seeds are run
(a row written twice is read as one per configuration, method and seed: the last one written).
"""

from __future__ import annotations

import copy
import json
import os

import numpy as np


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _key(row: dict) -> tuple:
    return row["config"], row["method"], row["seed"]


class RunStore:
    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._rows: dict[tuple, dict] = {}
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if line:
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError:  # a line cut by an interruption
                            continue
                        self._rows[_key(row)] = row

    @property
    def rows(self) -> list[dict]:
        """One row per (configuration, method, seed), the last one written, in the order first written."""
        return list(self._rows.values())

    def has(self, config: str, method: str, seeds) -> bool:
        return all((config, method, s) in self._rows for s in seeds)

    def add(self, rows: list[dict]) -> None:
        rows = [{k: _plain(v) for k, v in r.items()} for r in rows]
        with open(self.path, "ab+") as f:  # appends wherever it reads
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")  # end a line cut by an interruption
            f.write("".join(json.dumps(r) + "\n" for r in rows).encode())
            f.flush()
            os.fsync(f.fileno())
        self._rows.update((_key(r), r) for r in rows)

    def of_seeds(self, seeds) -> RunStore:
        """The rows of ``seeds`` only (a folder may hold more, from an earlier run with more seeds): a view for
        the reports, which would otherwise average over every seed on disk."""
        view, seeds = copy.copy(self), set(seeds)
        view._rows = {k: r for k, r in self._rows.items() if k[2] in seeds}
        return view

    def select(self, **match) -> list[dict]:
        return [r for r in self.rows if all(r.get(k) == v for k, v in match.items())]
