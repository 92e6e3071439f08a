"""Eager calls of ``fbjax.argmin`` and ``jax.grad`` through it with a callable ``psi`` (the same function object each
call), and with the built-in ``"softplus"``: wall time of each of the first calls. Until session 37 every call with a
callable compiled again (``weights.resolve`` made a new derivative lambda per call, part of the static key).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_callable_psi.py          # raw output: results/callable_psi_s37.log
    PYTHONPATH=<checkout of a2841ac> OPENBLAS_NUM_THREADS=1 python benchmarks/probe_callable_psi.py   # before
"""

import time

import jax
import jax.numpy as jnp

import fbjax
from fbjax.data import calibrated_degenerate

jax.config.update("jax_enable_x64", True)


def softplus(t):
    return jax.nn.softplus(t)


if __name__ == "__main__":
    print("fbjax from", fbjax.__file__)
    d = calibrated_degenerate(0, 100, 150, 0.95)
    F = fbjax.LeastSquares(d.A_train, d.b_train, l2=d.l2)
    x = jnp.asarray(d.x0)
    for name, psi in (("callable softplus", softplus), ("'softplus'", "softplus")):
        calls = {
            "argmin": lambda x: fbjax.argmin(F, x, psi=psi),
            "jax.grad": jax.grad(lambda x: jnp.sum((d.A_val @ fbjax.argmin(F, x, psi=psi) - d.b_val) ** 2)),
        }
        for what, call in calls.items():
            times = []
            for k in range(4):
                t = time.perf_counter()
                jax.block_until_ready(call(x - 0.01 * k))
                times.append(time.perf_counter() - t)
            print(f"psi={name:18s} {what:8s} calls 1-4: " + "  ".join(f"{t:.3f}" for t in times) + " s", flush=True)
