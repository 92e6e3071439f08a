"""Subprocess body of tests/test_batched_lapack.py: batched LAPACK under jax.vmap, repeated.

jaxlib 0.10's batched LAPACK kernels block an XLA:CPU pool thread while their chunks run on the same
pool; two of them side by side on a 2-thread pool never finish. fbjax must never put two of them side
by side: the Bregman dual FB (eigvalsh, then Cholesky) and the reduced adjoint under vmap (one bucket).
"""

import sys

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.baselines.bregman import conjugate_gradient_map  # noqa: E402

which, repeats = sys.argv[1], int(sys.argv[2])
key = jax.random.PRNGKey(0)
if which == "bregman":  # 100 tasks, one (eigvalsh, Cholesky) pair each
    A = jax.random.normal(key, (100, 25, 40))
    b = jnp.ones((100, 25))

    def one(A, b):
        grad_conj, mu_f = conjugate_gradient_map(fbjax.LeastSquares(A, b, l2=0.1))
        return grad_conj(jnp.ones(40)) * mu_f

    f = jax.jit(jax.vmap(one))
    args = lambda i: (A + i, b)  # noqa: E731
else:  # 32 seeds of grad through argmin; "auto" adjoint with Cholesky buckets 32, 64, 128
    A = jax.random.normal(key, (32, 100, 300))
    b = A[..., :40].sum(-1) + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (32, 100))

    def phi(x, A, b):
        y = fbjax.argmin(fbjax.LeastSquares(A, b, l2=1e-3), x, solver="fista")
        return 0.5 * jnp.mean((A @ y - b) ** 2)

    f = jax.jit(jax.vmap(jax.grad(phi), in_axes=(None, 0, 0)))
    args = lambda i: (jnp.full(300, -3.0 + 0.01 * i), A, b)  # noqa: E731
for i in range(repeats):
    jax.block_until_ready(f(*args(i)))
print("done")
