"""What the adjoint's exact fallback for stalled CG costs where CG does not stall (session 22).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cg_fallback_cost.py P REPEATS

On the random problem of ``fbjax bench`` at size P, compiles the backward (``fbjax.solution_vjp``) twice in
one process, with the fallback (``adjoint._exact_where_cg_stalled``) and with it replaced by the identity,
then times the two programs alternately (median after 3 warm-up rounds). Prints the median, the compile
time and XLA's temporary buffer of each.
"""

import statistics
import sys
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
import fbjax.adjoint as adj  # noqa: E402
from fbjax.experiments.timing import random_problem  # noqa: E402

p, repeats = int(sys.argv[1]), int(sys.argv[2])
F, x, A_val, b_val = random_problem(p)
gamma = fbjax.solvers.default_gamma(F)
sol = jax.jit(lambda F, x: fbjax.solve(F, x))(F, x)
z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(sol.y)
with_fallback = adj._exact_where_cg_stalled
programs = {}
for name in ("with", "without"):
    adj._exact_where_cg_stalled = with_fallback if name == "with" else (lambda *args: args[-2:])
    f = jax.jit(lambda F, x, y, z, g: fbjax.solution_vjp(F, x, y, z, gamma, grad=g)[1])
    t0 = time.perf_counter()
    compiled = f.lower(F, x, sol.y, z, sol.grad).compile()
    programs[name] = (compiled, time.perf_counter() - t0, compiled.memory_analysis().temp_size_in_bytes / 1e6)
adj._exact_where_cg_stalled = with_fallback
times = {name: [] for name in programs}
for _ in range(repeats + 3):
    for name, (compiled, _, _) in programs.items():
        t0 = time.perf_counter()
        compiled(F, x, sol.y, z, sol.grad).block_until_ready()
        times[name].append(time.perf_counter() - t0)
for name, (_, compile_s, temp) in programs.items():
    print(f"p={p} {name} fallback: median {statistics.median(times[name][3:]) * 1e3:.3f} ms, compile {compile_s:.2f} s, "
          f"temp {temp:.1f} MB")  # fmt: skip
