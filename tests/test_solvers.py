"""Lower-level solvers: certificate, agreement, warm starts, float32."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import fbjax

from conftest import random_problem


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_fista_and_cd_agree_to_tolerance(loss):
    F, x, _, _ = random_problem(0, n=40, p=60, loss=loss)
    a = fbjax.solve(F, x, solver="fista", tol=1e-12)
    b = fbjax.solve(F, x, solver="cd", tol=1e-12)
    assert bool(a.converged) and bool(b.converged)
    assert float(a.residual) <= 1e-12 and float(b.residual) <= 1e-12
    np.testing.assert_allclose(a.y, b.y, atol=1e-9)
    # the reported residual is the one at the returned point
    gamma = fbjax.solvers.default_gamma(F)
    np.testing.assert_allclose(jnp.max(jnp.abs(fbjax.fb_residual(F, x, b.y, gamma))), b.residual, rtol=1e-6, atol=1e-15)  # atol: rounding of O(1) terms, a few eps
    for sol in (a, b):  # the gradient handed to the backward pass is grad F at the returned point
        np.testing.assert_allclose(sol.grad, F.grad(sol.y), rtol=1e-12, atol=1e-14)


def test_cd_then_fista_finishes_where_coordinate_descent_stops_short(monkeypatch):
    """Where CD stops short of ``tol`` (here capped at 3 sweeps), ``cd_then_fista`` goes on with FISTA from
    CD's point and counts both solvers' iterations; where CD converges, it is CD."""
    F, x, _, _ = random_problem(3, n=40, p=60)
    w, y0, gamma, tol = jnp.exp(x), jnp.zeros(60), fbjax.solvers.default_gamma(F), 1e-10
    cd = fbjax.solvers.coordinate_descent(F, w, y0, gamma, tol)
    assert bool(cd.converged) and int(cd.num_iter) > 3
    both = fbjax.solvers.cd_then_fista(F, w, y0, gamma, tol)
    assert int(both.num_iter) == int(cd.num_iter)
    np.testing.assert_allclose(both.y, cd.y, rtol=1e-13, atol=1e-15)

    capped = functools.partial(fbjax.solvers.coordinate_descent, max_iter=3)
    monkeypatch.setattr(fbjax.solvers, "coordinate_descent", capped)
    short = capped(F, w, y0, gamma, tol)
    rest = fbjax.solvers.fista_newton(F, w, short.y, gamma, tol)
    both = fbjax.solvers.cd_then_fista(F, w, y0, gamma, tol)
    assert not bool(short.converged) and bool(both.converged) and float(both.residual) <= tol
    assert int(both.num_iter) == 3 + int(rest.num_iter)
    np.testing.assert_allclose(both.y, rest.y, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(both.grad, F.grad(both.y), rtol=1e-12, atol=1e-15)


def test_coordinate_descent_stops_at_its_update_budget(monkeypatch):
    """``max_updates`` counts the coordinates swept: with all 60 coordinates violating at ``y0 = 0`` the
    first working set is all of them, so a budget of 60 allows one sweep and 61 a second. ``cd_then_fista``
    gives CD ``CD_EPOCHS * p`` updates and finishes with FISTA from there."""
    F, _, _, _ = random_problem(3, n=40, p=60)
    y0, gamma, tol = jnp.zeros(60), fbjax.solvers.default_gamma(F), 1e-10
    w = 0.01 * jnp.abs(F.grad(y0))
    assert bool(jnp.all(jnp.abs(F.grad(y0)) > w))  # every coordinate violates: the working set is all 60
    cd = fbjax.solvers.coordinate_descent
    assert int(cd(F, w, y0, gamma, tol).num_iter) > 2
    for budget, sweeps in ((1, 1), (60, 1), (61, 2), (120, 2), (121, 3)):
        sol = cd(F, w, y0, gamma, tol, max_updates=budget)
        assert int(sol.num_iter) == sweeps and not bool(sol.converged), budget
    np.testing.assert_array_equal(cd(F, w, y0, gamma, tol, max_updates=120).y, cd(F, w, y0, gamma, tol, max_iter=2).y)

    monkeypatch.setattr(fbjax.solvers, "CD_EPOCHS", 2)
    short = cd(F, w, y0, gamma, tol, max_updates=120)
    rest = fbjax.solvers.fista_newton(F, w, short.y, gamma, tol)
    both = fbjax.solvers.cd_then_fista(F, w, y0, gamma, tol)
    assert bool(both.converged) and int(both.num_iter) == 2 + int(rest.num_iter)
    np.testing.assert_allclose(both.y, rest.y, rtol=1e-13, atol=1e-15)
    for bad in (0, 2.5, 2**31):
        with pytest.raises(ValueError, match="max_updates"):
            cd(F, w, y0, gamma, tol, max_updates=bad)

    # under vmap: one member converges within the budget (two violators at y0), the other (w) hands over
    ws = jnp.stack([jnp.full(60, 0.9 * jnp.sort(jnp.abs(F.grad(y0)))[-3]), w])
    first = fbjax.solvers.cd_then_fista(F, ws[0], y0, gamma, tol)
    assert bool(first.converged) and int(first.num_iter) <= 10
    batch = jax.jit(jax.vmap(lambda w: fbjax.solvers.cd_then_fista(F, w, y0, gamma, tol)))(ws)
    for i, sol in enumerate((first, both)):
        assert bool(batch.converged[i]) and int(batch.num_iter[i]) == int(sol.num_iter)
        np.testing.assert_allclose(batch.y[i], sol.y, rtol=1e-12, atol=1e-14)


def test_auto_converges_where_coordinate_descent_stalls():
    """Two features of mean 100, no intercept (cond 2e4), a small penalty: on XLA:CPU, CD uses all 5000
    sweeps above ``tol`` (its Anderson test sits at rounding level; whether it stalls depends on the
    compiled program's rounding: on an H100 it converged in 2656 sweeps). "auto" reaches ``tol`` either way
    (on the CPU through :func:`~fbjax.solvers.cd_then_fista`, elsewhere FISTA)."""
    rng = np.random.RandomState(42)
    X, y = rng.normal(loc=100, size=(100, 2))[:75], rng.normal(size=100)[:75]
    F = fbjax.LeastSquares(jnp.asarray(X), jnp.asarray(y), l2=1 / 75)
    x = jnp.full(2, jnp.log(1e-3 * jnp.max(jnp.abs(F.grad(jnp.zeros(2))))))
    auto, fista = fbjax.solve(F, x), fbjax.solve(F, x, solver="fista")
    assert bool(auto.converged) and float(auto.residual) <= 1e-10 and bool(fista.converged)
    np.testing.assert_allclose(auto.y, fista.y, rtol=1e-8)


@pytest.mark.parametrize("solver", ["fista", "cd"])
def test_warm_start_saves_iterations(solver):
    F, x, _, _ = random_problem(1, n=40, p=60)
    cold = fbjax.solve(F, x, solver=solver)
    warm = fbjax.solve(F, x + 0.01, y0=cold.y, solver=solver)
    fresh = fbjax.solve(F, x + 0.01, solver=solver)
    assert bool(warm.converged) and int(warm.num_iter) < int(fresh.num_iter)


def test_sparse_design_with_fista():
    F, x, _, _ = random_problem(2, sparse=True)
    sol = fbjax.solve(F, x)  # auto picks FISTA for BCOO
    dense = fbjax.solve(fbjax.LeastSquares(F.A.todense(), F.b, l2=F.l2), x)
    np.testing.assert_allclose(sol.y, dense.y, atol=1e-9)
    with pytest.raises(ValueError, match="dense"):
        fbjax.solve(F, x, solver="cd")


@pytest.mark.parametrize("solver", ["fista", "cd", "fista-newton"])
def test_float32_path(solver):
    F64, x64, A_val, b_val = random_problem(3)
    F32 = fbjax.LeastSquares(F64.A.astype(jnp.float32), F64.b.astype(jnp.float32), l2=0.1)
    x32 = x64.astype(jnp.float32)
    sol = fbjax.solve(F32, x32, solver=solver)
    assert sol.y.dtype == jnp.float32 and bool(sol.converged)
    ref = fbjax.solve(F64, x64, tol=1e-12).y
    np.testing.assert_allclose(sol.y, ref, atol=1e-3)
    L = lambda y: 0.5 * jnp.mean((A_val.astype(y.dtype) @ y - b_val.astype(y.dtype)) ** 2)  # noqa: E731
    g32 = jax.grad(lambda x: L(fbjax.argmin(F32, x, solver=solver)))(x32)
    g64 = jax.grad(lambda x: L(fbjax.argmin(F64, x, solver=solver)))(x64)
    assert g32.dtype == jnp.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-2, atol=1e-3 * float(jnp.max(jnp.abs(g64))))


def ar1_loss(loss, p=300, l2=1 / 200, is_sparse=False):
    """An ill-conditioned lower level: AR(1) design with rho = 0.99, n = 200 (least squares, or logistic on
    labels split at the median). At 0.1 and 0.001 of ``alpha_max`` the supports (about 50 and 240 of 300) fall
    in Newton's two buckets (``cholesky_max()`` = 128 on the CPU, and ``p``)."""
    from fbjax.data.synthetic import ar1_regression

    A, b, _, _ = ar1_regression(0, 200, p, 0.99)
    A = sparse.BCOO.fromdense(jnp.asarray(A)) if is_sparse else jnp.asarray(A)
    if loss == "ls":
        return fbjax.LeastSquares(A, jnp.asarray(b), l2=l2)
    return fbjax.Logistic(A, jnp.asarray(np.sign(b - np.median(b))), l2=l2)


@pytest.mark.parametrize("loss, is_sparse", [("ls", False), ("logistic", False), ("ls", True)])
def test_fista_newton_certifies_in_fewer_iterations(loss, is_sparse):
    """On an ill-conditioned design from a cold start FISTA settles the signs long before it meets ``tol``:
    ``solver="fista-newton"`` returns a certified point (the residual it reports is the one at that point),
    as close to FISTA's tight-tolerance solution as FISTA's own, in under 0.6 of FISTA's iterations (least
    squares: a Newton step on the right support and signs is the solution, its residual at rounding level);
    on a BCOO design too (the block gathered through a one-hot product; FISTA's runs, the reference and the
    count to beat, on the same design stored dense, where an iteration costs 1/50 of one on this all-nonzero BCOO:
    the problem and the algorithm are the same)."""
    F, dense = ar1_loss(loss, is_sparse=is_sparse), ar1_loss(loss)
    gamma, alpha_max = fbjax.solvers.default_gamma(F), jnp.max(jnp.abs(F.grad(jnp.zeros(F.n_features))))
    for r in (0.1, 0.001):
        x = jnp.full(F.n_features, jnp.log(r * alpha_max))
        ref = fbjax.solve(dense, x, solver="fista", tol=1e-12, max_iter=100_000)
        plain, newton = fbjax.solve(dense, x, solver="fista"), fbjax.solve(F, x, solver="fista-newton")
        assert bool(ref.converged) and bool(plain.converged) and bool(newton.converged)
        at = float(jnp.max(jnp.abs(fbjax.fb_residual(F, x, newton.y, gamma))))
        assert at <= 1e-10 and abs(at - float(newton.residual)) <= 1e-14
        np.testing.assert_allclose(newton.y, ref.y, rtol=0, atol=1e-8)
        assert int(newton.num_iter) < 0.6 * int(plain.num_iter)
        if loss == "ls":
            assert float(newton.residual) <= 1e-13


def test_fista_newton_keeps_no_step_that_flips_a_sign():
    """A near-singular block (AR(1) rho 0.99, n = 200 < p = 300, ridge 1e-6): from a cold start a Newton step
    on a wrong support can flip signs and land far off at a lower residual. Kept, such a step left FISTA at a
    300-coordinate support that had not converged after 20000 iterations (session 33). A step is kept only
    where the signs on ``S`` hold, and the solve converges, in fewer iterations than plain FISTA."""
    from fbjax.data.synthetic import ar1_regression

    A, b, _, _ = ar1_regression(0, 200, 300, 0.99)
    F = fbjax.LeastSquares(jnp.asarray(A), jnp.asarray(b), l2=1e-6)
    x = jnp.full(300, np.log(3e-3))
    plain, newton = (fbjax.solve(F, x, tol=1e-6, solver=s) for s in ("fista", "fista-newton"))
    assert bool(plain.converged) and bool(newton.converged)
    assert int(newton.num_iter) < int(plain.num_iter)
    assert int(jnp.sum(newton.y != 0)) == int(jnp.sum(plain.y != 0))


def test_auto_finishes_with_newton_steps_where_coordinate_descent_fails_its_budget():
    """``solver="auto"`` on the CPU: where CD fails its budget (the ill-conditioned AR(1) design; here the budget
    is cut to 2 epochs so that it fails for certain) the finish is FISTA with Newton steps, from CD's point: the
    tight-tolerance solution as FISTA's, certified, in under 0.6 of a plain FISTA finish's iterations."""
    F = ar1_loss("ls")
    gamma, alpha_max = fbjax.solvers.default_gamma(F), jnp.max(jnp.abs(F.grad(jnp.zeros(F.n_features))))
    w, y0, tol = jnp.full(F.n_features, 0.01 * alpha_max), jnp.zeros(F.n_features), 1e-10
    budget = 2 * F.n_features
    short = fbjax.solvers.coordinate_descent(F, w, y0, gamma, tol, max_updates=budget)
    plain = fbjax.solvers.fista(F, w, short.y, gamma, tol)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fbjax.solvers, "CD_EPOCHS", 2)
        auto = fbjax.solvers.cd_then_fista(F, w, y0, gamma, tol)
    assert not bool(short.converged) and bool(plain.converged) and bool(auto.converged)
    assert float(auto.residual) <= tol
    ref = fbjax.solvers.fista(F, w, short.y, gamma, 1e-12, max_iter=100_000)
    assert bool(ref.converged)  # plain FISTA's own error at tol is about 2e-8 on this design
    np.testing.assert_allclose(auto.y, ref.y, rtol=0, atol=1e-8)
    assert int(auto.num_iter) - int(short.num_iter) < 0.6 * int(plain.num_iter)


