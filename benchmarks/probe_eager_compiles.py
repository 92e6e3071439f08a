"""Eager calls of public functions: how many XLA programs the second call (same shapes, another point) compiles,
and its time. A loop or a jitted function called eagerly is compiled again at every call unless it is one
compiled function of its arguments.

Calibrated degenerate design (seed 0, n = 40, p = 50, rho = 0.95), least squares with l2 = 0.01; the logistic
rows on the signs of its targets. Each call runs once, then again at ``x + 0.1`` (the count and the time are of
the second call).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_eager_compiles.py
"""

import time

import jax
import jax.numpy as jnp
from jax._src.dispatch import BACKEND_COMPILE_EVENT

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.baselines import bregman_argmin, smoothed_argmin, spnbo, unrolled  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402


def main():
    d = calibrated_degenerate(0, 40, 50, 0.95)
    F = fbjax.LeastSquares(d.A_train, d.b_train, l2=1e-2)
    signs = jnp.sign(d.b_train)
    upper = lambda x, y: 0.5 * jnp.mean((d.A_val @ y - d.b_val) ** 2)  # noqa: E731
    maps = {
        "argmin": lambda x: fbjax.argmin(F, x),
        "unrolled (100 ISTA steps)": lambda x: unrolled(F, x, 100),
        "smoothed_argmin (be, 1e-3)": lambda x: smoothed_argmin(F, x, 1e-3),
        "bregman_argmin (300 steps)": lambda x: bregman_argmin(F, x, 300),
    }
    calls = {
        "LeastSquares(A, b)": lambda x: fbjax.LeastSquares(d.A_train, d.b_train + x[0]).lipschitz,
        "Logistic(A, b)": lambda x: fbjax.Logistic(d.A_train + x[0], signs).lipschitz,
        "WithIntercept(Logistic(A, b))": lambda x: fbjax.WithIntercept(fbjax.Logistic(d.A_train + x[0], signs)).lipschitz,
        "WithIntercept(...).intercept(y)": lambda x: fbjax.WithIntercept(fbjax.Logistic(d.A_train, signs)).intercept(x),
    }
    for name, sol in maps.items():
        calls[name] = sol
        calls[f"jax.grad through {name}"] = lambda x, sol=sol: jax.grad(lambda x_: upper(x_, sol(x_)))(x)
    calls["spnbo (default SPNBO(), same upper; not jitted inside)"] = lambda x: spnbo(F, upper, x).x
    count = [0]
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: count.__setitem__(0, count[0] + (event == BACKEND_COMPILE_EVENT)))
    x0 = jnp.full(50, -2.0)
    x1 = x0 + 0.1
    print("| eager call | programs compiled by the second call | second call (s) |")
    print("|---|---|---|")
    for name, call in calls.items():
        jax.block_until_ready(call(x0))
        count[0] = 0
        t = time.perf_counter()
        jax.block_until_ready(call(x1))
        print(f"| {name} | {count[0]} | {time.perf_counter() - t:.3f} |", flush=True)


if __name__ == "__main__":
    main()
