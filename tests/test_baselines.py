"""The baselines behind the one oracle interface: each against finite differences of its own
objective, unrolled RMD = FMD -> implicit, smoothing -> FB as mu -> 0, Bregman prox and dual FB
against numerical/primal solutions, SPNBO's merit decrease, group-structure learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compiles, margin, random_problem

import fbjax
from fbjax.baselines import (
    SPNBO, bregman_argmin, bregman_prox, dual_fb, hypergradient, learn_group_structure, log_grid, smoothed_argmin,
    spnbo, unrolled,
)  # fmt: skip
from fbjax.baselines.bregman import bregman_grad
from fbjax.baselines.bregman import spectral_bregman_prox, task_fb
from fbjax.baselines.group_structure import learn_task_groups, validation_error, validation_logloss
from fbjax.baselines.grid import scalar_penalties
from fbjax.baselines.sparse_ho import sparse_ho_gd
from fbjax.data.multitask import group_tasks, task_clusters


@pytest.fixture(scope="module")
def problem():
    F, x, A_val, b_val = random_problem(0)
    upper = lambda x, y: 0.5 * jnp.mean((A_val @ y - b_val) ** 2)  # noqa: E731
    return F, x, upper


def fd(phi, x, idx, eps=1e-6):
    out = []
    for i in idx:
        e = jnp.zeros_like(x).at[i].set(eps)
        out.append((phi(x + e) - phi(x - e)) / (2 * eps))
    return np.array(out)


def exact_grad(F, x, upper):
    """The implicit derivative with the exact partition (x here is off every kink)."""
    assert margin(F, x, fbjax.argmin(F, x)) > 1e-3
    return hypergradient(lambda x_: fbjax.argmin(F, x_, biactive_rtol=0.0), upper)(x)[1]


# ---------------------------------------------------------------- unrolled


@pytest.mark.parametrize("algorithm", ["ista", "fista"])
def test_unrolled_matches_finite_differences_of_its_objective(problem, algorithm):
    F, x, upper = problem
    sol = lambda x_: unrolled(F, x_, 40, algorithm=algorithm)  # noqa: E731
    v, h = jax.jit(hypergradient(sol, upper))(x)
    idx = range(0, 20, 3)
    np.testing.assert_allclose(np.asarray(h)[list(idx)], fd(lambda x_: upper(x_, sol(x_)), x, idx), rtol=1e-5, atol=1e-8)
    assert float(v) == pytest.approx(float(upper(x, sol(x))))


def test_unrolled_reverse_equals_forward_and_checkpointed(problem):
    F, x, upper = problem
    sol = lambda x_: unrolled(F, x_, 150)  # noqa: E731
    _, h_rev = jax.jit(hypergradient(sol, upper, "reverse"))(x)
    _, h_fwd = jax.jit(hypergradient(sol, upper, "forward"))(x)
    _, h_ck = jax.jit(hypergradient(lambda x_: unrolled(F, x_, 150, checkpoint_every=7), upper))(x)
    np.testing.assert_allclose(h_fwd, h_rev, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(h_ck, h_rev, rtol=1e-10, atol=1e-13)


def test_unrolled_converges_linearly_to_implicit_at_nondegenerate_point(problem):
    F, x, upper = problem
    h_star = exact_grad(F, x, upper)
    Ks = [25, 50, 100, 200]
    errs = [float(jnp.linalg.norm(jax.jit(hypergradient(lambda x_, K=K: unrolled(F, x_, K), upper))(x)[1] - h_star)) for K in Ks]
    rate = (errs[2] / errs[0]) ** (1 / (Ks[2] - Ks[0]))  # per-iteration contraction
    print(f"unrolled ISTA -> implicit: errors {errs}, linear rate {rate:.4f} per iteration")
    assert errs[-1] < 1e-6 * float(jnp.linalg.norm(h_star))
    assert all(b < a for a, b in zip(errs, errs[1:]))
    assert rate < 0.95


def test_unrolled_float32_path(problem):
    F, x, upper = problem
    F32 = fbjax.LeastSquares(F.A.astype(jnp.float32), F.b.astype(jnp.float32), l2=0.1)
    up32 = lambda x_, y: upper(x_, y.astype(jnp.float64)).astype(jnp.float32)  # noqa: E731
    v, h = jax.jit(hypergradient(lambda x_: unrolled(F32, x_, 200), up32))(x.astype(jnp.float32))
    assert h.dtype == jnp.float32
    np.testing.assert_allclose(h, exact_grad(F, x, upper), rtol=1e-3, atol=1e-4)


def test_unrolled_oracle_vmaps_and_drives_nba(problem):
    F, x, upper = problem
    oracle = hypergradient(lambda x_: unrolled(F, x_, 100), upper)
    xs = jnp.stack([x, x - 0.3, x + 0.2])
    v_batch, h_batch = jax.jit(jax.vmap(oracle))(xs)
    for i in range(3):
        v, h = oracle(xs[i])
        np.testing.assert_allclose(h_batch[i], h, rtol=1e-10, atol=1e-13)
    res = fbjax.nba(oracle, x, max_iter=15, step=0.05)
    assert float(res.best_value) < float(res.values[0])


def test_bad_arguments_raise(problem):
    F, x, upper = problem
    with pytest.raises(ValueError, match="algorithm"):
        unrolled(F, x, 10, algorithm="adam")
    with pytest.raises(ValueError, match="num_iter must be an int >= 1"):
        unrolled(F, x, 0)
    with pytest.raises(ValueError, match="checkpoint_every must be None or an int >= 1, got 0"):
        unrolled(F, x, 10, checkpoint_every=0)
    with pytest.raises(ValueError, match="num_iter"):  # the Bregman dual FB too (it returned its start)
        bregman_argmin(F, x, 0)
    for gamma in (1.01 / float(F.lipschitz), 0.0):  # a step outside (0, 1/Lambda_F) (was taken as given)
        with pytest.raises(Exception, match=r"step gamma must lie in \(0, 1/Lambda_F\)"):
            unrolled(F, x, 10, gamma=gamma)
    with pytest.raises(ValueError, match="num must be an int >= 1"):
        log_grid(1.0, 0)
    with pytest.raises(ValueError, match="p must be an int >= 1"):  # (p = 0 gave empty rows)
        scalar_penalties(log_grid(1.0, 3), 0)
    for bad in (-1, 2.5, True):  # (were accepted: -1 as 0, 2.5 as a float bound)
        with pytest.raises(ValueError, match="adaptive_iters must be an int >= 0"):
            sparse_ho_gd(jax.value_and_grad(lambda x_: jnp.sum(x_**2)), x, adaptive_iters=bad)
    for alpha_max, lo, hi in ((float("nan"), 1e-3, 0.9), (0.0, 1e-3, 0.9), (1.0, 0.9, 1e-3)):  # (was NaN / reversed)
        with pytest.raises(Exception, match="log_grid needs 0 < lo < hi and a finite alpha_max > 0"):
            log_grid(alpha_max, 10, lo, hi)
    with pytest.raises(ValueError, match="mode"):
        hypergradient(lambda x_: x_, upper, mode="sideways")
    with pytest.raises(TypeError, match=r"reverse-mode rule only .*use mode='reverse'"):  # (was JAX's one line)
        hypergradient(lambda x_: fbjax.argmin(F, x_), upper, mode="forward")(x)
    # (it ran, a sign-flipped prox); the message alone, not after equinox's traceback
    with pytest.raises(jax.errors.JaxRuntimeError, match="^fbjax.baselines.dual_fb: the penalties lam must all be > 0"):
        dual_fb(F, -jnp.ones(F.n_features), 10)
    with pytest.raises(ValueError, match="kind"):
        smoothed_argmin(F, x, 0.1, kind="cosh")
    with pytest.raises(TypeError, match="LeastSquares"):
        bregman_argmin(fbjax.Logistic(F.A, jnp.sign(F.b)), x, 10)
    # l2 = 0 and duplicated columns: a singular Hessian, f not strongly convex, f* not smooth
    wide = fbjax.LeastSquares(jnp.concatenate([F.A, F.A], axis=1), F.b, l2=0.0)
    with pytest.raises(Exception, match="non-finite"):
        bregman_argmin(wide, jnp.zeros(wide.n_features), 10)


# ---------------------------------------------------------------- smoothing


@pytest.mark.parametrize("kind", ["be", "huber"])
def test_smoothing_ift_matches_finite_differences_of_smoothed_objective(problem, kind):
    F, x, upper = problem
    sol = lambda x_: smoothed_argmin(F, x_, 0.05, kind=kind)  # noqa: E731
    _, h = jax.jit(hypergradient(sol, upper))(x)
    idx = [0, 4, 9, 15]
    np.testing.assert_allclose(np.asarray(h)[idx], fd(lambda x_: upper(x_, sol(x_)), x, idx, 1e-5), rtol=1e-5, atol=1e-8)


def test_smoothing_data_gradient_matches_finite_differences(problem):
    F, x, upper = problem
    g = jax.grad(lambda b: upper(x, smoothed_argmin(fbjax.LeastSquares(F.A, b, l2=0.1), x, 0.05)))(F.b)
    e = jnp.zeros_like(F.b).at[2].set(1e-6)
    phi = lambda b: upper(x, smoothed_argmin(fbjax.LeastSquares(F.A, b, l2=0.1), x, 0.05))  # noqa: E731
    assert float(g[2]) == pytest.approx(float((phi(F.b + e) - phi(F.b - e)) / 2e-6), rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("kind", ["be", "huber"])
def test_smoothing_converges_to_fb_solution_and_bias_grows_with_mu(problem, kind):
    F, x, upper = problem
    y_star = fbjax.argmin(F, x, tol=1e-12)
    h_star = exact_grad(F, x, upper)
    mus = [1e-1, 1e-2, 1e-3, 1e-4]
    dist, bias = [], []
    for mu in mus:
        y = smoothed_argmin(F, x, mu, kind=kind)
        dist.append(float(jnp.max(jnp.abs(y - y_star))))
        bias.append(float(jnp.linalg.norm(jax.jit(hypergradient(lambda x_, mu=mu: smoothed_argmin(F, x_, mu, kind=kind), upper))(x)[1] - h_star)))
        if kind == "be":  # BE never reaches the l1 boundary: no exact zeros (main paper, Fig. 2 left)
            assert int(jnp.sum(y == 0)) == 0 < int(jnp.sum(y_star == 0))
    print(f"{kind}: ||y_mu - S(x)||_inf {dist}, hypergradient bias {bias}")
    assert all(b < a for a, b in zip(dist, dist[1:])) and dist[-1] < 2e-3
    assert all(b < a for a, b in zip(bias, bias[1:])) and bias[-1] < 1e-2 * float(jnp.linalg.norm(h_star))


def test_smoothing_raises_when_not_converged(problem):
    """An eager call raises the message alone (it came after equinox's traceback)."""
    F, x, _ = problem
    with pytest.raises(jax.errors.JaxRuntimeError) as info:
        smoothed_argmin(F, x, 1e-3, max_iter=5)
    assert str(info.value).startswith("fbjax.baselines.smoothed_argmin: accelerated gradient did not reach")


def test_smoothing_checks_mu_tol_and_budget(problem):
    """mu as a NumPy float was refused ("mu must be a positive number"); True was taken as 1; tol <= 0 or NaN and
    max_iter < 1 ran to the end of the budget (100000 steps) or returned y0."""
    F, x, _ = problem
    np.testing.assert_array_equal(smoothed_argmin(F, x, np.float32(0.125)), smoothed_argmin(F, x, 0.125))
    np.testing.assert_array_equal(smoothed_argmin(F, x, 0.125, max_iter=None), smoothed_argmin(F, x, 0.125))
    for mu in (0.0, -1.0, True, float("nan")):
        with pytest.raises(ValueError, match="mu must be a positive finite number"):
            smoothed_argmin(F, x, mu)
    with pytest.raises(jax.errors.JaxRuntimeError, match="mu must be a positive finite number"):
        smoothed_argmin(F, x, jnp.asarray(-0.1))
    for tol in (-1.0, 0.0, float("nan")):
        with pytest.raises(ValueError, match=r"tol must be a finite number > 0 \(a bound on \|\|grad E_mu\|\|_inf\)"):
            smoothed_argmin(F, x, 0.1, tol=tol)
    with pytest.raises(ValueError, match="max_iter must be None or an int >= 1"):
        smoothed_argmin(F, x, 0.1, max_iter=0)
    with pytest.raises(ValueError, match="cg_rtol must be a positive finite number"):
        smoothed_argmin(F, x, 0.1, cg_rtol=-1.0)


# ---------------------------------------------------------------- Bregman dual FB (Frecon)


def test_bregman_prox_formula_against_numerical_argmin():
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    v = rng.standard_normal((3, 4)) * 2
    lam = np.array([0.5, 1.0, 2.0])
    closed = np.asarray(bregman_prox(jnp.asarray(v), jnp.asarray(lam)))
    for l in range(3):
        obj = lambda u: -np.sqrt(max(lam[l] ** 2 - u @ u, 0.0)) - u @ v[l]  # noqa: E731
        cons = {"type": "ineq", "fun": lambda u: lam[l] ** 2 - u @ u}
        num = minimize(obj, np.zeros(4), constraints=[cons], method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000}).x
        assert obj(closed[l]) <= obj(num) + 1e-12  # at least as good as the numerical argmin
        assert np.linalg.norm(closed[l] - num) < 0.05 * lam[l]  # and near it (SLSQP stalls by the boundary)
        grad_fd = [(obj(closed[l] + e) - obj(closed[l] - e)) / 2e-7 for e in 1e-7 * np.eye(4)]
        np.testing.assert_allclose(grad_fd, 0.0, atol=1e-6)  # stationary: the minimiser of a strictly convex function
        for _ in range(200):  # and no feasible point nearby is better
            u = closed[l] + 1e-3 * rng.standard_normal(4)
            if u @ u < lam[l] ** 2:
                assert obj(u) >= obj(closed[l])
        assert np.linalg.norm(closed[l]) < lam[l]
    np.testing.assert_allclose(bregman_grad(jnp.asarray(closed), jnp.asarray(lam)), v, rtol=1e-10)  # grad phi inverts it