def test_fista_newton_under_vmap_and_on_a_singular_support():
    """Under ``vmap`` (a Newton step computed for every member when one is due, on the bucket of the largest
    support, kept only where that member's was due and lowered its residual) the solutions equal the
    per-penalty loop. With a duplicated active column
    and no ridge every Newton block is singular (Cholesky gives NaN or a rounding-level pivot): every step is
    dropped and the result is plain FISTA's, to the last digit."""
    F = ar1_loss("ls")
    alpha_max = jnp.max(jnp.abs(F.grad(jnp.zeros(F.n_features))))
    xs = jnp.log(jnp.array([0.3, 0.03, 0.003]) * alpha_max)[:, None] * jnp.ones(F.n_features)
    run = lambda x: fbjax.solve(F, x, solver="fista-newton")  # noqa: E731
    batched = jax.vmap(run)(xs)
    assert bool(jnp.all(batched.converged))
    for i, x in enumerate(xs):
        np.testing.assert_allclose(batched.y[i], run(x).y, rtol=0, atol=1e-12)
    A = np.asarray(ar1_loss("ls", p=30).A)
    F = fbjax.LeastSquares(jnp.asarray(A), F.b, l2=0.0)
    x = jnp.full(30, jnp.log(0.01 * alpha_max))
    j = int(jnp.argmax(jnp.abs(fbjax.solve(F, x).y)))  # the largest coefficient, duplicated
    F = fbjax.LeastSquares(jnp.asarray(np.c_[A, A[:, j]]), F.b, l2=0.0)
    x = jnp.full(31, x[0])
    plain, newton = (fbjax.solve(F, x, solver=s) for s in ("fista", "fista-newton"))
    assert bool(newton.converged) and float(newton.y[j]) == float(newton.y[30]) != 0.0
    np.testing.assert_array_equal(newton.y, plain.y)
    assert int(newton.num_iter) == int(plain.num_iter)


