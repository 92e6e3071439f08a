"""The support-reduced adjoint solve (Algorithm 1, Phase 3; Definition 2, step ii).

For a selector ``sigma`` with working set ``S = {i : sigma_i != 0}``:

    H_S q_S = -z_S,    H_S = gamma [hess F(y)]_{S,S},    q = 0 off S.

Two paths with static shapes, so that everything jits and vmaps:

- ``"dense"`` (gathered): gather the candidate set ``K`` (all non-``A`` indices, a superset of every
  ``S`` a policy can choose) into a static bucket of size ``k`` (a power of two). For
  ``k <= cholesky_max()`` (128 on XLA:CPU, 1024 on a GPU) form ``[hess F]_{K,K}`` once and solve
  each masked system ``m m^T * H_K + diag(1 - m)`` by Cholesky; for larger buckets run CG
  on the gathered block operator (``A_K^T W A_K v / n + l2 v`` for linear models, gathered and
  applied in pages of 128 columns with the pages past ``|K|`` skipped: ``O(n |K|)`` per product,
  not ``O(n k)`` nor ``O(n k^2)``). Never ``p x p`` past ``cholesky_max()``.
- ``"cg"``: conjugate gradients (lineax) on the masked operator
  ``v -> m * gamma hvp(m * v) + (1 - m) * v`` with right-hand side ``-m * z``; matrix-free.

``"auto"`` picks the smallest bucket that holds the candidate set (a ``lax.switch`` over
:func:`buckets_for`; one bucket of size ``p`` where ``p <= cholesky_max()``) and falls back to CG
over all ``p`` when none does; under ``jax.vmap`` one bucket serves the whole batch, the one that
holds the largest candidate set (:func:`fbjax._batching.batch_switch`). CG buckets stop at ``p / 2``:
a gathered ``n x k`` block near ``n x p`` would cost as much as CG over all ``p`` and would enlarge the
program's temporary buffer past glibc's mmap threshold, so that every call pays page faults
(benchmarks/RESULTS.md).
A static ``max_support`` replaces the buckets by one gathered bucket of that size (masked CG on
all ``p`` coordinates if the candidate set overflows it).

CG gets ``k / 2`` steps (``k`` the bucket, or ``p``; ``10 k`` past ``direct_max()``); where it has not
converged by then, the policy is rerun with Cholesky solves on the candidate set gathered into one
block of ``min(p, direct_max())`` (``n k^2`` flops: at most about twice the cost of factorising at
once). An ill-conditioned ``[hess F]_{S,S}`` (correlated features, a small ridge) stalls CG above its
tolerance: condition numbers of 1e4-2e5 on supports of 130-440 did (tests/test_hypergradient.py,
benchmarks/RESULTS.md). CG on a block past ``direct_max()`` (512 on XLA:CPU, 4096 on a GPU) is restarted
from its iterate (:func:`restarted_cg`); for a candidate set past it, a stalled CG iterate is kept where it
passes a backward-stability test (:func:`backward_stable`), and one that fails it there is an error naming
the remedies.

A singular ``[hess F]_{S,S}`` (``l2 = 0`` and more selected coordinates than samples, or selected columns that
are linearly dependent) is an error: the selection larger than ``F.hess_rank_bound()``, or a non-finite ``q``
(Cholesky's pivots went negative, or one is at rounding level: :func:`singular_pivots`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import lineax as lx

from fbjax import _errors
from fbjax._batching import batch_switch, batch_when
from fbjax._checks import check_count
from fbjax.coderivative import Null, Policy
from fbjax.fb import A_, I_MINUS, I_PLUS
from fbjax.losses import SmoothLoss

BUCKETS = (32, 64, 128, 256, 512, 1024, 2048, 4096)  # read when a program is traced
CHOLESKY_MAX_CPU = 128  # XLA:CPU: past 128, forming the k x k block (n k^2 flops) costs more than CG
CHOLESKY_MAX_GPU = 1024  # GPU: CG is launch-bound (a few kernels per step); the block's GEMM and
# factorisation are a handful of launches. H100, p = 10000: 2.4 ms against 14.9 ms (benchmarks/RESULTS.md)


def cholesky_max() -> int:
    """The largest bucket solved by Cholesky on the default backend (``CHOLESKY_MAX_CPU`` on XLA:CPU,
    ``CHOLESKY_MAX_GPU`` elsewhere); larger buckets run CG on the gathered block operator."""
    return CHOLESKY_MAX_CPU if jax.default_backend() == "cpu" else CHOLESKY_MAX_GPU


def masked_cg(matvec, m, rhs, keep_stalled=False):
    """Solve ``M v = b`` with ``M v = m * matvec(m * v) + (1 - m) * v`` and ``b = m * rhs`` by CG (lineax);
    ``m`` in {0, 1}.

    Returns NaN where CG did not reach its tolerance or broke down: a marker that :func:`reduced_adjoint`
    replaces by an exact solve. The tolerance is relative, ``|r_i| <= tol (max_j |b_j| + |b_i|)`` with
    ``tol = eps^0.8``, so that a small right-hand side (a validation loss near 0) is solved as accurately
    as a large one. CG gets ``k / 2`` steps (``k = len(rhs)``), about the cost of that solve, where
    ``k <= direct_max()``; past it, :func:`restarted_cg` with up to ``RESTARTS`` runs of ``2 k`` steps.

    ``keep_stalled`` (a bool, may be traced): also accept a stalled iterate that passes :func:`backward_stable`.
    :func:`reduced_adjoint` sets it where the candidate set is past ``direct_max()``, so that the exact rerun
    cannot take over; elsewhere the rerun is faster (each policy round would stall again) and more accurate
    (``benchmarks/RESULTS.md``)."""
    eps = jnp.finfo(rhs.dtype).eps
    struct = jax.eval_shape(lambda v: v, rhs)  # keeps a sharding (under shard_map), as the operator's output has
    op = lx.FunctionLinearOperator(lambda v: m * matvec(m * v) + (1 - m) * v, struct, tags=lx.positive_semidefinite_tag)
    tol = float(eps**0.8)
    k = rhs.shape[0]
    b = m * rhs
    cg = lx.CG(rtol=tol, atol=tol * jnp.max(jnp.abs(b)), max_steps=max(k // 2, 1) if k <= direct_max() else 2 * k)
    if k <= direct_max():  # a stall is finished by the exact rerun
        q, ok = _cg(op, b, cg)
        return jnp.where(ok, q, jnp.nan)
    q, ok = restarted_cg(op, b, cg, RESTARTS)
    keep = lambda q: keep_stalled & backward_stable(op.mv, b, q, tol)  # noqa: E731
    ok = jax.lax.cond(ok, lambda q: jnp.asarray(True), keep, q)  # one more product where CG stalled (vmap: always)
    return jnp.where(ok, q, jnp.nan)


RESTARTS = 5  # restarted_cg's runs of 2 k steps past direct_max(): at most 10 k CG steps, as before session 26


def _cg(op, b, cg, y0=None):
    """``(v, converged)``: lineax's CG from ``y0`` (default 0); converged: its tolerance met and ``v`` finite."""
    sol = lx.linear_solve(op, b, cg, throw=False, options={} if y0 is None else {"y0": y0})
    return sol.value, (sol.result == lx.RESULTS.successful) & jnp.all(jnp.isfinite(sol.value))