def test_bregman_weighted_l1_converges_to_the_lasso_solution(problem):
    F, x, upper = problem
    y_star = fbjax.argmin(F, x, tol=1e-12)
    errs = [float(jnp.max(jnp.abs(bregman_argmin(F, x, K) - y_star))) for K in (100, 1000, 10000)]
    assert errs[0] > errs[1] > errs[2] and errs[2] < 5e-3


def test_bregman_group_lasso_matches_primal_solution():
    d = group_tasks(3, T=1, N=40, P=12, L=3)
    F = fbjax.LeastSquares(jnp.asarray(d.X_train[0]), jnp.asarray(d.y_train[0]), l2=0.05)
    theta = jnp.asarray(np.eye(3)[d.groups].T)
    lam = 0.3
    w = np.zeros(12)  # primal proximal gradient with the group soft-threshold (disjoint groups)
    A, b, n, Lf = np.asarray(F.A), np.asarray(F.b), 40, float(F.lipschitz)
    for _ in range(20000):
        v = w - (A.T @ (A @ w - b) / n + 0.05 * w) / Lf
        for l in range(3):
            g = d.groups == l
            v[g] *= max(0.0, 1 - lam / Lf / max(np.linalg.norm(v[g]), 1e-300))
        w = v
    assert np.sum(np.abs(w) > 0) < 12  # the groups do matter here
    w_dual = dual_fb(F, lam, 20000, theta)
    np.testing.assert_allclose(w_dual, w, atol=2e-3)


