"""Markdown tables (ours beside the paper's) and PNG figures from a :class:`RunStore`."""

from __future__ import annotations

import numpy as np

from fbjax.experiments import paper
from fbjax.experiments.bilevel import SCALAR

NAMES = {"scalar": "Scalar (grid)", "nba-null": "Sparse-HO wl1 (null + NBA)", "sparse-ho-gd": "Sparse-HO, library GD rule",
         "ntrba-sc": "NTRBA-SC (ours)", "nba-sc": "NBA-SC", "ntrba-null": "NTRBA-null",
         "scalar-cv": "Scalar l1 (5-fold CV, scikit-learn)"}  # fmt: skip


GROUP_COLORS = {"easy": "tab:green", "signal": "tab:green", "support": "tab:green", "dist": "tab:orange",
                "corr": "tab:orange", "hid": "tab:red"}  # fmt: skip


def _col(store, config, method, metric):
    return np.array([r.get(metric, np.nan) for r in store.select(config=config, method=method)])


def _ms(a, fmt=".3f"):
    return "n/a" if a.size == 0 else f"{a.mean():{fmt}} ± {a.std():{fmt}}"


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def table3(exp, store) -> str:
    rows, checks = [], []
    for c in exp.configs:
        ref = paper.TABLE3.get(c.key, {})
        f1 = {m: _col(store, c.label, m, "f1") for m in exp.methods}
        for m in exp.methods:
            hid = _col(store, c.label, m, "hid_grad_norm_k0")
            p = ref.get(m, ("", "", "", ""))
            rows.append([c.label, NAMES[m], "—" if m == "scalar" else _ms(hid, ".2f"), p[0],
                         _ms(_col(store, c.label, m, "best_val_loss")), p[1], _ms(f1[m]), p[2],
                         _ms(_col(store, c.label, m, "test_mse"), ".2f"), p[3]])  # fmt: skip
        ours = f1.get("ntrba-sc", np.array([]))
        best_base = max((f1[m].mean() for m in exp.methods if m != "ntrba-sc" and f1[m].size), default=np.nan)
        null_zero = all(np.all(_col(store, c.label, m, "hid_grad_norm_k0") == 0) for m in ("nba-null", "sparse-ho-gd"))
        sc_pos = bool(np.all(_col(store, c.label, "ntrba-sc", "hid_grad_norm_k0") > 0))
        checks.append([c.label, "yes" if null_zero else "NO", "yes" if sc_pos else "NO",
                       f"{ours.mean():.3f}" if ours.size else "n/a", "yes" if ours.size and ours.mean() >= 0.85 else "NO",
                       "yes" if ours.size and ours.mean() > best_base else "NO"])  # fmt: skip
    head = ["config", "method", "‖∂hid Φ‖ k=0", "paper", "best val loss", "paper", "F1", "paper", "test MSE", "paper"]
    bars = ["config", "null ‖∂hid Φ‖=0 all runs", "SC > 0 all runs", "NTRBA-SC F1", "≥ 0.85", "> every baseline"]
    return _table(head, rows) + "\n\nBars of the issue:\n\n" + _table(bars, checks)


def table2(exp, store) -> str:
    rows = []
    for c in exp.configs:
        v = {m: _col(store, c.label, m, "best_val_loss") for m in exp.methods}
        r = {m: _col(store, c.label, m, "hid_recall") for m in exp.methods}
        p = paper.TABLE2.get(c.key, ("",) * 6)
        rows += [
            [c.label, "SC gain under NBA: Δ val loss", _ms(v["nba-sc"] - v["nba-null"]), p[0]],
            [c.label, "SC gain under NBA: Δ hidden recall", _ms(r["nba-sc"] - r["nba-null"]), p[1]],
            [c.label, "SC gain under NTRBA: Δ val loss", _ms(v["ntrba-sc"] - v["ntrba-null"]), p[2]],
            [c.label, "SC gain under NTRBA: Δ hidden recall", _ms(r["ntrba-sc"] - r["ntrba-null"]), p[3]],
            [c.label, "NTRBA-SC best val loss", _ms(v["ntrba-sc"]), p[4]],
            [c.label, "NTRBA-SC F1", _ms(_col(store, c.label, "ntrba-sc", "f1")), p[5]],
        ]
        for m in exp.methods:
            rows.append([c.label, f"{NAMES[m]}: val / F1 / hidden recall",
                         f"{_ms(v[m])} / {_ms(_col(store, c.label, m, 'f1'))} / {_ms(r[m])}", ""])  # fmt: skip
    return _table(["config", "quantity (Δ = SC − null, per seed)", "ours", "paper"], rows)


def table1(exp, store) -> str:
    rows = []
    for c in exp.configs:
        p = paper.TABLE1.get(c.key, ("",) * 4)
        rows.append([c.label, _ms(_col(store, c.label, "scalar", "f1")), p[0], _ms(_col(store, c.label, "ntrba-sc", "f1")),
                     p[1], _ms(_col(store, c.label, "scalar", "test_mse")), p[2],
                     _ms(_col(store, c.label, "ntrba-sc", "test_mse")), p[3]])  # fmt: skip
    head = ["config", "F1 scalar", "paper", "F1 weighted", "paper", "test MSE scalar", "paper", "test MSE weighted", "paper"]
    return _table(head, rows)


