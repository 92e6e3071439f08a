"""Eager calls of ``fbjax.argmin`` and of ``jax.grad`` through it, under two structures (session 38):

- ``old``: the custom VJP inside one compiled program (``fbjax.implicit`` before session 38). An eager ``jax.grad``
  transposes that program into a second one, whose failed check arrives through JAX's callback text;
- ``new``: the custom VJP outside the compiled programs: the forward solve is one program (``implicit._forward``),
  the backward another (``fbjax.solution_vjp``); an eager call with nothing to differentiate calls the forward
  program directly.

The old structure is rebuilt here by patching ``fbjax.implicit``'s module globals around each call; the results of
both are checked equal to the bit. On the calibrated (0.95, 100, 150) instance, seed 0, at its x0 (jitter 1e-3).

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_eager_grad.py steady      # interleaved, medians of 80 each
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_eager_grad.py first old   # first eager grad in a fresh process
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_eager_grad.py first new
"""

import functools
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax import _errors, implicit  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402

d = calibrated_degenerate(seed=0, n=100, p=150, rho=0.95)
F = fbjax.LeastSquares(d.A_train, d.b_train, l2=d.l2)
NEW = dict(_forward=implicit._forward, _argmin=implicit._argmin)


@functools.partial(_errors.rerun_checked, jit=eqx.filter_jit)
def old_program(cfg, F, x, y0, steps):
    """The old ``implicit._argmin_jit``: the custom VJP (its forward the same solve) inside one compiled program."""
    vars(implicit).update(NEW)  # (traced once)
    F_dyn, F_static = eqx.partition(F, eqx.is_array)
    return NEW["_argmin"](cfg, F_static, F_dyn, x, y0, steps)


OLD = dict(_forward=lambda cfg, F, x, y0, steps: (old_program(cfg, F, x, y0, steps), None),
           _argmin=lambda cfg, Fs, Fd, x, y0, steps: old_program(cfg, eqx.combine(Fd, Fs), x, y0, steps))  # fmt: skip


def variant(f, names):
    def run(x):
        vars(implicit).update(names)
        try:
            return f(x)
        finally:
            vars(implicit).update(NEW)

    return run


def upper(y):
    return jnp.mean((d.A_val @ y - d.b_val) ** 2)


argmin = lambda x: fbjax.argmin(F, x)  # noqa: E731
grad = jax.grad(lambda x: upper(fbjax.argmin(F, x)))
x0 = jnp.asarray(d.x0)
print(f"jax {jax.__version__}, equinox {eqx.__version__}, {jax.default_backend()}, float64; {' '.join(sys.argv[1:])}")
if sys.argv[1] == "first":
    f = variant(grad, OLD if sys.argv[2] == "old" else NEW)
    t = time.perf_counter()
    jax.block_until_ready(f(x0))
    print(f"eager jax.grad, {sys.argv[2]}: first call {time.perf_counter() - t:.2f} s (compiles included)")
    t = time.perf_counter()
    jax.block_until_ready(f(x0 + 1e-3))
    print(f"eager jax.grad, {sys.argv[2]}: second call {1e3 * (time.perf_counter() - t):.2f} ms")
else:
    fns = {"argmin new": variant(argmin, NEW), "argmin old": variant(argmin, OLD),
           "grad new": variant(grad, NEW), "grad old": variant(grad, OLD)}  # fmt: skip
    for f in fns.values():
        jax.block_until_ready(f(x0))
    np.testing.assert_array_equal(fns["argmin new"](x0), fns["argmin old"](x0))
    np.testing.assert_array_equal(fns["grad new"](x0), fns["grad old"](x0))
    times = {k: [] for k in fns}
    for r in range(80):
        for k, f in fns.items():
            x = x0 + 1e-3 * (r % 3)
            t = time.perf_counter()
            jax.block_until_ready(f(x))
            times[k].append(time.perf_counter() - t)
    for k in fns:
        print(f"{k:11s} median {1e3 * statistics.median(times[k]):.2f} ms over 80 calls (results equal to the bit)")
