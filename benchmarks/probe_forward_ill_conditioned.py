"""The lower level on an ill-conditioned AR(1) design (rho 0.99, n 400, p 600, alpha 1e-3): iterations and time
of fbjax.solve with solver="auto" (coordinate descent on CPU), "cd" and "fista" (session 22).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_forward_ill_conditioned.py

Per ridge and solver: iterations, certificate, the first call (compile included) and a second, warm call.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402

n, p = 400, 600
A, b, _, _ = ar1_regression(0, n, p, 0.99)
for l2 in (1e-6, 1 / n):
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
    x = jnp.full(p, np.log(1e-3))
    for solver in ("auto", "cd", "fista"):
        f = jax.jit(lambda F, x: fbjax.solve(F, x, solver=solver, max_iter=200000))
        t0 = time.perf_counter(); s = f(F, x); jax.block_until_ready(s.y); t1 = time.perf_counter()
        s = f(F, x); jax.block_until_ready(s.y); t2 = time.perf_counter()
        print(f"l2={l2:.1e} {solver:5s}: iters {int(s.num_iter)}, converged {bool(s.converged)}, residual {float(s.residual):.1e}, first {t1-t0:.1f} s, warm {t2-t1:.2f} s, support {int(jnp.sum(s.y != 0))}")