def test_bregman_hypergradients_match_finite_differences(problem):
    F, x, upper = problem
    sol = lambda x_: bregman_argmin(F, x_, 300)  # noqa: E731
    _, h = jax.jit(hypergradient(sol, upper))(x)
    idx = [1, 7, 12]
    np.testing.assert_allclose(np.asarray(h)[idx], fd(lambda x_: upper(x_, sol(x_)), x, idx), rtol=1e-5, atol=1e-8)
    d = group_tasks(0, T=1, N=20, P=10, L=2)
    Fg = fbjax.LeastSquares(jnp.asarray(d.X_train[0]), jnp.asarray(d.y_train[0]), l2=0.1)
    U = lambda th: jnp.sum((jnp.asarray(d.X_val[0]) @ dual_fb(Fg, 0.3, 100, th) - d.y_val[0]) ** 2)  # noqa: E731
    th = jnp.asarray(np.random.default_rng(0).dirichlet(np.ones(2), 10).T)
    g = jax.grad(U)(th)
    E = jnp.zeros_like(th).at[1, 3].set(1e-6)
    assert float(g[1, 3]) == pytest.approx(float((U(th + E) - U(th - E)) / 2e-6), rel=1e-5, abs=1e-8)


@pytest.mark.parametrize("name", ["unrolled", "smoothed", "bregman"])
def test_eager_calls_reuse_the_compiled_program(problem, name):
    """An eager call of a baseline's solution map, and of its hypergradient, at another ``x`` of the same shape
    compiles nothing: a finite-difference loop (2 calls per coordinate) or a per-seed loop compiles once, not at
    every call (0.1-0.7 s a call before; benchmarks/RESULTS.md)."""
    F, x, upper = problem
    sol = {"unrolled": lambda x_: unrolled(F, x_, 50), "smoothed": lambda x_: smoothed_argmin(F, x_, 1e-3),
           "bregman": lambda x_: bregman_argmin(F, x_, 50)}[name]  # fmt: skip
    phi = lambda x_: upper(x_, sol(x_))  # noqa: E731
    x1, x2 = x + 0.1, x - 0.1
    assert compiles(lambda: (sol(x), jax.grad(phi)(x))) > 0
    assert compiles(lambda: (sol(x1), jax.grad(phi)(x2))) == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_group_structure_learning_recovers_groups_small(dtype):
    """In float64, and on float32 data (where optax's simplex projection, float64 under x64, once broke the loop)."""
    d = group_tasks(0, T=100, P=20, L=4)
    d = d._replace(**{f: np.asarray(getattr(d, f), dtype) for f in ("X_train", "y_train", "X_val", "y_val")})
    res = learn_group_structure(d, 4, 0.3, l2=0.1, num_iter=50, outer_iter=60, step=0.2)
    assert res.theta.dtype == dtype and res.values.dtype == dtype
    assert res.ari >= 0.9, res.labels
    assert float(res.values[-1]) < float(res.values[0])
    np.testing.assert_allclose(jnp.sum(res.theta, axis=0), 1.0, atol=100 * np.finfo(dtype).eps)  # on the simplex
    assert float(jnp.min(res.theta)) >= 0.0


