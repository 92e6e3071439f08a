"""The weight function ``psi`` of ``G_x(y) = sum_i psi(x_i) |y_i|`` (eq. 12, Assumption 3).

``psi`` must be C^1, nonnegative, with ``psi' > 0``. Built-ins: ``"exp"`` (the paper's choice,
``x = log alpha``) and ``"softplus"``. A callable must act elementwise; its derivative is
taken by forward-mode autodiff. A program compiled for a callable is reused for the same function object (define
it once, not as a new ``lambda`` per call).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fbjax import _errors


class Weight(NamedTuple):
    """``psi`` and ``psi'`` (None: by forward-mode autodiff of ``psi``); equal for equal functions, so a cached
    program is reused."""

    psi: Callable[[jax.Array], jax.Array]
    dpsi: Callable[[jax.Array], jax.Array] | None
    name: str


_BUILTIN = {
    "exp": Weight(jnp.exp, jnp.exp, "exp"),
    "softplus": Weight(jax.nn.softplus, jax.nn.sigmoid, "softplus"),
}


def resolve(psi) -> Weight:
    """Turn ``"exp"``, ``"softplus"``, a callable or a :class:`Weight` into a :class:`Weight`."""
    if isinstance(psi, Weight):
        return psi
    if isinstance(psi, str):
        try:
            return _BUILTIN[psi]
        except KeyError:
            raise ValueError(f"unknown psi {psi!r}; use one of {sorted(_BUILTIN)} or a callable") from None
    if callable(psi):  # (a new derivative function per call made every call compile again)
        return Weight(psi, None, getattr(psi, "__name__", "callable"))
    raise TypeError(f"psi must be a string or a callable, got {type(psi).__name__}")


def weights(psi: Weight, x: jax.Array) -> jax.Array:
    """``Psi(x)``, raising if any weight is negative or non-finite."""
    w = psi.psi(x)
    if jnp.shape(w) != jnp.shape(x):
        raise ValueError(f"psi={psi.name} must act elementwise: psi(x) has shape {jnp.shape(w)} for x of shape "
                         f"{jnp.shape(x)}")  # fmt: skip
    bad = ~jnp.all(jnp.isfinite(w) & (w >= 0))
    return _errors.error_if(w, bad, f"psi={psi.name} gave a negative or non-finite weight psi(x)")


def derivative(psi: Weight, x: jax.Array) -> jax.Array:
    """``psi'(x)``, the diagonal of ``J Psi(x)``; raises unless ``psi'(x) > 0`` (Assumption 3)."""
    d = jax.jvp(psi.psi, (x,), (jnp.ones_like(x),))[1] if psi.dpsi is None else psi.dpsi(x)
    msg = f"psi={psi.name} must satisfy psi'(x) > 0 (Assumption 3)"
    if _BUILTIN.get(psi.name) == psi:  # exp, softplus: the likely cause, an outer run without a lower bound
        floor = np.log(float(jnp.finfo(x.dtype).tiny))  # (XLA flushes subnormals to 0)
        msg += (f"; psi'(x) underflows to 0 below x = {floor:.0f} in {jnp.dtype(x.dtype).name}: bound x from below "
                "(the outer solver's lower=, WeightedL1's box_lower=)")  # fmt: skip
    return _errors.error_if(d, ~jnp.all(d > 0), msg)
