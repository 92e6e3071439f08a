"""Drive any optax optimizer with a bilevel oracle: ``x_{k+1} = P_X(x_k + updates_k)``."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from fbjax.outer._common import OuterResult
from fbjax.outer._loop import first_order_loop


def as_transformation(optimizer) -> optax.GradientTransformation:
    """``optimizer`` as an ``optax.GradientTransformation``: itself, or a wrapper's ``gradient_transformation()``
    (``optax.MultiSteps``); else a TypeError."""
    if not isinstance(optimizer, optax.GradientTransformation) and hasattr(optimizer, "gradient_transformation"):
        optimizer = optimizer.gradient_transformation()
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}")
    return optimizer


def _line_search_calls(state):
    """Oracle calls of the update's line searches: the ``num_linesearch_steps`` of optax's zoom and backtracking
    searches in ``state`` (one ``value_fn`` call each)."""
    found = optax.tree_utils.tree_get_all_with_path(state, "num_linesearch_steps")
    return sum(jnp.asarray(n, jnp.int32) for _, n in found)


def optax_solve(
    fun, x0, optimizer: optax.GradientTransformation, *, max_iter: int = 50, tol: float = 1e-8, lower=None,
    upper=None, aux0=None, record_x: bool = False,
) -> OuterResult:  # fmt: skip
    """Run ``optimizer`` (e.g. ``optax.adam(0.05)``) on the oracle ``fun`` with projection onto the box.

    Same oracle protocol, stopping test and :class:`~fbjax.outer.OuterResult` as :func:`fbjax.nba`
    (``radii`` holds ``||updates_k||``). Optimizers that take extra arguments receive the objective value
    ``value=`` (``optax.contrib.reduce_on_plateau``), ``grad=`` (the oracle's ``h``) and ``value_fn=``
    (``Phi o P_X``, one oracle call per evaluation): so line searches run, e.g. ``optax.lbfgs()``, whose zoom line
    search evaluates ``Phi`` at trial points, projected onto the box, and takes the oracle's ``h`` (0 on clipped
    coordinates) as its derivative there. ``num_evals`` counts the loop's calls and the line search's (optax's
    ``num_linesearch_steps``, one call each); ``best_x`` is the best of the loop's points (a search's trial points
    are not kept). After a stop no search runs (under ``jax.vmap`` a finished member's search still runs, uncounted,
    while others go on). Measured on calibrated degenerate instances: ``benchmarks/RESULTS.md``, "L-BFGS through
    the optax adapter".
    """
    x0 = jnp.asarray(x0)
    optimizer = optax.with_extra_args_support(as_transformation(optimizer))

    def update(x, value, h, k, state, value_fn):
        updates, state = optimizer.update(h, state, x, value=value, grad=h, value_fn=value_fn)
        updates = updates.astype(x.dtype)
        return updates, jnp.linalg.norm(updates), state

    state0 = optimizer.init(x0)
    searches = optax.tree_utils.tree_get_all_with_path(state0, "num_linesearch_steps")
    return first_order_loop(
        fun, x0, update, state0, max_iter=max_iter, tol=tol, lower=lower, upper=upper, aux0=aux0,
        record_x=record_x, name="fbjax.optax_solve", evals=_line_search_calls if searches else None,
    )  # fmt: skip