def restarted_cg(op, b, cg, restarts: int):
    """CG restarted from its iterate every ``cg.max_steps`` steps, up to ``restarts`` runs; returns
    ``(v, converged)``, ``v`` the iterate with the smallest true residual ``||b - M v||``.

    Stops where a run meets CG's tolerance or does not lower the true residual (CG has reached the rounding
    floor of an ill-conditioned ``M``). Each run starts from the true residual, so the iterate does not drift
    as one long run's can: on an AR(1) block with condition number 5e5 (|S| = 618, ``k = 1200``), one run of
    ``10 k`` steps ended at 6.7e-10 relative error, after 4.8e-12 at 5000 steps. Runs of ``2 k`` steps: as
    accurate as one run or more on five of six blocks, 1.7x less on the sixth; runs of ``k`` steps lost 18x
    there (``benchmarks/RESULTS.md``)."""

    def body(state):
        i, q, nr, _, _ = state
        v, ok = _cg(op, b, cg, q)
        nv = jnp.linalg.norm(b - op.mv(v))
        better = ok | (nv < nr)
        return i + 1, jnp.where(better, v, q), jnp.where(better, nv, nr), ok, ~better

    state = (0, jnp.zeros_like(b), jnp.linalg.norm(b), jnp.asarray(False), jnp.asarray(False))
    _, q, _, ok, _ = jax.lax.while_loop(lambda s: (s[0] < restarts) & ~s[3] & ~s[4], body, state)
    return q, ok


