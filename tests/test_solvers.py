"""Lower-level solvers: certificate, agreement, warm starts, float32."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


@pytest.mark.parametrize("solver", ["fista", "cd"])
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
