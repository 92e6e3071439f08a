"""The sanity values of DESIGN.md (main paper, Experiment 1, Sec. 5.1)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fbjax


def half_sq(d):
    """``F(y) = 1/2 ||y - d||^2`` as a LeastSquares (which divides by 2n)."""
    n = d.shape[0]
    return fbjax.LeastSquares(jnp.sqrt(n) * jnp.eye(n), jnp.sqrt(n) * d, l2=0.0)


def test_panel_a_fb_exact_minimiser():
    F = half_sq(jnp.array([0.8, 0.5]))
    x = jnp.log(jnp.array([0.6, 0.6]))
    y = fbjax.argmin(F, x)
    np.testing.assert_allclose(y, [0.2, 0.0], atol=1e-12)
    for gamma in [0.1, 0.5, 0.9]:  # Prop. 3: exact for every gamma in (0, 1/Lambda_F)
        assert jnp.max(jnp.abs(fbjax.fb_residual(F, x, jnp.array([0.2, 0.0]), gamma / F.lipschitz))) < 1e-14


D_TRAIN = jnp.array([0.4, 1.2, 0.0])
D_VAL = jnp.array([0.0, 1.2, 0.0])
X0 = jnp.log(jnp.array([0.35, 1.2, 2.0]))


def phi(policy):
    F = half_sq(D_TRAIN)
    return lambda x: 0.5 * jnp.sum((fbjax.argmin(F, x, policy=policy) - D_VAL) ** 2)


def test_panel_b_solution_and_partition():
    F = half_sq(D_TRAIN)
    y = fbjax.argmin(F, X0)
    np.testing.assert_allclose(y, [0.05, 0.0, 0.0], atol=1e-12)
    u, v = fbjax.forward_map(F, X0, y, fbjax.solvers.default_gamma(F))
    codes = fbjax.partition(u, v, biactive_rtol=1e-12)  # coordinate 2 is exactly biactive
    assert list(np.asarray(codes)) == [fbjax.fb.I_PLUS, fbjax.fb.B_PLUS, fbjax.fb.A_]


def test_null_policy_starves_biactive_coordinate():
    h = jax.grad(phi("null"))(X0)
    np.testing.assert_allclose(h, [-0.0175, 0.0, 0.0], atol=1e-12)
    assert h[1] == 0.0


def test_sign_consistent_values():
    h = jax.grad(phi("sc"))(X0)
    np.testing.assert_allclose(h, [-0.0175, 1.44, 0.0], atol=1e-10)
    # the one-sided derivative exp(2 x_2) at the kink
    np.testing.assert_allclose(h[1], jnp.exp(2 * X0[1]), rtol=1e-10)


@pytest.mark.parametrize("policy, moves", [("sc", True), ("null", False)])
def test_ten_outer_steps(policy, moves):
    """x_2 <- x_2 - h_2, eta = 1: SC decreases Phi at every one of 10 steps, null never moves."""
    f = jax.jit(jax.value_and_grad(phi(policy)))
    x = X0
    values = []
    for _ in range(10):
        val, h = f(x)
        values.append(float(val))
        x = x.at[1].add(-h[1])
    values.append(float(f(x)[0]))
    if moves:
        assert all(b < a for a, b in zip(values, values[1:]))
    else:
        assert values == [values[0]] * 11 and x[1] == X0[1]