def backward_stable(mv, b, q, tol):
    """Whether ``q`` solves ``M q = b`` (``mv = M``, ``||M||_2 <= 1``) to a backward error of ``tol``:

        ||r|| <= tol (||q|| + ||b||)   and   ||r|| <= sqrt(tol) ||b||,    r = b - M q  (the true residual).

    The first test says that ``q`` solves ``(M + E) q = b + f`` with ``||E|| <= tol`` and
    ``||f|| <= tol ||b||`` (Rigal and Gaches), so ``||q - M^{-1} b|| <= ||r|| / lambda_min(M)``: a Cholesky
    solve's bound with ``tol`` in place of about ``k eps``. It is the test a stalled CG can pass: its true
    residual bottoms out near ``eps ||M|| ||q||``, above CG's own ``||r|| <= tol ||b||`` where ``||q|| >>
    ||b||``. On AR(1) blocks with condition numbers 2e5-5e5 the iterates :func:`restarted_cg` kept were as
    accurate as a direct solve (4.0e-12 against 5.6e-12) or 36x less (5.4e-11 against 1.5e-12; RESULTS.md). The
    second test rejects iterates that did not reduce the residual: on a singular ``M`` CG's iterates grow
    without bound, and so does the right-hand side of the first test. The adjoint's ``M`` has ``||M||_2 <=
    max(1, gamma ||hess F||) <= 1`` for a step ``gamma <= 1 / Lambda_F``; a larger step makes the test
    stricter."""
    r = b - mv(q)
    nr, nq, nb = (jnp.linalg.norm(v) for v in (r, q, b))
    return (nr <= tol * (nq + nb)) & (nr <= tol**0.5 * nb)


def dense_solver(F: SmoothLoss, y, z, candidates, gamma, size: int, cholesky: bool | None = None):
    """``sigma -> q`` on the gathered block of ``candidates``: Cholesky for small buckets, CG on the
    gathered block operator for large ones (``cholesky``: default ``size <= cholesky_max()``).
    ``size`` is the static bucket (``>= candidates.sum()``)."""
    idx = jnp.nonzero(candidates, size=size, fill_value=0)[0]
    count = jnp.sum(candidates)
    valid = jnp.arange(size) < count
    rhs_k = -z[idx]

    if cholesky is None:
        cholesky = size <= cholesky_max()
    if cholesky:
        H = gamma * F.hess_block(y, idx)

        def solve_k(m):
            Hm = jnp.where(m[:, None] & m[None, :], H, 0) + jnp.diag(jnp.where(m, 0, 1).astype(H.dtype))
            # jax.scipy, as lineax's Cholesky does, without its operator: under shard_map lineax's check
            # that the operator's (unsharded) structure equals the vector's (sharded) one fails
            factor = jax.scipy.linalg.cho_factor(Hm)
            q = jax.scipy.linalg.cho_solve(factor, jnp.where(m, rhs_k, 0))
            return jnp.where(singular_pivots(factor[0], Hm, m), jnp.nan, q)

    else:
        mv = F.hess_block_matvec(y, idx, count)

        def solve_k(m):
            return masked_cg(lambda v: gamma * mv(v), m.astype(z.dtype), rhs_k, count > direct_max())

    def solve(sigma):
        m = (sigma[idx] != 0) & valid
        return jnp.zeros_like(z).at[idx].add(jnp.where(m, solve_k(m), 0))

    return solve