@pytest.mark.parametrize("shape", [(2, 5, 3), (2, 3, 5)])
def test_spectral_bregman_prox_maps_singular_values(shape):
    """``lam V (I + V^T V)^{-1/2}``: singular values ``s -> lam s / sqrt(1 + s^2)``, same singular vectors;
    also against the numerical argmin of ``phi(u) - <u, v>``; finite reverse mode at ``V = 0``."""
    v = 30.0 * jax.random.normal(jax.random.PRNGKey(0), shape)
    lam = jnp.array([0.5, 2.0])
    P, s, Qt = np.linalg.svd(np.asarray(v), full_matrices=False)
    ref = np.einsum("lij,lj,ljk->lik", P, np.asarray(lam)[:, None] * s / np.sqrt(1 + s**2), Qt)
    np.testing.assert_allclose(spectral_bregman_prox(v, lam), ref, atol=1e-12)
    v1 = jax.random.normal(jax.random.PRNGKey(1), shape[1:])  # one group, moderate v: a direct argmin
    phi = lambda u: -jnp.sum(jnp.sqrt(1.0 - jnp.linalg.svd(u, compute_uv=False) ** 2)) - jnp.sum(u * v1)  # noqa: E731
    u = spectral_bregman_prox(v1[None], jnp.ones(1))[0]
    np.testing.assert_allclose(jax.grad(phi)(u), 0.0, atol=1e-9)  # stationary, and phi is strictly convex
    g = jax.grad(lambda v: jnp.sum(spectral_bregman_prox(v, lam) ** 2))(jnp.zeros(shape))
    assert bool(jnp.all(jnp.isfinite(g)))


