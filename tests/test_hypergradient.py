"""The hypergradient of ``fbjax.argmin``: finite differences, full-system oracles, SC invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fbjax
from fbjax import coderivative
from fbjax.data.synthetic import ar1_regression
from fbjax.fb import B_MINUS, B_PLUS, I_MINUS, I_PLUS

from conftest import hypergrad_parts, is_biactive, make_biactive, margin, random_problem, upper

TOL = 1e-13


def nondegenerate(loss, sparse, min_margin=0.2):
    """First seed whose solution keeps every coordinate 20% away from its kink."""
    for seed in range(50):
        F, x, A_val, b_val = random_problem(seed, loss=loss, sparse=sparse)
        y = fbjax.solve(F, x, tol=TOL, max_iter=100_000, solver="fista").y
        if margin(F, x, y) > min_margin and 0 < int(jnp.sum(y != 0)) < y.shape[0]:
            return F, x, A_val, b_val
    raise AssertionError("no non-degenerate instance found")


def central_fd(f, x, direction, h=1e-6):
    return (f(x + h * direction) - f(x - h * direction)) / (2 * h)


@pytest.mark.parametrize("loss", ["ls", "logistic"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("policy", ["sc", "null"])
def test_hypergradient_matches_finite_differences(loss, sparse, policy):
    F, x, A_val, b_val = nondegenerate(loss, sparse)
    L = upper(loss, A_val, b_val)
    solver = "fista" if sparse else "auto"
    phi = jax.jit(lambda x: L(fbjax.argmin(F, x, policy=policy, tol=TOL, max_iter=100_000, solver=solver)))
    g = jax.grad(phi)(x)
    fd = jnp.array([central_fd(phi, x, e) for e in jnp.eye(x.shape[0])])
    assert jnp.linalg.norm(g) > 1e-4
    assert jnp.linalg.norm(g - fd) <= 1e-5 * jnp.linalg.norm(fd)
    # inactive and 20% outside the kink (beyond the band): no signal through S under any policy
    off = fbjax.solve(F, x, tol=TOL, max_iter=100_000, solver="fista").y == 0
    assert 0 < int(jnp.sum(off)) and jnp.all(g[off] == 0)


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_data_gradients_match_finite_differences(loss):
    """Cotangents for A, b and l2 inside F (contract: correct, never silently zero)."""
    F0, x, A_val, b_val = nondegenerate(loss, sparse=False)
    L = upper(loss, A_val, b_val)
    cls = type(F0)

    def phi(A, b, l2):
        return L(fbjax.argmin(cls(A, b, l2=l2), x, tol=TOL, max_iter=100_000))

    gA, gb, gl2 = jax.grad(phi, argnums=(0, 1, 2))(F0.A, F0.b, F0.l2)
    rng = np.random.default_rng(0)
    dA = jnp.asarray(rng.standard_normal(F0.A.shape))
    fd_A = central_fd(lambda t: phi(F0.A + t * dA, F0.b, F0.l2), 0.0, 1.0)
    np.testing.assert_allclose(jnp.vdot(gA, dA), fd_A, rtol=1e-5)
    fd_l2 = central_fd(lambda t: phi(F0.A, F0.b, F0.l2 + t), 0.0, 1.0)
    np.testing.assert_allclose(gl2, fd_l2, rtol=1e-5)
    if loss == "ls":  # logistic labels are not continuous data
        db = jnp.asarray(rng.standard_normal(F0.b.shape))
        fd_b = central_fd(lambda t: phi(F0.A, F0.b + t * db, F0.l2), 0.0, 1.0)
        np.testing.assert_allclose(jnp.vdot(gb, db), fd_b, rtol=1e-5)
    assert jnp.linalg.norm(gA) > 0


def test_bcoo_data_gradient_matches_dense():
    F, x, A_val, b_val = nondegenerate("ls", sparse=True)
    L = upper("ls", A_val, b_val)
    dense = F.A.todense()

    def phi_sparse(data):
        A = jax.experimental.sparse.BCOO((data, F.A.indices), shape=F.A.shape)
        return L(fbjax.argmin(fbjax.LeastSquares(A, F.b, l2=F.l2), x, tol=TOL, solver="fista", max_iter=100_000))

    g_sparse = jax.grad(phi_sparse)(F.A.data)
    g_dense = jax.grad(lambda A: L(fbjax.argmin(fbjax.LeastSquares(A, F.b, l2=F.l2), x, tol=TOL, max_iter=100_000)))(dense)
    rows, cols = F.A.indices[:, 0], F.A.indices[:, 1]
    np.testing.assert_allclose(g_sparse, g_dense[rows, cols], rtol=1e-8, atol=1e-12)


def degenerate_instance(seed, loss="ls"):
    """n < p (non-diagonal, rank-deficient data Hessian) with exactly biactive coordinates."""
    F, x, A_val, b_val = random_problem(seed, n=15, p=25, loss=loss)
    x, y, pick = make_biactive(F, x, n_biactive=4)
    z = jax.grad(upper(loss, A_val, b_val))(y)
    return F, x, y, z, pick


@pytest.mark.parametrize("policy", ["sc", "null"])
@pytest.mark.parametrize("loss", ["ls", "logistic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reduced_equals_full_system_and_xi_upsilon(policy, loss, seed):
    F, x, y, z, pick = degenerate_instance(seed, loss)
    gamma = fbjax.solvers.default_gamma(F)
    codes, sigma, q = hypergrad_parts(F, x, y, z, policy)
    assert bool(jnp.all(is_biactive(codes[pick])))
    _, x_bar = fbjax.solution_vjp(F, x, y, z, gamma, policy=policy)
    hess = jax.hessian(F.value)(y)
    assert jnp.max(jnp.abs(hess - jnp.diag(jnp.diag(hess)))) > 1e-2  # non-diagonal
    dpsi = jnp.exp(x)
    zero = jnp.zeros_like(x)
    full = coderivative.full_system_element(hess, z, zero, sigma, gamma, dpsi)
    xi_up = coderivative.xi_upsilon_element(hess, z, zero, sigma, dpsi)
    np.testing.assert_allclose(x_bar, full, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(x_bar, xi_up, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("policy", ["sc", "null"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_masked_cg_equals_gathered_cholesky(policy, seed):
    F, x, y, z, _ = degenerate_instance(seed)
    _, s_dense, q_dense = hypergrad_parts(F, x, y, z, policy, adjoint="dense")
    _, s_cg, q_cg = hypergrad_parts(F, x, y, z, policy, adjoint="cg")
    np.testing.assert_array_equal(s_dense, s_cg)
    np.testing.assert_allclose(q_cg, q_dense, rtol=1e-10, atol=1e-10 * float(jnp.max(jnp.abs(q_dense))))


def test_auto_bucket_overflow_uses_cg():
    """A candidate set larger than every dense bucket is routed to CG with the same answer."""
    F, x, y, z, _ = degenerate_instance(0)
    gamma = fbjax.solvers.default_gamma(F)
    codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
    policy = coderivative.SignConsistent()
    s1, q1 = fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma, "auto", buckets=(2,))
    s2, q2 = fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma, "dense")
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_allclose(q1, q2, rtol=1e-9, atol=1e-12)


def ar1_instance(rho=0.99, n=200, p=300, alpha=3e-3, l2=1e-6, seed=0):
    """An AR(1)-correlated design with a small ridge: 208 candidates, support 131, cond([hess F]_{S,S}) =
    1.1e5, where CG cannot reach its tolerance; ``(F, x, y, z, hess)`` with the dense Hessian for the
    oracle. The adjoint is checked at ``y``, so the lower level is solved to 1e-6 only (fast), by coordinate
    descent within its budget and a plain FISTA finish (``"auto"`` until session 33): the checks below were
    built on that point, and whether CG stalls on the last one's selection depends on it (FISTA-Newton's and
    plain FISTA's points, also within tol, do not stall it there)."""
    A, b, A_val, b_val = ar1_regression(seed, n, p, rho)
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=l2)
    x = jnp.full(p, np.log(alpha))
    w, y0, gamma = jnp.exp(x), jnp.zeros(p), fbjax.solvers.default_gamma(F)
    sol = fbjax.solvers.coordinate_descent(F, w, y0, gamma, 1e-6, max_updates=fbjax.solvers.CD_EPOCHS * p)
    if not sol.converged:  # CD's budget ran out: a plain FISTA finish
        sol = fbjax.solvers.fista(F, w, sol.y, gamma, 1e-6)
    assert sol.converged
    z = jax.grad(lambda y: jnp.mean((A_val @ y - b_val) ** 2))(sol.y)
    return F, x, sol.y, z, A.T @ A / n + l2 * np.eye(p)