PIVOT_RTOL = 10.0  # a pivot below PIVOT_RTOL |S| eps of its diagonal entry: singular to working precision


def singular_pivots(factor, H, m):
    """Whether the Cholesky ``factor`` of ``H`` (selected rows ``m``) shows ``H`` singular to working precision:
    a selected pivot ``d_i = factor_ii^2`` with ``d_i <= PIVOT_RTOL |S| eps H_ii``.

    ``d_i / H_ii`` is ``1 - R_i^2``, ``R_i`` the multiple correlation of column ``i`` with the columns
    factored before it; it is at least ``1 / cond(H_S)``, so a block is flagged only where ``cond(H_S) >=
    1 / (PIVOT_RTOL |S| eps)`` (3.5e12 in float64, 6.5e3 in float32, at ``|S| = 128``), where a solve has no
    digit it can vouch for. On a rank-deficient block (``l2 = 0`` and a selected column equal to a combination of
    other selected ones) Cholesky either breaks down (NaN, caught downstream) or ends with a rounding-level pivot,
    ``d_i / H_ii`` about ``2e-16`` to ``4e-16`` in float64, and a finite answer near ``1e15`` times too large;
    the ill-conditioned AR(1) blocks of the tests (``cond`` 1.5e3 to 3.3e4) have ``d_i / H_ii >= 0.009``.
    A complement to the size test of :func:`reduced_adjoint`, not a proof of rank: on random rank-deficient
    AR(1) Gram blocks it flagged 44 of 45 in float64 (the miss: ``k = 512``, ``rho = 0.99``, ``d_i / H_ii`` 2.1e4
    eps) and none of 45 full-rank ones up to ``cond`` 3e9; in float32, 44 of 45 and 10 of 45 full-rank ones,
    each with ``cond`` between 2e6 and 6e9, near or past float32's ``1 / eps`` (8.4e6;
    benchmarks/probe_singular_blocks.py)."""
    piv = jnp.diagonal(factor) ** 2
    tol = PIVOT_RTOL * jnp.sum(m) * jnp.finfo(H.dtype).eps
    return jnp.any(m & (piv <= tol * jnp.diagonal(H)))


def cg_solver(F: SmoothLoss, y, z, gamma, keep_stalled=False):
    """``sigma -> q`` through CG on the masked full Hessian operator (matrix-free, ``O(n p)`` per product);
    ``keep_stalled`` as for :func:`masked_cg`."""
    return lambda sigma: masked_cg(lambda v: gamma * F.hvp(y, v), (sigma != 0).astype(z.dtype), -z, keep_stalled)


DIRECT_MAX_CPU = 512  # the largest candidate set solved by Cholesky where CG stalls; 1024 put the program's
# temporary buffer past glibc's mmap threshold at p = 3000 (43 MB), and every call paid page faults
DIRECT_MAX_GPU = 4096  # past the GPU's Cholesky buckets (1024); a 4096^2 block is 134 MB per vmapped member


def direct_max() -> int:
    """The largest candidate set :func:`reduced_adjoint` solves by Cholesky where CG stalls, on the default
    backend (``DIRECT_MAX_CPU`` on XLA:CPU, ``DIRECT_MAX_GPU`` elsewhere)."""
    return DIRECT_MAX_CPU if jax.default_backend() == "cpu" else DIRECT_MAX_GPU


