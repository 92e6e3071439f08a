"""Warm-starting the sign-consistent policy's CG rounds (session 28): is the ``Policy`` protocol change worth it?

SC (Def. 2) solves the masked adjoint system once per round, dropping contradicted coordinates between rounds.
On the ill-conditioned AR(1) design (rho 0.99, n 300, p 600, penalty 0.05 alpha_max, scale-free band) it takes
4-5 rounds with CG over all p (the candidate set is past p / 2). This runs the policy eagerly with lineax CG at
masked_cg's tolerance, each round from 0 (``cold``, what fbjax does) or from the previous round's ``q``
restricted to the new mask (``warm``), and prints per round ``(|S|, CG steps, converged)``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_sc_warm_start.py    # benchmarks/results/probe_sc_warm_start_s28.log
"""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import coderivative  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402


def instance(seed):
    A, b, A_val, b_val = ar1_regression(seed, 300, 600, 0.99)
    x = jnp.full(600, np.log(0.05 * np.max(np.abs(A.T @ b)) / 300))
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / A.shape[0])
    y = fbjax.solve(F, x).y
    gamma = fbjax.solvers.default_gamma(F)
    codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
    z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y)
    return F, y, z, codes, gamma


def masked_solve(F, y, z, gamma, sigma, y0):
    """masked_cg's system and tolerance (``eps^0.8``, relative to the right-hand side), lineax CG from ``y0``."""
    m = (sigma != 0).astype(z.dtype)
    op = lx.FunctionLinearOperator(lambda v: m * gamma * F.hvp(y, m * v) + (1 - m) * v, jax.eval_shape(lambda v: v, z),
                                   tags=lx.positive_semidefinite_tag)  # fmt: skip
    rhs = -m * z
    tol = float(jnp.finfo(z.dtype).eps ** 0.8)
    cg = lx.CG(rtol=tol, atol=tol * jnp.max(jnp.abs(rhs)), max_steps=10 * z.shape[0])
    sol = lx.linear_solve(op, rhs, cg, throw=False, options={} if y0 is None else {"y0": m * y0})
    return sol.value, int(sol.stats["num_steps"]), bool(sol.result == lx.RESULTS.successful)


def main():
    for seed in range(3):
        F, y, z, codes, gamma = instance(seed)
        for warm in (False, True):
            rounds, last = [], [None]

            def solve(sigma):
                q, steps, ok = masked_solve(F, y, z, gamma, sigma, last[0] if warm else None)
                last[0] = q
                rounds.append((int(jnp.sum(sigma != 0)), steps, ok))
                return q

            with jax.disable_jit():  # eager: the policy's while_loop calls solve once per round
                coderivative.SignConsistent()(codes, z, solve)
            total = sum(r[1] for r in rounds)
            print(f"seed {seed} {'warm' if warm else 'cold'}: rounds {rounds}; CG steps in all {total}")


if __name__ == "__main__":
    main()
