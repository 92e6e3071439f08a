"""Backward time of ``adjoint="auto"`` against the largest Cholesky bucket (``adjoint.cholesky_max()``).

Usage:
    python benchmarks/bench_cholesky_max.py [--repeats 10] [--sizes 3000 10000] [--cmax 128 256 512 1024 2048]

For each ``p`` (the random problems of ``bench_hypergradient.py``) and each value of it, the
backward (partition, SC policy, reduced adjoint) is jitted afresh; the time is the median over
``--repeats`` calls after a warm-up, compile time apart. The forward (FISTA) of the same run is the peer.
The hypergradients of every setting are checked equal to the first one's (to 1e-8 relative).
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import adjoint  # noqa: E402

from bench_hypergradient import random_problem, timed  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--sizes", type=int, nargs="+", default=[3000, 10000])
    ap.add_argument("--cmax", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    args = ap.parse_args()
    print(json.dumps({"backend": jax.default_backend(), "devices": [str(d) for d in jax.devices()], "jax": jax.__version__}))
    for p in args.sizes:
        F, x, A_val, b_val = random_problem(p)
        fwd = jax.jit(lambda F, x: fbjax.solve(F, x, solver="fista"))
        t_fwd, _ = timed(fwd, F, x, repeats=args.repeats)
        sol = fwd(F, x)
        gamma = fbjax.solvers.default_gamma(F)
        z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(sol.y)
        ref = None
        for cmax in args.cmax:
            adjoint.CHOLESKY_MAX_CPU = adjoint.CHOLESKY_MAX_GPU = cmax
            jax.clear_caches()  # inner jitted functions were traced with the old value
            bwd = jax.jit(lambda F, x, y, z, g: fbjax.solution_vjp(F, x, y, z, gamma, grad=g)[1])
            t, comp = timed(bwd, F, x, sol.y, z, sol.grad, repeats=args.repeats)
            h = np.asarray(bwd(F, x, sol.y, z, sol.grad))
            ref = h if ref is None else ref
            err = float(np.linalg.norm(h - ref) / np.linalg.norm(ref))
            print(json.dumps({"p": p, "cholesky_max": cmax, "buckets": adjoint.buckets_for(p), "bwd_s": t,
                              "compile_s": comp, "fwd_fista_s": t_fwd, "bwd_over_fwd": t / t_fwd, "rel_diff": err}),
                  flush=True)  # fmt: skip
            assert err < 1e-8, err


if __name__ == "__main__":
    main()
