"""Why the adjoint's CG stalls past ``direct_max()`` on the AR(1) design rho 0.95, p 1000, n 700 (session 23).

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cg_floor.py

``jax.grad`` through ``fbjax.argmin`` raises fbjax's CG error there for ``adjoint="auto"`` and ``"cg"``
(``probe_ill_conditioned_adjoint.py 0.95 1000 700 0.003 0.00142857``). This runs the sign-consistent
policy's solves with lineax's CG on the masked operator of ``fbjax.adjoint.cg_solver`` under three
stopping rules, with up to ``20 p`` steps, and prints per solve the size of the selection, whether CG
met its rule, its steps, ``max |rhs|`` and ``max |q|``:

- ``eps^0.8``: fbjax's rule, ``rtol = atol = eps^0.8`` (lineax checks ``|r_i| <= atol + rtol |b_i|`` for
  every ``i``, so components with ``b_i ~ 0`` need ``|r_i| <= 3e-13`` absolutely);
- ``1e-12``: ``rtol = atol = 1e-12``;
- ``scaled atol``: ``rtol = eps^0.8``, ``atol = eps^0.8 max |rhs|``.
"""

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax import coderivative  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402

rho, p, n, alpha, l2 = 0.95, 1000, 700, 3e-3, 1 / 700
A, b, A_val, b_val = ar1_regression(0, n, p, rho)  # the instance of probe_ill_conditioned_adjoint.py
F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
x = jnp.full(p, np.log(alpha))
y = fbjax.solve(F, x).y
gamma = fbjax.solvers.default_gamma(F)
z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y)
codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
print("candidates", int(jnp.sum(codes != fbjax.fb.A_)))
eps = float(jnp.finfo(jnp.float64).eps)

for name, (rtol, atol) in {
    "eps^0.8": (eps**0.8, lambda rhs: eps**0.8),
    "1e-12": (1e-12, lambda rhs: 1e-12),
    "scaled atol": (eps**0.8, lambda rhs: eps**0.8 * jnp.max(jnp.abs(rhs))),
}.items():
    print(f"-- {name}")

    def solve(sigma, rtol=rtol, atol=atol):
        m = (sigma != 0).astype(z.dtype)
        op = lx.FunctionLinearOperator(
            lambda v: m * gamma * F.hvp(y, m * v) + (1 - m) * v, jax.eval_shape(lambda v: v, z),
            tags=lx.positive_semidefinite_tag,
        )
        rhs = -m * z
        s = lx.linear_solve(op, rhs, lx.CG(rtol=rtol, atol=atol(rhs), max_steps=20 * p), throw=False)
        jax.debug.print(
            "selected {k}: met {ok}, steps {st}, max|rhs| {mb:.3g}, max|q| {mq:.3g}", k=jnp.sum(m).astype(int),
            ok=s.result == lx.RESULTS.successful, st=s.stats["num_steps"], mb=jnp.max(jnp.abs(rhs)),
            mq=jnp.max(jnp.abs(s.value)),
        )
        return s.value

    coderivative.SignConsistent()(codes, z, solve)