CG_FAILED = (
    "fbjax: the adjoint's conjugate gradients did not converge (an ill-conditioned [hess F]_{S,S}) on a "
    "candidate set too large for the exact fallback (fbjax.adjoint.direct_max()): raise the lower level's "
    "ridge l2 or the penalties, or raise fbjax.adjoint.DIRECT_MAX_CPU / DIRECT_MAX_GPU (in float32: float64 "
    "may converge)"
)


Z_NOT_FINITE = "fbjax: the upper-level gradient z = grad_y L(x, y) at y = S(x) is not finite"
SINGULAR = (
    "fbjax: the reduced adjoint system gamma [hess F]_{S,S} q_S = -z_S is singular: F is not strongly convex on "
    "the selected coordinates S (e.g. l2 = 0 and more of them than samples, or linearly dependent columns among "
    "them), or not to working precision (a Cholesky pivot at rounding level; in float32, float64 may solve it); "
    "give the lower level a ridge l2 > 0"
)


def _exact_where_cg_stalled(policy, F, y, z, codes, gamma, sigma, q):
    """``(sigma, q)``, or, where a CG solve did not converge (``q`` not finite), the policy rerun with
    Cholesky solves on the candidate set gathered into a block of ``min(p, direct_max())``: ``n k^2 +
    k^3 / 3`` flops, the cost that CG's ``k / 2`` steps stand for. One site after the bucket switch, so
    a well-conditioned call pays neither its compile nor its memory per bucket. Under ``jax.vmap`` the
    rerun runs for the batch if a member needs it."""
    failed = ~jnp.all(jnp.isfinite(q))
    size = min(z.shape[0], direct_max())

    def rerun(ops):
        F, y, z, codes, gamma, failed = ops
        candidates = codes != A_
        candidates = _errors.error_if(candidates, failed & (jnp.sum(candidates) > size), CG_FAILED)
        return policy(codes, z, dense_solver(F, y, z, candidates, gamma, size, cholesky=True))

    exact = batch_when(failed, rerun, (F, y, z, codes, gamma, failed))
    return jax.tree_util.tree_map(lambda e, c: jnp.where(failed, e, c), exact, (sigma, q))


def buckets_for(p: int, buckets=None) -> tuple[int, ...]:
    """The gathered buckets ``"auto"`` uses for ``p`` coordinates: every Cholesky size (capped at ``p``)
    and the CG sizes up to ``p / 2``; larger working sets go to masked CG over all ``p`` (at most 2x the
    gathered work there, and no ``n x k`` copy of ``A`` enlarging the program's buffer).

    By default (``buckets=None``: ``BUCKETS``) a problem with ``p <= cholesky_max()`` gets one bucket,
    ``(p,)``: no switch. Compiling the switch costs more than a Cholesky solve of size ``p`` saves: on an
    H100 at p = 300 the backward compiles in 2.2-2.8 s against 9-12.5 s with the five buckets, and runs in
    0.6-0.7 ms against 0.4-1.0 ms (benchmarks/RESULTS.md, "On a GPU, a third time"). The backward then
    gathers all ``p`` columns (a transient copy of ``A``) and forms a ``p x p`` block, per member under
    ``jax.vmap`` (8 MB at p = 1000 in float64), where a small bucket did before when the candidate set
    was small; a static ``max_support`` bounds both (tall designs, large batches)."""
    cmax = cholesky_max()
    if buckets is None:
        if p <= cmax:
            return (p,)
        buckets = BUCKETS
    return tuple(sorted({min(k, p) for k in buckets if k <= cmax or 2 * k <= p}))