def _svt_fista(X, y, lam, groups, l2, loss="squared", iters=4000):
    """Oracle for task_fb with a hard partition: FISTA with singular-value thresholding per task group."""
    T, N, P = X.shape
    curv = 1.0 if loss == "squared" else 0.25
    L_f = curv * max(np.linalg.eigvalsh(X[t].T @ X[t] / N)[-1] for t in range(T)) + l2

    def grad(W):
        m = np.einsum("tnp,tp->tn", X, W)
        r = m - y if loss == "squared" else -y / (1.0 + np.exp(y * m))
        return np.einsum("tnp,tn->tp", X, r) / N + l2 * W

    W = Z = np.zeros((T, P))
    tk = 1.0
    for _ in range(iters):
        W_new = Z - grad(Z) / L_f
        for g in np.unique(groups):
            U, s, Vt = np.linalg.svd(W_new[groups == g], full_matrices=False)
            W_new[groups == g] = (U * np.maximum(s - lam / L_f, 0.0)) @ Vt
        t_new = (1 + np.sqrt(1 + 4 * tk * tk)) / 2
        Z, W, tk = W_new + (tk - 1) / t_new * (W_new - W), W_new, t_new
    return W


@pytest.mark.parametrize("loss, lam", [("squared", 0.5), ("logistic", 0.1)])
def test_task_fb_converges_to_the_trace_norm_solution(loss, lam):
    d = task_clusters(0, T=8, N=6, P=5, L=2, classification=loss == "logistic")
    theta = np.eye(2)[d.groups].T
    W_star = _svt_fista(d.X_train, d.y_train, lam, d.groups, 0.1, loss)
    W = [task_fb(d.X_train, d.y_train, lam, K, theta, l2=0.1, loss=loss) for K in (100, 3000)]
    errs = [float(np.linalg.norm(w - W_star)) for w in W]
    assert errs[1] < 0.1 * errs[0] and errs[1] < 1e-3 * np.linalg.norm(W_star), errs
    assert np.linalg.matrix_rank(W_star[d.groups == 0], tol=1e-6) < 4  # the trace norm is active
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    # float32: rounding accumulates over K (measured 2.5e-4 / 8.4e-4 relative at K = 500), and the spectral
    # prox breaks down past ~2500 steps here (raises): see spectral_bregman_prox
    W32 = task_fb(f32(d.X_train), f32(d.y_train), lam, 500, f32(theta), l2=0.1, loss=loss)
    W64 = task_fb(d.X_train, d.y_train, lam, 500, theta, l2=0.1, loss=loss)
    assert W32.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(W32 - W64))) < 5e-3 * float(jnp.max(jnp.abs(W64)))
    with pytest.raises(ValueError, match="theta"):
        task_fb(d.X_train, d.y_train, lam, 10, theta[:, :3], l2=0.1, loss=loss)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_task_fb_theta_gradient_matches_finite_differences(loss):
    """Reverse mode through the unrolled dual FB, the Newton-Schulz prox and (logistic) the Newton steps."""
    d = task_clusters(1, T=6, N=10, P=4, L=2, classification=loss == "logistic")
    err = validation_error if loss == "squared" else validation_logloss
    # a fixed step: the default one depends on theta but is held fixed in autodiff
    U = lambda th: err(task_fb(d.X_train, d.y_train, 0.3, 30, th, l2=0.1, loss=loss, step=0.2), d.X_val, d.y_val)  # noqa: E731
    theta = jax.random.dirichlet(jax.random.PRNGKey(0), jnp.ones(2), (6,)).T
    direction = jax.random.normal(jax.random.PRNGKey(1), theta.shape)
    eps = 1e-6
    fd = (U(theta + eps * direction) - U(theta - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(jax.grad(U)(theta), direction), fd, rtol=1e-6)


def test_task_group_learning_small():
    """Tasks in 2 rank-one clusters; tasks with small |a_t| fit either cluster, hence a bar of 0.7 (measured 0.75)."""
    d = task_clusters(0, T=16, L=2, N=8, P=12)
    res = learn_task_groups(d, 2, 1.0, num_iter=40, outer_iter=80, step=0.2, restarts=2)
    assert res.ari >= 0.7, res.labels
    X, y, Xv, yv = d[:4]
    one_group = float(validation_error(task_fb(X, y, 1.0, 40, np.ones((1, 16)), l2=0.1), Xv, yv))
    assert float(res.values[-1]) < one_group  # the learned grouping beats pooling all tasks
    np.testing.assert_allclose(jnp.sum(res.theta, axis=0), 1.0, atol=1e-10)


# ---------------------------------------------------------------- SPNBO


_SMALL = dict(num_iter=5, outer_iter=2)


@pytest.mark.parametrize(
    "change, match",
    [(dict(lam=0.0), "lam must be a positive"), (dict(lam=-1.0), "lam must be a positive"),  # (-1 ran)
     (dict(step=0.0), "step must be a positive"), (dict(l2=-1.0), "l2 must be a finite number >= 0"),
     (dict(num_groups=0), "num_groups must be an int >= 1"), (dict(restarts=0), "restarts must be an int >= 1"),
     (dict(outer_iter=0), "outer_iter must be an int >= 1"), (dict(design="y_val"), r"got .* and \(6, 2\)"),
     (dict(design="nan"), "X_train contains NaN or inf")],
)  # fmt: skip
def test_group_structure_learning_refuses_bad_arguments(change, match):
    d = group_tasks(0, T=6, N=8, P=6, L=2)
    change = dict(change)
    edit = change.pop("design", None)
    if edit == "y_val":
        d = d._replace(y_val=d.y_val[:, :2])
    elif edit == "nan":
        d = d._replace(X_train=np.where(np.arange(6) == 1, np.nan, d.X_train))
    kw = dict(num_groups=2, lam=0.3, **_SMALL) | change
    with pytest.raises(ValueError, match=match):
        learn_group_structure(d, **kw)
    with pytest.raises(ValueError, match="loss must be 'squared' or 'logistic'"):
        learn_task_groups(task_clusters(0, T=6, N=4, P=3, L=2), 2, 0.3, loss="hinge", **_SMALL)


def test_group_structure_learning_raises_a_diverged_lower_level_with_its_message():
    """l2 = 0 with N < P: f is not strongly convex; the error arrives as the message alone (was a callback's trace)."""
    d = group_tasks(0, T=6, N=4, P=6, L=2)
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"^fbjax.baselines.dual_fb: non-finite iterate \(f not str"):
        learn_group_structure(d, 2, 0.3, l2=0.0, **_SMALL)


