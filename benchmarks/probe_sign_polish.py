"""A lead for the start grid on ill-conditioned designs (session 32; measured, not built): how early FISTA fixes
the signs of the solution along the grid's warm-started path, and how many iterations a Newton "polish" on the
fixed support would save.

For each of the grid's 100 penalties (``WeightedL1``'s start grid: least squares, ``l2 = 1/n``, FISTA from the
previous point, ``||R_gamma||_inf <= 1e-8``) it runs FISTA in chunks of 10 iterations and records the chunk after
which the sign pattern of ``y`` no longer changes. The polish: once the pattern has not changed for ``STABLE``
chunks, solve the least-squares optimality system on the support ``S`` with signs ``s`` exactly,
``(A_S^T A_S / n + l2 I) y_S = A_S^T b / n - alpha s``, and stop if that point keeps the signs and its FB residual
is within the tolerance (else go on, and try again after another ``STABLE`` unchanged chunks). Counted: FISTA
iterations and polish attempts; timed: a jitted 10-iteration chunk and a jitted ``|S|``-sized Cholesky solve
(the largest support's bucket, a power of two), medians of 20 calls. The total is then a model
(iterations x their cost + attempts x theirs), not a measured solver.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_sign_polish.py
"""

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402
from fbjax.baselines.grid import log_grid  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402
from fbjax.data.synthetic import ar1_regression  # noqa: E402
from fbjax.fb import residual_and_grad  # noqa: E402
from fbjax.solvers.fista import fista_step  # noqa: E402

TOL, STABLE = 1e-8, (3, 10)


def designs():
    A, b, _, _ = ar1_regression(0, 300, 600, 0.99)
    yield "AR(1) rho 0.99, 300 x 600", A, b
    d = calibrated_degenerate(0, 500, 750, 0.95)
    yield "calibrated (0.95, 500, 750), 300 x 750", d.A_train, d.b_train


def median_time(f, *args):
    jax.block_until_ready(f(*args))
    ts = []
    for _ in range(20):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    for name, A, b in designs():
        n, p = A.shape
        F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1.0 / n)
        alphas = log_grid(jnp.max(jnp.abs(F.A.T @ F.b)) / n)
        gamma = 0.99 / F.lipschitz
        G, Atb = np.asarray(F.A.T @ F.A) / n + float(F.l2) * np.eye(p), np.asarray(F.A.T @ F.b) / n

        @jax.jit
        def chunk(w, carry):
            carry = jax.lax.fori_loop(0, 10, lambda _, c: fista_step(F, w, gamma, c), carry)
            return carry, residual_and_grad(F, w, carry[0], gamma)[0]

        def polish(a, signs):
            S = np.flatnonzero(signs)
            y = np.zeros(p)
            y[S] = np.linalg.solve(G[np.ix_(S, S)], Atb[S] - a * signs[S])
            ok = np.array_equal(np.sign(y), signs)
            res = float(residual_and_grad(F, jnp.full(p, a), jnp.asarray(y), gamma)[0])
            return ok and res <= TOL, y

        y = jnp.zeros(p)
        plain, fixed, largest = 0, 0, 0
        runs = {s: [0, 0] for s in STABLE}  # iterations, attempts
        for a in np.asarray(alphas):
            w = jnp.full(p, a)
            carry, k, patterns = (y, y, jnp.ones(())), 0, []
            while True:
                carry, res = chunk(w, carry)
                k += 10
                patterns.append(np.sign(np.asarray(carry[0])))
                if res <= TOL or k > 100_000:
                    break
            final = patterns[-1]
            fixed += 10 * (1 + max((i for i, s in enumerate(patterns) if not np.array_equal(s, final)), default=-1))
            plain, y, largest = plain + k, carry[0], max(largest, int(np.count_nonzero(final)))
            for stable in STABLE:  # replay the same iterates with the polish rule
                since = 0
                for i, s in enumerate(patterns):
                    since = since + 1 if i and np.array_equal(s, patterns[i - 1]) else 0
                    if since >= stable and since % stable == 0:
                        runs[stable][1] += 1
                        if polish(a, s)[0]:
                            break
                runs[stable][0] += 10 * (i + 1)
        bucket = 1 << (largest - 1).bit_length()
        H = jnp.asarray(G[:bucket, :bucket])
        t_chunk = median_time(chunk, jnp.full(p, alphas[50]), (y, y, jnp.ones(())))
        t_solve = median_time(jax.jit(lambda H, r: jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(H), r)),
                              H, jnp.ones(bucket))
        t_gram = median_time(jax.jit(lambda A, i: (lambda C: C.T @ C)(A[:, i])), F.A, jnp.arange(bucket))
        attempt = t_solve + t_gram
        print(f"{name}: FISTA iterations over the grid {plain} ({plain * t_chunk / 10:.2f} s at "
              f"{1e6 * t_chunk / 10:.1f} us each); signs fixed after {fixed} of them ({fixed / plain:.0%})")
        print(f"  one polish attempt at the largest support's bucket {bucket}: Gram {1e3 * t_gram:.2f} ms + Cholesky "
              f"solve {1e3 * t_solve:.2f} ms")
        for stable, (its, tries) in runs.items():
            model = its * t_chunk / 10 + tries * attempt
            print(f"  polish after {stable} unchanged chunks: {its} iterations + {tries} attempts, model "
                  f"{model:.2f} s against {plain * t_chunk / 10:.2f} s ({plain * t_chunk / 10 / model:.2f}x)")


if __name__ == "__main__":
    main()