def test_stalled_cg_is_finished_by_cholesky(monkeypatch):
    """On an ill-conditioned working set CG stalls above its tolerance (lineax's max-steps error, before);
    the policy is then rerun with Cholesky on the gathered candidate set. Every route (the all-p CG that
    "auto" takes for this candidate set, "cg", "dense"'s gathered CG, a gathered max_support bucket, a
    vmapped pair) equals the full p x p system of eqs. (23)-(24) with the same selector; the GPU takes its
    Cholesky bucket of size p. Past direct_max() the stalled iterate is kept where it is backward stable."""
    F, x, y, z, hess = ar1_instance()
    gamma = fbjax.solvers.default_gamma(F)
    codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
    assert int(jnp.sum(codes != fbjax.fb.A_)) > 150  # past p / 2: "auto" runs CG over all p on XLA:CPU
    assert jnp.any(jnp.isnan(fbjax.adjoint.cg_solver(F, y, z, gamma)(coderivative.inactive_selector(codes))))  # stalls
    policy = coderivative.SignConsistent()
    for kw in ({}, {"method": "cg"}, {"method": "dense"}, {"max_support": 256}):
        run = jax.jit(lambda F, y, z, codes: fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma, **kw))
        sigma, q = run(F, y, z, codes)
        want = coderivative.full_system_element(jnp.asarray(hess), z, jnp.zeros_like(z), sigma, gamma, jnp.ones_like(z))
        np.testing.assert_allclose(gamma * sigma * q, want, rtol=1e-8, atol=1e-10 * float(jnp.max(jnp.abs(want))))
    qs = jax.vmap(lambda z: run(F, y, z, codes)[1])(jnp.stack([z, 2 * z]))  # the rerun for the batch
    np.testing.assert_allclose(qs[0], q, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(qs[1], 2 * q, rtol=1e-10, atol=1e-14)
    # Past direct_max() (here 128 < p) CG is restarted every 2 p steps (10 p in all), stalls at a true residual
    # about 1e-11 (above its tolerance: max |q| / max |z| is 1e5) and is kept as backward stable: no exact
    # rerun, the same answer.
    monkeypatch.setattr(fbjax.adjoint, "DIRECT_MAX_CPU", 128)
    monkeypatch.setattr(fbjax.adjoint, "DIRECT_MAX_GPU", 128)
    sigma, q = fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma)
    want = coderivative.full_system_element(jnp.asarray(hess), z, jnp.zeros_like(z), sigma, gamma, jnp.ones_like(z))
    np.testing.assert_allclose(gamma * sigma * q, want, rtol=1e-8, atol=1e-10 * float(jnp.max(jnp.abs(want))))
    # masked_cg keeps a stalled iterate only where told to (where the candidate set is past direct_max())
    mv, m = (lambda v: gamma * F.hvp(y, v)), (sigma != 0).astype(z.dtype)
    assert jnp.all(jnp.isnan(fbjax.adjoint.masked_cg(mv, m, -z, keep_stalled=False)))
    np.testing.assert_allclose(fbjax.adjoint.masked_cg(mv, m, -z, keep_stalled=True), q, rtol=1e-10, atol=1e-14)


