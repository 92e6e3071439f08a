"""User-written policies and smooth parts plug into fbjax.argmin."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import fbjax
from fbjax import coderivative
from fbjax.fb import is_biactive

from conftest import make_biactive, random_problem, upper


class SelectAll(eqx.Module):
    """Select every biactive coordinate with its natural sign (a valid Cor. 13 selector)."""

    def __call__(self, codes, z, solve):
        sigma = coderivative.selector(codes, is_biactive(codes), z.dtype)
        return sigma, solve(sigma)


def test_custom_policy_gives_the_full_system_element():
    F, x, A_val, b_val = random_problem(0, n=15, p=25)
    x, y, pick = make_biactive(F, x, n_biactive=4)
    L = upper("ls", A_val, b_val)
    h = jax.grad(lambda x: L(fbjax.argmin(F, x, policy=SelectAll(), tol=1e-13, max_iter=100_000)))(x)
    z = jax.grad(L)(y)
    codes = fbjax.partition(*fbjax.forward_map(F, x, y, fbjax.solvers.default_gamma(F)))
    sigma = coderivative.selector(codes, is_biactive(codes), z.dtype)
    assert bool(jnp.all(sigma[pick] != 0))
    full = coderivative.xi_upsilon_element(jax.hessian(F.value)(y), z, jnp.zeros_like(x), sigma, jnp.exp(x))
    np.testing.assert_allclose(h, full, rtol=1e-8, atol=1e-12)


class Quadratic(fbjax.SmoothLoss):
    """F(y) = 1/2 y^T Q y - c^T y, written by a user: only value, grad, hvp and Lambda_F."""

    Q: jax.Array
    c: jax.Array
    lipschitz: jax.Array
    label: str = eqx.field(static=True, default="user quadratic")

    def __init__(self, Q, c):
        self.Q, self.c = Q, c
        self.lipschitz = 1.01 * jnp.linalg.eigvalsh(Q)[-1]

    @property
    def n_features(self):
        return self.c.shape[0]

    def value(self, y):
        return 0.5 * y @ self.Q @ y - self.c @ y

    def grad(self, y):
        return self.Q @ y - self.c

    def hvp(self, y, v):
        return self.Q @ v


def test_custom_smooth_loss_hypergradient_and_data_gradient():
    rng = np.random.default_rng(1)
    p = 12
    M = rng.standard_normal((p, p))
    Q = jnp.asarray(M @ M.T / p + 0.5 * np.eye(p))
    c = jnp.asarray(rng.standard_normal(p))
    x = jnp.asarray(np.log(np.abs(rng.standard_normal(p)) * 0.5 + 0.05))
    target = jnp.asarray(rng.standard_normal(p))

    def phi(x, c):
        y = fbjax.argmin(Quadratic(Q, c), x, tol=1e-13, max_iter=100_000)  # auto -> FISTA
        return 0.5 * jnp.sum((y - target) ** 2)

    gx, gc = jax.grad(phi, argnums=(0, 1))(x, c)
    h = 1e-6
    fd_x = jnp.array([(phi(x + h * e, c) - phi(x - h * e, c)) / (2 * h) for e in jnp.eye(p)])
    fd_c = jnp.array([(phi(x, c + h * e) - phi(x, c - h * e)) / (2 * h) for e in jnp.eye(p)])
    np.testing.assert_allclose(gx, fd_x, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(gc, fd_c, rtol=1e-5, atol=1e-9)
    assert float(jnp.linalg.norm(gx)) > 1e-3
