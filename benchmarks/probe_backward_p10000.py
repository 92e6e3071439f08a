"""The backward of the p = 10000 random problem alone, timed with whatever ``fbjax`` is on ``PYTHONPATH``.

Usage, to compare the code with an older commit in the same hour (the machine's memory bandwidth varies):

    git worktree add /tmp/old 0bf6526
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=/tmp/old python benchmarks/probe_backward_p10000.py
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/probe_backward_p10000.py

The problem is ``fbjax.experiments.timing.random_problem(10000)``, or, at a commit before it, the same draw
from that commit's ``benchmarks/bench_hypergradient.py``; two rounds of 7 timed calls after a warm-up,
medians printed.
"""

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402

print(fbjax.__file__)
try:
    from fbjax.experiments.timing import random_problem
except ImportError:  # a commit before fbjax bench: its benchmark script holds the same draw
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(fbjax.__file__)), "benchmarks"))
    from bench_hypergradient import random_problem

F, x, A_val, b_val = random_problem(10000)
gamma = fbjax.solvers.default_gamma(F)
sol = fbjax.solve(F, x)
z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(sol.y)
bwd = jax.jit(lambda F, x, y, z, g: fbjax.solution_vjp(F, x, y, z, gamma, grad=g)[1])
jax.block_until_ready(bwd(F, x, sol.y, z, sol.grad))
for _ in range(2):
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        jax.block_until_ready(bwd(F, x, sol.y, z, sol.grad))
        times.append(time.perf_counter() - t0)
    print("backward median", round(statistics.median(times), 4), "s")
