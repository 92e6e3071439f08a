"""``fbjax reproduce hypergrad-compare``: every hypergradient method on the same instances.

Two instances of the paper's regression bilevel problem (validation MSE over a weighted elastic
net):

- ``nondegenerate``: a random design whose ``x`` keeps every coordinate at least 25% away from its
  kink (``S`` differentiable there); reference = central finite differences of ``Phi`` with the
  lower level solved to ``||R||_inf <= 1e-12``.
- ``degenerate``: the calibrated degenerate design (Sec. 5.2) at its ``x0``, hidden features
  biactive; reference = the sign-consistent element of ``fbjax.argmin`` (Cor. 13).

Methods (one oracle interface, :func:`fbjax.baselines.hypergradient`): FB implicit (``sc``,
``null``), unrolled ISTA reverse (RMD, also checkpointed) and forward (FMD), unrolled FISTA
reverse, BE and Huber smoothing + IFT, Bregman dual FB (Frecon) unrolled. For each: the relative
error ``||h - h_ref|| / ||h_ref||``, the median wall time of the compiled oracle after warm-up
(compile time separately) and XLA's estimate of its working memory, versus ``K`` or ``mu``.
Rows are appended to ``runs.jsonl`` as they finish (an interrupted run resumes); the result is a
CSV and a PNG.
"""

from __future__ import annotations

import csv
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import fbjax
from fbjax.baselines import bregman_argmin, hypergradient, smoothed_argmin, unrolled
from fbjax.experiments.store import RunStore
from fbjax.experiments.timing import median_seconds

FULL = dict(
    sizes={"nondegenerate": (150, 60), "degenerate": (200, 150)},
    Ks=(10, 30, 100, 300, 1000, 3000),
    bregman_Ks=(100, 1000, 10000, 30000),
    mus=(1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4),
    repeats=7,
)
QUICK = dict(
    sizes={"nondegenerate": (60, 20), "degenerate": (100, 125)},
    Ks=(10, 100, 1000),
    bregman_Ks=(100, 3000),
    mus=(1e-1, 1e-2, 1e-3),
    repeats=3,
)


class Instance:
    def __init__(self, name, design, x, reference):
        self.name, self.design, self.x, self.reference = name, design, x, reference
        self.F = design.lower_level()

    def upper(self, x, y):
        return self.design.validation_loss(y)


