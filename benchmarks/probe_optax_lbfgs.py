"""L-BFGS (``optax.lbfgs``, zoom line search) driving the SC oracle through ``fbjax.optax_solve``, against NTRBA, NBA
and Adam on calibrated degenerate instances (session 36: the adapter now passes ``grad=`` and ``value_fn=``).

Each run: 60 outer iterations from the calibrated x0 in the paper code's box, fbjax's default ``argmin`` (SC policy,
scale-free band), warm-started lower level; best validation MSE, support F1 at the best point (threshold 1e-10),
the oracle calls of the run (``num_evals``: since session 37 the line search's calls too) and the median wall time
of 3 jitted runs after a warm-up (compile excluded). L-BFGS's line search calls the oracle more than once per
iteration, so its time per iteration is higher.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_optax_lbfgs.py    # raw output: results/optax_lbfgs_s37.log
                                                                     # (session 36's, without calls: _s36.log)
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import fbjax
from fbjax.data import calibrated_degenerate
from fbjax.experiments.bilevel import f1_score

jax.config.update("jax_enable_x64", True)

SOLVERS = {
    "ntrba": lambda f, x0, **kw: fbjax.ntrba(f, x0, radius=0.1, **kw),
    "nba": lambda f, x0, **kw: fbjax.nba(f, x0, step=0.1, **kw),
    "adam(0.05)": lambda f, x0, **kw: fbjax.optax_solve(f, x0, optax.adam(0.05), **kw),
    "lbfgs": lambda f, x0, **kw: fbjax.optax_solve(f, x0, optax.lbfgs(), **kw),
}


def run(config, seed):
    rho, n, p = config
    d = calibrated_degenerate(seed, n, p, rho)
    F = fbjax.LeastSquares(d.A_train, d.b_train, l2=d.l2)

    def phi(x, y0):
        y = fbjax.argmin(F, x, y0=y0)
        return jnp.mean((d.A_val @ y - d.b_val) ** 2), y

    oracle = jax.value_and_grad(phi, has_aux=True)
    alpha_max = float(jnp.max(jnp.abs(d.A_train.T @ d.b_train)) / d.A_train.shape[0])
    box = dict(lower=np.log(alpha_max) - 5, upper=np.log(0.9 * alpha_max))
    out = {}
    for name, solve in SOLVERS.items():
        prog = jax.jit(lambda x0: solve(oracle, x0, max_iter=60, aux0=jnp.zeros(p), **box))
        res = jax.block_until_ready(prog(jnp.asarray(d.x0)))
        times = []
        for _ in range(3):
            t = time.perf_counter()
            jax.block_until_ready(prog(jnp.asarray(d.x0)))
            times.append(time.perf_counter() - t)
        f1 = float(f1_score(np.asarray(res.best_aux), np.asarray(d.beta)))
        out[name] = (float(res.best_value), f1, int(res.num_evals), np.median(times))
    return out


if __name__ == "__main__":
    for config in [(0.95, 100, 150), (0.98, 200, 300)]:
        rows = {name: [] for name in SOLVERS}
        for seed in range(5):
            for name, r in run(config, seed).items():
                rows[name].append(r)
                print(config, seed, name, "best val %.4f  F1 %.3f  calls %d  %.3f s" % r, flush=True)
        print(f"\n{config}: mean over seeds 0-4")
        for name, r in rows.items():
            r = np.array(r)
            print(f"  {name:11s} best val {r[:, 0].mean():.4f}  F1 {r[:, 1].mean():.3f} +- {r[:, 1].std():.3f}  "
                  f"calls {r[:, 2].mean():.1f}  median run {np.median(r[:, 3]):.3f} s")
        print()