def reduced_adjoint(
    policy: Policy, F: SmoothLoss, y, z, codes, gamma, method: str = "auto", buckets=None, max_support: int | None = None
):
    """Run ``policy`` with reduced adjoint solves; returns ``(sigma, q)`` (Alg. 1, steps 5-11).

    Errors (also under jit): a non-finite ``z``; a singular ``[hess F]_{S,S}``, which Assumption 2 (``F``
    strongly convex) excludes but ``l2 = 0`` allows: ``|S| > F.hess_rank_bound()``, or a non-finite ``q``.
    A policy may still have chosen ``S`` by the signs of a rounding-level ``q`` in an earlier round, where
    Cholesky gave a finite answer on a singular block; the element it returns is still Cor. 13's for that
    ``S``."""
    z = _errors.error_if(z, ~jnp.all(jnp.isfinite(z)), Z_NOT_FINITE)
    sigma, q = _reduced_adjoint(policy, F, y, z, codes, gamma, method, buckets, max_support)
    singular = (jnp.sum(sigma != 0) > F.hess_rank_bound()) | ~jnp.all(jnp.isfinite(q))
    return sigma, _errors.error_if(q, singular, SINGULAR)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 6, 7, 8))
def _reduced_adjoint(policy, F, y, z, codes, gamma, method, buckets, max_support):
    p = z.shape[0]
    if method == "cg":
        solver = cg_solver(F, y, z, gamma, jnp.sum(codes != A_) > direct_max())
        return _exact_where_cg_stalled(policy, F, y, z, codes, gamma, *policy(codes, z, solver))
    if method not in ("auto", "dense"):
        raise ValueError(f"adjoint method must be 'auto', 'dense' or 'cg', got {method!r}")
    if max_support is not None:
        check_count(max_support=max_support)
        sizes = (min(int(max_support), p),)
    else:
        sizes = buckets_for(p, buckets)
    overflow = not sizes or sizes[-1] < p  # some candidate sets fit no bucket
    if method == "dense" and overflow:
        sizes, overflow = sizes + (p,), False

    def dense(size):
        def branch(ops):
            F, y, z, codes, candidates, gamma = ops
            return policy(codes, z, dense_solver(F, y, z, candidates, gamma, size))

        return branch

    def cg(ops):
        F, y, z, codes, candidates, gamma = ops
        return policy(codes, z, cg_solver(F, y, z, gamma, jnp.sum(candidates) > direct_max()))

    branches = [dense(k) for k in sizes] + ([cg] if overflow else [])  # cg: larger than every bucket
    candidates = codes != A_
    operands = (F, y, z, codes, candidates, gamma)
    if len(branches) == 1:
        sigma, q = branches[0](operands)
    else:
        index = jnp.searchsorted(jnp.asarray(sizes), jnp.sum(candidates))
        sigma, q = batch_switch(index, branches, operands)
    if not any(k > cholesky_max() for k in sizes) and not overflow:
        return sigma, q  # Cholesky only: no CG to finish
    return _exact_where_cg_stalled(policy, F, y, z, codes, gamma, sigma, q)


@_reduced_adjoint.defjvp
def _reduced_adjoint_jvp(policy, method, buckets, max_support, primals, tangents):
    """Forward mode (``jax.hessian`` of ``Phi``, forward over reverse): on the selected set ``S`` (fixed nearby),
    ``gamma H_SS q_S = -z_S`` gives ``q_S' = -(gamma H_SS)^-1 (z' + (gamma H)' q)_S``, with ``(gamma H)' q`` one
    ``jax.jvp`` of ``gamma F.hvp(y, q)`` in ``(F, y, gamma)``, solved as ``q`` was: the same buckets, CG and its
    exact rerun. The policy and the solves are not differentiated (CG's tolerance and loops have no tangent)."""
    F, y, z, codes, gamma = primals
    dF, dy, dz, _, dgamma = tangents
    sigma, q = _reduced_adjoint(policy, F, y, z, codes, gamma, method, buckets, max_support)
    _, dHq = jax.jvp(lambda F_, y_, g_: g_ * F_.hvp(y_, q), (F, y, gamma), (dF, dy, dgamma))

    on_S = jnp.where(sigma > 0, I_PLUS, jnp.where(sigma < 0, I_MINUS, A_)).astype(codes.dtype)  # Null selects sigma
    _, dq = _reduced_adjoint(Null(), F, y, dz + dHq, on_S, gamma, method, buckets, max_support)
    return (sigma, q), (jnp.zeros_like(sigma), dq)
