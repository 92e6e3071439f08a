"""Coderivative of soft-thresholding with biactive selector masks (Cor. 9, Cor. 13, Def. 2).

An element of the residual-enlarged subdifferential is fixed by a diagonal selector
``sigma = diag(D_supp) in {-1, 0, +1}^p`` (Cor. 13):

    sigma_i = +1 on I+,  -1 on I-,  0 on A,  {+1 or 0} on B+,  {-1 or 0} on B-.

A *policy* chooses the free entries on ``B = B+ u B-``. It receives the partition codes, the
upper-level cotangent ``z = grad_y L`` and ``solve``, a function mapping a selector to the
adjoint ``q`` of the reduced system ``H_S q_S = -z_S`` (zero off ``S``), and returns
``(sigma, q)``. Built-ins:

- :class:`Null` (``"null"``): ``sigma = 0`` on ``B``; exactly Sparse-HO's support restriction.
- :class:`SignConsistent` (``"sc"``, Def. 2): seed ``+1`` on ``B+`` where ``z < 0`` and ``-1``
  on ``B-`` where ``z > 0``; solve; drop every selected biactive ``i`` with ``sigma_i q_i <= 0``;
  repeat until nothing is dropped (at most ``|B|`` rounds, inside ``lax.while_loop``).

The dense ``p x p`` forms of the same element (eqs. 23-24 and the AIP slides'
``eta = grad_x L - Xi Upsilon^{-1} grad_y L``) are kept as test oracles for the reduced solve.
"""

from __future__ import annotations

from typing import Callable, Protocol

import equinox as eqx
import jax
import jax.numpy as jnp

from fbjax.fb import B_MINUS, B_PLUS, I_MINUS, I_PLUS, is_biactive

Solve = Callable[[jax.Array], jax.Array]


class Policy(Protocol):
    """``policy(codes, z, solve) -> (sigma, q)``; ``sigma`` must follow Cor. 13's constraints.

    ``solve`` may return NaN where its conjugate gradients stalled (an ill-conditioned block);
    :func:`fbjax.adjoint.reduced_adjoint` then reruns the policy with Cholesky solves, so a policy
    only needs to return the ``q`` it got (and to stop: a comparison with NaN is False)."""

    def __call__(self, codes: jax.Array, z: jax.Array, solve: Solve) -> tuple[jax.Array, jax.Array]: ...


def inactive_selector(codes: jax.Array, dtype=jnp.float64) -> jax.Array:
    """``sigma`` with ``+1`` on ``I+``, ``-1`` on ``I-`` and ``0`` elsewhere (the null choice)."""
    return jnp.where(codes == I_PLUS, 1, jnp.where(codes == I_MINUS, -1, 0)).astype(dtype)


def selector(codes: jax.Array, select_b: jax.Array, dtype=jnp.float64) -> jax.Array:
    """``sigma`` of Cor. 13 from the partition and a boolean mask of selected biactive indices."""
    sel = jnp.where((codes == B_PLUS) & select_b, 1, jnp.where((codes == B_MINUS) & select_b, -1, 0))
    return inactive_selector(codes, dtype) + sel.astype(dtype)


class Null(eqx.Module):
    """Null policy: no biactive coordinate selected (Sparse-HO, Remark 3)."""

    def __call__(self, codes, z, solve):
        sigma = inactive_selector(codes, z.dtype)
        return sigma, solve(sigma)


class SignConsistent(eqx.Module):
    """Sign-consistent selection (Definition 2): on exit ``sigma_i q_i > 0`` on selected ``B``."""

    def __call__(self, codes, z, solve):
        seed = ((codes == B_PLUS) & (z < 0)) | ((codes == B_MINUS) & (z > 0))
        sigma = selector(codes, seed, z.dtype)
        biactive = is_biactive(codes)

        def contradicted(sigma, q):
            return biactive & (sigma != 0) & (sigma * q <= 0)

        def body(state):  # one solve site: the adjoint solver is traced (compiled) once
            sigma, _, drop, _ = state
            sigma = jnp.where(drop, 0, sigma)
            q = solve(sigma)
            return sigma, q, contradicted(sigma, q), False

        state = (sigma, jnp.zeros_like(z), jnp.zeros_like(biactive), True)
        sigma, q, _, _ = jax.lax.while_loop(lambda s: s[3] | jnp.any(s[2]), body, state)
        return sigma, q


_POLICIES = {"null": Null, "sc": SignConsistent}


def resolve_policy(policy) -> Policy:
    if isinstance(policy, str):
        try:
            return _POLICIES[policy]()
        except KeyError:
            raise ValueError(f"unknown policy {policy!r}; use one of {sorted(_POLICIES)} or a Policy object") from None
    if callable(policy):
        return policy
    raise TypeError(f"policy must be 'sc', 'null' or a callable Policy, got {type(policy).__name__}")


def full_system_element(hess, z, grad_x_L, sigma, gamma, dpsi):
    """Test oracle, eqs. (23)-(24): ``[I - D^2 + gamma hess F D^2] q = -z``,
    ``h = grad_x L + gamma JPsi D q``, with the dense ``p x p`` Hessian ``hess``."""
    d2 = sigma**2
    M = jnp.diag(1.0 - d2) + gamma * hess * d2[None, :]
    q = jnp.linalg.solve(M, -z)
    return grad_x_L + gamma * dpsi * sigma * q


def xi_upsilon_element(hess, z, grad_x_L, sigma, dpsi):
    """Test oracle, AIP slides' Algorithm 1: ``eta = grad_x L - Xi Upsilon^{-1} grad_y L`` with
    ``Xi = JPsi D`` and ``Upsilon = D^2 hess F D^2 + (I - D^2)`` (symmetric, gamma-free)."""
    d2 = sigma**2
    upsilon = hess * jnp.outer(d2, d2) + jnp.diag(1.0 - d2)
    return grad_x_L - dpsi * sigma * jnp.linalg.solve(upsilon, z)
