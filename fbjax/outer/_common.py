"""What the outer solvers share: the oracle protocol, the box projection, the result record.

An *oracle* is any function ``fun(x) -> (Phi(x), h)`` with ``h`` a (sub)gradient, e.g.
``jax.value_and_grad(phi)``. With ``aux0`` given, the oracle threads a state instead:
``fun(x, aux) -> ((Phi(x), aux_new), h)``, which is ``jax.value_and_grad(phi, has_aux=True)``
for ``phi(x, aux) -> (value, aux_new)``; use it to warm-start the lower level from the previous
solution (``aux = y``). The state changes the cost of a call, never its result.
"""

from __future__ import annotations

from typing import Any, Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from fbjax import _errors
from fbjax._checks import check_positive, is_count

Oracle = Callable[..., Any]


class OuterResult(eqx.Module):
    """The trajectory of an outer run; arrays of length ``max_iter`` index the iterations ``k``.

    Attributes:
      x, value: the last iterate and ``Phi`` there (for NBA/optax: the iterate after the last
        update, ``value`` is ``Phi`` at the last *evaluated* point).
      best_x, best_value: the best point among all evaluated ones (trial points included).
      values: ``Phi(x_k)``; grad_norms: ``||h_k||``; radii: the trust radius ``Delta_k`` (NTRBA)
        or the step length used (NBA, optax, Sparse-HO); accepted: whether step ``k`` was taken;
        ratios: ``ared/pred`` (NTRBA; NaN elsewhere or where no trial was evaluated).
        After a stop the entries repeat the last state.
      num_iter: iterations run before a stopping test fired (``max_iter`` if none did).
      num_evals: oracle calls (a line search's included).  aux: the oracle state returned with ``value`` (the
        last evaluated point), or None.  best_aux: the oracle state returned with ``best_value`` (e.g. the
        lower-level solution at ``best_x``), or None.
      xs: the iterates ``x_k`` (``(max_iter, p)``) when ``record_x=True``, else None.
    """

    x: Array
    value: Array
    best_x: Array
    best_value: Array
    values: Array
    grad_norms: Array
    radii: Array
    accepted: Array
    ratios: Array
    num_iter: Array
    num_evals: Array
    aux: Any = None
    xs: Array | None = None
    best_aux: Any = None


def as_oracle(fun: Oracle, stateful: bool, name: str = "oracle"):
    """Uniform ``(x, aux) -> (value, h, aux)``."""

    def pair(out, what):
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            got = f"an array of shape {out.shape}" if hasattr(out, "shape") else type(out).__name__
            raise TypeError(f"{name}: the oracle must return {what} (jax.value_and_grad(phi"
                            f"{', has_aux=True' if stateful else ''})), got {got}")
        return out

    if stateful:

        def call(x, aux):
            value_aux, h = pair(fun(x, aux), "((value, aux), h)")
            value, aux = pair(value_aux, "((value, aux), h)")
            return value, h, aux

    else:

        def call(x, aux):
            value, h = pair(fun(x), "(value, h)")
            return value, h, aux

    return call


def check_oracle(oracle, x0, aux0, name: str):
    """The oracle's output at ``x0``, traced only (``jax.eval_shape``), checked: a real scalar ``Phi``,
    ``h`` of ``x0``'s shape and the state ``aux`` of ``aux0``'s structure, shapes and dtypes (a scan
    carries it). Returns ``+inf`` in the value's dtype (the initial best value)."""
    v, h, aux = jax.eval_shape(oracle, x0, aux0)
    if jnp.shape(v) != () or not jnp.issubdtype(v.dtype, jnp.floating):
        raise TypeError(f"{name}: the oracle's value Phi(x) must be a real scalar, got {v.dtype}{list(jnp.shape(v))}")
    if jnp.shape(h) != x0.shape:
        raise TypeError(f"{name}: the oracle's subgradient must have the shape of x0 {x0.shape}, got {jnp.shape(h)}")
    want = jax.eval_shape(lambda a: a, aux0)
    if jax.tree_util.tree_structure(aux) != jax.tree_util.tree_structure(want) or any(
        (a.shape, a.dtype) != (b.shape, b.dtype) for a, b in zip(jax.tree_util.tree_leaves(aux), jax.tree_util.tree_leaves(want))
    ):
        raise TypeError(f"{name}: the oracle's state must keep the structure, shapes and dtypes of aux0: "
                        f"got {aux}, aux0 is {want}")
    return jnp.asarray(jnp.inf, v.dtype)


