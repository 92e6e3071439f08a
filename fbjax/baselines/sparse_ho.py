"""Sparse-HO baselines (Bertrand et al. 2020): implicit differentiation restricted to the support.

The hypergradient is ``fbjax.argmin(..., policy="null")`` (exactly Sparse-HO's support-restricted
adjoint, zero on biactive coordinates); this module adds the outer rule of the original library.
"""

from __future__ import annotations

import jax.numpy as jnp

from fbjax._checks import check_count, check_positive
from fbjax.outer._common import OuterResult
from fbjax.outer._loop import first_order_loop


def sparse_ho_gd(
    fun, x0, *, max_iter: int = 50, p_grad_norm: float = 1.0, adaptive_iters: int = 20, tol: float = 0.0,
    lower=None, upper=None, aux0=None, record_x: bool = False,
) -> OuterResult:  # fmt: skip
    """The default outer loop of the ``sparse-ho`` library (``GradientDescent``), step for step:

        x_{k+1} = x_k - t_k h_k,   t_k = p_grad_norm / (||h_k|| + 1e-12)  while k < adaptive_iters
                                   and Phi never went up; otherwise t_k = t_{k-1};
        after the update at k > 0: if Phi(x_k) > Phi(x_{k-1}): t <- t / 10, and t stays frozen.

    Unlike NBA the step is not renormalised once frozen, and the library does not project
    (``lower``/``upper`` default to None; pass them to clip). ``tol = 0`` never stops early, as the
    library. ``radii`` records ``t_k ||h_k||``.
    """
    (p_grad_norm,) = check_positive(p_grad_norm=p_grad_norm)
    check_count(minimum=0, adaptive_iters=adaptive_iters)

    def update(x, value, h, k, state, value_fn):
        t, gone_up, v_prev = state
        gn = jnp.linalg.norm(h)
        t = jnp.where(((k < adaptive_iters) | jnp.isnan(t)) & ~gone_up, (p_grad_norm / (gn + 1e-12)).astype(t.dtype), t)
        d = -t * h
        up = (k > 0) & (value > v_prev)
        return d, t * gn, (jnp.where(up, t / 10, t), gone_up | up, value.astype(v_prev.dtype))

    dtype = jnp.asarray(x0).dtype
    state0 = (jnp.asarray(jnp.nan, dtype), jnp.asarray(False), jnp.asarray(jnp.inf, dtype))
    return first_order_loop(
        fun, x0, update, state0, max_iter=max_iter, tol=tol, lower=lower, upper=upper, aux0=aux0,
        record_x=record_x, name="fbjax.baselines.sparse_ho_gd",
    )  # fmt: skip
