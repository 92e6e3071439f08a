"""The cost of calling an outer solver eagerly: each call traces and compiles the whole run again.

Calibrated degenerate design (seed 0, n = 100, p = 150, rho = 0.95), least squares, the validation MSE through
``fbjax.argmin``; ``ntrba``, ``nba`` and ``optax_solve`` (adam 0.05), 20 steps each, called three times eagerly
from three starting points with the same oracle, then ``ntrba`` under ``jax.jit`` (the first call compiles).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_eager_outer.py
    # with JAX's persistent cache, twice (session 35): an empty folder, then the same folder
    for i in 1 2; do JAX_COMPILATION_CACHE_DIR=DIR OPENBLAS_NUM_THREADS=1 python benchmarks/probe_eager_outer.py; done
"""

import time

import jax
import jax.numpy as jnp
import optax

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402


def main():
    d = calibrated_degenerate(0, 100, 150, 0.95)
    F = fbjax.LeastSquares(d.A_train, d.b_train)
    fun = jax.value_and_grad(lambda x: jnp.mean((d.A_val @ fbjax.argmin(F, x) - d.b_val) ** 2))
    x0 = jnp.full(150, -1.0)
    box = dict(lower=-6.0, upper=0.0)
    runs = {
        "ntrba, eager": lambda x: fbjax.ntrba(fun, x, max_iter=20, **box),
        "nba, eager": lambda x: fbjax.nba(fun, x, max_iter=20, **box),
        "optax_solve (adam), eager": lambda x: fbjax.optax_solve(fun, x, optax.adam(0.05), max_iter=20, **box),
        "ntrba under jax.jit": jax.jit(lambda x: fbjax.ntrba(fun, x, max_iter=20, **box)),
    }
    for name, run in runs.items():
        times = []
        for i in range(4):
            t = time.perf_counter()
            jax.block_until_ready(run(x0 - 0.1 * i).best_value)
            times.append(time.perf_counter() - t)
        print(f"{name}: " + ", ".join(f"{t:.3f} s" for t in times))


if __name__ == "__main__":
    main()
