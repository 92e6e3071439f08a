"""The ``fbjax`` command.

``fbjax demo``: the gradient-starvation study of the main paper at the initial point. On the
calibrated degenerate design (Sec. 5.2) it computes the hypergradient at ``x0`` with the null
policy (Sparse-HO) and the sign-consistent policy, and reports the hidden-block norm
``||d_xhid Phi||_{k=0}`` next to the paper's Table 3 column, as a table and a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# The paper's Table 3, column ||d_xhid Phi||_{k=0} of NTRBA-wl1 (mean, std over 5 seeds);
# Sparse-HO's is 0.00 +- 0.00 in every configuration.
PAPER_HIDDEN_NORM = {
    (0.90, 100, 150): (1.69, 0.52), (0.90, 200, 300): (2.77, 1.22), (0.90, 500, 750): (5.12, 0.61),
    (0.95, 100, 150): (0.83, 0.30), (0.95, 200, 300): (1.33, 0.63), (0.95, 500, 750): (2.77, 0.34),
    (0.98, 100, 150): (0.30, 0.15), (0.98, 200, 300): (0.44, 0.18), (0.98, 500, 750): (1.31, 0.13),
}  # fmt: skip
SIZES = [(100, 150), (200, 300), (500, 750)]
RHOS = [0.90, 0.95, 0.98]


def starvation_at_x0(design, policies=("null", "sc")) -> dict:
    """Hidden-block and full hypergradient norms at the calibrated ``x0`` for each policy."""
    import jax
    import jax.numpy as jnp

    import fbjax

    F = design.lower_level()
    x0 = jnp.asarray(design.x0)
    y0 = fbjax.solve(F, x0).y
    hid = design.groups["hid"]
    out = {"val_loss": float(design.validation_loss(y0))}
    for policy in policies:
        h = _grad(policy)(x0, F, y0, jnp.asarray(design.A_val), jnp.asarray(design.b_val))
        out[policy] = {"hid": float(jnp.linalg.norm(h[hid])), "all": float(jnp.linalg.norm(h)), "h": jax.device_get(h)}
    return out


_GRADS: dict = {}


def _grad(policy):
    """One compiled hypergradient per policy (shapes retrace automatically)."""
    if policy not in _GRADS:
        import jax
        import jax.numpy as jnp

        import fbjax

        def phi(x, F, y0, A_val, b_val):
            return jnp.mean((A_val @ fbjax.argmin(F, x, policy=policy, y0=y0) - b_val) ** 2)

        _GRADS[policy] = jax.jit(jax.grad(phi))
    return _GRADS[policy]


def demo(seeds: int = 5, out: str = "fbjax-demo", sizes=None, rhos=None, plot: bool = True) -> list[dict]:
    import jax
    import numpy as np
    from tqdm import tqdm

    from fbjax.data import calibrated_degenerate

    jax.config.update("jax_enable_x64", True)
    sizes = SIZES if sizes is None else sizes
    rhos = RHOS if rhos is None else rhos
    os.makedirs(out, exist_ok=True)
    rows, first = [], None
    jobs = [(rho, n, p, s) for rho in rhos for (n, p) in sizes for s in range(seeds)]
    t0 = time.perf_counter()
    for rho, n, p, s in tqdm(jobs, desc="starvation at x0", unit="instance", file=sys.stderr):
        d = calibrated_degenerate(s, n, p, rho)
        r = starvation_at_x0(d)
        if first is None:
            first = (d, r)
        rows.append({"rho": rho, "n": n, "p": p, "seed": s, "null_hid": r["null"]["hid"], "sc_hid": r["sc"]["hid"],
                     "null_all": r["null"]["all"], "sc_all": r["sc"]["all"], "val_loss": r["val_loss"]})  # fmt: skip
    wall = time.perf_counter() - t0
    with open(os.path.join(out, "starvation.json"), "w") as f:
        json.dump({"rows": rows, "wall_s": wall}, f, indent=1)
    table = format_table(rows)
    print(table)
    print(f"\n{len(rows)} instances in {wall:.1f} s; results in {out}/starvation.json")
    if plot:
        path = os.path.join(out, "starvation.png")
        plot_starvation(rows, *first, path)
        print(f"plot: {path}")
    return rows


def format_table(rows) -> str:
    import numpy as np

    head = "| rho | (n, p) | Sparse-HO (null) ||d_hid Phi|| | ours (SC) ||d_hid Phi|| | paper (SC) | SC > 0 in all seeds |"
    lines = [head, "|---|---|---|---|---|---|"]
    keys = sorted({(r["rho"], r["n"], r["p"]) for r in rows})
    for rho, n, p in keys:
        sel = [r for r in rows if (r["rho"], r["n"], r["p"]) == (rho, n, p)]
        null = np.array([r["null_hid"] for r in sel])
        sc = np.array([r["sc_hid"] for r in sel])
        paper = PAPER_HIDDEN_NORM.get((rho, n, p))
        paper_s = f"{paper[0]:.2f} ± {paper[1]:.2f}" if paper else "-"
        lines.append(
            f"| {rho:.2f} | ({n}, {p}) | {null.mean():.2f} ± {null.std():.2f} | {sc.mean():.2f} ± {sc.std():.2f} "
            f"| {paper_s} | {'yes' if bool(np.all(sc > 0)) else 'NO'} ({len(sel)} seeds) |"
        )
    return "\n".join(lines)


def plot_starvation(rows, design, result, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    colors = {"easy": "tab:green", "dist": "tab:orange", "hid": "tab:red", "noise": "tab:gray"}
    for ax, policy, title in [(axes[0], "null", "Sparse-HO (null policy)"), (axes[1], "sc", "sign-consistent policy")]:
        h = np.asarray(result[policy]["h"])
        for name, idx in design.groups.items():
            ax.bar(idx, h[idx], color=colors[name], width=1.0, label=name)
        ax.set_title(f"{title}: h at x0, ||h_hid|| = {result[policy]['hid']:.3f}", fontsize=10)
        ax.set_xlabel("feature index")
        ax.set_ylabel("hypergradient h_i")
        ax.legend(fontsize=8)
    lim = max(abs(np.asarray(result[p]["h"])).max() for p in ("null", "sc"))
    shown = design.groups["hid"][-1] + 10  # easy, distractor, hidden and a few noise features
    for ax in axes[:2]:
        ax.set_ylim(-1.05 * lim, 1.05 * lim)
        ax.set_xlim(-1, shown)
        ax.axhline(0, color="k", lw=0.5)
    keys = sorted({(r["rho"], r["n"], r["p"]) for r in rows})
    pos = np.arange(len(keys))
    ours = [np.mean([r["sc_hid"] for r in rows if (r["rho"], r["n"], r["p"]) == k]) for k in keys]
    null = [np.mean([r["null_hid"] for r in rows if (r["rho"], r["n"], r["p"]) == k]) for k in keys]
    paper = [PAPER_HIDDEN_NORM.get(k, (np.nan,))[0] for k in keys]
    axes[2].bar(pos - 0.27, null, 0.27, label="Sparse-HO (null)", color="tab:blue")
    for x_, v in zip(pos, null):
        axes[2].text(x_ - 0.27, 0.02 * max(ours), f"{v:.0f}", ha="center", fontsize=7, color="tab:blue")
    axes[2].bar(pos, ours, 0.27, label="ours (SC)", color="tab:red")
    axes[2].bar(pos + 0.27, paper, 0.27, label="paper (SC)", color="tab:pink")
    axes[2].set_xticks(pos, [f"{k[0]:.2f}\n({k[1]},{k[2]})" for k in keys], fontsize=7)
    axes[2].set_ylabel("||d_xhid Phi|| at k = 0 (mean over seeds)")
    axes[2].set_title("gradient starvation: hidden-block norm")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"Calibrated degenerate design, rho={design.rho}, seed {design.seed}, p={design.p}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fbjax", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="gradient starvation at x0: Sparse-HO (null) vs sign-consistent, table + PNG")
    d.add_argument("--seeds", type=int, default=5, help="seeds per configuration (paper: 5)")
    d.add_argument("--out", default="fbjax-demo", help="output folder (JSON + PNG)")
    d.add_argument("--quick", action="store_true", help="one small configuration, 2 seeds")
    d.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.quick:
            demo(seeds=2, out=args.out, sizes=[(100, 150)], rhos=[0.95], plot=not args.no_plot)
        else:
            demo(seeds=args.seeds, out=args.out, plot=not args.no_plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