def test_anderson_extrapolation_is_exact_on_a_linear_iteration():
    """For ``y <- G y + h`` in dimension 4, five differences determine the fixed point exactly."""
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((4, 4))
    G, h = 0.9 * Q / np.linalg.norm(Q, 2), rng.standard_normal(4)
    ys = [rng.standard_normal(4)]
    for _ in range(5):
        ys.append(G @ ys[-1] + h)
    fixed_point = np.linalg.solve(np.eye(4) - G, h)
    for dtype, atol in ((jnp.float64, 1e-12), (jnp.float32, 1e-4)):
        Y = jnp.asarray(np.stack(ys), dtype)
        c = fbjax.solvers.anderson.weights(Y)
        assert c.dtype == dtype and abs(float(jnp.sum(c)) - 1) < 10 * jnp.finfo(dtype).eps
        np.testing.assert_allclose(c @ Y[1:], fixed_point, atol=atol)
    assert np.max(np.abs(ys[-1] - fixed_point)) > 1e-2  # the last iterate is far from it
    # iterates that stopped moving: U^T U = 0, the last iterate is kept
    np.testing.assert_array_equal(fbjax.solvers.anderson.weights(jnp.ones((6, 3))), [0, 0, 0, 0, 1])


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_cd_extrapolation_saves_sweeps_on_a_correlated_design(loss):
    """rho = 0.98 design: with and without Anderson extrapolation CD reaches FISTA's solution (strong
    convexity l2 = 1/n bounds the distance by the residuals); the extrapolation is taken (fewer sweeps)."""
    from fbjax.data import calibrated_degenerate

    d = calibrated_degenerate(0, 100, 150, 0.98)
    x = jnp.asarray(d.x0)
    if loss == "ls":
        F = d.lower_level()
    else:
        F, x = fbjax.Logistic(d.A_train, jnp.where(d.b_train > jnp.median(d.b_train), 1.0, -1.0), l2=1 / 100), x - 3
    w, gamma, y0 = jnp.exp(x), fbjax.solvers.default_gamma(F), jnp.zeros(150)
    ref = fbjax.solvers.fista(F, w, y0, gamma, 1e-12)
    fast = fbjax.solvers.coordinate_descent(F, w, y0, gamma, 1e-12)
    plain = fbjax.solvers.coordinate_descent(F, w, y0, gamma, 1e-12, anderson=0)
    bound = 3e-12 / float(F.l2)  # ||y - y*|| <= (1 + Lambda gamma) R / mu, with R <= 1e-12 for each
    for sol in (ref, fast, plain):
        assert bool(sol.converged)
        np.testing.assert_allclose(sol.y, ref.y, atol=bound)
    assert int(fast.num_iter) < int(plain.num_iter)