def singular_block(n=100, p=300, seed=0):
    """``l2 = 0`` and every coordinate selected, ``p > n``: ``[hess F]_{S,S}`` has rank ``n < |S|``."""
    rng = np.random.default_rng(seed)
    F = fbjax.LeastSquares(jnp.asarray(rng.standard_normal((n, p))), jnp.asarray(rng.standard_normal(n)), l2=0.0)
    return F, jnp.zeros(p), jnp.asarray(rng.standard_normal(p)), jnp.full(p, I_PLUS), fbjax.solvers.default_gamma(F)


def test_singular_pivots_flags_rounding_level_pivots_only():
    """A pivot ``d_i <= 10 |S| eps H_ii`` of a selected row flags the block; ``d_i / H_ii >= 1 / cond(H)``, so
    a regular block with ``cond = 1e10`` (float64) is never flagged and its Cholesky solve stays accurate."""
    H = jnp.eye(3)
    m = jnp.array([True, True, True])
    for dtype, tiny, fine in ((jnp.float64, 1e-9, 1e-6), (jnp.float32, 1e-3, 1e-2)):  # d = 1e-18 / 1e-12; 1e-6 / 1e-4
        for d, flagged in ((tiny, True), (fine, False)):
            L = jnp.diag(jnp.array([1.0, d, 1.0], dtype))
            assert bool(fbjax.adjoint.singular_pivots(L, H.astype(dtype), m)) == flagged
        L = jnp.diag(jnp.array([1.0, tiny, 1.0], dtype))
        assert not fbjax.adjoint.singular_pivots(L, H.astype(dtype), m.at[1].set(False))  # unselected: not read
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((64, 64)))[0]
    H = jnp.asarray((Q * np.logspace(0, -10, 64)) @ Q.T)
    factor = jax.scipy.linalg.cho_factor(H)
    assert not fbjax.adjoint.singular_pivots(factor[0], H, jnp.ones(64, bool))
    q = jax.scipy.linalg.cho_solve(factor, H @ jnp.ones(64))
    assert float(jnp.max(jnp.abs(q - 1))) < 1e-3  # cond 1e10: about 1e10 eps accurate