def _scalar_vs_weighted_table(exp, store, numbers, metric, name) -> str:
    """The AIP slides' layout: ``metric`` on validation and test, scalar and weighted, beside ``numbers``."""
    rows = []
    for c in exp.configs:
        p = numbers.get(c.key, ("",) * 4)
        get = lambda m, split: _ms(_col(store, c.label, m, metric.format(split)), ".4f")  # noqa: E731
        rows.append([c.label, get("scalar", "val"), p[0], get("ntrba-sc", "val"), p[1],
                     get("scalar", "test"), p[2], get("ntrba-sc", "test"), p[3]])  # fmt: skip
    head = ["config", f"{name} val scalar", "paper", f"{name} val weighted", "paper", f"{name} test scalar", "paper",
            f"{name} test weighted", "paper"]  # fmt: skip
    return _table(head, rows)


def aip(exp, store) -> str:
    return _scalar_vs_weighted_table(exp, store, paper.AIP_NMSE, "nmse_{}", "NMSE")


def aip_classification(exp, store) -> str:
    return _scalar_vs_weighted_table(exp, store, paper.AIP_F1, "cls_f1_{}", "F1")


def _real_data_rows(exp, store, numbers: dict, width: int):
    """Per (dataset, method) of an Experiment 5 run: ``(dataset, method, paper cells, active features % per seed,
    block seconds per seed)``; the paper cells are empty where ``numbers`` has no such dataset."""
    for c in exp.configs:
        for m in exp.methods:
            runs = store.select(config=c.label, method=m)
            active = np.array([100 * r["nnz"] / len(r["best_x"]) for r in runs])
            wall = np.array([r["block_wall_s"] / exp.seeds for r in runs])
            yield c.label, m, numbers.get(c.key, {}).get(m, ("",) * width), active, wall


def exp5_s1(exp, store) -> str:
    """Table 5's columns beside the paper's (where the dataset is one of its four), and the starvation check."""
    rows = []
    for label, m, p, active, wall in _real_data_rows(exp, store, paper.TABLE5, 5):
        get = lambda metric: _ms(_col(store, label, m, metric))  # noqa: E731
        hid = "—" if m in SCALAR else _ms(_col(store, label, m, "hid_grad_norm_k0"), ".2f")
        rows.append([label, NAMES[m], hid, get("hid_recall"), p[0], _ms(active, ".1f"), p[1], get("f1"), p[2],
                     get("test_loss"), p[3], _ms(wall, ".1f"), p[4]])  # fmt: skip
    head = ["dataset", "method", "‖∂hid Φ‖ k=0", "hidden recall", "paper", "active features %", "paper", "F1",
            "paper", "test log-loss", "paper", "s per run", "paper"]  # fmt: skip
    return (_table(head, rows) + "\n\nF1 is the support F1 against the injected signal; s per run is the block's "
            "wall time (compilation included) over its seeds, which run in one program. The paper's columns are "
            "filled where the dataset is one of its four (rcv1, real-sim, w8a, news20).")  # fmt: skip


def exp5_s2(exp, store) -> str:
    """Table 6's columns beside the paper's (where the dataset is one of its five)."""
    rows = []
    for label, m, p, active, wall in _real_data_rows(exp, store, paper.TABLE6, 3):
        per_iter = wall / (1 if m in SCALAR else exp.settings.max_iter)
        rows.append([label, NAMES[m], _ms(_col(store, label, m, "cls_f1_test")), p[0], _ms(active, ".2f"), p[1],
                     _ms(per_iter, ".3f"), p[2], _ms(_col(store, label, m, "best_val_loss"), ".4f")])  # fmt: skip
    head = ["dataset", "method", "test F1", "paper", "active features %", "paper", "s per iteration", "paper",
            "validation log-loss"]  # fmt: skip
    return (_table(head, rows) + "\n\ns per iteration: the block's wall time (compilation included) over its seeds "
            "and outer iterations (for the scalar methods, per run; the paper divides its CV time by the 5 folds). "
            "The paper's scalar row is the 5-fold CV one; "
            "its columns are filled where the dataset is one of its five (mnist, news20, phishing, rcv1, real-sim). "
            "Scalar (grid) is the validation grid of the other experiments, without an intercept.")  # fmt: skip


TABLES = {"table1": table1, "table2": table2, "table3": table3, "aip-regression": aip,
          "aip-classification": aip_classification, "exp5-s1": exp5_s1, "exp5-s2": exp5_s2}  # fmt: skip


