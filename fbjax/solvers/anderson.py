"""Anderson extrapolation of a fixed-point sequence (offline; Bertrand & Massias, AISTATS 2021, Alg. 2).

From iterates ``y^0, ..., y^K`` of ``y <- G(y)`` with differences ``U = [y^1 - y^0, ..., y^K - y^{K-1}]``,

    c = (U^T U)^{-1} 1 / (1^T (U^T U)^{-1} 1),        y_e = sum_{k=1}^K c_k y^k,

the affine combination of the last ``K`` iterates whose combined difference ``sum_k c_k (y^k - y^{k-1})``
is smallest. For a linear iteration ``y <- M y + h`` in dimension ``<= K`` it is the fixed point exactly;
for coordinate descent it is a guess to be kept only if it lowers the objective (the caller's test).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _solve_spd(M: jax.Array, r: jax.Array) -> jax.Array:
    """``M z = r`` for a small symmetric positive definite ``M`` by Gauss-Jordan elimination without
    pivoting, unrolled: plain XLA ops and no LAPACK call (two batched LAPACK calls side by side under
    ``vmap`` can deadlock XLA:CPU, see ``tests/test_batched_lapack.py``)."""
    K = M.shape[0]
    A = jnp.concatenate([M, r[:, None]], axis=1)
    for i in range(K):
        A = A.at[i].divide(A[i, i])
        A = A - jnp.outer(jnp.arange(K) != i, A[i]) * A[:, i : i + 1]
    return A[:, -1]


def weights(Y: jax.Array) -> jax.Array:
    """The coefficients ``c`` (summing to 1) of ``y_e = c @ Y[1:]`` for the iterates ``Y[0..K]`` (rows).

    ``U^T U`` is regularised by ``eps * trace`` (it is singular once the iterates stop moving); when
    the solve still fails, ``c = (0, ..., 0, 1)``, which keeps the last iterate.
    """
    U = jnp.diff(Y, axis=0)
    UU = U @ U.T
    K = UU.shape[0]
    eye = jnp.eye(K, dtype=UU.dtype)
    z = _solve_spd(UU + jnp.finfo(UU.dtype).eps * jnp.trace(UU) * eye, jnp.ones(K, UU.dtype))
    c = z / jnp.sum(z)
    return jnp.where(jnp.all(jnp.isfinite(c)), c, eye[-1])