def test_singular_block_is_an_error_not_a_nan(monkeypatch):
    """A rank-deficient ``[hess F]_{S,S}`` (l2 = 0, more selected coordinates than samples) has no adjoint:
    within direct_max() the exact rerun's Cholesky fails (NaN; |S| = 300 > n too) and the error names the
    cause (it returned NaN before); past it CG's iterates diverge (|q| about 1e35 after 300 steps), no iterate
    may pass the backward-stability test, and the stall is the error naming direct_max(). A non-finite z is an
    error too."""
    policy = coderivative.SignConsistent()
    F, y, z, codes, gamma = singular_block()
    with pytest.raises(Exception, match="is singular: F is not strongly convex"):
        jax.block_until_ready(fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma))
    for name in ("DIRECT_MAX_CPU", "DIRECT_MAX_GPU"):
        monkeypatch.setattr(fbjax.adjoint, name, 128)
    with pytest.raises(Exception, match="conjugate gradients did not converge"):
        jax.block_until_ready(fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma, method="cg"))
    with pytest.raises(Exception, match="upper-level gradient z"):
        jax.block_until_ready(fbjax.adjoint.reduced_adjoint(policy, F, y, z.at[3].set(jnp.nan), codes, gamma))


def test_a_working_set_past_the_rank_bound_is_an_error_even_where_q_is_finite():
    """The size test of the singular-block check. Cholesky on a singular block need not fail: rounding can
    leave its pivots positive and ``q`` finite and meaningless (``max |q|`` 2e17 on a 20 x 100 lasso, in one
    of 18 cases in each of two runs, not the same case; benchmarks/probe_singular_blocks.py). So a working set larger
    than ``F.hess_rank_bound()`` is an error whatever the solve gave: here a regular block, finite ``q``, and
    a loss that declares rank at most 3 while the policy keeps 8 coordinates."""

    class RankThree(fbjax.LeastSquares):
        def hess_rank_bound(self):
            return 3

    rng = np.random.default_rng(0)
    F = RankThree(jnp.asarray(rng.standard_normal((30, 8))), jnp.asarray(rng.standard_normal(30)), l2=0.0)
    y, z, codes = jnp.ones(8), jnp.asarray(rng.standard_normal(8)), jnp.full(8, I_PLUS)
    gamma, policy = fbjax.solvers.default_gamma(F), coderivative.SignConsistent()
    sigma, q = fbjax.adjoint._reduced_adjoint(policy, F, y, z, codes, gamma, "auto", None, None)
    assert int(jnp.sum(sigma != 0)) == 8 and jnp.all(jnp.isfinite(q))
    regular = fbjax.LeastSquares(F.A, F.b, l2=0.0)  # bound 8: no error
    jax.block_until_ready(fbjax.adjoint.reduced_adjoint(policy, regular, y, z, codes, gamma))
    with pytest.raises(Exception, match="is singular: F is not strongly convex"):
        jax.block_until_ready(fbjax.adjoint.reduced_adjoint(policy, F, y, z, codes, gamma))


@pytest.mark.parametrize("dtype, rtol", [(jnp.float64, 1e-14), (jnp.float32, 1e-6)])
def test_restarted_cg_restarts_from_its_iterate_and_keeps_the_best(dtype, rtol):
    """``fbjax.adjoint.restarted_cg`` with runs of one CG step is steepest descent with exact line search
    (``q += (r.r / r.Mr) r``), restarted from the last iterate; it stops at a run that raises the true
    residual and returns the iterate before it. M = diag(1, 100): from b = (1, 1) two steps lower the residual
    (1.414, 1.386, 1.359); from b = (1, 0.1) the first step raises it (1.005 to 4.97), so 0 comes back. A
    well-conditioned system converges to the direct solution. float64 and float32."""
    import lineax as lx

    d = jnp.array([1.0, 100.0], dtype)
    op = lx.TaggedLinearOperator(lx.DiagonalLinearOperator(d), lx.positive_semidefinite_tag)
    one_step = lx.CG(rtol=rtol / 100, atol=rtol / 100, max_steps=1)

    def steepest_descent(b, steps):
        q = jnp.zeros(2, dtype)
        for _ in range(steps):
            r = b - d * q
            q = q + (r @ r) / (r @ (d * r)) * r
        return q

    b = jnp.array([1.0, 1.0], dtype)
    q, ok = fbjax.adjoint.restarted_cg(op, b, one_step, 2)
    assert not ok and q.dtype == dtype
    np.testing.assert_allclose(q, steepest_descent(b, 2), rtol=rtol)
    assert jnp.linalg.norm(b - d * q) < jnp.linalg.norm(b - d * steepest_descent(b, 1)) < jnp.linalg.norm(b)
    b = jnp.array([1.0, 0.1], dtype)
    assert jnp.linalg.norm(b - d * steepest_descent(b, 1)) > 4 * jnp.linalg.norm(b)
    q, ok = fbjax.adjoint.restarted_cg(op, b, one_step, 3)
    assert not ok and jnp.all(q == 0)
    q, ok = fbjax.adjoint.restarted_cg(op, b, lx.CG(rtol=rtol, atol=rtol, max_steps=2), 3)
    assert ok
    np.testing.assert_allclose(q, b / d, rtol=rtol)