@pytest.mark.parametrize(
    "change, match",
    [(dict(stages=0), "params.stages must be an int >= 1"), (dict(gamma=-1.0), "params.gamma must be a positive"),
     (dict(beta=0), "params.beta must be a positive"), (dict(a=1.5), r"params.a must lie in \(0, 1\]"),
     (dict(rho=1e9), r"params.rho <= params.b needed \(the clip range\), got 1000000000.0 > 100000000.0")],
)  # fmt: skip
def test_spnbo_refuses_bad_parameters(problem, change, match):
    F, x, upper = problem
    with pytest.raises(ValueError, match=match):
        spnbo(F, upper, x, params=SPNBO(**change))


def test_spnbo_sweeps_a_traced_constant_and_checks_it(problem):
    """A sweep over the momentum ``a`` under jax.vmap equals the loop; a bad traced value (``a`` not positive or
    above 1, ``rho`` above ``b``) raises when the program runs."""
    F, x, upper = problem
    run = lambda a: spnbo(F, upper, x, params=SPNBO(stages=2, inner_iter=100, a=a)).merit_end  # noqa: E731
    np.testing.assert_allclose(jax.vmap(run)(jnp.array([0.1, 0.5])), [run(0.1), run(0.5)], rtol=1e-10)
    program = jax.jit(jax.vmap(lambda a, rho: spnbo(F, upper, x, params=SPNBO(stages=1, inner_iter=10, a=a, rho=rho))))
    ok = jnp.array([0.1, 0.1]), jnp.array([1e-2, 1e-2])
    jax.block_until_ready(program(*ok))
    for i, value, match in [(0, -0.5, "spnbo: params.a must be a positive finite number"),  # (jit: checks needed)
                            (0, 1.5, r"spnbo: params.a must lie in \(0, 1\]"),  # ranges too (were skipped)
                            (1, 1e9, "spnbo: params.rho <= params.b needed")]:  # fmt: skip
        args = list(ok)
        args[i] = args[i].at[1].set(value)
        with pytest.raises(Exception, match=match):
            jax.block_until_ready(program(*args))


