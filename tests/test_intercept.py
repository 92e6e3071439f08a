"""fbjax.WithIntercept: the unpenalised intercept profiled out of the lower level, G(y) = min_c F(y, c)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import fbjax
from fbjax.fb import B_MINUS, B_PLUS

from conftest import random_problem


def shifted(seed, loss, is_sparse=False, n=30, p=20):
    """``random_problem``'s lower level with columns moved off zero mean and (least squares) targets off zero:
    an intercept matters there. Returns ``(F, G = WithIntercept(F), x, A_val, b_val)``."""
    F, x, A_val, b_val = random_problem(seed, n=n, p=p, loss=loss)
    shift = np.random.default_rng(seed + 100).uniform(1.0, 3.0, F.n_features)
    A, A_val = F.A + shift, A_val + shift
    b, b_val = (F.b + 2.0, b_val + 2.0) if loss == "ls" else (F.b, b_val)
    F = type(F)(sparse.BCOO.fromdense(A) if is_sparse else A, b, l2=F.l2)
    return F, fbjax.WithIntercept(F), x, A_val, b_val


def link_loss(loss):
    return (lambda t, b: 0.5 * (t - b) ** 2) if loss == "ls" else fbjax.Logistic.loss


@pytest.mark.parametrize("loss", ["ls", "logistic"])
@pytest.mark.parametrize("is_sparse", [False, True])
def test_profiled_loss_derivatives_match_autodiff(loss, is_sparse):
    """``c(y)`` is the intercept's optimum, and ``grad``, ``hvp``, ``hess_block`` and the paged
    ``hess_block_matvec`` of ``G`` equal autodiff of ``G.value`` (which differentiates ``c(y)`` through its
    implicit-function rule); ``grad c`` equals central differences and ``-A^T d / 1^T d``; ``Lambda_G``
    bounds the Hessian and is the centred design's constant, far below ``F``'s."""
    F, G, _, _, _ = shifted(0, loss, is_sparse)
    rng = np.random.default_rng(1)
    y, v = (jnp.asarray(0.3 * rng.standard_normal(F.n_features)) for _ in range(2))
    c, t = G.intercept(y), F.A @ y
    assert abs(float(jnp.sum(F.dloss(t + c, F.b)))) <= 1e-12 * F.n_samples  # d/dc F(y, c) = 0
    assert float(G.value(y)) < min(float(F.value_at(y, t + c + e)) for e in (-1e-4, 1e-4))  # and a minimum
    np.testing.assert_allclose(G.grad(y), jax.grad(G.value)(y), rtol=1e-11, atol=1e-13)
    H = np.asarray(jax.hessian(G.value)(y))
    np.testing.assert_allclose(G.hvp(y, v), H @ v, rtol=1e-11, atol=1e-13)
    idx = jnp.array([3, 0, 7, 6, 11])
    np.testing.assert_allclose(G.hess_block(y, idx), H[np.ix_(idx, idx)], rtol=1e-11, atol=1e-13)
    count = 3  # the caller masks v past count; the output there is ignored
    out = G.hess_block_matvec(y, idx, count)(jnp.where(jnp.arange(5) < count, v[:5], 0.0))
    S = np.asarray(idx[:count])
    np.testing.assert_allclose(out[:count], H[np.ix_(S, S)] @ np.asarray(v[:count]), rtol=1e-11, atol=1e-13)
    # the implicit-function derivative of the intercept
    d = F.d2loss(t + c, F.b)
    dc = jax.grad(G.intercept)(y)
    np.testing.assert_allclose(dc, -(F.A.T @ d) / jnp.sum(d), rtol=1e-11, atol=1e-13)
    e, eye = 1e-6, np.eye(F.n_features)
    fd = [(G.intercept(y + e * u) - G.intercept(y - e * u)) / (2 * e) for u in eye]
    np.testing.assert_allclose(dc, fd, rtol=1e-6, atol=1e-8)
    # Lambda_G = c ||P A||^2 / n + l2 bounds hess G; F's constant is about ||A||^2, the columns' means included
    A = np.asarray(F.A.todense() if is_sparse else F.A)
    exact = F.curvature * np.linalg.norm(A - A.mean(axis=0), 2) ** 2 / F.n_samples + float(F.l2)
    assert np.linalg.eigvalsh(H)[-1] <= exact * (1 + 1e-12)
    assert exact <= float(G.lipschitz) <= 1.06 * exact
    assert float(G.lipschitz) < 0.2 * float(F.lipschitz)
    assert G.hess_rank_bound() == F.n_features  # a ridge: no singular block
    wide = jnp.asarray(np.random.default_rng(9).standard_normal((10, F.n_features)))
    ridgeless = fbjax.WithIntercept(type(F)(wide, F.b[:10], l2=0.0))  # D - d d^T / 1^T d has rank n - 1
    assert ridgeless.hess_rank_bound() == 9


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_joint_problem_and_its_fista(loss):
    """``J(y, c') = F(y, c' - m^T y)`` (``m`` the columns' means): its gradient is autodiff's, ``Lambda_J`` bounds
    its Hessian, ``lift(y)`` is the optimal ``c'`` for ``y`` (so ``J(lift(y)) = G(y)``); FISTA on it (what
    ``solver="fista"`` runs for a ``WithIntercept``) returns a point certified on ``G`` itself."""
    F, G, x, _, _ = shifted(6, loss)
    J = G.joint()
    rng = np.random.default_rng(7)
    z = jnp.asarray(0.3 * rng.standard_normal(F.n_features + 1))
    np.testing.assert_allclose(J.grad(z), jax.grad(J.value)(z), rtol=1e-11, atol=1e-13)
    H = np.asarray(jax.hessian(J.value)(z))
    A = np.asarray(F.A)
    exact = F.curvature * max(np.linalg.norm(A - A.mean(axis=0), 2) ** 2 / F.n_samples, 1.0) + float(F.l2)
    assert np.linalg.eigvalsh(H)[-1] <= exact * (1 + 1e-12) and exact <= float(J.lipschitz) <= 1.06 * exact
    small = fbjax.WithIntercept(type(F)(0.1 * F.A, F.b, l2=F.l2)).joint()  # ||P A||^2 / n < 1: the 1 column rules
    assert float(small.lipschitz) == pytest.approx(F.curvature + float(F.l2), rel=1e-12)
    y = z[:-1]
    lifted = J.lift(y)
    assert abs(float(J.grad(lifted)[-1])) <= 1e-14
    assert float(J.value(lifted)) == pytest.approx(float(G.value(y)), rel=1e-13)
    sol = fbjax.solve(G, x, solver="fista", tol=1e-11)
    assert bool(sol.converged) and sol.y.shape == (F.n_features,)
    gamma = 0.99 / G.lipschitz
    assert float(jnp.max(jnp.abs(fbjax.fb_residual(G, x, sol.y, gamma)))) <= 1e-11
    np.testing.assert_allclose(sol.grad, G.grad(sol.y), rtol=1e-12, atol=1e-14)


def hypergradient_problem(seed, loss, dtype=jnp.float64):
    F, G, x, A_val, b_val = shifted(seed, loss)
    cast = lambda a: jnp.asarray(a, dtype)  # noqa: E731
    G = fbjax.WithIntercept(type(F)(cast(F.A), cast(F.b), l2=cast(F.l2)))
    A_val, b_val, x = cast(A_val), cast(b_val), cast(x)
    link = link_loss(loss)

    def phi(x):  # solved to 1e-13 in float64: central differences of step 1e-6 see the solve's error / 1e-6
        w = fbjax.argmin(G, x, tol=1e-13 if dtype == jnp.float64 else None)
        return jnp.mean(link(A_val @ w + G.intercept(w), b_val))

    return G, x, phi


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_hypergradient_with_an_intercept_matches_finite_differences(loss):
    """At a point without biactive coordinates, ``jax.grad`` of the validation loss of ``A_val w + c(w)``,
    ``w = argmin(WithIntercept(F), x)``, is the derivative: central differences agree. Also under ``jit`` and
    ``vmap``, and for the cotangent of the training targets (through ``c``'s dependence on ``b``)."""
    G, x, phi = hypergradient_problem(3, loss)
    w = fbjax.argmin(G, x)
    u, v = fbjax.forward_map(G, x, w, 0.99 / G.lipschitz)
    codes = np.asarray(fbjax.partition(u, v))
    assert not np.any((codes == B_PLUS) | (codes == B_MINUS)) and 3 <= np.sum(w != 0) < G.n_features
    g = jax.grad(phi)(x)
    e, eye = 1e-6, np.eye(G.n_features)
    fd = np.array([(phi(x + e * u) - phi(x - e * u)) / (2 * e) for u in eye])
    assert np.max(np.abs(g)) > 1e-3
    assert np.linalg.norm(g - fd) <= 1e-5 * np.linalg.norm(fd)  # as tests/test_hypergradient.py
    assert np.all(g[np.asarray(w) == 0] == 0)  # inactive outside the band: exactly no signal through S
    np.testing.assert_allclose(jax.jit(jax.grad(phi))(x), g, rtol=1e-10, atol=1e-14)
    xs = jnp.stack([x, x + 0.05])
    batched = jax.vmap(jax.grad(phi))(xs)
    np.testing.assert_allclose(batched[1], jax.grad(phi)(xs[1]), rtol=1e-9, atol=1e-13)
    if loss == "ls":  # d Phi / d b along a direction, through argmin's data cotangent and c(t, b)
        db = jnp.asarray(np.random.default_rng(3).standard_normal(G.base.n_samples))

        def of_b(b):
            H = fbjax.WithIntercept(fbjax.LeastSquares(G.base.A, b, l2=G.base.l2))
            w = fbjax.argmin(H, x, tol=1e-13)
            return jnp.sum((w + H.intercept(w)) ** 2)

        gb = jax.grad(of_b)(G.base.b)
        fd_b = (of_b(G.base.b + e * db) - of_b(G.base.b - e * db)) / (2 * e)
        np.testing.assert_allclose(jnp.vdot(gb, db), fd_b, rtol=1e-5)  # as tests/test_hypergradient.py


def test_least_squares_with_an_intercept_is_the_centred_problem():
    """The oracle for least squares: profiling the intercept is centring ``A`` and ``b`` by their means, so
    ``argmin``, ``c = mean(b) - mean(A) w``, ``Lambda`` and the hypergradient of the validation MSE equal the
    centred problem's (the validation split centred by the training means)."""
    F, G, x, A_val, b_val = shifted(4, "ls")
    a_mean, b_mean = jnp.mean(F.A, axis=0), jnp.mean(F.b)
    Fc = fbjax.LeastSquares(F.A - a_mean, F.b - b_mean, l2=F.l2)
    w, wc = fbjax.argmin(G, x, tol=1e-13), fbjax.argmin(Fc, x, tol=1e-13)  # two solvers (FISTA, CD): solved tight
    np.testing.assert_allclose(w, wc, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(G.intercept(w), b_mean - a_mean @ w, rtol=1e-12)
    np.testing.assert_allclose(G.lipschitz, Fc.lipschitz, rtol=1e-8)
    mse = lambda w, c, A, b: jnp.mean((A @ w + c - b) ** 2)  # noqa: E731
    g = jax.grad(lambda x: mse(w := fbjax.argmin(G, x, tol=1e-13), G.intercept(w), A_val, b_val))(x)
    gc = jax.grad(lambda x: mse(fbjax.argmin(Fc, x, tol=1e-13), 0.0, A_val - a_mean, b_val - b_mean))(x)
    np.testing.assert_allclose(g, gc, rtol=1e-7, atol=1e-11)


def test_float32_path():
    """Float32 data give a float32 solution, intercept and hypergradient, equal to float64's to float32 accuracy."""
    G32, x32, phi32 = hypergradient_problem(3, "logistic", jnp.float32)
    G, x, phi = hypergradient_problem(3, "logistic")
    w32 = fbjax.argmin(G32, x32)
    c32, g32 = G32.intercept(w32), jax.grad(phi32)(x32)
    assert w32.dtype == c32.dtype == g32.dtype == G32.lipschitz.dtype == jnp.float32
    w = fbjax.argmin(G, x)
    np.testing.assert_allclose(w32, w, atol=2e-3)  # float32's tol 1e-4 over mu_F = l2 = 0.1, and a margin
    np.testing.assert_allclose(c32, G.intercept(jnp.asarray(w32, jnp.float64)), rtol=1e-5)  # c(w) to float32 rounding
    np.testing.assert_allclose(g32, jax.grad(phi)(x), atol=2e-3 * float(jnp.max(jnp.abs(jax.grad(phi)(x)))))


def test_bad_input():
    F, _, _, _ = random_problem(0, loss="logistic")
    with pytest.raises(RuntimeError, match="no finite intercept .* both labels"):
        fbjax.WithIntercept(fbjax.Logistic(F.A, jnp.ones(F.n_samples)))
    with pytest.raises(RuntimeError, match="no finite intercept"):
        fbjax.WithIntercept(fbjax.Logistic(F.A, -jnp.ones(F.n_samples)))
    with pytest.raises(TypeError, match="WithIntercept needs a LinearModelLoss"):
        fbjax.WithIntercept(fbjax.WithIntercept(F))
    with pytest.raises(ValueError, match="solver='cd' needs a dense linear-model loss"):
        G = fbjax.WithIntercept(fbjax.Logistic(sparse.BCOO.fromdense(F.A), F.b))
        fbjax.argmin(G, jnp.zeros(F.n_features), solver="cd")


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_coordinate_descent_with_an_intercept(loss):
    """Coordinate descent on ``(y, c)`` (the intercept block minimised after each sweep) reaches FISTA's
    solution of the profiled problem, certified by its FB residual; ``solver="auto"`` picks it for a dense
    design on CPU."""
    from fbjax.solvers import cd_then_fista, pick_solver

    _, G, x, _, _ = shifted(5, loss, n=60, p=40)
    cd, fista = (fbjax.solve(G, x, solver=s, tol=1e-12) for s in ("cd", "fista"))
    assert bool(cd.converged) and bool(fista.converged) and 5 <= int(jnp.sum(cd.y != 0)) < 40
    np.testing.assert_allclose(cd.y, fista.y, atol=1e-9)
    assert float(cd.residual) <= 1e-12
    assert pick_solver(G, "auto") is (cd_then_fista if jax.default_backend() == "cpu" else fbjax.solvers.fista_any)
