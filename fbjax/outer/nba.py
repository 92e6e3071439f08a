"""NBA (Algorithm 2): the projected normalized subgradient method."""

from __future__ import annotations

import jax.numpy as jnp

from fbjax._checks import check_positive
from fbjax.outer._common import OuterResult
from fbjax.outer._loop import first_order_loop


def nba(
    fun, x0, *, max_iter: int = 50, step: float = 0.1, tol: float = 1e-8, lower=None, upper=None, aux0=None,
    record_x: bool = False,
) -> OuterResult:  # fmt: skip
    """Algorithm 2: ``x_{k+1} = P_X(x_k - eta h_k / ||h_k||)``, stopping when ``||h_k|| < tol``.

    Args:
      fun: the oracle ``x -> (Phi(x), h)`` (e.g. ``jax.value_and_grad(phi)``), or with ``aux0``
        ``(x, aux) -> ((Phi(x), aux), h)`` (warm starts; see :mod:`fbjax.outer`).
      x0: the starting hyperparameters, projected onto ``X`` first.
      max_iter: ``K``, the number of oracle calls at most.
      step: the outer step ``eta > 0`` (the paper's code: 0.1); a number, or a scalar array (may be traced).
      lower, upper: the box ``X`` (scalars or arrays like ``x0``; None = unbounded).
      record_x: also return every iterate in ``result.xs``.

    Returns an :class:`~fbjax.outer.OuterResult`; ``result.x`` is Algorithm 2's return.
    """
    (step,) = check_positive(step=step)

    def update(x, value, h, k, state, value_fn):
        eta = jnp.asarray(step, x.dtype)  # a float64 step keeps a float32 run in float32
        return -eta * h / jnp.linalg.norm(h), eta, state

    return first_order_loop(
        fun, x0, update, (), max_iter=max_iter, tol=tol, lower=lower, upper=upper, aux0=aux0, record_x=record_x,
        name="fbjax.nba",
    )  # fmt: skip
