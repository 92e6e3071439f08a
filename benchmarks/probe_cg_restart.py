"""Restarted CG against one long run on stalled adjoint blocks (session 26): ``fbjax.adjoint.restarted_cg`` with
runs of ``c k`` steps, ``c`` in {1, 2, 5} (at most 10 k steps in all), and one lineax CG run of ``10 k`` steps
(the code of sessions 24-25), on the masked system ``M q = -m z`` of two selections (the sign-consistent policy's
first round, and the inactive set) of three AR(1) designs whose CG stalls. Per solve: converged, relative error
(max norm) against the block solved by LAPACK, the true residual, backward stability, and the warm call's time.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cg_restart.py
"""

import time

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import adjoint, coderivative  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402
from fbjax.fb import B_MINUS, B_PLUS  # noqa: E402

TOL = float(np.finfo(np.float64).eps ** 0.8)


def solves(F, y, z, hess, sigma, name):
    p = z.shape[0]
    m = (sigma != 0).astype(z.dtype)
    gamma = fbjax.solvers.default_gamma(F)
    mv = lambda v: m * (gamma * F.hvp(y, m * v)) + (1 - m) * v  # noqa: E731
    op = lx.FunctionLinearOperator(mv, jax.eval_shape(lambda v: v, z), tags=lx.positive_semidefinite_tag)
    b = -m * z
    S = np.flatnonzero(np.asarray(m))
    direct = np.zeros(p)
    direct[S] = np.linalg.solve(float(gamma) * hess[np.ix_(S, S)], np.asarray(b)[S])
    cg = lambda steps: lx.CG(rtol=TOL, atol=TOL * jnp.max(jnp.abs(b)), max_steps=steps)  # noqa: E731
    runs = [(f"restarted, runs of {c} k", lambda b, c=c: adjoint.restarted_cg(op, b, cg(c * p), 10 // c))
            for c in (1, 2, 5)]
    runs.append(("one run of 10 k", lambda b: adjoint._cg(op, b, cg(10 * p))))
    for label, f in runs:
        f = jax.jit(f)
        jax.block_until_ready(f(b))
        t = time.perf_counter()
        q, ok = jax.block_until_ready(f(b))
        dt = time.perf_counter() - t
        err = float(jnp.max(jnp.abs(q - direct)) / np.max(np.abs(direct)))
        stable = bool(adjoint.backward_stable(mv, b, q, TOL))
        print(f"{name}, |S| {len(S)}: {label}: converged {bool(ok)}, rel. error {err:.1e}, ||r|| "
              f"{float(jnp.linalg.norm(b - mv(q))):.1e}, backward stable {stable}, {dt:.2f} s")


DESIGNS = ((0.99, 200, 300, 3e-3, 1e-6), (0.99, 700, 1000, 5e-4, None), (0.99, 800, 1200, 1e-3, None))
for rho, n, p, alpha, tol in DESIGNS:  # the first: tests/test_hypergradient.py's ar1_instance
    A, b, A_val, b_val = ar1_regression(0, n, p, rho)
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1e-6)
    x = jnp.full(p, np.log(alpha))
    y = fbjax.solve(F, x, tol=tol).y
    gamma = fbjax.solvers.default_gamma(F)
    codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
    z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y)
    hess = A.T @ A / n + 1e-6 * np.eye(p)
    seed = ((codes == B_PLUS) & (z < 0)) | ((codes == B_MINUS) & (z > 0))  # SignConsistent's first round
    solves(F, y, z, hess, coderivative.selector(codes, seed, z.dtype), f"p {p}, SC first round")
    solves(F, y, z, hess, coderivative.inactive_selector(codes, z.dtype), f"p {p}, inactive set")
