"""The calibrated degenerate design (Sec. 5.2) and the starvation property (Table 3, k = 0)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fbjax
from fbjax.data import aip_classification, aip_regression, calibrated_degenerate, three_group
from fbjax.data.multitask import group_tasks, task_clusters
from fbjax.data.synthetic import ar1_regression
from fbjax.fb import is_biactive


def test_design_structure_and_determinism():
    d = calibrated_degenerate(0, 200, 300, 0.95)
    assert d.A_train.shape == (120, 300) and d.A_val.shape == (40, 300) and d.A_test.shape == (40, 300)
    sizes = {k: v.size for k, v in d.groups.items()}
    assert sizes == {"easy": 12, "dist": 12, "hid": 12, "noise": 264}
    assert np.isclose(d.l2, 1 / 120)
    assert set(np.flatnonzero(d.beta)) == set(d.groups["easy"]) | set(d.groups["hid"])
    assert set(np.abs(d.beta[d.beta != 0])) == {1.0}
    np.testing.assert_allclose(np.exp(d.x0[d.groups["easy"]]), 0.5)
    np.testing.assert_allclose(np.exp(d.x0[d.groups["dist"]]), 0.5 * (1 - 0.95**2) / 0.95)
    np.testing.assert_allclose(np.exp(d.x0[d.groups["noise"]]), 10.0)
    again = calibrated_degenerate(0, 200, 300, 0.95)
    np.testing.assert_array_equal(d.A_train, again.A_train)
    np.testing.assert_array_equal(d.x0, again.x0)
    assert not np.array_equal(d.A_train, calibrated_degenerate(1, 200, 300, 0.95).A_train)
    # hidden columns are rho-correlated with their distractors
    A = np.concatenate([d.A_train, d.A_val, d.A_test])
    c = np.corrcoef(A[:, d.groups["hid"][0]], A[:, d.groups["dist"][0]])[0, 1]
    assert 0.85 < c < 1.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: calibrated_degenerate(0, 20.5, 30, 0.9), "n must be an int >= 1, got 20.5"),
        (lambda: calibrated_degenerate(0, 20, 30, 0.9, sigma=-0.1), "sigma must be a finite number >= 0"),
        (lambda: calibrated_degenerate(0, 20, 30, 0.9, beta_std=0.0), "beta_std must be a positive finite number"),
        (lambda: three_group(0, 5, 0.8, 0.05), r"a split of n = 4 samples leaves a part empty .* 2, 0, 2"),
        (lambda: three_group(0, 100, 0.8, 0.05, corr=2.0), r"corr must lie in \[-1, 1\], got 2.0"),
        (lambda: three_group(0, 100, -1.0, 0.05), "n_over_p must be a positive finite number"),
        (lambda: three_group(0, 100, 0.8, 0.05, noise=np.nan), "noise must be a finite number >= 0"),
        (lambda: aip_regression(0, 0, 10, 5), "n must be an int >= 1, got 0"),
        (lambda: aip_regression(0, 20, 10, 5, snr=0.0), r"snr must be > 0 \(inf: no noise\), got 0.0"),
        (lambda: aip_classification(0, 20, 10, 5, snr=np.nan), "snr must be > 0"),
        (lambda: ar1_regression(0, 20, 10, 2.0), r"rho must lie in \[-1, 1\], got 2.0"),  # (NaN columns)
        (lambda: ar1_regression(0, 0, 10, 0.5), "n must be an int >= 1, got 0"),
        (lambda: group_tasks(0, T=0), "T must be an int >= 1, got 0"),  # (an empty design)
        (lambda: group_tasks(0, N=1.5), "N must be an int >= 1, got 1.5"),
        (lambda: group_tasks(0, active=0.0), r"active must lie in \(0, 1\]"),
        (lambda: task_clusters(0, sigma=-1.0), "sigma must be a finite number >= 0"),
    ],
)
def test_generators_name_a_bad_argument(make, match):
    """Each was a NumPy error, a division by zero, or data returned with NaN columns (corr > 1, an AR(1) rho > 1),
    inf targets (snr = 0), an empty validation part (p = 5) or no tasks (T = 0), with at most a RuntimeWarning."""
    with pytest.raises(ValueError, match=match):
        make()
    assert np.all(np.isfinite(aip_regression(0, 20, 10, 5, snr=np.inf).b_train))  # inf: no noise


def test_calibration_places_hidden_features_five_percent_inside():
    d = calibrated_degenerate(2, 200, 300, 0.9)
    F = d.lower_level()
    x0 = jnp.asarray(d.x0)
    y = fbjax.solve(F, x0, tol=1e-12).y
    hid = d.groups["hid"]
    assert bool(jnp.all(y[hid] == 0))
    u, v = fbjax.forward_map(F, x0, y, fbjax.solvers.default_gamma(F))
    np.testing.assert_allclose(jnp.abs(v[hid]) / u[hid], 1 / 1.05, rtol=1e-8)
    assert bool(jnp.all(is_biactive(fbjax.partition(u, v)[hid])))


@pytest.mark.parametrize("n, p, rho", [(100, 150, 0.9), (200, 300, 0.98), (100, 150, 0.95)])
@pytest.mark.parametrize("seed", [0, 1])
def test_null_starves_hidden_block_sc_does_not(n, p, rho, seed):
    d = calibrated_degenerate(seed, n, p, rho)
    F = d.lower_level()
    x0 = jnp.asarray(d.x0)
    hid = d.groups["hid"]
    norms = {}
    for policy in ["null", "sc"]:
        h = jax.grad(lambda x: d.validation_loss(fbjax.argmin(F, x, policy=policy)))(x0)
        norms[policy] = float(jnp.linalg.norm(h[hid]))
    assert norms["null"] == 0.0
    assert norms["sc"] > 1e-3
