"""Singular adjoint blocks (session 24): what Cholesky gives on them, and what ``jax.grad`` gave and gives.

1. Pivot ratios ``min L_ii^2 / max L_jj^2`` of Cholesky factors of rank-deficient Gram blocks (``k`` columns of
   an AR(1) design on ``k - 1 - t`` samples), in units of eps; NaN where a pivot went negative. Finite ratios
   of 0.17-5500 eps (float64) and 0.21-240 eps (float32; two runs, sessions 24 and 26) overlap those of
   full-rank ill-conditioned blocks in float32 (a condition number of 1e5 is 80 eps there): why fbjax tests
   the working set's size against ``F.hess_rank_bound()`` instead of a pivot threshold.
2. Session 28's pivot test (:func:`fbjax.adjoint.singular_pivots`) on the same kind of blocks, rank-deficient and
   full-rank: which it flags.
3. A 20 x 100 lasso (``l2 = 0``), SC policy, 6 seeds x 3 penalties: the working set's size and condition
   number and ``max |q|`` as the adjoint computes them (``fbjax.adjoint._reduced_adjoint``, without the
   checks: what ``jax.grad`` returned before session 24), and whether ``jax.grad`` now raises.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_singular_blocks.py
"""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import adjoint  # noqa: E402


def gram_block(rng, n, k, rho):
    """``X^T X / n`` of ``n`` AR(1) rows of ``k`` columns, scaled to spectral norm 0.9 (rank ``min(n, k)``)."""
    Z = rng.standard_normal((n, k))
    X = np.empty_like(Z)
    X[:, 0] = Z[:, 0]
    for j in range(1, k):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    H = X.T @ X / n
    return 0.9 * H / np.linalg.eigvalsh(H)[-1]


def cases():
    """``(dtype, eps, k, rho)`` of the Gram blocks, in the order both pivot studies draw them."""
    for dt in (np.float64, np.float32):
        for k in (20, 128, 512):
            for rho in (0.0, 0.9, 0.99):
                yield dt, np.finfo(dt).eps, k, rho


def pivots():
    rng = np.random.default_rng(0)
    for dt, eps, k, rho in cases():
        out = []
        for t in range(5):
            c, _ = jax.scipy.linalg.cho_factor(jnp.asarray(gram_block(rng, k - 1 - t, k, rho), dt))
            d = np.asarray(jnp.diagonal(c), np.float64) ** 2
            out.append("NaN" if not np.all(np.isfinite(d)) else f"{d.min() / d.max() / eps:.2g}")
        print(f"{dt.__name__} k={k} rho={rho}: pivot ratio / eps = {', '.join(out)}")


def pivot_test():
    """Session 28: :func:`fbjax.adjoint.singular_pivots` (a pivot ``d_i <= 10 k eps H_ii``) on the same AR(1) Gram
    blocks: rank-deficient ones (``n = k - 1 - t`` samples) and full-rank ill-conditioned ones (``n = k + 1 + t``),
    5 each; how many Cholesky flags (NaN or the pivot test), and the smallest ``d_i / H_ii`` in units of eps."""
    rng = np.random.default_rng(0)
    for dt, eps, k, rho in cases():
        row = []
        for deficient in (True, False):
            flagged, ratios, conds = 0, [], []
            for t in range(5):
                H = jnp.asarray(gram_block(rng, k - 1 - t if deficient else k + 1 + t, k, rho), dt)
                c, _ = jax.scipy.linalg.cho_factor(H)
                finite = bool(jnp.all(jnp.isfinite(c)))
                flagged += (not finite) or bool(adjoint.singular_pivots(c, H, jnp.ones(k, bool)))
                if finite:
                    ratios.append(float(jnp.min(jnp.diagonal(c) ** 2 / jnp.diagonal(H))) / eps)
                if not deficient:
                    conds.append(np.linalg.cond(np.asarray(H, np.float64)))
            rat = f"{min(ratios):.2g}" if ratios else "-"
            extra = f", cond <= {max(conds):.1e}" if conds else ""
            row.append(f"{'rank-deficient' if deficient else 'full rank'}: {flagged}/5 flagged, "
                       f"min d/H_ii / eps {rat}{extra}")
        print(f"{dt.__name__} k={k} rho={rho} (threshold {10 * k} eps): " + "; ".join(row))


def lasso():
    n, p = 20, 100
    counts = {"nan before": 0, "finite, singular S before": 0, "raises now": 0}
    for seed in range(6):
        rng = np.random.default_rng(seed)
        F = fbjax.LeastSquares(rng.standard_normal((n, p)), rng.standard_normal(n), l2=0.0)
        A_val, b_val = rng.standard_normal((30, p)), rng.standard_normal(30)
        gamma = fbjax.solvers.default_gamma(F)
        for alpha in (3e-2, 1e-2, 3e-3):
            x = jnp.full(p, np.log(alpha))
            y = fbjax.solve(F, x).y
            z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y)
            codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
            policy = fbjax.coderivative.SignConsistent()
            sigma, q = adjoint._reduced_adjoint(policy, F, y, z, codes, gamma, "auto", None, None)
            S = np.flatnonzero(np.asarray(sigma))
            G = np.asarray(F.A)[:, S].T @ np.asarray(F.A)[:, S] / n
            finite = bool(jnp.all(jnp.isfinite(q)))
            counts["nan before"] += not finite
            counts["finite, singular S before"] += finite and len(S) > n
            row = f"|S| {len(S)}, cond {np.linalg.cond(G):.1e}, max|q| {float(jnp.max(jnp.abs(q))):.1e}"
            try:
                jax.block_until_ready(jax.grad(lambda x: jnp.mean((A_val @ fbjax.argmin(F, x) - b_val) ** 2))(x))
                now = "grad finite"
            except Exception as e:  # noqa: BLE001
                now = "raises: " + ("singular" if "singular" in str(e) else str(e)[:80])
                counts["raises now"] += 1
            print(f"seed {seed} alpha {alpha}: {row}; jax.grad {now}")
    print(counts, "of 18")


if __name__ == "__main__":
    pivots()
    pivot_test()
    lasso()
