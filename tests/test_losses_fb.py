"""Smooth parts F and the FB pieces (eqs. 13-16, Prop. 3)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import sparse

import fbjax
from fbjax.fb import A_, B_MINUS, B_PLUS, I_MINUS, I_PLUS

from conftest import random_problem


@pytest.mark.parametrize("loss", ["ls", "logistic"])
@pytest.mark.parametrize("is_sparse", [False, True])
def test_loss_derivatives_match_autodiff(loss, is_sparse):
    F, _, _, _ = random_problem(0, loss=loss, sparse=is_sparse)
    y = jnp.asarray(np.random.default_rng(1).standard_normal(F.n_features))
    v = jnp.asarray(np.random.default_rng(2).standard_normal(F.n_features))
    np.testing.assert_allclose(F.grad(y), jax.grad(F.value)(y), rtol=1e-12, atol=1e-14)
    H = jax.hessian(F.value)(y)
    np.testing.assert_allclose(F.hvp(y, v), H @ v, rtol=1e-11, atol=1e-13)
    idx = jnp.array([3, 0, 7, 7 - 1])
    np.testing.assert_allclose(F.hess_block(y, idx), H[np.ix_(idx, idx)], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fbjax.SmoothLoss.hess_block(F, y, idx), H[np.ix_(idx, idx)], rtol=1e-11, atol=1e-13)
    # Lambda_F bounds the Hessian spectrum; coordinate bounds dominate the diagonal
    A = F.A.todense() if is_sparse else F.A
    exact = F.curvature * jnp.linalg.norm(A, 2) ** 2 / F.n_samples + F.l2
    assert jnp.linalg.eigvalsh(H)[-1] <= exact * (1 + 1e-12)  # equality for least squares: rounding apart
    assert exact <= F.lipschitz <= 1.06 * exact
    assert bool(jnp.all(jnp.diag(H) <= F.coordinate_lipschitz() * (1 + 1e-12)))


def test_dense_and_sparse_losses_agree():
    F, _, _, _ = random_problem(3)
    Fs = fbjax.LeastSquares(sparse.BCOO.fromdense(F.A), F.b, l2=F.l2)
    y = jnp.linspace(-1, 1, F.n_features)
    np.testing.assert_allclose(Fs.value(y), F.value(y), rtol=1e-13)
    np.testing.assert_allclose(Fs.grad(y), F.grad(y), rtol=1e-12)
    np.testing.assert_allclose(Fs.coordinate_lipschitz(), F.coordinate_lipschitz(), rtol=1e-12)


def test_a_bcoo_with_repeated_indices_is_the_matrix_of_its_sums():
    """BCOO adds up entries that share an index. The squared column norms (``coordinate_lipschitz()``, the paper
    code's step behind the published band) squared the parts before: ``a^2 + b^2`` for the entry ``a + b``. Each
    entry is split in two parts of one sign here."""
    F, _, _, _ = random_problem(4)
    D = sparse.BCOO.fromdense(F.A)
    split = sparse.BCOO((jnp.concatenate([0.3 * D.data, 0.7 * D.data]), jnp.concatenate([D.indices, D.indices])),
                        shape=D.shape)
    Fs = fbjax.LeastSquares(split, F.b, l2=F.l2)
    np.testing.assert_allclose(Fs.coordinate_lipschitz(), F.coordinate_lipschitz(), rtol=1e-13)
    np.testing.assert_allclose(Fs.grad(jnp.ones(F.n_features)), F.grad(jnp.ones(F.n_features)), rtol=1e-13)
    np.testing.assert_allclose(jax.jit(fbjax.losses._sq_col_norms)(split), jnp.sum(F.A**2, axis=0), rtol=1e-13)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_a_scipy_sparse_design_is_taken_as_bcoo(fmt):
    """A SciPy sparse matrix (what scikit-learn's loaders return) was "setting an array element with a sequence";
    now it is the BCOO of its entries (integer entries as floats), solved as that BCOO is."""
    import scipy.sparse

    F, x, _, _ = random_problem(5, sparse=True)
    M = scipy.sparse.csr_matrix(np.asarray(F.A.todense())).asformat(fmt)
    Fs = fbjax.Logistic(M, F.b, l2=F.l2) if isinstance(F, fbjax.Logistic) else fbjax.LeastSquares(M, F.b, l2=F.l2)
    assert isinstance(Fs.A, sparse.BCOO) and Fs.A.dtype == F.A.dtype
    np.testing.assert_array_equal(fbjax.argmin(Fs, x), fbjax.argmin(F, x))
    ints = fbjax.LeastSquares(scipy.sparse.random(9, 4, density=0.5, format=fmt, random_state=0, dtype=int), F.b[:9])
    assert jnp.issubdtype(ints.A.dtype, jnp.floating)


def test_soft_threshold_and_partition_codes():
    u = jnp.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    v = jnp.array([2.0, -2.0, 0.5, 1.0, -1.0, 0.96, 1.04])
    np.testing.assert_allclose(fbjax.soft_threshold(u, v), [1.0, -1.0, 0, 0, 0, 0, 0.04], atol=1e-15)
    codes = fbjax.partition(u, v)  # default band 0.1: 0.96 and 1.04 are biactive
    assert list(np.asarray(codes)) == [I_PLUS, I_MINUS, A_, B_PLUS, B_MINUS, B_PLUS, B_PLUS]
    exact = fbjax.partition(u, v, biactive_rtol=0.0)
    assert list(np.asarray(exact)) == [I_PLUS, I_MINUS, A_, B_PLUS, B_MINUS, A_, I_PLUS]


def test_default_band_catches_paper_calibration():
    """Hidden features 5% inside the threshold (|v| = u/1.05) count as biactive by default."""
    u = jnp.array([1.0, 1.0])
    v = jnp.array([1 / 1.05, -1 / 1.05])
    assert list(np.asarray(fbjax.partition(u, v))) == [B_PLUS, B_MINUS]


@pytest.mark.parametrize("loss", ["ls", "logistic"])
def test_residual_vanishes_exactly_at_solution(loss):
    """Prop. 3: R_gamma(x, y) = 0 iff y = S(x), for several gamma."""
    F, x, _, _ = random_problem(4, loss=loss)
    y = fbjax.solve(F, x, tol=1e-13, max_iter=100_000).y
    for frac in [0.2, 0.6, 0.99]:
        gamma = frac / F.lipschitz
        assert jnp.max(jnp.abs(fbjax.fb_residual(F, x, y, gamma))) < 1e-12
        assert jnp.max(jnp.abs(fbjax.fb_residual(F, x, y + 1e-3, gamma))) > 1e-5


def test_psi_variants():
    F, x, _, _ = random_problem(5)
    y_exp = fbjax.argmin(F, x, psi="exp")
    y_sp = fbjax.argmin(F, jnp.log(jnp.expm1(jnp.exp(x))), psi="softplus")  # same weights
    y_cb = fbjax.argmin(F, x, psi=lambda t: jnp.exp(t))
    np.testing.assert_allclose(y_sp, y_exp, atol=1e-9)
    np.testing.assert_allclose(y_cb, y_exp, atol=1e-12)


def test_band_floor_and_scale():
    """``rtol * max(|v|, u, floor)``: floor 0 is scale-free, floor 1 makes the band absolute below 1."""
    u = jnp.array([0.05, 0.05, 0.5, 2.0])
    v = jnp.array([0.12, -0.01, 0.47, 2.3])  # gaps 0.07, 0.04, 0.03, 0.3
    assert list(np.asarray(fbjax.partition(u, v))) == [I_PLUS, A_, B_PLUS, I_PLUS]
    assert list(np.asarray(fbjax.partition(u, v, biactive_floor=1.0))) == [B_PLUS, B_MINUS, B_PLUS, I_PLUS]
    for c in (1e-3, 7.0):  # same partition for every step scale without a floor, not with one
        assert list(np.asarray(fbjax.partition(c * u, c * v))) == list(np.asarray(fbjax.partition(u, v)))
    assert list(np.asarray(fbjax.partition(7 * u, 7 * v, biactive_floor=1.0))) == [I_PLUS, A_, B_PLUS, I_PLUS]


@pytest.mark.parametrize(
    "loss, is_sparse, pages, intercept",
    [("ls", False, 3, False), ("ls", True, 3, False), ("logistic", False, 3, False), ("logistic", True, 3, False),
     ("ls", False, "max", False), ("logistic", False, 3, True), ("ls", True, 3, True)],
)
def test_paged_hess_block_matvec(loss, is_sparse, pages, intercept):
    """The gathered block operator, in pages with the pages past ``count`` skipped, equals the
    autodiff Hessian's block on ``idx[:count]``; also under vmap with different counts per member
    (a page is then computed for the batch if any member needs it). ``pages="max"``: more than
    PAGE * PAGES columns, so the pages grow past PAGE. ``intercept``: ``WithIntercept``'s operator, whose
    rank-one correction ``g = A_S^T d`` comes from the same pages."""
    from fbjax.losses import PAGE, PAGES, page_size

    p = 2 * PAGE + 44 if pages == 3 else PAGE * PAGES + 60
    page = page_size(p)
    assert page == PAGE if pages == 3 else page > PAGE
    F, _, _, _ = random_problem(4, n=40, p=p, loss=loss, sparse=is_sparse)

    def scaled(s):  # F (or WithIntercept(F)) on the design times s
        F_s = type(F)(F.A * s, F.b, l2=F.l2)
        return fbjax.WithIntercept(F_s) if intercept else F_s

    G = scaled(1.0)
    rng = np.random.default_rng(5)
    y = jnp.asarray(rng.standard_normal(p))
    H = np.asarray(jax.hessian(G.value)(y))
    idx = jnp.asarray(rng.permutation(p))  # k = p
    counts = [5, page + 1, p]  # page + 1: the second page holds a single used column
    vs = [jnp.where(jnp.arange(p) < c, jnp.asarray(rng.standard_normal(p)), 0.0) for c in counts]  # caller masks

    def check(out, c, v, H=H):
        S = np.asarray(idx[:c])
        np.testing.assert_allclose(out[:c], H[np.ix_(S, S)] @ np.asarray(v[:c]), rtol=1e-11, atol=1e-12)

    for c, v in zip(counts, vs):
        check(jax.jit(lambda c, v: G.hess_block_matvec(y, idx, c)(v))(c, v), c, v)
    batched = jax.vmap(lambda c, v: G.hess_block_matvec(y, idx, c)(v))(jnp.asarray(counts[:2]), jnp.stack(vs[:2]))
    for out, c, v in zip(batched, counts[:2], vs[:2]):
        check(out, c, v)
    # A design batched over the members too (a per-seed A in a vmapped seed sweep): the skipped pages
    # must take A as an operand, or custom_vmap refuses the batched closure.
    scales = [1.0, 0.5]
    member = lambda s, c, v: scaled(s).hess_block_matvec(y, idx, c)(v)  # noqa: E731
    batched = jax.jit(jax.vmap(member))(jnp.asarray(scales), jnp.asarray(counts[:2]), jnp.stack(vs[:2]))
    for out, s, c, v in zip(batched, scales, counts[:2], vs[:2]):
        check(out, c, v, np.asarray(jax.hessian(scaled(s).value)(y)))


def test_batch_when_skips_unbatched_and_runs_for_the_batch():
    from fbjax._batching import batch_when

    def fn(o):
        return 2.0 * o

    f = jax.jit(lambda pred, o: batch_when(pred, fn, o))
    o = jnp.arange(1.0, 4.0)
    np.testing.assert_array_equal(f(False, o), 0.0)
    np.testing.assert_array_equal(f(True, o), 2.0 * o)
    out = jax.vmap(lambda pred, o: batch_when(pred, fn, o))(jnp.array([False, True]), jnp.stack([o, o]))
    np.testing.assert_array_equal(out, 2.0 * jnp.stack([o, o]))  # any member needs it -> every member gets fn
    out = jax.vmap(lambda pred, o: batch_when(pred, fn, o))(jnp.array([False, False]), jnp.stack([o, o]))
    np.testing.assert_array_equal(out, 0.0)


def test_paged_hess_block_matvec_float32():
    """The float32 path of the paged operator: float32 out, equal to the float64 Hessian block to float32
    accuracy."""
    from fbjax.losses import PAGE

    F, _, _, _ = random_problem(6, n=40, p=2 * PAGE + 44)
    F32 = fbjax.LeastSquares(F.A.astype(jnp.float32), F.b.astype(jnp.float32), l2=0.1)
    rng = np.random.default_rng(7)
    y, v = (rng.standard_normal(F.n_features) for _ in range(2))
    idx = jnp.asarray(rng.permutation(F.n_features))
    c = PAGE + 1
    v[c:] = 0.0
    out = jax.jit(lambda c, v: F32.hess_block_matvec(jnp.asarray(y, jnp.float32), idx, c)(v))(c, jnp.asarray(v, jnp.float32))
    assert out.dtype == jnp.float32
    S = np.asarray(idx[:c])
    H = np.asarray(jax.hessian(F.value)(jnp.asarray(y)))[np.ix_(S, S)]
    np.testing.assert_allclose(out[:c], H @ v[:c], rtol=2e-4, atol=2e-4 * np.abs(H @ v[:c]).max())
