"""Forward solve of a weighted lasso: fbjax's solvers against scikit-learn's coordinate descent, same run.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_forward_sklearn.py [--repeats 5] [--sizes all|small]
        [--out benchmarks/results/forward_sklearn.json]

The problem is ``min_y ||A y - b||^2 / (2 n) + sum_i w_i |y_i|`` (no ridge: ``l2 = 0``), on the designs and
penalties ``w = exp(x)`` of ``bench_hypergradient.py``. scikit-learn has no per-feature penalty, so its
``Lasso(alpha=1, fit_intercept=False)`` is run on the rescaled design ``A diag(1/w)`` (columns divided by
``w``) and ``y = z / w``: the same minimiser, exactly. The two stop on different tests (fbjax:
``||R_gamma||_inf <= 1e-10``; scikit-learn: duality gap ``<= tol ||b||^2 / n``), so scikit-learn is run at
several ``tol`` and every solution's FB residual ``||R_gamma||_inf`` (the same function for all) and its
distance to fbjax's are reported beside the time. Times are medians over ``--repeats`` after one warm-up
(fbjax's compile time reported separately).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_hypergradient import run_all, timed  # noqa: E402
from fbjax.fb import residual_and_grad  # noqa: E402

SKLEARN_TOLS = (1e-4, 1e-8, 1e-12)  # 1e-4: scikit-learn's default


def bench_one(name, F_enet, x, A_val, b_val, repeats, solvers):
    """One problem's row; ``A_val``, ``b_val`` (the hypergradient benchmark's upper level) are unused."""
    from sklearn.linear_model import Lasso

    A, b = np.asarray(F_enet.A), np.asarray(F_enet.b)
    n, p = A.shape
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=0.0)
    w = np.exp(np.asarray(x))
    gamma = fbjax.solvers.default_gamma(F)
    resid = jax.jit(lambda y: residual_and_grad(F, jnp.asarray(w), y, gamma)[0])
    row = {"problem": name, "n": n, "p": p}
    ref = None
    for solver in solvers:
        fwd = jax.jit(lambda F, x: fbjax.solve(F, x, solver=solver))
        row[f"fbjax_{solver}_s"], row[f"fbjax_{solver}_compile_s"] = timed(fwd, F, x, repeats=repeats)
        sol = fwd(F, x)
        assert bool(sol.converged), (name, solver)
        row[f"fbjax_{solver}_residual"] = float(resid(sol.y))
        ref = np.asarray(sol.y) if ref is None else ref
    row["support"] = int(np.sum(ref != 0))
    Aw = np.asfortranarray(A / w)  # scikit-learn's CD wants Fortran order
    for tol in SKLEARN_TOLS:
        model = Lasso(alpha=1.0, fit_intercept=False, tol=tol, max_iter=1_000_000, selection="cyclic")

        def fit(model=model):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return model.fit(Aw, b).coef_

        key = f"sklearn_tol{tol:.0e}"
        row[f"{key}_s"] = timed(fit, repeats=repeats)[0]  # one warm-up fit, then the repeats
        y = model.coef_ / w  # the last fit's solution
        row[f"{key}_iters"] = int(model.n_iter_)
        row[f"{key}_residual"] = float(resid(jnp.asarray(y)))
        row[f"{key}_dist"] = float(np.max(np.abs(y - ref)))
    for tol in SKLEARN_TOLS:
        row[f"ratio_sklearn_tol{tol:.0e}_over_fbjax_cd"] = row[f"sklearn_tol{tol:.0e}_s"] / row["fbjax_cd_s"]
    return row


def main():
    import sklearn

    rows = run_all(bench_one, "benchmarks/results/forward_sklearn.json", sklearn=sklearn.__version__)
    tols = [f"{t:.0e}" for t in SKLEARN_TOLS]
    print("\n| problem | support | fbjax CD (s), R | fbjax FISTA (s), R | "
          + " | ".join(f"sklearn tol={t} (s), R, max|y - y_cd|" for t in tols) + " | sklearn / fbjax CD |")
    print("|---" * (5 + len(tols)) + "|")
    for r in rows:
        fista = f"{r['fbjax_fista_s']:.4f}, {r['fbjax_fista_residual']:.0e}" if "fbjax_fista_s" in r else "-"
        sk = " | ".join(f"{r[f'sklearn_tol{t}_s']:.4f}, {r[f'sklearn_tol{t}_residual']:.0e}, {r[f'sklearn_tol{t}_dist']:.0e}"
                        for t in tols)  # fmt: skip
        ratios = " / ".join(f"{r[f'ratio_sklearn_tol{t}_over_fbjax_cd']:.2f}" for t in tols)
        print(f"| {r['problem']} | {r['support']} | {r['fbjax_cd_s']:.4f}, {r['fbjax_cd_residual']:.0e} | {fista} | {sk} | {ratios} |")


if __name__ == "__main__":
    main()
