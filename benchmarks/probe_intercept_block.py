"""The Hessian block of ``WithIntercept(Logistic)`` on a working set: its intercept column ``A_S^T d / n`` from the
block's own gather of ``A_S`` (``hess_block``, session 31) against one full ``A^T d`` (``_corner``, before), and
the plain block without the intercept's correction. Random 2000 x 10000 design, dense and BCOO (1% nonzero),
``|S| = 128``, labels 40% positive; medians of 15 calls after a warm-up, milliseconds.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_intercept_block.py
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import sparse

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402


def main(n=2000, p=10000, k=128):
    rng = np.random.default_rng(0)
    for kind in ("dense", "bcoo"):
        A = rng.standard_normal((n, p)) * (rng.random((n, p)) < (1.0 if kind == "dense" else 0.01))
        A = jnp.asarray(A) if kind == "dense" else sparse.BCOO.fromdense(jnp.asarray(A))
        G = fbjax.WithIntercept(fbjax.Logistic(A, jnp.asarray(np.where(rng.random(n) < 0.4, 1.0, -1.0))))
        y = jnp.asarray(rng.standard_normal(p) * (rng.random(p) < 0.01)) * 0.1
        idx = jnp.asarray(rng.choice(p, k, replace=False))

        def full_product(G, y, idx):  # the block as before: the intercept column from one full A^T d
            w, h = G._weights(y)
            g = G._corner(w, idx)
            return G.base.weighted_block(w, idx) - jnp.outer(g, g) / h

        runs = {"hess_block (gathered column)": jax.jit(lambda G, y, idx: G.hess_block(y, idx)),
                "full A^T d column (before)": jax.jit(full_product),
                "plain block, no correction": jax.jit(lambda G, y, idx: G.base.weighted_block(G._weights(y)[0], idx))}
        for name, f in runs.items():
            f(G, y, idx).block_until_ready()
            times = []
            for _ in range(15):
                t = time.perf_counter()
                f(G, y, idx).block_until_ready()
                times.append(time.perf_counter() - t)
            print(f"{kind}: {name}: {1e3 * statistics.median(times):.2f} ms")
        diff = runs["hess_block (gathered column)"](G, y, idx) - full_product(G, y, idx)
        print(f"{kind}: max |difference| {float(jnp.max(jnp.abs(diff))):.1e}")


if __name__ == "__main__":
    main()
