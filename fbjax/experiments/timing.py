"""``fbjax bench``: the forward (lower-level solve) and backward (hypergradient) time of ``fbjax.argmin``
on this machine, on the random weighted-lasso problems of ``benchmarks/bench_hypergradient.py``.

Forward: ``fbjax.solve`` from ``y0 = 0`` to ``||R_gamma||_inf <= tol`` (the solver ``fbjax.argmin``
picks). Backward: ``fbjax.solution_vjp`` at the solution (partition, SC policy, reduced adjoint, Alg. 1)
for the validation-MSE cotangent, reusing the forward's ``grad F(y)`` as ``fbjax.argmin`` does. Also
``jax.value_and_grad`` of the validation loss through ``fbjax.argmin``, the call a user makes. Each is
jitted; the median over ``repeats`` calls after one warm-up, and the warm-up's extra time (compile).
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np


def random_problem(p: int, seed: int = 0):
    """``n = 2p/3`` Gaussian design, 5% support with +-1 coefficients, penalties ~0.5 (support ~5%):
    ``(F, x, A_val, b_val)``."""
    import fbjax

    rng = np.random.default_rng(seed)
    n = 2 * p // 3
    A = rng.standard_normal((n, p))
    beta = np.zeros(p)
    S = rng.choice(p, p // 20, replace=False)
    beta[S] = rng.choice([-1.0, 1.0], S.size)
    b = A @ beta + 0.1 * rng.standard_normal(n)
    A_val = rng.standard_normal((n // 3, p))
    b_val = A_val @ beta + 0.1 * rng.standard_normal(n // 3)
    x = np.log(0.5 * np.exp(rng.uniform(-0.2, 0.2, p)))
    return fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / n), jnp.asarray(x), jnp.asarray(A_val), jnp.asarray(b_val)


def median_seconds(fn, *args, repeats: int) -> float:
    """The median wall time of ``repeats`` calls ``fn(*args)``, each waited for (no warm-up here)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed(fn, *args, repeats: int):
    """``(median seconds over repeats, compile seconds)``: one warm-up call, then ``repeats`` timed calls;
    compile = the warm-up's time minus the median."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    med = median_seconds(fn, *args, repeats=repeats)
    return med, max(first - med, 0.0)


def forward_backward(p: int, repeats: int = 5, seed: int = 0) -> dict:
    """Time the forward, the backward and ``value_and_grad`` through ``fbjax.argmin`` at size ``p``."""
    import fbjax

    F, x, A_val, b_val = random_problem(p, seed)
    gamma = fbjax.solvers.default_gamma(F)

    def val(y):
        return jnp.mean((A_val @ y - b_val) ** 2)

    fwd = jax.jit(lambda F, x: fbjax.solve(F, x))
    row = {"n": F.n_samples, "p": p, "backend": jax.default_backend(), "device": str(jax.devices()[0])}
    row["fwd_s"], row["fwd_compile_s"] = timed(fwd, F, x, repeats=repeats)
    sol = fwd(F, x)
    if not bool(sol.converged):
        raise RuntimeError(f"fbjax bench: the lower level did not converge at p = {p} (residual {float(sol.residual):.3g})")
    z = jax.grad(val)(sol.y)
    bwd = jax.jit(lambda F, x, y, z, g: fbjax.solution_vjp(F, x, y, z, gamma, grad=g)[1])
    row["bwd_s"], row["bwd_compile_s"] = timed(bwd, F, x, sol.y, z, sol.grad, repeats=repeats)
    grad = jax.jit(jax.value_and_grad(lambda x, F: val(fbjax.argmin(F, x))))
    row["grad_s"], row["grad_compile_s"] = timed(grad, x, F, repeats=repeats)
    _, sigma, _ = fbjax.adjoint_selection(F, x, sol.y, z, gamma, grad=sol.grad)
    row.update(
        fwd_iters=int(sol.num_iter), fwd_residual=float(sol.residual), support=int(jnp.sum(sol.y != 0)),
        working_set=int(jnp.sum(sigma != 0)), bwd_over_fwd=row["bwd_s"] / row["fwd_s"],
    )  # fmt: skip
    return row


def table(rows) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| n | p | support / working set | forward (s) | backward (s) | backward / forward | value_and_grad (s) | compile: fwd / bwd / value_and_grad (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['p']} | {r['support']} / {r['working_set']} | {r['fwd_s']:.4f} | {r['bwd_s']:.4f} | "
            f"{r['bwd_over_fwd']:.3f} | {r['grad_s']:.4f} | {r['fwd_compile_s']:.1f} / {r['bwd_compile_s']:.1f} / "
            f"{r['grad_compile_s']:.1f} |"
        )  # fmt: skip
    return "\n".join(lines)