def test_backward_stable_accepts_a_stalled_iterate_and_rejects_a_diverged_one():
    """``fbjax.adjoint.backward_stable``'s two residual tests. The diverged iterate of CG on a singular block
    passes the first (``||r|| <= tol (||q|| + ||b||)``: its ``||q||`` is huge) and fails the second
    (``||r|| <= sqrt(tol) ||b||``). Where ``||q|| >> ||b||`` a residual below ``tol ||q||`` passes, though it
    is far above ``tol ||b||``, and one above ``tol ||q||`` fails; where ``||q|| = ||b||`` a residual between
    ``tol ||b||`` and ``sqrt(tol) ||b||`` fails (the first test's work). float64 and float32."""
    import lineax as lx

    tol = float(np.finfo(np.float64).eps ** 0.8)
    F, y, z, _, gamma = singular_block()
    mv = lambda v: gamma * F.hvp(y, v)  # noqa: E731
    op = lx.FunctionLinearOperator(mv, jax.eval_shape(lambda v: v, z), tags=lx.positive_semidefinite_tag)
    diverged = lx.linear_solve(op, -z, lx.CG(rtol=tol, atol=tol, max_steps=300), throw=False).value
    assert jnp.linalg.norm(diverged) > 1e20 * jnp.linalg.norm(z)
    assert jnp.linalg.norm(-z - mv(diverged)) <= tol * (jnp.linalg.norm(diverged) + jnp.linalg.norm(z))
    assert not fbjax.adjoint.backward_stable(mv, -z, diverged, tol)

    # M = diag(d), ||M|| = 1, q = b / d = (s, 1); in float64 and float32 (tol = eps^0.8: 3e-13, 3e-6)
    for dtype, s, dq, bad, rough in ((jnp.float64, 1e-6, 1e-10, 1e-12, 1e-10), (jnp.float32, 1e-3, 1e-4, 1e-5, 1e-4)):
        tol = float(np.finfo(dtype).eps ** 0.8)
        d, b = jnp.array([1.0, s], dtype), jnp.array([s, s], dtype)
        q = b / d
        close = q + jnp.array([0.0, dq], dtype)  # r = (0, s dq): below tol ||q||, above tol ||b||
        assert jnp.linalg.norm(b - d * close) > tol * jnp.linalg.norm(b)  # CG's own rule would not stop here
        assert fbjax.adjoint.backward_stable(lambda v: d * v, b, close, tol)
        assert not fbjax.adjoint.backward_stable(lambda v: d * v, b, q + jnp.array([bad, 0.0], dtype), tol)  # r = bad
        one = jnp.ones(2, dtype)  # M = I: the second test alone (r <= sqrt(tol) ||b||) would pass r = rough
        assert not fbjax.adjoint.backward_stable(lambda v: v, one, one + jnp.array([rough, 0.0], dtype), tol)


def test_cg_adjoint_is_as_accurate_for_small_and_large_upper_gradients():
    """The adjoint's CG stops on a tolerance relative to its right-hand side, so ``z -> c z`` gives ``c q``
    to the same relative accuracy for every scale ``c`` (a validation loss near 0 has a small ``z``; an
    absolute tolerance gave ``q`` to 4e-3 relative at ``c = 1e-12``). Oracle: the selected block solved
    directly."""
    n, p = 200, 300
    F, _, _, _ = random_problem(0, n=n, p=p)  # l2 = 0.1
    A = np.asarray(F.A)
    x = jnp.full(p, np.log(0.01))
    y = fbjax.solve(F, x).y
    gamma = fbjax.solvers.default_gamma(F)
    sigma = coderivative.inactive_selector(fbjax.partition(*fbjax.forward_map(F, x, y, gamma)))
    S = np.flatnonzero(np.asarray(sigma))
    assert len(S) > 200  # a CG-sized system on every backend's default route
    z = np.random.default_rng(0).standard_normal(p)
    H = float(gamma) * (A[:, S].T @ A[:, S] / n + 0.1 * np.eye(len(S)))
    want = np.linalg.solve(H, -z[S])
    for c in (1e-12, 1e-6, 1.0, 1e6):
        q = fbjax.adjoint.cg_solver(F, y, jnp.asarray(c * z), gamma)(sigma)
        assert np.max(np.abs(np.asarray(q)[S] / c - want)) <= 1e-11 * np.max(np.abs(want)), c
        assert not np.any(np.asarray(q)[np.setdiff1d(np.arange(p), S)])