def tree_where(pred, on_true, on_false):
    """``jnp.where(pred, ., .)`` leaf by leaf over two pytrees of one structure (e.g. oracle states)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


NON_FINITE = "the oracle returned a non-finite value or subgradient"


def checked(value, h, where: str):
    """Raise (also under jit) on a non-finite oracle output instead of iterating on NaN."""
    bad = ~(jnp.isfinite(value) & jnp.all(jnp.isfinite(h)))
    return _errors.error_if((value, h), bad, f"{where}: {NON_FINITE}")  # on both: x_k+1 reads h only


def box(lower, upper):
    """The projection ``P_X`` onto ``X = [lower, upper]`` (either may be None: unbounded)."""

    def project(x):
        if lower is not None:
            x = jnp.maximum(x, jnp.asarray(lower, x.dtype))
        if upper is not None:
            x = jnp.minimum(x, jnp.asarray(upper, x.dtype))
        return x

    return project


def check_x0(x0, lower, upper):
    try:
        x0 = jnp.asarray(x0)
    except (TypeError, ValueError):  # a dict, or a list of arrays of different shapes (JAX: "entry not a 2- or 3-")
        raise TypeError(f"x0 must be one array of hyperparameters (stack a pytree's leaves), got {type(x0).__name__}"
                        ) from None
    # not half precision: 3 significant digits, and optimizers' constants underflow (adam's eps: x became inf)
    if not jnp.issubdtype(x0.dtype, jnp.floating) or jnp.finfo(x0.dtype).bits < 32:
        raise TypeError(f"x0 must be a floating-point array, float32 or float64, got dtype {x0.dtype}")
    for name, b in (("lower", lower), ("upper", upper)):
        if b is not None and jnp.shape(b) not in ((), x0.shape):
            raise ValueError(f"{name} must be a scalar or have the shape of x0 {x0.shape}, got {jnp.shape(b)}")
    return x0


def setup(fun, x0, max_iter, lower, upper, aux0, name, tol):
    """Validate the common arguments and the oracle's output (:func:`check_oracle`); returns
    ``(oracle, project, P_X(x0), inf, tol)`` with ``inf`` the initial best value. Bad values raise
    ValueError now, or where they are traced when the program runs."""
    x0_in = x0
    x0 = check_x0(x0, lower, upper)
    if not is_count(max_iter):
        raise ValueError(f"{name}: max_iter must be an int >= 1, got {max_iter!r}")
    (tol,) = check_positive(zero_ok=True, tol=tol)
    project = box(lower, upper)
    oracle = as_oracle(fun, aux0 is not None, name)
    inf = check_oracle(oracle, x0, aux0, name)
    x0 = refuse(project(x0), empty_box, (lower, upper), f"{name}: {EMPTY_BOX}")
    x0 = refuse(x0, lambda x, xp: ~xp.all(xp.isfinite(x)), (x0_in,), f"{name}: x0 contains NaN or inf")
    return oracle, project, x0, inf, tol


def refuse(out, bad, operands, msg: str):
    """``out``, where ``bad(*operands, xp)`` is False: tested now with NumPy (ValueError) where no operand is
    traced, else when the program runs (:func:`fbjax._errors.error_if`)."""
    if not _errors.traced(operands):
        if bad(*(None if o is None else np.asarray(o) for o in operands), np):
            raise ValueError(msg)
        return out
    return _errors.error_if(out, bad(*operands, jnp), msg)


EMPTY_BOX = "the box is empty or not a number: need lower <= upper everywhere"


def empty_box(lower, upper, xp=jnp):
    """Whether ``[lower, upper]`` is empty somewhere or has a NaN end (``xp``: ``jax.numpy``, or ``numpy``)."""
    bad = xp.asarray(False)
    for b in (lower, upper):
        if b is not None:
            bad = bad | xp.any(xp.isnan(xp.asarray(b)))
    if lower is not None and upper is not None:
        bad = bad | xp.any(xp.asarray(lower) > xp.asarray(upper))
    return bad
