"""The adjoint's CG stopping rule before and after session 23, on the random problem of ``fbjax bench`` (A/B in one
process): ``atol = eps^0.8`` (absolute, before) against ``atol = eps^0.8 max |m * rhs|`` (``fbjax.adjoint.masked_cg``).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cg_rule_ab.py P REPEATS     # e.g. 300 200, 3000 60

Prints ``max |z|``, the largest relative difference of the two hypergradients, and per rule the backward's
median time (the two compiled programs timed alternately after 3 warm-up rounds) and its compile time.
"""
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import lineax as lx

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
import fbjax.adjoint as adj  # noqa: E402
from fbjax.experiments.timing import random_problem  # noqa: E402

new = adj.masked_cg


def old(matvec, m, rhs, keep_stalled=False):  # keep_stalled: session 24, ignored here
    eps = jnp.finfo(rhs.dtype).eps
    struct = jax.eval_shape(lambda v: v, rhs)
    op = lx.FunctionLinearOperator(lambda v: m * matvec(m * v) + (1 - m) * v, struct, tags=lx.positive_semidefinite_tag)
    tol = float(eps**0.8)
    k = rhs.shape[0]
    cg = lx.CG(rtol=tol, atol=tol, max_steps=max(k // 2, 1) if k <= adj.direct_max() else 10 * k)
    sol = lx.linear_solve(op, m * rhs, cg, throw=False)
    ok = (sol.result == lx.RESULTS.successful) & jnp.all(jnp.isfinite(sol.value))
    return jnp.where(ok, sol.value, jnp.nan)


p, repeats = int(sys.argv[1]), int(sys.argv[2])
F, x, A_val, b_val = random_problem(p)
gamma = fbjax.solvers.default_gamma(F)
sol = jax.jit(lambda F, x: fbjax.solve(F, x))(F, x)
z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(sol.y)
print("max|z|", float(jnp.max(jnp.abs(z))))
programs, outs = {}, {}
for name, fn in (("absolute atol", old), ("relative atol", new)):
    adj.masked_cg = fn
    jax.clear_caches()
    f = jax.jit(lambda F, x, y, z, g: fbjax.solution_vjp(F, x, y, z, gamma, grad=g)[1])
    t0 = time.perf_counter()
    c = f.lower(F, x, sol.y, z, sol.grad).compile()
    programs[name] = (c, time.perf_counter() - t0)
    outs[name] = c(F, x, sol.y, z, sol.grad)
adj.masked_cg = new
times = {k: [] for k in programs}
for _ in range(repeats + 3):
    for name, (c, _) in programs.items():
        t0 = time.perf_counter()
        c(F, x, sol.y, z, sol.grad).block_until_ready()
        times[name].append(time.perf_counter() - t0)
a, b = outs.values()
print(f"p={p}: max rel. difference of the hypergradients {float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))):.1e}")
for name, (_, cs) in programs.items():
    print(f"p={p} {name}: median {statistics.median(times[name][3:]) * 1e3:.3f} ms, compile {cs:.2f} s")
