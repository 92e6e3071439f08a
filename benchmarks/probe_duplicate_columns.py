"""Rank deficiency with ``|S| <= n`` (session 26): a lasso (``l2 = 0``) on n = 50 > p = 20 whose column 4
duplicates column 3 (and, for odd seeds, column 7 is twice column 6). ``[hess F]_{S,S}`` is singular where
the sign-consistent policy keeps both copies in ``S``; ``F.hess_rank_bound()`` is p here, so only a non-finite
``q`` (Cholesky's pivot on the copy going to 0 or below) can reveal it. Prints, per seed, the lower level's
two copies and whether ``jax.grad`` of the validation MSE through ``fbjax.argmin`` raised fbjax's "singular"
error or returned a finite hypergradient (and its entries on the two copies), and whether the sign-consistent
policy's first selection (``B+`` with ``z_i < 0``, ``B-`` with ``z_i > 0``) takes the copy.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_duplicate_columns.py
"""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.fb import B_MINUS, B_PLUS  # noqa: E402


def main(seeds=10, n=50, p=20, alpha=0.01):
    counts = {"singular error": 0, "other error": 0, "finite": 0}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((n, p))
        A[:, 4] = A[:, 3]
        if seed % 2:
            A[:, 7] = 2 * A[:, 6]
        b = A[:, :8] @ rng.standard_normal(8) + 0.1 * rng.standard_normal(n)
        F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=0.0)
        A_val, b_val = rng.standard_normal((30, p)), rng.standard_normal(30)
        x = jnp.full(p, np.log(alpha))
        y = fbjax.argmin(F, x)
        gamma = fbjax.solvers.default_gamma(F)
        codes = np.asarray(fbjax.partition(*fbjax.forward_map(F, x, y, gamma)))
        z = np.asarray(jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y))
        seeded = (codes[4] == B_PLUS and z[4] < 0) or (codes[4] == B_MINUS and z[4] > 0)  # SC's first selection
        row = (f"seed {seed}: y[3], y[4] = {float(y[3]):.3g}, {float(y[4]):.3g} (codes {codes[3]}, {codes[4]}), "
               f"z[4] {z[4]:+.2g}: SC {'selects' if seeded else 'leaves'} the copy")
        try:
            g = jax.grad(lambda x: jnp.mean((A_val @ fbjax.argmin(F, x) - b_val) ** 2))(x)
            jax.block_until_ready(g)
            counts["finite"] += 1
            top = float(jnp.max(jnp.abs(g)))
            print(f"{row}; finite, g[3], g[4] = {float(g[3]):.3g}, {float(g[4]):.3g}, max |g| {top:.3g}")
        except Exception as e:  # noqa: BLE001
            key = "singular error" if "is singular" in str(e) else "other error"
            counts[key] += 1
            print(f"{row}; {key}" + ("" if key == "singular error" else f": {str(e)[:120]}"))
    print(counts, f"of {seeds}")


if __name__ == "__main__":
    main()
