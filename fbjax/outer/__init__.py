"""Outer solvers over any oracle ``x -> (Phi(x), h)``: NBA (Alg. 2), NTRBA (Alg. 3), optax.

All are ``lax.scan`` loops of ``max_iter`` steps returning an :class:`OuterResult` with the whole
trajectory, so a run jits and a seed sweep is one compiled program (:func:`batch_map`).
"""

from fbjax._batching import batch_map
from fbjax.outer._common import OuterResult
from fbjax.outer._loop import first_order_loop
from fbjax.outer.nba import nba
from fbjax.outer.ntrba import TrustRegion, ntrba, radius_update
from fbjax.outer.optax_adapter import optax_solve

__all__ = ["OuterResult", "TrustRegion", "batch_map", "first_order_loop", "nba", "ntrba", "optax_solve", "radius_update"]
