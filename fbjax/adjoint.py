"""The support-reduced adjoint solve (Algorithm 1, Phase 3; Definition 2, step ii).

For a selector ``sigma`` with working set ``S = {i : sigma_i != 0}``:

    H_S q_S = -z_S,    H_S = gamma [hess F(y)]_{S,S},    q = 0 off S.

Two paths with static shapes, so that everything jits and vmaps:

- ``"dense"``: gather the candidate set (all non-``A`` indices, a superset of every ``S`` a
  policy can choose) into a static bucket of size ``k``, form ``[hess F]_{K,K}`` once, and solve
  each masked system ``H_m = m m^T * H_K + diag(1 - m)`` by Cholesky (lineax). Cost
  ``O(n k^2 + k^3)``; never ``p x p``.
- ``"cg"``: conjugate gradients (lineax) on the masked operator
  ``v -> m * gamma hvp(m * v) + (1 - m) * v`` with right-hand side ``-m * z``; matrix-free.

``"auto"`` picks the smallest dense bucket that holds the candidate set and falls back to CG when
none does. Under ``jax.vmap`` the bucket choice becomes a ``select`` and every branch runs; pass
``method="dense"`` or ``"cg"`` to compile one path only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import lineax as lx

from fbjax.coderivative import Policy
from fbjax.fb import A_
from fbjax.losses import SmoothLoss

BUCKETS = (32, 128, 512, 2048)


def dense_solver(F: SmoothLoss, y, z, candidates, gamma, size: int):
    """``sigma -> q`` through a Cholesky solve on the gathered block of ``candidates``.

    ``size`` is the static bucket; the caller guarantees ``candidates.sum() <= size``.
    """
    idx = jnp.nonzero(candidates, size=size, fill_value=0)[0]
    valid = jnp.arange(size) < jnp.sum(candidates)
    H = gamma * F.hess_block(y, idx)

    def solve(sigma):
        m = (sigma[idx] != 0) & valid
        Hm = jnp.where(m[:, None] & m[None, :], H, 0) + jnp.diag(jnp.where(m, 0, 1).astype(H.dtype))
        rhs = jnp.where(m, -z[idx], 0)
        op = lx.MatrixLinearOperator(Hm, lx.positive_semidefinite_tag)
        qk = lx.linear_solve(op, rhs, lx.Cholesky()).value
        return jnp.zeros_like(z).at[idx].add(jnp.where(m, qk, 0))

    return solve


def cg_solver(F: SmoothLoss, y, z, gamma, rtol=None, max_steps=None):
    """``sigma -> q`` through CG on the masked Hessian operator (matrix-free)."""
    eps = jnp.finfo(z.dtype).eps
    rtol = float(eps**0.8) if rtol is None else rtol
    max_steps = 10 * z.shape[0] if max_steps is None else max_steps
    struct = jax.ShapeDtypeStruct(z.shape, z.dtype)

    def solve(sigma):
        m = (sigma != 0).astype(z.dtype)
        op = lx.FunctionLinearOperator(
            lambda v: m * (gamma * F.hvp(y, m * v)) + (1 - m) * v, struct, tags=lx.positive_semidefinite_tag
        )
        return lx.linear_solve(op, -m * z, lx.CG(rtol=rtol, atol=rtol, max_steps=max_steps)).value

    return solve


def buckets_for(p: int, buckets=BUCKETS) -> tuple[int, ...]:
    return tuple(sorted({min(k, p) for k in buckets}))


def reduced_adjoint(policy: Policy, F: SmoothLoss, y, z, codes, gamma, method: str = "auto", buckets=BUCKETS):
    """Run ``policy`` with reduced adjoint solves; returns ``(sigma, q)`` (Alg. 1, steps 5-11)."""
    p = z.shape[0]
    if method == "cg":
        return policy(codes, z, cg_solver(F, y, z, gamma))
    if method not in ("auto", "dense"):
        raise ValueError(f"adjoint method must be 'auto', 'dense' or 'cg', got {method!r}")
    sizes = buckets_for(p, buckets)
    if method == "dense" and sizes[-1] < p:
        sizes = sizes + (p,)
    candidates = codes != A_
    branches = [lambda k=k: policy(codes, z, dense_solver(F, y, z, candidates, gamma, k)) for k in sizes]
    if sizes[-1] < p:  # "auto" with a candidate set larger than every bucket
        branches.append(lambda: policy(codes, z, cg_solver(F, y, z, gamma)))
    if len(branches) == 1:
        return branches[0]()
    index = jnp.searchsorted(jnp.asarray(sizes), jnp.sum(candidates))
    return jax.lax.switch(index, branches)
