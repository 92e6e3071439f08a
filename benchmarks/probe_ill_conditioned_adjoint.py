"""The hypergradient on an ill-conditioned working set: an AR(1)-correlated design with a small ridge.

Usage (rho, p, n, the uniform penalty alpha, the ridge l2):
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_ill_conditioned_adjoint.py 0.99 600 400 0.001 1e-6

Prints the support, the condition number of ``[hess F]_{S,S}``, then ``jax.grad`` of the validation MSE
through ``fbjax.argmin`` with ``adjoint="auto"``, ``"cg"`` and ``"dense"`` (or the error each raised), and
the relative error of the first against the full p x p system of eqs. (23)-(24) with the same selector.
Before session 22 every route on XLA:CPU raised lineax's "maximum number of solver steps" error on the
designs of benchmarks/RESULTS.md ("The adjoint's CG on ill-conditioned working sets").
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import coderivative  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402

rho, p, n, alpha, l2 = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
A, b, A_val, b_val = ar1_regression(0, n, p, rho)
F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
x = jnp.full(p, np.log(alpha))
t0 = time.perf_counter()
sol = fbjax.solve(F, x)
S = np.flatnonzero(np.asarray(sol.y))
H = A[:, S].T @ A[:, S] / n + l2 * np.eye(len(S))
print(f"support {len(S)}, cond [hess F]_SS {np.linalg.cond(H):.3g}, lower level converged {bool(sol.converged)} "
      f"in {time.perf_counter() - t0:.1f} s (compile included)")  # fmt: skip


def phi(x, **kw):
    return jnp.mean((A_val @ fbjax.argmin(F, x, **kw) - b_val) ** 2)


grads = {}
for kw in ({}, {"adjoint": "cg"}, {"adjoint": "dense"}):
    try:
        grads[kw.get("adjoint", "auto")] = g = jax.grad(lambda x: phi(x, **kw))(x)
        print(kw, "||h||", float(jnp.linalg.norm(g)))
    except Exception as e:  # noqa: BLE001 (a probe: report what each route raised)
        msg = str(e)
        i = msg.find("RuntimeError:")
        print(kw, "raised:", msg[i : i + 160].replace("\n", " "))
if grads:
    gamma = fbjax.solvers.default_gamma(F)
    z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(sol.y)
    hess = jnp.asarray(A.T @ A / n + l2 * np.eye(p))
    for name, g in grads.items():  # the selector of the same route
        _, sigma, _ = fbjax.adjoint_selection(F, x, sol.y, z, gamma, adjoint=name)
        want = coderivative.full_system_element(hess, z, jnp.zeros(p), sigma, gamma, jnp.exp(x))
        print(name, "relative error against the full system:", float(jnp.linalg.norm(g - want) / jnp.linalg.norm(want)))
