import gc
import os
import subprocess
import sys


def _xla_accepts(flags: str) -> bool:
    """Whether JAX starts with ``flags`` as XLA_FLAGS (XLA aborts the process on a flag it does not know).

    Tried in a child process. A flag's name inside the jaxlib binaries is no proof: with jax 0.11.2 and its
    CUDA plugin, ``--xla_cpu_use_fusion_emitters`` is in jaxlib's code yet aborts the start, and every test
    worker died (H100, session 19)."""
    probe = "import jax; jax.numpy.zeros(1).block_until_ready()"
    child = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "XLA_FLAGS": flags}, capture_output=True)
    return child.returncode == 0


# The suite is dominated by XLA compile time (hundreds of small programs, each run a few times), so it
# compiles cheaply:
# - LLVM's optimization level 0: 10:23 -> 7:37 on 2 cores (one measurement each, same day);
# - XLA:CPU's legacy fusion emitters instead of the MLIR ones, where XLA takes the switch: on jaxlib
#   0.10.2 XLA's compile time halves, and the suite took 7:30 instead of 13:16 on 2 cores (one
#   measurement each, same day, the machine otherwise idle).
# Neither is fast-math: the demo's JSON is the same digit for digit with and without the second, and
# every tolerance is unchanged. A flag named in XLA_FLAGS is kept, so to test with
# XLA's defaults run with XLA_FLAGS="--xla_backend_optimization_level=2 --xla_cpu_use_fusion_emitters=true".
# Each flag is tried in a child process first (:func:`_xla_accepts`), and one XLA rejects is left out.
_FAST_COMPILE = {"xla_backend_optimization_level": "0", "xla_cpu_use_fusion_emitters": "false"}
# The CLI's compile cache (~/.cache/fbjax/jax by default) stays off in the suite: tests must not write to the
# user's cache, nor read programs an earlier run left there; tests/test_cli.py checks the flag itself.
os.environ.setdefault("FBJAX_COMPILE_CACHE", "none")
if "FBJAX_TESTS_XLA_FLAGS" not in os.environ:  # probed once, by the first process (xdist's workers inherit)
    _base = os.environ.get("XLA_FLAGS", "")
    _wanted = [f"--{flag}={value}" for flag, value in _FAST_COMPILE.items() if flag not in _base]
    if _wanted and not _xla_accepts(" ".join([_base, *_wanted])):
        _wanted = [w for w in _wanted if _xla_accepts(f"{_base} {w}")]
    os.environ["XLA_FLAGS"] = " ".join([_base, *_wanted]).strip()
    os.environ["FBJAX_TESTS_XLA_FLAGS"] = os.environ["XLA_FLAGS"]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
import pytest  # noqa: E402
from fbjax.fb import is_biactive  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Free every compiled program after each test module.

    On XLA:CPU each compiled program keeps about 600 memory mappings (its machine code) until it is freed,
    and a process may hold ``vm.max_map_count`` of them (65530 by default on Linux): a compile past the
    limit segfaults. One xdist worker running half the suite reached 64114 (measured with 255 tests,
    `/proc/PID/maps` sampled every 15 s), and a run crashed in a compile; ``jax.clear_caches`` with a
    garbage collection returns a process to its start (13216 -> 1229 mappings after 20 argmin gradients).
    """
    yield
    jax.clear_caches()
    gc.collect()


def compiles(run) -> int:
    """The number of XLA programs compiled while ``run()`` runs (its results awaited), from JAX's compile events."""
    from jax._src.dispatch import BACKEND_COMPILE_EVENT

    events = []

    def listener(event, duration, **kw):
        events.append(event) if event == BACKEND_COMPILE_EVENT else None

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        jax.block_until_ready(run())
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(events)


def random_problem(seed, n=30, p=20, loss="ls", sparse=False, support=0.5):
    """A random lower level with a well-spread x (about ``support`` of coordinates nonzero)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    beta = rng.standard_normal(p) * (rng.random(p) < 0.4)
    t = A @ beta + 0.1 * rng.standard_normal(n)
    b = t if loss == "ls" else np.where(t + 0.3 * rng.standard_normal(n) > 0, 1.0, -1.0)
    A_val = rng.standard_normal((n, p))
    b_val = A_val @ beta if loss == "ls" else np.sign(A_val @ beta + 1e-12)
    Aj = jnp.asarray(A)
    if sparse:
        from jax.experimental import sparse as jsparse

        Aj = jsparse.BCOO.fromdense(Aj)
    cls = fbjax.LeastSquares if loss == "ls" else fbjax.Logistic
    F = cls(Aj, jnp.asarray(b), l2=0.1)
    g0 = np.abs(np.asarray(F.grad(jnp.zeros(p))))
    x = np.log(g0 * np.exp(rng.uniform(-1.5, 0.7, p)) + 1e-3)
    return F, jnp.asarray(x), jnp.asarray(A_val), jnp.asarray(b_val)


def upper(loss, A_val, b_val):
    if loss == "ls":
        return lambda y: 0.5 * jnp.mean((A_val @ y - b_val) ** 2)
    return lambda y: jnp.mean(jnp.logaddexp(0.0, -b_val * (A_val @ y)))


def margin(F, x, y):
    """Smallest relative distance of any coordinate to the kink ``|v| = u``."""
    gamma = fbjax.solvers.default_gamma(F)
    u, v = fbjax.forward_map(F, x, y, gamma)
    return float(jnp.min(jnp.abs(jnp.abs(v) - u) / jnp.maximum(jnp.abs(v), u)))


def make_biactive(F, x, n_biactive=3, tol=1e-13):
    """Move ``n_biactive`` zero coordinates exactly onto the kink: ``psi(x_j) = |grad_j F(y)|``.

    ``y = S(x)`` stays the solution (the zero coordinates still satisfy the KKT conditions), and
    ``|v_j| = u_j`` holds exactly, so ``j`` is in ``B+`` or ``B-`` with any band.
    """
    y = fbjax.solve(F, x, tol=tol, max_iter=100_000).y
    g = F.grad(y)
    zeros = np.flatnonzero(np.asarray(y) == 0)
    pick = zeros[:n_biactive]
    x = x.at[pick].set(jnp.log(jnp.abs(g[pick])))
    y = fbjax.solve(F, x, y0=y, tol=tol, max_iter=100_000).y
    return x, y, pick


def hypergrad_parts(F, x, y, z, policy, adjoint="auto"):
    gamma = fbjax.solvers.default_gamma(F)
    return fbjax.adjoint_selection(F, x, y, z, gamma, policy=policy, adjoint=adjoint)


__all__ = ["random_problem", "upper", "margin", "make_biactive", "hypergrad_parts", "is_biactive"]