@pytest.mark.parametrize("cmax", [128, 1024])  # XLA:CPU's and a GPU's Cholesky limit
def test_default_buckets_are_one_block_up_to_the_cholesky_limit(monkeypatch, cmax):
    """``p <= cholesky_max()``: one bucket of size p (no switch to compile); above it the ladder, Cholesky
    sizes up to the limit and CG sizes up to p / 2; a tuple the caller passes is used as it is."""
    from fbjax.adjoint import buckets_for

    monkeypatch.setattr(fbjax.adjoint, "CHOLESKY_MAX_CPU", cmax)
    monkeypatch.setattr(fbjax.adjoint, "CHOLESKY_MAX_GPU", cmax)
    assert buckets_for(5) == (5,) and buckets_for(cmax) == (cmax,)
    assert buckets_for(cmax + 1) == tuple(k for k in fbjax.adjoint.BUCKETS if k <= cmax)
    assert buckets_for(3000) == tuple(k for k in fbjax.adjoint.BUCKETS if k <= cmax or 2 * k <= 3000)
    assert buckets_for(100, (2, 4)) == (2, 4)


def test_batch_switch_runs_the_largest_branch_for_the_batch():
    """Unbatched: a plain switch. Under vmap (nested too): the largest index's branch for every member."""
    from fbjax._batching import batch_switch

    branches = [lambda o: o * 1.0, lambda o: o * 2.0, lambda o: o * 3.0]
    sw = lambda i, o: batch_switch(i, branches, o)  # noqa: E731
    ops = jnp.arange(1.0, 4.0)
    assert float(sw(1, 5.0)) == 10.0
    np.testing.assert_array_equal(jax.vmap(sw)(jnp.array([0, 2, 1]), ops), 3.0 * ops)
    np.testing.assert_array_equal(jax.vmap(sw, in_axes=(None, 0))(0, ops), ops)
    nested = jax.vmap(jax.vmap(sw, in_axes=(0, None)), in_axes=(None, 0))(jnp.array([0, 1]), ops)
    np.testing.assert_array_equal(nested, jnp.stack([2.0 * ops, 2.0 * ops], axis=1))