def _nondegenerate(n, p, seed=0):
    """Random design; ``x`` pushed until every coordinate is >= 25% away from its kink."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    beta = rng.standard_normal(p) * (rng.random(p) < 0.3)
    b = A @ beta + 0.1 * rng.standard_normal(n)
    from fbjax.data.synthetic import RegressionDesign, split

    parts = split(A, b, rng)
    design = RegressionDesign(**parts, beta=beta, groups={}, l2=1.0 / parts["A_train"].shape[0], seed=seed)
    F = design.lower_level()
    x = np.full(p, np.log(0.1 * design.alpha_max))
    gamma = fbjax.solvers.default_gamma(F)
    for _ in range(50):
        y = fbjax.solve(F, x, tol=1e-12, max_iter=100_000).y
        u, v = fbjax.forward_map(F, jnp.asarray(x), y, gamma)
        gap = np.asarray(jnp.abs(jnp.abs(v) - u) / jnp.maximum(jnp.abs(v), u))
        close = gap < 0.25
        if not close.any():
            break
        x = x + 0.2 * close * np.where(np.asarray(jnp.abs(v) < u), 1.0, -1.0)
    else:
        raise RuntimeError("could not place x away from every kink")
    x = jnp.asarray(x)

    def phi(x_):
        return design.validation_loss(fbjax.solve(F, x_, tol=1e-12, max_iter=100_000).y)

    eps = 1e-5
    ref = np.array([(phi(x + eps * e) - phi(x - eps * e)) / (2 * eps) for e in np.eye(p)])
    return Instance("nondegenerate", design, x, ref)


def _degenerate(n, p, seed=0, rho=0.9):
    design = fbjax.data.calibrated_degenerate(seed, n, p, rho)
    x = jnp.asarray(design.x0)
    F = design.lower_level()
    ref = jax.grad(lambda x_: design.validation_loss(fbjax.argmin(F, x_, policy="sc", tol=1e-12)))(x)
    return Instance("degenerate", design, x, np.asarray(ref))


def methods(inst: Instance, cfg: dict):
    """``(method, parameter name, value, solution map, mode)`` for every run of the sweep."""
    F = inst.F
    out = [
        ("fb-sc", "-", 0, lambda x: fbjax.argmin(F, x, policy="sc", solver="fista"), "reverse"),
        ("fb-null", "-", 0, lambda x: fbjax.argmin(F, x, policy="null", solver="fista"), "reverse"),
    ]
    for K in cfg["Ks"]:
        ck = max(int(np.sqrt(K)), 1)
        out += [
            ("unrolled-ista-rmd", "K", K, lambda x, K=K: unrolled(F, x, K), "reverse"),
            ("unrolled-ista-rmd-ckpt", "K", K, lambda x, K=K, c=ck: unrolled(F, x, K, checkpoint_every=c), "reverse"),
            ("unrolled-ista-fmd", "K", K, lambda x, K=K: unrolled(F, x, K), "forward"),
            ("unrolled-fista-rmd", "K", K, lambda x, K=K: unrolled(F, x, K, algorithm="fista"), "reverse"),
        ]
    for K in cfg["bregman_Ks"]:
        out.append(("bregman-dual-fb", "K", K, lambda x, K=K: bregman_argmin(F, x, K), "reverse"))
    for mu in cfg["mus"]:
        for kind in ("be", "huber"):
            out.append((f"smoothing-{kind}", "mu", mu, lambda x, mu=mu, k=kind: smoothed_argmin(F, x, mu, kind=k), "reverse"))
    return out


def measure(oracle, x, repeats: int):
    """``(value, h, compile_s, median_s, memory_bytes)`` of a jitted oracle."""
    t0 = time.perf_counter()
    compiled = jax.jit(oracle).lower(x).compile()
    compile_s = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    memory = int(mem.temp_size_in_bytes + mem.output_size_in_bytes) if mem is not None else -1
    value, h = jax.block_until_ready(compiled(x))  # warm-up
    return float(value), np.asarray(h), compile_s, median_seconds(compiled, x, repeats=repeats), memory


def run(out: str, quick: bool = False, progress: bool = True) -> list[dict]:
    """The sweep into ``out/runs.jsonl`` (resumable) and ``out/hypergrad_compare.csv``."""
    from tqdm.auto import tqdm

    jax.config.update("jax_enable_x64", True)  # errors down to 1e-10 need float64
    cfg = QUICK if quick else FULL
    store = RunStore(os.path.join(out, "runs.jsonl"))
    builders = {"nondegenerate": _nondegenerate, "degenerate": _degenerate}
    for name, (n, p) in cfg["sizes"].items():
        inst = builders[name](n, p)
        todo = [m for m in methods(inst, cfg) if not store.has(name, f"{m[0]}@{m[2]}", [0])]
        for method, pname, pval, solution, mode in tqdm(todo, desc=f"hypergrad-compare {name}", disable=not progress):
            oracle = hypergradient(solution, inst.upper, mode)
            value, h, comp, med, mem = measure(oracle, inst.x, cfg["repeats"])
            ref = inst.reference
            store.add([dict(
                config=name, method=f"{method}@{pval}", seed=0, instance=name, n=n, p=p, family=method,
                param=pname, value_param=pval, error=float(np.linalg.norm(h - ref) / np.linalg.norm(ref)),
                error_inf=float(np.max(np.abs(h - ref))), phi=value, time_s=med, compile_s=comp, memory_bytes=mem,
            )])  # fmt: skip
    rows = [r for r in store.rows if r["config"] in cfg["sizes"]]
    write_csv(rows, os.path.join(out, "hypergrad_compare.csv"))
    return rows


COLUMNS = ("instance", "n", "p", "family", "param", "value_param", "error", "error_inf", "phi", "time_s",
           "compile_s", "memory_bytes")  # fmt: skip


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def markdown(rows) -> str:
    lines = ["| instance | method | K / mu | rel. error | time (ms) | compile (s) | memory (KiB) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['instance']} | {r['family']} | {r['value_param'] if r['param'] != '-' else '-'} | {r['error']:.2e} | "
            f"{1e3 * r['time_s']:.2f} | {r['compile_s']:.2f} | {r['memory_bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    instances = sorted({r["instance"] for r in rows}, reverse=True)
    fig, axes = plt.subplots(len(instances), 4, figsize=(18, 4.2 * len(instances)), squeeze=False)
    for row, name in zip(axes, instances):
        sel = [r for r in rows if r["instance"] == name]
        fams = sorted({r["family"] for r in sel})
        for fam in fams:
            pts = sorted((r["value_param"], r) for r in sel if r["family"] == fam)
            ps, rs = [p for p, _ in pts], [r for _, r in pts]
            if rs[0]["param"] == "-":
                for ax in row[[0, 1]]:
                    ax.axhline(max(rs[0]["error"], 1e-16), ls="--", lw=1, label=fam, color="k" if fam == "fb-sc" else "gray")
                continue
            col = 0 if rs[0]["param"] == "K" else 1
            row[col].loglog(ps, [max(r["error"], 1e-16) for r in rs], "o-", label=fam)
            if col == 0:
                row[2].loglog(ps, [r["time_s"] for r in rs], "o-", label=fam)
                row[3].loglog(ps, [r["memory_bytes"] / 1024 for r in rs], "o-", label=fam)
        for fam in ("fb-sc", "fb-null"):
            for r in sel:
                if r["family"] == fam:
                    row[2].axhline(r["time_s"], ls="--", lw=1, color="k" if fam == "fb-sc" else "gray", label=fam)
                    row[3].axhline(r["memory_bytes"] / 1024, ls="--", lw=1, color="k" if fam == "fb-sc" else "gray", label=fam)
        p = sel[0]["p"]
        ref = "finite differences" if name == "nondegenerate" else "SC element (Cor. 13)"
        for ax, xl, yl, t in zip(
            row, ["K (iterations)", "mu", "K", "K"], ["relative error", "relative error", "median time (s)", "memory (KiB)"],
            [f"{name} (p={p}): error vs {ref}", "smoothing bias vs mu", "hypergradient time", "XLA working memory"],
        ):  # fmt: skip
            ax.set_xlabel(xl)
            ax.set_ylabel(yl)
            ax.set_title(t, fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
