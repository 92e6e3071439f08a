"""What the adjoint's bucket set costs in compile time and run time (the GPU's backward compiles for 8-12 s).

Usage:
    python benchmarks/probe_gpu_buckets.py --p 300 [--buckets 32,128,512,2048] [--cholesky-max 1024] [--repeats 20]

One process per variant (XLA's GPU autotuner caches per process): ``fbjax.experiments.timing.forward_backward``
(the ``fbjax bench`` row: forward, backward and ``value_and_grad`` of ``fbjax.argmin`` with their compile times)
with ``reduced_adjoint``'s bucket tuple given (``--buckets``; without it the library's default, which since
session 21 is one bucket of size ``p`` where ``p <= cholesky_max()``; an explicit tuple is used as it is,
so ``--buckets 32,64,128,256,512,1024,2048,4096`` gives the earlier default at every ``p``) and
``CHOLESKY_MAX_GPU`` / ``CHOLESKY_MAX_CPU`` replaced. Prints one JSON row with the gathered bucket sizes
``"auto"`` compiles for this ``p``. The session-21 runs are in RESULTS ("On a GPU, a third time").
"""

from __future__ import annotations

import argparse
import json

import jax

jax.config.update("jax_enable_x64", True)

from fbjax import adjoint  # noqa: E402
from fbjax.experiments import timing  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--p", type=int, default=300)
    ap.add_argument("--buckets", default=None, help="comma-separated bucket sizes (default: adjoint.BUCKETS)")
    ap.add_argument("--cholesky-max", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    buckets = None if args.buckets is None else tuple(int(k) for k in args.buckets.split(","))
    method, _, max_support = adjoint.reduced_adjoint.__defaults__
    adjoint.reduced_adjoint.__defaults__ = (method, buckets, max_support)
    if args.cholesky_max is not None:
        adjoint.CHOLESKY_MAX_CPU = adjoint.CHOLESKY_MAX_GPU = args.cholesky_max
    row = timing.forward_backward(args.p, repeats=args.repeats)
    row.update(buckets=buckets and list(buckets), cholesky_max=adjoint.cholesky_max(), sizes=list(adjoint.buckets_for(args.p, buckets)))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
