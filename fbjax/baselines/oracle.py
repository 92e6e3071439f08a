"""One oracle interface for every hypergradient method: ``fun(x) -> (Phi(x), h)``.

Every baseline in :mod:`fbjax.baselines` exposes a *solution map* ``x -> y(x)`` (exact, unrolled,
smoothed or Bregman-dual); :func:`hypergradient` turns it and an upper level ``L(x, y)`` into the
oracle that :func:`fbjax.nba`, :func:`fbjax.ntrba` and :func:`fbjax.optax_solve` consume:

    Phi(x) = L(x, y(x)),   h = d Phi / dx   by reverse mode (RMD) or forward mode (FMD).

``mode="forward"`` pushes the ``p`` tangents ``e_1 .. e_p`` through the solution map (Jacobian
propagation, Franceschi et al. 2017; Sparse-HO's "forward"): memory ``O(p^2)`` independent of the
number of unrolled steps, time ``p`` times a JVP. ``mode="reverse"`` stores the trajectory:
memory grows linearly in the number of unrolled steps, time is a small multiple of one solve.
``fbjax.argmin`` (custom VJP) supports reverse mode only.
"""

from __future__ import annotations

from typing import Callable

import jax

MODES = ("reverse", "forward")


def hypergradient(solution: Callable, upper: Callable, mode: str = "reverse"):
    """The oracle ``x -> (L(x, y(x)), h)`` for a solution map ``y`` and upper level ``L(x, y)``.

    Works under ``jax.jit`` and ``jax.vmap`` whenever ``solution`` does.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")

    def phi(x):
        return upper(x, solution(x))

    if mode == "reverse":
        return jax.value_and_grad(phi)

    def forward(x):
        try:
            h, value = jax.jacfwd(lambda x_: (lambda v: (v, v))(phi(x_)), has_aux=True)(x)
        except TypeError as e:
            if "custom_vjp" not in str(e):
                raise
            raise TypeError(
                "hypergradient(mode='forward'): the solution map has a reverse-mode rule only (fbjax.argmin is a "
                "jax.custom_vjp); use mode='reverse'"
            ) from e
        return value, h

    return forward
