"""Scalar hyperparameter tuning by validation grid search (the paper's "scalar l1 / elastic net")."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fbjax import _checks, _errors
from fbjax._batching import batch_map


def log_grid(alpha_max, num: int = 100, lo: float = 1e-3, hi: float = 0.9):
    """``num`` log-spaced penalties in ``[lo, hi] * alpha_max``, largest first (the paper's code), in
    ``alpha_max``'s dtype (a float32 problem keeps a float32 grid when float64 is enabled). Raises unless
    ``num >= 1``, ``0 < lo < hi`` and ``alpha_max`` is finite and ``> 0`` (checked in the program where traced)."""
    _checks.check_count(num=num)
    alpha_max = jnp.asarray(alpha_max)
    bad = ~((0 < lo) & (lo < hi) & (alpha_max > 0) & jnp.isfinite(alpha_max))
    alpha_max = _errors.error_if(alpha_max, bad, "log_grid needs 0 < lo < hi and a finite alpha_max > 0")
    return alpha_max * jnp.geomspace(hi, lo, num, dtype=alpha_max.dtype)


def scalar_penalties(alphas, p: int):
    """Rows ``log(alpha_j) * ones(p)``: a scalar penalty as a feature-wise hyperparameter (``alpha_j > 0``)."""
    _checks.check_count(p=p)
    alphas = jnp.asarray(alphas)
    return jnp.log(alphas)[:, None] * jnp.ones((1, p), alphas.dtype)


def grid_method(method: str = "auto") -> str:
    """:func:`grid_search`'s ``method``, with ``"auto"`` resolved by backend: ``"path"`` on the CPU, else ``"vmap"``."""
    return ("path" if jax.default_backend() == "cpu" else "vmap") if method == "auto" else method


def grid_search(fn, xs, y0, method: str = "auto"):
    """Evaluate ``fn(x, y_start) -> (value, y)`` at every row of ``xs`` in one compiled program.

    ``"path"`` walks the grid in order with warm starts (``lax.scan``; the CPU choice, as
    scikit-learn's regularisation paths), ``"vmap"`` evaluates all rows at once from ``y0`` (the
    GPU choice), ``"map"`` one after another from ``y0``; ``"auto"``: path on CPU, vmap otherwise.
    The result does not depend on the method (each point is solved to tolerance).

    Returns ``(best_index, values)``; non-finite values never win; ties go to the first row.
    """
    method = grid_method(method)
    if method == "path":
        _, values = jax.lax.scan(lambda y, x: (lambda v, y_: (y_, v))(*fn(x, y)), y0, xs)
    elif method in ("vmap", "map"):
        # on one device: the argmin below reduces over the grid, and across devices that is a collective,
        # where a check failing in one share would stall the others (see batch_map)
        values, _ = batch_map(lambda x: fn(x, y0), xs, method, shard=False)
    else:
        raise ValueError(f"method must be 'auto', 'path', 'vmap' or 'map', got {method!r}")
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    return jnp.argmin(values), values


def best_scalar_penalty(solve, val, alpha_max, p: int, num: int = 100, lo: float = 1e-3, hi: float = 0.9):
    """The paper's scalar baseline: ``x = log(alpha) * ones(p)`` for every ``alpha`` of :func:`log_grid`,
    solved by ``solve(x, y_start) -> y`` and scored by ``val(y)`` in one :func:`grid_search`.
    Returns ``(the best row x, the validation losses over the grid)``."""
    xs = scalar_penalties(log_grid(alpha_max, num, lo, hi), p)

    def fn(x, y0):
        y = solve(x, y0)
        return val(y), y

    best, values = grid_search(fn, xs, jnp.zeros(p, xs.dtype))
    return xs[best], values
