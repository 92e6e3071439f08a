"""Forward (lower-level solve) vs backward (hypergradient) time of ``fbjax.argmin``.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_hypergradient.py [--repeats 5] [--sizes all|small]
        [--out benchmarks/results/hypergradient.json]

For each problem: the forward is ``fbjax.solve`` from ``y0 = 0`` (cold start) to the default tolerance,
the backward is ``fbjax.solution_vjp`` at the solution (partition, SC policy, reduced adjoint) for the
validation-MSE cotangent. Both are jitted; compile time is reported separately; times are medians over
``--repeats`` runs after one warm-up. Peers measured in the same run: the same backward with the
matrix-free masked CG over all ``p`` coordinates (``adjoint="cg"``), and the dense full ``p x p`` system of
eqs. (23)-(24) where ``p <= 3000``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import coderivative  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.experiments.timing import random_problem, timed  # noqa: E402,F401 (other benchmarks import them from here)


def problems(sizes):
    if sizes in ("all", "small"):
        for n, p in [(200, 300), (500, 750)]:
            d = calibrated_degenerate(0, n, p, 0.95)
            yield f"calibrated n={n} p={p} rho=0.95", d.lower_level(), jnp.asarray(d.x0), jnp.asarray(d.A_val), jnp.asarray(d.b_val)
    if sizes == "all":
        for p in [3000, 10000]:
            yield (f"random n={2 * p // 3} p={p} 5% support", *random_problem(p))


def bench_one(name, F, x, A_val, b_val, repeats, solvers=("cd", "fista")):
    row = {"problem": name, "n": F.n_samples, "p": F.n_features}
    gamma = fbjax.solvers.default_gamma(F)
    L = lambda y: jnp.mean((A_val @ y - b_val) ** 2)  # noqa: E731
    for solver in solvers:
        fwd = jax.jit(lambda F, x: fbjax.solve(F, x, solver=solver))
        med, comp = timed(fwd, F, x, repeats=repeats)
        sol = fwd(F, x)
        row[f"fwd_{solver}_s"], row[f"fwd_{solver}_compile_s"] = med, comp
        row[f"fwd_{solver}_iters"], row[f"fwd_{solver}_residual"] = int(sol.num_iter), float(sol.residual)
        assert bool(sol.converged), (name, solver)
    sol = fbjax.solve(F, x, solver=solvers[0])
    y, grad = sol.y, sol.grad
    z = jax.grad(L)(y)
    codes, sigma, _ = fbjax.adjoint_selection(F, x, y, z, gamma)
    row["support"] = int(jnp.sum(y != 0))
    row["working_set"] = int(jnp.sum(sigma != 0))
    row["candidates"] = int(jnp.sum(codes != 0))
    row["max_support"] = int(64 * np.ceil(row["candidates"] / 64))  # what a user sizing the bucket would pass
    for adjoint, ms in [("auto", None), ("cg", None), ("static", row["max_support"])]:
        method = "auto" if adjoint == "static" else adjoint
        # as inside fbjax.argmin: the forward's grad F(y) is reused
        bwd = jax.jit(lambda F, x, y, z, g: fbjax.solution_vjp(F, x, y, z, gamma, adjoint=method, max_support=ms, grad=g)[1])
        row[f"bwd_{adjoint}_s"], row[f"bwd_{adjoint}_compile_s"] = timed(bwd, F, x, y, z, grad, repeats=repeats)
    if F.n_features <= 3000:
        def full(F, x, y, z):
            hess = jax.hessian(F.value)(y)
            return coderivative.full_system_element(hess, z, jnp.zeros_like(x), sigma, gamma, jnp.exp(x))

        row["bwd_full_system_s"], row["bwd_full_system_compile_s"] = timed(jax.jit(full), F, x, y, z, repeats=max(1, repeats // 2))
    row["ratio_bwd_over_fwd_cd"] = row["bwd_auto_s"] / row["fwd_cd_s"]
    row["ratio_static_bwd_over_fwd_cd"] = row["bwd_static_s"] / row["fwd_cd_s"]
    if "fwd_fista_s" in row:  # the forward fbjax picks on a GPU
        row["ratio_bwd_over_fwd_fista"] = row["bwd_auto_s"] / row["fwd_fista_s"]
    return row


def machine_meta(**extra) -> dict:
    """Where a benchmark ran (machine, backend, devices, jax version), with ``extra`` added."""
    return {"machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
            "backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
            **extra}  # fmt: skip


def record(out: str, meta: dict, rows: list, row: dict) -> None:
    """Append ``row`` to ``rows``, print it and rewrite ``out`` with every row so far (a partial run keeps
    what it measured)."""
    rows.append(row)
    print(json.dumps(row), flush=True)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)


def run_all(bench, default_out: str, argv=None, **meta) -> list[dict]:
    """Parse ``--repeats --sizes --out`` from ``argv`` (default: the command line), run
    ``bench(name, F, x, A_val, b_val, repeats, solvers)`` on every problem and write the rows to ``--out``
    after each one (a partial run keeps what it measured)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sizes", default="all", choices=["all", "small"])
    ap.add_argument("--out", default=default_out)
    args = ap.parse_args(argv)
    meta = machine_meta(**meta)
    rows = []
    for name, F, x, A_val, b_val in problems(args.sizes):
        small = F.n_features <= 3000
        # FISTA at p = 10000 only off XLA:CPU (minutes there; it is the forward fbjax picks on a GPU)
        solvers = ("cd", "fista") if small or jax.default_backend() != "cpu" else ("cd",)
        record(args.out, meta, rows, bench(name, F, x, A_val, b_val, args.repeats if small else max(1, args.repeats // 2), solvers))
    return rows


def main():
    rows = run_all(bench_one, "benchmarks/results/hypergradient.json")
    print("\n| problem | support / working set | fwd CD (s) | fwd FISTA (s) | bwd reduced, auto (s) | bwd / fwd CD | "
          "bwd reduced, max_support (s) | bwd / fwd CD | bwd masked CG all p (s) | bwd full p x p (s) | bwd auto / fwd FISTA |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        fista = f"{r['fwd_fista_s']:.4f}" if "fwd_fista_s" in r else "-"
        full = f"{r['bwd_full_system_s']:.4f}" if "bwd_full_system_s" in r else "-"
        print(f"| {r['problem']} | {r['support']} / {r['working_set']} | {r['fwd_cd_s']:.4f} | {fista} | {r['bwd_auto_s']:.4f} "
              f"| {r['ratio_bwd_over_fwd_cd']:.3f} | {r['bwd_static_s']:.4f} ({r['max_support']}) | "
              f"{r['ratio_static_bwd_over_fwd_cd']:.3f} | {r['bwd_cg_s']:.4f} | {full} | "
              f"{r.get('ratio_bwd_over_fwd_fista', float('nan')):.3f} |")


if __name__ == "__main__":
    main()
