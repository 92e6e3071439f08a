"""Second derivatives of Phi through fbjax.argmin, forward over reverse (``jax.hessian``, ``jax.jvp`` of ``jax.grad``).

1. Accuracy against the closed form on the fixed support (least squares, a non-degenerate point: the instance of
   ``tests/test_hypergradient.py::test_hessian_by_forward_over_reverse_matches_the_support_formula``), for each
   adjoint method and two lower-level tolerances: ``H_SS = J^T G J - diag(e^{x_S} s (K^-1 w_S))``.
2. The calibrated (0.95, 100, 150) design, seed 0, at ``x0 - 0.3`` (off its biactive point), the default tolerance:
   compile and run times of ``jax.grad``, one Hessian-vector product ``jax.jvp(jax.grad(phi), (x,), (v,))`` and
   ``jax.hessian`` (medians of 5 after the first call), and their accuracy against the closed form.
3. The same design at its calibrated ``x0``, where coordinates are biactive: finite, and how far from symmetric.
4. float32 on the instance of 1.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_hessian.py
"""

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import fbjax  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from test_hypergradient import TOL, nondegenerate, support_hessian, upper  # noqa: E402


def timed(f, *args, repeats=5):
    t = time.perf_counter()
    jax.block_until_ready(f(*args))
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        runs.append(time.perf_counter() - t)
    return first, float(np.median(runs))


def main():
    F, x, A_val, b_val = nondegenerate("ls", False)
    L = upper("ls", A_val, b_val)
    want, k = support_hessian(F, x, A_val, b_val)
    print(f"1. random least squares, p = {x.shape[0]}, |S| = {k}: max |H - closed form| / max |closed form|")
    for adjoint in ("auto", "dense", "cg"):
        for tol in (TOL, 1e-10):
            phi = lambda x: L(fbjax.argmin(F, x, tol=tol, max_iter=100_000, adjoint=adjoint))  # noqa: E731
            H = np.asarray(jax.jit(jax.hessian(phi))(x))
            print(f"   adjoint={adjoint!r:8} tol={tol:.0e}: {np.max(np.abs(H - want)) / np.max(np.abs(want)):.1e}")

    d = calibrated_degenerate(0, 100, 150, 0.95)
    F = fbjax.LeastSquares(d.A_train, d.b_train, l2=d.l2)
    phi = lambda x: 0.5 * jnp.mean((d.A_val @ fbjax.argmin(F, x) - d.b_val) ** 2)  # noqa: E731
    x = jnp.asarray(d.x0) - 0.3
    want, k = support_hessian(F, x, d.A_val, d.b_val)
    v = jnp.ones_like(x)
    programs = {  # fresh programs: the first call compiles
        "jax.grad": (jax.jit(jax.grad(phi)), (x,)),
        "one H v (jax.jvp of jax.grad)": (jax.jit(lambda x, v: jax.jvp(jax.grad(phi), (x,), (v,))[1]), (x, v)),
        "jax.hessian": (jax.jit(jax.hessian(phi)), (x,)),
    }
    print(f"2. calibrated (0.95, 100, 150), x0 - 0.3, |S| = {k}, default tol (1e-10), adjoint 'auto':")
    for name, (f, args) in programs.items():
        first, med = timed(f, *args)
        print(f"   {name}: first call {first:.2f} s (compile), then {1e3 * med:.1f} ms (median of 5)")
    H = np.asarray(programs["jax.hessian"][0](x))
    Hv = np.asarray(programs["one H v (jax.jvp of jax.grad)"][0](x, v))
    print(f"   max |H - closed form| / max |closed form|: {np.max(np.abs(H - want)) / np.max(np.abs(want)):.1e}")
    print(f"   max |H v - closed form v| / max |closed form v|: {np.max(np.abs(Hv - want @ np.asarray(v))) / np.max(np.abs(want @ np.asarray(v))):.1e}")

    print("3. the same design at the calibrated x0 (biactive coordinates: no Hessian there), per policy:")
    for policy in ("sc", "null"):
        H = jax.jit(jax.hessian(lambda x: phi_policy(F, d, x, policy)))(jnp.asarray(d.x0))
        print(f"   {policy}: finite {bool(jnp.all(jnp.isfinite(H)))}, max |H - H^T| = {float(jnp.max(jnp.abs(H - H.T))):.1e}")

    F, x, A_val, b_val = nondegenerate("ls", False)
    want, _ = support_hessian(F, x, A_val, b_val)
    F32 = fbjax.LeastSquares(jnp.asarray(F.A, jnp.float32), jnp.asarray(F.b, jnp.float32), l2=F.l2)
    L = upper("ls", jnp.asarray(A_val, jnp.float32), jnp.asarray(b_val, jnp.float32))
    H = jax.hessian(lambda x: L(fbjax.argmin(F32, x, tol=1e-5)))(x.astype(jnp.float32))
    print(f"4. float32, the instance of 1., tol 1e-5: {H.dtype}, max |H - closed form| / max: "
          f"{np.max(np.abs(np.asarray(H, float) - want)) / np.max(np.abs(want)):.1e}")


def phi_policy(F, d, x, policy):
    return 0.5 * jnp.mean((d.A_val @ fbjax.argmin(F, x, policy=policy) - d.b_val) ** 2)


if __name__ == "__main__":
    main()