def test_spnbo_that_diverges_raises_with_its_message(problem):
    """A step far too long: the iterates overflow; SPNBO says so, eagerly and under jit (was "psi gave a
    non-finite weight", through a callback's trace)."""
    F, x, upper = problem
    run = lambda x_: spnbo(F, upper, x_, params=SPNBO(stages=1, inner_iter=50, gamma=1e8)).x  # noqa: E731
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"^fbjax.baselines.spnbo: the iterates diverged"):
        run(x)
    with pytest.raises(Exception, match=r"fbjax.baselines.spnbo: the iterates diverged"):
        jax.jit(run)(x)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_spnbo_decreases_its_merit_and_the_validation_loss(problem, dtype):
    """In float64, and in float32 (where optax's simplex projection, float64 under x64, once broke the loop)."""
    F, _, upper = problem
    phi = lambda x_: upper(x_, fbjax.argmin(F, x_))  # noqa: E731
    x0 = jnp.full(20, float(jnp.log(0.1)))
    Fd = fbjax.LeastSquares(F.A.astype(dtype), F.b.astype(dtype), l2=F.l2.astype(dtype))
    up = lambda x_, y: upper(x_, y.astype(jnp.float64)).astype(dtype)  # noqa: E731
    res = jax.jit(lambda x0_: spnbo(Fd, up, x0_, params=SPNBO(stages=4, inner_iter=2000)))(x0.astype(dtype))
    assert all(a.dtype == dtype for a in (res.x, res.w, res.p, res.merit_end, res.mus))
    assert float(res.merit_end[0]) < 0.1 * float(res.merit_start[0])  # same mu, beta within a stage
    assert np.all(np.isfinite(np.asarray(res.merit_end)))
    np.testing.assert_allclose(jnp.sum(res.p), 1.0, atol=100 * jnp.finfo(dtype).eps)
    assert float(phi(res.x.astype(jnp.float64))) < float(phi(x0))
    assert float(res.mus[1]) == pytest.approx(0.5 * float(res.mus[0]))
