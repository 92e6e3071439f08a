"""The Hessian block of ``WithIntercept(Logistic)`` on a working set: its intercept column ``A_S^T d / n`` from the
block's own gather of ``A_S`` (``hess_block``, session 31) against one full ``A^T d`` (before), and the plain
block without the intercept's correction. Random 2000 x 10000 design, dense and BCOO (1% nonzero), ``|S| = 128``,
labels 40% positive; medians of 15 calls after a warm-up, milliseconds.

Then the paged operator ``hess_block_matvec`` that CG uses past ``cholesky_max()`` (session 32: the column
from the operator's own pages against one full ``A^T d``): built for a bucket of 1024 with ``count = 600`` and
applied 50 times (a CG solve's worth), same designs.

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
            g = fbjax.losses._rmatvec(G.base.A, w)[idx]
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

        def cg_worth(make, G, y, idx, count, v):  # build the operator once, apply it 50 times
            mv = make(G, y, idx, count)
            return jax.lax.fori_loop(0, 50, lambda _, u: jnp.where(jnp.arange(u.shape[0]) < count, mv(u), 0.0), v)

        def full_column(G, y, idx, count):  # the operator as before: the column from one full A^T d
            w, h = G._weights(y)
            g = fbjax.losses._rmatvec(G.base.A, w)[idx]
            matvec = G.base.weighted_block_matvec(w, idx, count)
            return lambda v: matvec(v) - g * (jnp.vdot(g, v) / h)

        big = jnp.asarray(rng.choice(p, 1024, replace=False))
        v = jnp.where(jnp.arange(1024) < 600, jnp.asarray(rng.standard_normal(1024)), 0.0) * 1e-3
        ops = {"hess_block_matvec (paged column)": lambda G, y, idx, count: G.hess_block_matvec(y, idx, count),
               "full A^T d column (before)": full_column}
        outs = {}
        for name, make in ops.items():
            f = jax.jit(lambda G, y, idx, count, v, make=make: cg_worth(make, G, y, idx, count, v))
            outs[name] = f(G, y, big, 600, v).block_until_ready()
            times = []
            for _ in range(15):
                t = time.perf_counter()
                f(G, y, big, 600, v).block_until_ready()
                times.append(time.perf_counter() - t)
            print(f"{kind}: 50 products, {name}: {1e3 * statistics.median(times):.2f} ms")
        a, b = outs.values()
        print(f"{kind}: 50 products, max relative difference {float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))):.1e}")


if __name__ == "__main__":
    main()
