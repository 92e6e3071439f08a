"""Outer solvers over any oracle ``x -> (Phi(x), h)``: NBA (Alg. 2), NTRBA (Alg. 3), optax.

All are ``lax.scan`` loops of ``max_iter`` steps returning an :class:`OuterResult` with the whole
trajectory, so a run jits and a seed sweep is one compiled program (:func:`batch_map`).

An eager call traces and compiles its whole run each time (3-5 s for a bilevel run of 20 steps at p = 150 on
2 CPU cores, against 0.02 s to run it; benchmarks/probe_eager_outer.py): to run again from other starting
points, wrap the call in ``jax.jit`` with the oracle fixed (``jax.jit(lambda x0: fbjax.ntrba(fun, x0))``).
The solvers do not cache programs themselves: a cached program keeps the arrays its oracle closed over when it
was traced, so an oracle that reads a global rebound between calls (a new dataset per seed) would silently run
on the old one. An eager call traces its checks as values (``fbjax._errors.eager_checked``): a failed check
raises ``jax.errors.JaxRuntimeError`` with its message alone, and with JAX's persistent compilation cache on
(``jax_compilation_cache_dir``) the run is loaded from it after its first compile (0.4 s instead of 4 s), the
oracle's arrays being its arguments.
"""

from fbjax._batching import batch_map
from fbjax.outer._common import OuterResult
from fbjax.outer._loop import first_order_loop
from fbjax.outer.nba import nba
from fbjax.outer.ntrba import TrustRegion, ntrba, radius_update
from fbjax.outer.optax_adapter import optax_solve

__all__ = ["OuterResult", "TrustRegion", "batch_map", "first_order_loop", "nba", "ntrba", "optax_solve", "radius_update"]
