"""What the bucket switch of ``adjoint="auto"`` costs: the reduced adjoint (SC policy) alone, with different
bucket lists, on the random p = 3000 (or 10000) problem of ``bench_hypergradient.py``.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_bucket_switch.py 3000 "[(256,), (256, 1024), (32, 64, 128, 256)]"

Per list: median time over 7 runs after a warm-up, compile time, the size of XLA's temporary buffer
(``memory_analysis``) and the minor page faults per call. Lists pass through ``adjoint.buckets_for``, which
drops CG buckets above p / 2. A large temporary buffer used to cost page faults on every call: glibc
returns a buffer past its mmap threshold (at most 32 MiB) to the OS when it is freed, so the next call
touches fresh pages (session 4; ``MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=8000000000``
showed it).
"""

import resource
import statistics
import sys
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from bench_hypergradient import random_problem  # noqa: E402
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
    t0 = time.perf_counter()
    compiled = f.lower(F, y, z, codes).compile()
    compile_s = time.perf_counter() - t0
    temp_mb = compiled.memory_analysis().temp_size_in_bytes / 1e6
    jax.block_until_ready(compiled(F, y, z, codes))
    times, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(7):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(F, y, z, codes))
        times.append(time.perf_counter() - t0)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / 7
    print(buckets, f"{statistics.median(times) * 1e3:.1f} ms, compile {compile_s:.1f} s, temp {temp_mb:.1f} MB, {faults:.0f} minor faults/call")
