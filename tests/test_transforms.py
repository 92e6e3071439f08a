"""jax.jit / jax.vmap / jax.grad composition (the seed-sweep contract)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fbjax
from fbjax.data import calibrated_degenerate

SEEDS = [0, 1, 2]


def stacked(n=60, p=75, rho=0.95):
    designs = [calibrated_degenerate(s, n, p, rho) for s in SEEDS]
    keys = ["A_train", "b_train", "A_val", "b_val", "x0"]
    return {k: jnp.stack([jnp.asarray(getattr(d, k)) for d in designs]) for k in keys}, designs[0].l2


def grad_over_seeds_equals_loop(data, l2, **argmin_kw):
    """``jit(vmap(grad Phi))`` over the seeds equals the per-seed loop and is nonzero; returns it."""

    def phi(x, A, b, A_val, b_val):
        y = fbjax.argmin(fbjax.LeastSquares(A, b, l2=l2), x, **argmin_kw)
        return jnp.mean((A_val @ y - b_val) ** 2)

    args = (data["x0"], data["A_train"], data["b_train"], data["A_val"], data["b_val"])
    batched = jax.jit(jax.vmap(jax.grad(phi)))(*args)
    loop = jnp.stack([jax.grad(phi)(*(a[i] for a in args)) for i in range(len(SEEDS))])
    np.testing.assert_allclose(batched, loop, rtol=1e-7, atol=1e-10)
    assert float(jnp.min(jnp.linalg.norm(batched, axis=1))) > 0
    return batched


@pytest.mark.parametrize("solver", ["cd", "fista"])
def test_jit_vmap_grad_over_seeds_equals_loop(solver):
    grad_over_seeds_equals_loop(*stacked(), solver=solver)


def test_vmap_over_seeds_with_paged_adjoint_equals_loop(monkeypatch):
    """A per-seed design through a bucket of two pages (max_support=256 > PAGE): the second page is
    skipped or run through ``batch_when`` with the batched design as an operand (the GPU seed sweep's
    path; it once failed in ``custom_vmap`` on the design closed over). Then with the GPU's Cholesky
    limit (1024), so that the 256 bucket is factored instead of CG'd: the same hypergradients."""
    data, l2 = stacked(n=200, p=300)
    kw = dict(solver="fista", max_support=256)
    cpu_layout = grad_over_seeds_equals_loop(data, l2, **kw)
    monkeypatch.setattr(fbjax.adjoint, "CHOLESKY_MAX_CPU", fbjax.adjoint.CHOLESKY_MAX_GPU)
    jax.clear_caches()  # the limit is read at trace time
    try:
        np.testing.assert_allclose(grad_over_seeds_equals_loop(data, l2, **kw), cpu_layout, rtol=1e-9, atol=1e-12)
    finally:
        monkeypatch.undo()
        jax.clear_caches()


def test_vmap_over_x_only_and_value_and_grad():
    data, l2 = stacked()
    F = fbjax.LeastSquares(data["A_train"][0], data["b_train"][0], l2=l2)
    xs = data["x0"][0] + jnp.linspace(-0.3, 0.3, 4)[:, None]

    def phi(x):
        return jnp.mean((data["A_val"][0] @ fbjax.argmin(F, x) - data["b_val"][0]) ** 2)

    vals, grads = jax.jit(jax.vmap(jax.value_and_grad(phi)))(xs)
    for i in range(xs.shape[0]):
        v, g = jax.value_and_grad(phi)(xs[i])
        np.testing.assert_allclose(vals[i], v, rtol=1e-10)
        np.testing.assert_allclose(grads[i], g, rtol=1e-7, atol=1e-10)


def test_explicit_x_dependence_in_upper_level():
    """grad_x L enters h through ordinary autodiff (eq. 24)."""
    data, l2 = stacked()
    F = fbjax.LeastSquares(data["A_train"][0], data["b_train"][0], l2=l2)
    x0 = data["x0"][0]
    base = jax.grad(lambda x: jnp.mean(fbjax.argmin(F, x) ** 2))(x0)
    with_x = jax.grad(lambda x: jnp.mean(fbjax.argmin(F, x) ** 2) + 0.5 * jnp.sum(x**2))(x0)
    np.testing.assert_allclose(with_x - base, x0, rtol=1e-10, atol=1e-12)


def test_hessian_at_a_nondegenerate_point_matches_finite_differences():
    """``jax.hessian`` of ``Phi`` (forward mode through the lower-level solver's iterations, over the
    backward pass) equals central differences of ``jax.grad`` where no coordinate is biactive. The
    default ``auto`` adjoint's bucket switch once recursed forever under jvp-of-vmap."""
    rng = np.random.default_rng(4)  # seed 4: no coordinate in the biactive band at x0 (asserted)
    n, p = 60, 40  # p > 32: two buckets, so the bucket switch is in the program
    A = rng.standard_normal((n, p))
    b = A[:, :6] @ np.ones(6) + 0.1 * rng.standard_normal(n)
    A_val = rng.standard_normal((30, p))
    b_val = A_val[:, :6] @ np.ones(6)
    F = fbjax.LeastSquares(A, b)
    x0 = jnp.full(p, np.log(0.05)) + 0.1 * rng.standard_normal(p)
    gamma = fbjax.solvers.default_gamma(F)
    y = fbjax.solve(F, x0, tol=1e-13).y
    assert not bool(jnp.any(fbjax.fb.is_biactive(fbjax.fb.partition(*fbjax.fb.forward_map(F, x0, y, gamma)))))

    def phi(x):
        return jnp.mean((A_val @ fbjax.argmin(F, x, tol=1e-13) - b_val) ** 2)

    H = jax.jit(jax.hessian(phi))(x0)
    grad = jax.jit(jax.vmap(jax.grad(phi)))
    e = 1e-6
    fd = (grad(x0 + e * jnp.eye(p)) - grad(x0 - e * jnp.eye(p))) / (2 * e)
    assert float(jnp.max(jnp.abs(H))) > 1e-3  # not trivially zero
    np.testing.assert_allclose(H, fd, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
