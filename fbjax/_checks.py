"""Input validation shared by every public entry point.

Static facts (shapes, dtypes) raise ``ValueError`` at trace time; data-dependent facts
(non-finite values, a non-positive ``psi'``, a non-converged solve) go through
:func:`fbjax._errors.error_if`, which raises eagerly and inside ``jax.jit`` / ``jax.vmap`` alike,
so that fbjax never hands back a silent NaN.
"""

from __future__ import annotations

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse

from fbjax._errors import error_if


def is_sparse(A) -> bool:
    return isinstance(A, sparse.BCOO)


def check_float(name: str, a) -> None:
    dtype = a.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name} must have a floating dtype, got {dtype}")


def check_shape(name: str, a, shape: tuple) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(a.shape)}, expected {tuple(shape)}")


def finite(name: str, a):
    """Return ``a`` unchanged, raising (eagerly or under jit) if it holds NaN or inf."""
    data = a.data if is_sparse(a) else a
    return error_if(a, ~jnp.all(jnp.isfinite(data)), f"{name} contains NaN or inf")


def check_precision(name: str, dtype) -> None:
    """Refuse half precision (float16, bfloat16): the data's dtype is the one the solvers compute in."""
    if jnp.finfo(dtype).bits < 32:
        raise ValueError(f"{name} has dtype {np.dtype(dtype).name}: fbjax computes in float32 or float64 (its linear "
                         f"algebra has no half-precision kernels, and a half-precision FB residual cannot certify a "
                         f"useful tolerance); cast it, e.g. {name}.astype(np.float32)")  # fmt: skip


def as_float_array(name: str, a, dtype=None):
    """``a`` as a JAX array of a floating dtype (``dtype`` if given; integers become JAX's default float), a
    :class:`~jax.experimental.sparse.BCOO` as it is and a SciPy sparse matrix as a BCOO. Half precision is refused
    (:func:`check_precision`)."""
    if scipy.sparse.issparse(a):  # (np.asarray of one is an object array: "setting an array element ...")
        a = a if np.issubdtype(a.dtype, np.floating) else a.astype(jnp.result_type(float))
        a = sparse.BCOO.from_scipy_sparse(a if dtype is None else a.astype(dtype))
    if is_sparse(a):
        check_float(name, a.data)
        check_precision(name, a.dtype)
        return a
    if np.iscomplexobj(a):  # before the cast, which would drop the imaginary part
        raise ValueError(f"{name} must be real, got dtype {jnp.asarray(a).dtype}")
    a = jnp.asarray(a, dtype=dtype)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    check_precision(name, a.dtype)
    return a


def default_tol(dtype) -> float:
    """Default tolerance on ``||R_gamma||_inf``: tight enough for 1e-6-accurate hypergradients
    in float64, and reachable in float32."""
    return 1e-10 if jnp.finfo(dtype).bits >= 64 else 1e-4


def is_count(value, minimum: int = 1) -> bool:
    """Whether ``value`` is an int ``>= minimum`` (NumPy integers too; not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= minimum


def check_count(*, minimum: int = 1, none_ok: bool = False, **kwargs) -> None:
    """Raise ValueError naming the first value that is not an int ``>= minimum`` (:func:`is_count`; None passes
    with ``none_ok``)."""
    for name, v in kwargs.items():
        if not (is_count(v, minimum) or (none_ok and v is None)):
            raise ValueError(f"{name} must be {'None or ' * none_ok}an int >= {minimum}, got {v!r}")


def budget(tol, max_iter, dtype, bound: str = "||R_gamma||_inf") -> tuple[float, int | None]:
    """``(tol, max_iter)`` of a lower-level solve, checked (both are static): ``tol`` a finite number
    ``> 0`` (default :func:`default_tol`; a bound on ``bound``, named by the error), ``max_iter`` None (the solver's
    default) or an int ``>= 1``."""
    if tol is None:
        tol = default_tol(dtype)
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise ValueError(f"tol must be a concrete number (it is static), got {tol!r}") from None
    if not 0 < tol < float("inf"):
        raise ValueError(f"tol must be a finite number > 0 (a bound on {bound}), got {tol!r}")
    check_count(none_ok=True, max_iter=max_iter)
    return tol, None if max_iter is None else int(max_iter)


def check_positive(*, zero_ok: bool = False, **kwargs) -> list:
    """The values, each a finite number ``> 0`` (``>= 0`` with ``zero_ok``; not a bool; checked now: ValueError)
    or a real scalar array, which may be traced (checked when the program runs), so that a step or radius can be
    an argument of a jitted run without a recompile per value."""
    what = "a finite number >= 0" if zero_ok else "a positive finite number"
    out = []
    for name, v in kwargs.items():
        if isinstance(v, jax.Array) and v.ndim == 0 and jnp.issubdtype(v.dtype, jnp.floating):
            sign_ok = (v >= 0) if zero_ok else (v > 0)
            v = error_if(v, ~(sign_ok & jnp.isfinite(v)), f"{name} must be {what}")
        else:
            number = isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            if not (number and (v > 0 or (zero_ok and v == 0))):
                raise ValueError(f"{name} must be {what}, got {v!r}")
        out.append(v)
    return out
