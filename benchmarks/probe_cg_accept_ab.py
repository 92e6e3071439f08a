"""A stalled CG iterate kept as backward stable (session 24) against the Cholesky rerun (before), on AR(1)
designs whose all-p CG (p > direct_max()) stalls. fbjax keeps such an iterate only where the candidate set is
past direct_max(), where the rerun cannot take over (before: an error); elsewhere it reruns, as before.
"before" patches ``fbjax.adjoint.backward_stable`` to reject every iterate, which is the earlier code's path
(rerun the policy with Cholesky on the candidate set). Both
programs alternate in one process; medians of REPEATS warm calls of ``jax.grad`` of the validation MSE
through ``fbjax.argmin`` (forward included), and each one's relative error against the full p x p system.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cg_accept_ab.py RHO P N ALPHA L2 REPEATS [restart]
    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_cg_accept_ab.py 0.99 600 400 0.001 1e-6 7

With ``restart`` (session 26), "before" is instead one CG run of ``10 k`` steps past direct_max() (``one_run``
below, the code of sessions 24-25) against "now", ``fbjax.adjoint.restarted_cg``: up to 5 runs of ``2 k`` steps.
"""

import sys
import time

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import adjoint, coderivative  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402

rho, p, n, alpha, l2, repeats = (float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]),
                                 float(sys.argv[5]), int(sys.argv[6]))
restart = sys.argv[7:] == ["restart"]
A, b, A_val, b_val = ar1_regression(0, n, p, rho)
F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
x = jnp.full(p, np.log(alpha))
y0 = fbjax.solve(F, x).y
keep = adjoint.backward_stable
stalls = []  # (accepted,) per stalled CG solve past direct_max(), recorded at run time


def counted(mv, b, q, tol):
    ok = keep(mv, b, q, tol)
    jax.debug.callback(lambda ok: stalls.append(bool(ok)), ok)
    return ok


def one_run(op, b, cg, restarts):  # restarted_cg's signature; sessions 24-25: one run of restarts * max_steps
    return adjoint._cg(op, b, lx.CG(rtol=cg.rtol, atol=cg.atol, max_steps=restarts * cg.max_steps))


restarted = adjoint.restarted_cg


def program(accept):
    if restart:  # accept: restarted (now); else one long run (before); both keep a backward-stable iterate
        adjoint.backward_stable, adjoint.restarted_cg = counted, (restarted if accept else one_run)
    else:
        adjoint.backward_stable = counted if accept else (lambda *a: jnp.asarray(False))
    stalls.clear()
    jax.clear_caches()  # argmin's backward is a cached jit: trace it again, with this patch
    try:  # traced now, with the patch in place
        t = time.perf_counter()  # compiled ahead of time: immune to the next program's clear_caches
        f = jax.jit(jax.grad(lambda x, y0: jnp.mean((A_val @ fbjax.argmin(F, x, y0=y0) - b_val) ** 2)))
        f = f.lower(x, y0).compile()
        compile_s = time.perf_counter() - t
        h = jax.block_until_ready(f(x, y0))
        return f, h, compile_s
    finally:
        adjoint.backward_stable, adjoint.restarted_cg = keep, restarted


gamma = fbjax.solvers.default_gamma(F)
codes = fbjax.partition(*fbjax.forward_map(F, x, y0, gamma))
z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(y0)
sigma, _ = adjoint.reduced_adjoint(coderivative.SignConsistent(), F, y0, z, codes, gamma)
hess = jnp.asarray(A.T @ A / n + l2 * np.eye(p))
want = coderivative.full_system_element(hess, z, jnp.zeros_like(z), sigma, gamma, jnp.exp(x))
S = np.flatnonzero(np.asarray(sigma))
H_S = np.asarray(hess)[np.ix_(S, S)]
q_S = np.linalg.solve(float(gamma) * H_S, -np.asarray(z)[S])  # the selected block, solved directly (LAPACK)
direct = np.zeros(p)
direct[S] = float(gamma) * np.exp(np.asarray(x))[S] * np.asarray(sigma)[S] * q_S
print(f"rho {rho}, p {p}, n {n}, alpha {alpha}, l2 {l2}: {int(jnp.sum(codes != fbjax.fb.A_))} candidates, "
      f"|S| {len(S)}, cond [hess F]_SS {np.linalg.cond(H_S):.1e}, direct_max {adjoint.direct_max()}; the block "
      f"solved directly: {np.max(np.abs(direct - np.asarray(want))) / np.max(np.abs(np.asarray(want))):.1e} "
      "relative error against the full system")
runs, hs = {}, []
names = ("restarted CG (now)", "one run of 10 k steps (before)") if restart else (
    "kept as backward stable (now)", "Cholesky rerun (before)")
for name, accept in zip(names, (True, False)):
    try:
        f, h, first = program(accept)
    except Exception as e:  # noqa: BLE001
        print(f"{name}: raised {next((l for l in str(e).splitlines() if 'fbjax:' in l), str(e)[:200])[:160]}")
        continue
    if accept or restart:
        print(f"{name}: CG solves (k > direct_max()) that stalled in one call: {len(stalls)}; passed backward_stable: "
              f"{sum(stalls)} (kept only where the candidate set is past direct_max())")
    runs[name] = (f, [])
    hs.append(h)
    print(f"{name}: compile {first:.2f} s, relative error against the full system "
          f"{float(jnp.max(jnp.abs(h - want)) / jnp.max(jnp.abs(want))):.1e}")
if len(hs) == 2:
    print(f"the two hypergradients differ by "
          f"{float(jnp.max(jnp.abs(hs[0] - hs[1])) / jnp.max(jnp.abs(hs[1]))):.1e} (relative)")
for _ in range(repeats):
    for name, (f, times) in runs.items():
        t = time.perf_counter()
        jax.block_until_ready(f(x, y0))
        times.append(time.perf_counter() - t)
for name, (_, times) in runs.items():
    print(f"{name}: median {np.median(times):.3f} s over {repeats} (forward from the solution included)")