def test_vmapped_auto_adjoint_equals_per_instance():
    """Members whose candidate sets fall in different buckets: one shared bucket, the same (sigma, q)."""
    insts = [degenerate_instance(s) for s in range(4)]
    gamma = min(float(fbjax.solvers.default_gamma(F)) for F, *_ in insts)
    codes = [fbjax.partition(*fbjax.forward_map(F, x, y, gamma)) for F, x, y, _, _ in insts]
    counts = {int(jnp.sum(c != fbjax.fb.A_)) for c in codes}
    buckets = (min(counts), 32)  # the smallest member fits the first bucket, the others do not
    assert len(counts) > 1
    policy = coderivative.SignConsistent()
    solve = lambda F, y, z, c: fbjax.adjoint.reduced_adjoint(policy, F, y, z, c, gamma, "auto", buckets=buckets)  # noqa: E731
    stack = lambda *a: jnp.stack(a)  # noqa: E731
    Fs = jax.tree.map(stack, *[i[0] for i in insts])
    s_b, q_b = jax.vmap(solve)(Fs, stack(*[i[2] for i in insts]), stack(*[i[3] for i in insts]), stack(*codes))
    for k, (F, _, y, z, _) in enumerate(insts):
        s, q = solve(F, y, z, codes[k])
        np.testing.assert_array_equal(s_b[k], s)
        np.testing.assert_allclose(q_b[k], q, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_sign_consistency_invariants(seed):
    F, x, y, z, pick = degenerate_instance(seed)
    codes, sigma, q = hypergrad_parts(F, x, y, z, "sc")
    B = is_biactive(codes)
    selected = B & (sigma != 0)
    assert bool(jnp.all(sigma[selected] * q[selected] > 0))
    # Cor. 13 constraints on sigma
    assert bool(jnp.all(sigma[codes == I_PLUS] == 1)) and bool(jnp.all(sigma[codes == I_MINUS] == -1))
    assert bool(jnp.all(sigma[codes == B_PLUS] >= 0)) and bool(jnp.all(sigma[codes == B_MINUS] <= 0))
    assert bool(jnp.all(sigma[codes == fbjax.fb.A_] == 0))
    assert bool(jnp.all(q[sigma == 0] == 0))


def test_sign_consistent_pruning_happens():
    """Some instance with a non-diagonal Hessian needs a pruning round (the while loop runs)."""
    pruned = 0
    for seed in range(30):
        F, x, y, z, _ = degenerate_instance(seed)
        codes, sigma, _ = hypergrad_parts(F, x, y, z, "sc")
        seed_sel = ((codes == B_PLUS) & (z < 0)) | ((codes == B_MINUS) & (z > 0))
        pruned += int(jnp.sum(seed_sel & (sigma == 0)))
    assert pruned > 0


def test_no_pruning_with_diagonal_hessian():
    rng = np.random.default_rng(3)
    p = 12
    d = jnp.asarray(rng.standard_normal(p))
    F = fbjax.LeastSquares(jnp.sqrt(p) * jnp.diag(jnp.asarray(rng.uniform(0.5, 2.0, p))), jnp.sqrt(p) * d, l2=0.1)
    x = jnp.log(jnp.abs(d) * rng.uniform(0.5, 4.0, p))
    x, y, pick = make_biactive(F, x, n_biactive=5)
    assert pick.size == 5
    v = fbjax.forward_map(F, x, y, fbjax.solvers.default_gamma(F))[1]
    z = jnp.asarray(rng.standard_normal(p)).at[pick].set(-jnp.sign(v[pick]) * rng.uniform(0.5, 1.0, 5))
    codes, sigma, q = hypergrad_parts(F, x, y, z, "sc")
    seed_sel = ((codes == B_PLUS) & (z < 0)) | ((codes == B_MINUS) & (z > 0))
    assert int(jnp.sum(seed_sel)) > 0
    np.testing.assert_array_equal(sigma != 0, (codes == I_PLUS) | (codes == I_MINUS) | seed_sel)


@pytest.mark.parametrize("seed", range(3))
def test_null_policy_equals_sparse_ho(seed):
    """Sparse-HO: restrict the implicit system to supp(y): h = -psi' sign(y_S) H_SS^{-1} z_S."""
    F, x, A_val, b_val = random_problem(seed, n=20, p=30)
    L = upper("ls", A_val, b_val)
    y = fbjax.solve(F, x, tol=TOL, max_iter=100_000).y
    h = jax.grad(lambda x: L(fbjax.argmin(F, x, policy="null", tol=TOL, max_iter=100_000)), allow_int=True)(x)
    S = np.flatnonzero(np.asarray(y))
    H = np.asarray(jax.hessian(F.value)(y))[np.ix_(S, S)]
    z = np.asarray(jax.grad(L)(y))
    ref = np.zeros(x.shape[0])
    ref[S] = -np.exp(np.asarray(x)[S]) * np.sign(np.asarray(y)[S]) * np.linalg.solve(H, z[S])
    u, v = fbjax.forward_map(F, x, y, fbjax.solvers.default_gamma(F))
    in_band = np.asarray(is_biactive(fbjax.partition(u, v)))
    keep = ~in_band  # Sparse-HO and the banded null policy agree outside the band
    np.testing.assert_allclose(np.asarray(h)[keep], ref[keep], rtol=1e-9, atol=1e-12)
    assert np.count_nonzero(ref[keep]) > 0


@pytest.mark.parametrize("cholesky", [False, True])
@pytest.mark.parametrize("policy", ["sc", "null"])
def test_gathered_cg_path_equals_direct_solve(policy, cholesky):
    """A bucket of 150 by CG on gathered columns (the path above ``cholesky_max()``) and by Cholesky
    (the GPU default up to 1024): both equal numpy's solve of H_SS."""
    from fbjax.data import calibrated_degenerate

    d = calibrated_degenerate(0, 100, 150, 0.95)
    F = d.lower_level()
    x = jnp.asarray(d.x0)
    y = fbjax.solve(F, x, tol=TOL, max_iter=100_000).y
    z = jax.grad(d.validation_loss)(y)
    gamma = fbjax.solvers.default_gamma(F)
    codes = fbjax.partition(*fbjax.forward_map(F, x, y, gamma))
    size = F.n_features
    solve = fbjax.adjoint.dense_solver(F, y, z, codes != fbjax.fb.A_, gamma, size, cholesky)
    sigma, q = coderivative.resolve_policy(policy)(codes, z, solve)
    S = np.flatnonzero(np.asarray(sigma))
    H = gamma * np.asarray(jax.hessian(F.value)(y))[np.ix_(S, S)]
    ref = np.zeros(size)
    ref[S] = np.linalg.solve(H, -np.asarray(z)[S])
    np.testing.assert_allclose(q, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("max_support", [8, 64])
def test_static_max_support_matches_auto(max_support):
    """One static bucket (8 overflows -> CG fallback; 64 holds the candidates) gives the same h."""
    F, x, y, z, _ = degenerate_instance(1)
    L_grad = lambda **kw: jax.grad(lambda x: jnp.vdot(z, fbjax.argmin(F, x, tol=TOL, max_iter=100_000, **kw)))(x)  # noqa: E731
    np.testing.assert_allclose(L_grad(max_support=max_support), L_grad(), rtol=1e-9, atol=1e-12)


def test_partition_gamma_changes_only_the_band():
    """The backward's step enters only through the band: with the exact partition any step gives the
    same hypergradient; with a band, a larger step widens it on small active coordinates."""
    F, x, A_val, b_val = nondegenerate("ls", False)
    L = upper("ls", A_val, b_val)
    g0 = fbjax.solvers.default_gamma(F)

    def grad(policy, **kw):
        return jax.grad(lambda x: L(fbjax.argmin(F, x, policy=policy, tol=TOL, max_iter=100_000, **kw)))(x)

    for policy in ("sc", "null"):
        ref = grad(policy, biactive_rtol=0.0)
        for c in (0.3, 10.0):
            other = grad(policy, biactive_rtol=0.0, partition_gamma=c * g0)
            np.testing.assert_allclose(other, ref, rtol=1e-9, atol=1e-14)
    # an active coordinate is biactive in the band iff |y_i| <= rtol / (1 - rtol) * step * psi(x_i)
    y = fbjax.solve(F, x, tol=TOL, max_iter=100_000).y
    active = np.flatnonzero(np.asarray(y) != 0)
    ratio = np.abs(np.asarray(y)[active]) / np.exp(np.asarray(x)[active])
    i = active[np.argmin(ratio)]
    step = 1.01 * ratio.min() * (1 - 0.1) / 0.1  # just inside the band at this step
    assert step > g0  # outside the band at the FB step (the instance is non-degenerate) ...
    ref = grad("null")
    wide = grad("null", partition_gamma=step)  # ... inside at the larger step: null drops it
    assert abs(float(ref[i])) > 1e-6 and float(wide[i]) == 0.0


@pytest.mark.parametrize("adjoint", ["auto", "cg"])
def test_hessian_by_forward_over_reverse_matches_the_support_formula(adjoint):
    """``jax.hessian`` of ``Phi`` (forward over reverse: JAX differentiates the solver's iterations, the adjoint
    its own rule) at a non-degenerate point equals the second derivative on the fixed support:
    ``y_S = K^-1 (A_S^T b / n - e^{x_S} s)``, ``K = A_S^T A_S / n + l2 I``, so ``J = dy_S/dx_S = -K^-1 diag(e^x s)``
    and ``H_SS = J^T G J - diag(e^{x_S} s (K^-1 w_S))`` with ``w``, ``G`` the gradient and Hessian of ``L`` in
    ``y``; 0 off ``S``. With ``adjoint="cg"`` it stopped before: lineax cannot differentiate a CG solve."""
    F, x, A_val, b_val = nondegenerate("ls", False)
    L = upper("ls", A_val, b_val)
    H = np.asarray(jax.jit(jax.hessian(lambda x: L(fbjax.argmin(F, x, tol=TOL, max_iter=100_000, adjoint=adjoint))))(x))
    want, k = support_hessian(F, x, A_val, b_val)
    assert 0 < k < x.shape[0] and np.linalg.norm(want) > 1e-3
    np.testing.assert_allclose(H, want, rtol=0, atol=1e-11 * np.max(np.abs(want)))  # 2.6e-14 measured


def support_hessian(F, x, A_val, b_val):
    """``(H, |S|)``: the Hessian of ``Phi = mean((A_val y - b_val)^2) / 2`` for a least-squares ``F`` with
    ``psi = exp`` on the support ``S`` of ``y = S(x)``, held fixed (the formula in the test above)."""
    A, b, n = np.asarray(F.A), np.asarray(F.b), F.A.shape[0]
    y = np.asarray(fbjax.solve(F, x, tol=TOL, max_iter=100_000).y)
    S = np.flatnonzero(y)
    e, Av = np.exp(np.asarray(x))[S] * np.sign(y[S]), np.asarray(A_val)
    K = A[:, S].T @ A[:, S] / n + F.l2 * np.eye(len(S))
    J = -np.linalg.solve(K, np.diag(e))
    w = Av[:, S].T @ (Av @ y - np.asarray(b_val)) / len(b_val)
    H = np.zeros((len(y), len(y)))
    H[np.ix_(S, S)] = J.T @ (Av[:, S].T @ Av[:, S] / len(b_val)) @ J - np.diag(e * np.linalg.solve(K, w))
    return H, len(S)


def test_hessian_of_a_logistic_phi_matches_finite_differences_of_its_gradient():
    F, x, A_val, b_val = nondegenerate("logistic", False)
    L = upper("logistic", A_val, b_val)
    phi = lambda x: L(fbjax.argmin(F, x, tol=TOL, max_iter=100_000))  # noqa: E731
    H = jax.jit(jax.hessian(phi))(x)
    grad = jax.jit(jax.grad(phi))
    fd = jnp.stack([central_fd(grad, x, e, h=1e-5) for e in jnp.eye(x.shape[0])], axis=1)
    assert jnp.linalg.norm(fd) > 1e-3
    assert jnp.linalg.norm(H - fd) <= 1e-6 * jnp.linalg.norm(fd)