def test_cd_working_sets_on_a_wide_design():
    """p = 400 > ws_start: the sweeps run on working sets; the solution is FISTA's, cold and warm."""
    F, x, _, _ = random_problem(5, n=60, p=400)
    x = x + 1.0  # about 55 nonzeros
    ref = fbjax.solve(F, x, solver="fista", tol=1e-12)
    cold = fbjax.solve(F, x, solver="cd", tol=1e-12)
    warm = fbjax.solve(F, x, solver="cd", tol=1e-12, y0=fbjax.solve(F, x + 0.05, solver="cd").y)
    assert 0 < int(jnp.sum(ref.y != 0)) < 100
    for sol in (cold, warm):
        assert bool(sol.converged)
        np.testing.assert_allclose(sol.y, ref.y, atol=3e-12 / float(F.l2))


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_kept_transpose_changes_no_digit(loss):
    """Keeping ``A^T`` (``keep_transpose``, the XLA:CPU default) only changes where columns are read
    from: the CD solution and the hypergradient, through the Cholesky bucket (ls: 95 candidates) and
    through CG on a gathered block (``max_support=256``), are bitwise those computed without it. And
    the kept copy is what is read (a wrong one changes CD's iterates and the gathered Hessian blocks).
    BCOO keeps none. (Static buckets: ``auto`` would compile every bucket of the switch, twice.)"""
    from conftest import upper

    F, x, A_val, b_val = random_problem(3, n=60, p=300, loss=loss)
    assert (F.A_T is not None) == (jax.default_backend() == "cpu")
    kept = type(F)(F.A, F.b, l2=F.l2, keep_transpose=True)
    np.testing.assert_array_equal(kept.A_T, F.A.T)
    plain = type(F)(F.A, F.b, l2=F.l2, keep_transpose=False)
    assert plain.A_T is None
    assert random_problem(3, n=60, p=300, loss=loss, sparse=True)[0].A_T is None
    L = upper(loss, A_val, b_val)
    # (logistic: 130 candidates overflow the 128 Cholesky bucket, which would run matrix-free CG on A)
    for max_support in (128, 256) if loss == "ls" else (256,):
        phi = jax.jit(jax.value_and_grad(lambda F, x: L(fbjax.argmin(F, x, solver="cd", max_support=max_support)), 1))
        (v1, g1), (v2, g2) = phi(kept, x), phi(plain, x)
        assert np.count_nonzero(g1) > 0
        np.testing.assert_array_equal(v1, v2)
        np.testing.assert_array_equal(g1, g2)
    wrong = eqx.tree_at(lambda f: f.A_T, kept, 1.01 * kept.A_T)
    solve = jax.jit(lambda F: fbjax.solve(F, x, solver="cd", max_iter=50).y)
    assert not np.allclose(solve(wrong), solve(kept))
    rng = np.random.default_rng(0)
    y, v, idx = jnp.asarray(rng.standard_normal(300)), jnp.asarray(rng.standard_normal(40)), jnp.arange(0, 280, 7)
    assert not np.allclose(wrong.hess_block(y, idx), kept.hess_block(y, idx))
    assert not np.allclose(wrong.hess_block_matvec(y, idx, 30)(v)[:30], kept.hess_block_matvec(y, idx, 30)(v)[:30])
