"""Forward solve of a weighted lasso: fbjax's solvers against scikit-learn's coordinate descent, same run.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_forward_sklearn.py [--repeats 5] [--sizes all|small]
        [--out benchmarks/results/forward_sklearn.json] [--baseline-rev REV]

The problem is ``min_y ||A y - b||^2 / (2 n) + sum_i w_i |y_i|`` (no ridge: ``l2 = 0``), on the designs and
penalties ``w = exp(x)`` of ``bench_hypergradient.py``. scikit-learn has no per-feature penalty, so its
``Lasso(alpha=1, fit_intercept=False)`` is run on the rescaled design ``A diag(1/w)`` (columns divided by
``w``) and ``y = z / w``: the same minimiser, exactly. The two stop on different tests (fbjax:
``||R_gamma||_inf <= 1e-10``; scikit-learn: duality gap ``<= tol ||b||^2 / n``), so scikit-learn is run at
several ``tol`` and every solution's FB residual ``||R_gamma||_inf`` (the same function for all) and its
distance to fbjax's are reported beside the time. Times are medians over ``--repeats`` after one warm-up
(fbjax's compile time reported separately).

Cold: every solver starts at ``y = 0``. Warm (the bilevel loop's case): every solver starts at the
solution for the penalties ``w exp(0.05 xi)``, ``xi ~ N(0, I)`` (seed 1), scikit-learn through
``warm_start=True`` with that start rescaled. ``--baseline-rev REV`` also times fbjax's coordinate descent
as it was at git revision ``REV`` (read with ``git show``), in the same run: a before/after on one machine.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_hypergradient import run_all, timed  # noqa: E402
from fbjax.fb import residual_and_grad  # noqa: E402

SKLEARN_TOLS = (1e-4, 1e-8, 1e-12)  # 1e-4: scikit-learn's default
TOL = 1e-10  # fbjax's default in float64


def at_revision(rev: str, path: str, name: str):
    """The object ``name`` of the module file ``path`` as it was at git revision ``rev`` (its own
    imports resolve against this checkout's fbjax)."""
    src = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"{path.replace('/', '.').removesuffix('.py')}_at_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(src, f"{rev}:{path}", "exec"), module.__dict__)
    return getattr(module, name)


def bench_one(name, F_enet, x, A_val, b_val, repeats, solvers, rev=None):
    """One problem's row (``rev``: also time the CD of that git revision); ``A_val``, ``b_val`` (the
    hypergradient benchmark's upper level) are unused."""
    from sklearn.linear_model import Lasso

    A, b = np.asarray(F_enet.A), np.asarray(F_enet.b)
    n, p = A.shape
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=0.0)
    w = np.exp(np.asarray(x))
    gamma = fbjax.solvers.default_gamma(F)
    resid = jax.jit(lambda y: residual_and_grad(F, jnp.asarray(w), y, gamma)[0])
    x_near = x + 0.05 * jax.random.normal(jax.random.PRNGKey(1), x.shape, x.dtype)
    y_near = fbjax.solve(F, x_near, tol=1e-13, solver="fista" if "fista" in solvers else "cd").y
    row = {"problem": name, "n": n, "p": p}
    fbjax_solvers = {s: jax.jit(lambda F, x, y0, s=s: fbjax.solve(F, x, y0=y0, tol=TOL, solver=s)) for s in solvers}
    if rev:
        cd_old = at_revision(rev, "fbjax/solvers/cd.py", "coordinate_descent")
        fbjax_solvers[f"cd@{rev}"] = jax.jit(lambda F, x, y0: cd_old(F, jnp.exp(x), y0, gamma, TOL))
    ref = None
    for start, y0 in (("cold", jnp.zeros(p)), ("warm", y_near)):
        for solver, fwd in fbjax_solvers.items():
            key = f"fbjax_{solver}_{start}"
            row[f"{key}_s"], row[f"{key}_compile_s"] = timed(fwd, F, x, y0, repeats=repeats)
            sol = fwd(F, x, y0)
            assert bool(sol.converged), (name, solver, start)
            row[f"{key}_residual"], row[f"{key}_sweeps"] = float(resid(sol.y)), int(sol.num_iter)
            ref = np.asarray(sol.y) if ref is None else ref
    row["support"] = int(np.sum(ref != 0))
    Aw = np.asfortranarray(A / w)  # scikit-learn's CD wants Fortran order
    for start, tols in (("cold", SKLEARN_TOLS), ("warm", SKLEARN_TOLS[-1:])):
        for tol in tols:
            model = Lasso(alpha=1.0, fit_intercept=False, tol=tol, max_iter=1_000_000, selection="cyclic",
                          warm_start=start == "warm")  # fmt: skip

            def fit(model=model, z0=np.asarray(y_near) * w):
                if model.warm_start:
                    model.coef_ = z0.copy()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return model.fit(Aw, b).coef_

            key = f"sklearn_{start}_tol{tol:.0e}"
            row[f"{key}_s"] = timed(fit, repeats=repeats)[0]  # one warm-up fit, then the repeats
            y = model.coef_ / w  # the last fit's solution
            row[f"{key}_iters"] = int(model.n_iter_)
            row[f"{key}_residual"] = float(resid(jnp.asarray(y)))
            row[f"{key}_dist"] = float(np.max(np.abs(y - ref)))
            row[f"ratio_{key}_over_fbjax_cd"] = row[f"{key}_s"] / row[f"fbjax_cd_{start}_s"]
    return row


def main():
    import sklearn

    ap = argparse.ArgumentParser(add_help=False)  # this script's flag; run_all parses the rest
    ap.add_argument("--baseline-rev", default=None)
    args, rest = ap.parse_known_args()
    rev = args.baseline_rev
    bench = functools.partial(bench_one, rev=rev)
    rows = run_all(bench, "benchmarks/results/forward_sklearn.json", rest, sklearn=sklearn.__version__, baseline_rev=rev)
    tols = [f"{t:.0e}" for t in SKLEARN_TOLS]
    old = [f"cd@{rev}"] if rev else []
    for start in ("cold", "warm"):
        sk = tols if start == "cold" else tols[-1:]
        print(f"\n{start} start: seconds, FB residual R (sweeps for fbjax; max|y - y_ref| for scikit-learn)\n")
        print("| problem | support | " + " | ".join(f"fbjax {s}" for s in ["cd", *old, "fista"])
              + " | " + " | ".join(f"sklearn tol={t}" for t in sk) + " | sklearn / fbjax CD |")  # fmt: skip
        print("|---" * (5 + len(old) + len(sk)) + "|")
        for r in rows:
            cells = []
            for s in ["cd", *old, "fista"]:
                k = f"fbjax_{s}_{start}"
                cells.append(f"{r[k + '_s']:.4f}, {r[k + '_residual']:.0e} ({r[k + '_sweeps']})" if k + "_s" in r else "-")
            for t in sk:
                k = f"sklearn_{start}_tol{t}"
                cells.append(f"{r[k + '_s']:.4f}, {r[k + '_residual']:.0e}, {r[k + '_dist']:.0e}")
            ratios = " / ".join(f"{r[f'ratio_sklearn_{start}_tol{t}_over_fbjax_cd']:.2f}" for t in sk)
            print(f"| {r['problem']} | {r['support']} | " + " | ".join(cells) + f" | {ratios} |")


if __name__ == "__main__":
    main()