BAND_NOTES = {
    "published": "'published', {rtol:g} on the scale max(|v|, u, 1) read at the paper code's step "
    "1 / max_j ||A_j||^2 / n, the partition that produced the paper's Tables 2-3 (`--band scale-free` for the "
    "scale-free band)",
    "scale-free": "'scale-free', {rtol:g} on the scale max(|v|, u) read at the FB step (fbjax's default and the "
    "paper code's current one; the paper's Tables 2-3 were produced with `--band published`)",
}


def stalled(exp, store) -> str:
    """A sentence naming the outer runs that never left ``x0`` (no accepted step), or ''."""
    out = []
    for c in exp.configs:
        for m in exp.methods:
            if m not in SCALAR:
                seeds = [r["seed"] for r in store.select(config=c.label, method=m) if r.get("accepted", 1) == 0]
                if seeds:
                    out.append(f"{c.label} {NAMES[m]} (seeds {', '.join(map(str, seeds))})")
    return ("**Runs that never left x0** (no accepted outer step; their row is the start's): " + "; ".join(out)
            + ".\n\n") if out else ""  # fmt: skip


def markdown(exp, store, wall_s=None) -> str:
    rows = store.select(experiment=exp.name)
    head = f"## {exp.name}\n\n{exp.note}\n\n{len(exp.configs)} configurations x {exp.seeds} seeds x {len(exp.methods)} methods ({len(rows)} runs on disk)"
    blocks = {(r["config"], r["method"]): r["block_wall_s"] for r in rows if "block_wall_s" in r}
    if blocks:  # each (configuration, method) block is one compiled program over all seeds
        head += f"; computing them took {sum(blocks.values()):.0f} s (sum over the {len(blocks)} blocks, compilation included)"
    if wall_s is not None:
        head += f"; wall time of this invocation {wall_s:.0f} s"
    head += f". Biactive band: {BAND_NOTES[exp.settings.band].format(rtol=exp.settings.biactive_rtol)}"
    start = exp.settings.start
    if start == "scalar":
        head += ". Start: each weighted run starts at its seed's best scalar penalty of the validation grid"
    elif start is not None and exp.own_start:
        head += f". Start: the uniform x0 = log({start:g} alpha_max), the paper code's"
    elif start is not None:
        head += (f". Start: the uniform x0 = log({start:g} alpha_max) (`--start`), not the paper's; "
                 "the paper columns are for comparison of shape only")  # fmt: skip
    lo, hi = exp.settings.box
    head += f". Box for x = log(alpha): [{'-inf' if np.isinf(lo) else f'log(alpha_max) {lo:+g}'}, log(alpha_max) {hi:+.4g}]"
    if exp.settings.solver != "fista":
        head += f". Lower level: solver={exp.settings.solver!r} (`--solver`)"
    return head + ".\n\n" + stalled(exp, store) + TABLES[exp.name](exp, store) + "\n"


def plot(exp, store, path_prefix: str) -> list[str]:
    """``*_trajectories.png`` (mean validation loss per outer iteration and method, for every
    configuration) and ``*_weights.png`` (learned log-penalties of seed 0, first configuration)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    n = len(exp.configs)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False, layout="constrained")
    for ax, c in zip(axes.flat, exp.configs):
        for m in exp.methods:
            if m in SCALAR:
                v = [r["best_val_loss"] for r in store.select(config=c.label, method=m)]
                if v:
                    ax.axhline(np.mean(v), ls="--", color="gray", label=NAMES[m])
                continue
            traj = [np.minimum.accumulate(r["values"]) for r in store.select(config=c.label, method=m)]
            if traj:
                ax.semilogy(np.mean(traj, axis=0), label=NAMES[m])
        ax.set_title(c.label, fontsize=9)
        ax.set_xlabel("outer iteration k")
        ax.set_ylabel("best validation loss so far")
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"{exp.name}: outer trajectories (mean over seeds)")
    paths.append(path_prefix + "_trajectories.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    c = exp.configs[0]
    design = exp.make(0, **c.kwargs)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for m in exp.methods:
        r = store.select(config=c.label, method=m, seed=0)
        if r:
            ax.plot(np.asarray(r[0]["best_x"]), ".", ms=3, label=NAMES[m])
    for name, idx in design.groups.items():
        color = GROUP_COLORS.get(name, "gray")
        if len(idx) and idx[-1] - idx[0] == len(idx) - 1:  # a contiguous block: one labelled band
            ax.axvspan(idx[0] - 0.5, idx[-1] + 0.5, alpha=0.08, color=color)
            ax.text(idx[0], ax.get_ylim()[1], name, fontsize=7, va="top")
        elif name in GROUP_COLORS:  # scattered features (e.g. a random support): one thin band each
            for i in idx:
                ax.axvspan(i - 0.5, i + 0.5, alpha=0.25, color=color, lw=0)
            ax.plot([], [], "s", color=color, alpha=0.25, label=name)
    ax.set_xlabel("feature index")
    ax.set_ylabel("learned x = log(alpha) at the best iterate")
    ax.set_title(f"{exp.name}, {c.label}, seed 0: learned penalty profile")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(path_prefix + "_weights.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
