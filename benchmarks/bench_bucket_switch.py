"""What the bucket switch of ``adjoint="auto"`` costs: the reduced adjoint (SC policy) alone, with different
bucket lists, on the random p = 3000 (or 10000) problem of ``bench_hypergradient.py``.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bucket_switch.py 3000 "[(256,), (256, 1024), (32, 64, 128, 256)]"

The working set there needs the 256 bucket, so every list holds it; the others add untaken branches.
Medians over 7 runs after a warm-up. Run it again with ``MALLOC_MMAP_THRESHOLD_=4000000000
MALLOC_TRIM_THRESHOLD_=8000000000`` to see the part that is glibc returning XLA's large temporary
buffer to the OS after every call (fresh pages, page faults, on the next).
"""

import sys

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_hypergradient import random_problem, timed  # noqa: E402
from fbjax import coderivative  # noqa: E402

F, x, A_val, b_val = random_problem(int(sys.argv[1]))
gamma = fbjax.solvers.default_gamma(F)
y = fbjax.solve(F, x, solver="cd").y
z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y)
codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
policy = coderivative.SignConsistent()
print("candidates:", int(jnp.sum(codes != fbjax.fb.A_)))
for buckets in eval(sys.argv[2]):
    f = jax.jit(lambda F, y, z, c, b=buckets: fbjax.adjoint.reduced_adjoint(policy, F, y, z, c, gamma, "auto", buckets=b)[1])
    med, _ = timed(f, F, y, z, codes, repeats=7)
    print(buckets, f"{med * 1e3:.1f} ms")
