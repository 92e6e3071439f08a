"""The backward of the p = 10000 random problem alone, timed with whatever ``fbjax`` is on ``PYTHONPATH``.

Usage, to compare the code with an older commit in the same hour (the machine's memory bandwidth varies):

    git worktree add /tmp/old 0bf6526
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=/tmp/old python benchmarks/probe_backward_p10000.py
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=$PWD python benchmarks/probe_backward_p10000.py

The problem is drawn inline (the same draw as ``fbjax.experiments.timing.random_problem``, which older
commits do not have); two rounds of 7 timed calls after a warm-up, medians printed.
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402

print(fbjax.__file__)
rng = np.random.default_rng(0)
p = 10000
n = 2 * p // 3
A = rng.standard_normal((n, p))
beta = np.zeros(p)
S = rng.choice(p, p // 20, replace=False)
beta[S] = rng.choice([-1.0, 1.0], S.size)
b = A @ beta + 0.1 * rng.standard_normal(n)
A_val = jnp.asarray(rng.standard_normal((n // 3, p)))
b_val = A_val @ beta + 0.1 * rng.standard_normal(n // 3)
x = jnp.asarray(np.log(0.5 * np.exp(rng.uniform(-0.2, 0.2, p))))
F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / n)
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
