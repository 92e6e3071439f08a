"""fbjax.WeightedL1: the scikit-learn-style estimator over argmin, the grid start and the outer solvers."""

import jax.numpy as jnp
from jax.experimental import sparse
import numpy as np
import optax
import pytest
import scipy.sparse
from conftest import compiles
from scipy.special import expit
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import ElasticNet
from sklearn.utils.estimator_checks import parametrize_with_checks

import fbjax
from fbjax.baselines.grid import log_grid
from fbjax.data import aip_classification, aip_regression, calibrated_degenerate


def val_mse(d, w):
    return float(np.mean((d.A_val @ np.asarray(w) - d.b_val) ** 2))


def split(n, fraction=0.25, random_state=0):
    """``(training rows, validation rows)`` of the split ``fit`` documents when it holds one out itself."""
    perm = np.random.default_rng(random_state).permutation(n)
    n_val = max(1, round(fraction * n))
    return perm[n_val:], perm[:n_val]


def fb_residual_of(est, F):
    """``||R_gamma(x_, coef_)||_inf`` of the fitted model for the lower level ``F``."""
    return float(jnp.max(jnp.abs(fbjax.fb_residual(F, est.x_, est.coef_, 0.99 / F.lipschitz))))


def test_squared_loss_learns_from_the_grids_best_penalty():
    d = calibrated_degenerate(0, 100, 150, 0.95)
    est = fbjax.WeightedL1(max_iter=30).fit(d.A_train, d.b_train, d.A_val, d.b_val)
    n = d.A_train.shape[0]
    assert est.alpha_max_ == pytest.approx(d.alpha_max, rel=1e-12)  # max |A^T b| / n
    # the start is the grid's best scalar penalty, checked against scikit-learn's elastic net:
    # ||Aw - b||^2/(2n) + l2/2 ||w||^2 + a ||w||_1  is  ElasticNet(alpha=a + l2, l1_ratio=a / (a + l2))
    l2 = 1.0 / n
    sk = [val_mse(d, ElasticNet(alpha=a + l2, l1_ratio=a / (a + l2), fit_intercept=False, tol=1e-12,
                                max_iter=100_000).fit(d.A_train, d.b_train).coef_)
          for a in np.asarray(log_grid(d.alpha_max))]  # fmt: skip
    assert est.alpha_scalar_ == pytest.approx(float(log_grid(d.alpha_max)[int(np.argmin(sk))]), rel=1e-12)
    np.testing.assert_allclose(est.result_.values[0], min(sk), rtol=1e-6)
    # the reported model: the lower-level solution at the best visited penalties, below the grid's best
    assert fb_residual_of(est, fbjax.LeastSquares(d.A_train, d.b_train, l2=l2)) <= 1e-10
    np.testing.assert_allclose(est.validation_loss_, val_mse(d, est.coef_), rtol=1e-12)
    np.testing.assert_allclose(est.validation_loss_, est.result_.best_value, rtol=1e-12)  # coef_ is the outer run's own solution
    assert est.validation_loss_ < 0.1 * min(sk)  # on this degenerate design the weights pay off tenfold
    np.testing.assert_allclose(est.alpha_, np.exp(est.x_))
    assert est.x_.max() <= np.log(0.9 * d.alpha_max) + 1e-12  # the box's upper end
    for a in (est.coef_, est.x_, est.alpha_):  # NumPy, as scikit-learn's, and writeable (were JAX arrays)
        assert type(a) is np.ndarray and a.flags.writeable and a.shape == (150,)
    pred = np.asarray(est.predict(d.A_test))
    np.testing.assert_allclose(pred, d.A_test @ np.asarray(est.coef_), rtol=1e-12)
    r2 = 1 - np.sum((d.b_test - pred) ** 2) / np.sum((d.b_test - d.b_test.mean()) ** 2)
    assert est.score(d.A_test, d.b_test) == pytest.approx(r2, rel=1e-12)


def test_box_lower_keeps_the_grid_inside_the_box():
    """With ``box_lower`` the start grid ends at the box's lower end, so the outer run starts at the best
    scalar penalty inside the box (not a clipped one) and ends no higher. The design's best over the
    whole grid lies below the box: the low-noise AIP design with 20 of 30 coefficients nonzero."""
    d = aip_regression(0, 40, 30, 20, snr=100.0)
    lower, grid = -3.0, 8
    est = fbjax.WeightedL1(max_iter=4, grid=grid, box_lower=lower).fit(d.A_train, d.b_train, d.A_val, d.b_val)
    l2 = 1.0 / d.A_train.shape[0]

    def sk(alphas):  # the validation MSE of scikit-learn's elastic net at each scalar penalty
        return [val_mse(d, ElasticNet(alpha=a + l2, l1_ratio=a / (a + l2), fit_intercept=False, tol=1e-12,
                                      max_iter=100_000).fit(d.A_train, d.b_train).coef_) for a in alphas]  # fmt: skip

    full = np.asarray(log_grid(est.alpha_max_, grid))
    assert full[int(np.argmin(sk(full)))] < np.exp(lower) * est.alpha_max_  # the box would clip the grid's best
    inside = np.asarray(log_grid(est.alpha_max_, grid, lo=np.exp(lower)))
    assert est.alpha_scalar_ == pytest.approx(float(inside[int(np.argmin(sk(inside)))]), rel=1e-12)
    np.testing.assert_allclose(est.result_.values[0], min(sk(inside)), rtol=1e-6)
    assert est.validation_loss_ <= est.result_.values[0]
    assert est.x_.min() >= np.log(est.alpha_max_) + lower - 1e-12


def test_logistic_holds_out_a_split_and_predicts_labels():
    d = aip_classification(0, 80, 40, 8)
    X, y = np.vstack([d.A_train, d.A_val]), np.concatenate([d.b_train, d.b_val])
    est = fbjax.WeightedL1("logistic", outer="nba", max_iter=15, validation_fraction=0.3, random_state=3).fit(X, y)
    tr, va = split(X.shape[0], 0.3, random_state=3)
    assert est.alpha_max_ == pytest.approx(np.max(np.abs(X[tr].T @ y[tr])) / (2 * len(tr)), rel=1e-12)
    log_loss = float(np.mean(np.logaddexp(0, -y[va] * (X[va] @ np.asarray(est.coef_)))))
    np.testing.assert_allclose(est.validation_loss_, log_loss, rtol=1e-12)
    assert est.validation_loss_ <= float(est.result_.values[0]) + 1e-12  # never above the grid's best
    labels = np.asarray(est.predict(d.A_test))
    np.testing.assert_array_equal(labels, np.where(d.A_test @ np.asarray(est.coef_) > 0, 1.0, -1.0))
    assert est.score(d.A_test, d.b_test) == float(np.mean(labels == d.b_test))


def test_an_optax_outer_solver_with_a_line_search_fits():
    """``outer=optax.lbfgs()`` (an optimizer with extra arguments: value, grad, value_fn; was optax's TypeError),
    from a uniform start in the paper code's box: the reported model solves the lower level at the best point."""
    d = calibrated_degenerate(1, 60, 75, 0.95)
    est = fbjax.WeightedL1(outer=optax.lbfgs(), max_iter=8, start=0.2, box_lower=-5.0)  # a fraction: no grid
    est.fit(d.A_train, d.b_train, d.A_val, d.b_val)
    assert est.validation_loss_ < 0.5 * float(est.result_.values[0])
    assert fb_residual_of(est, fbjax.LeastSquares(d.A_train, d.b_train, l2=1 / d.A_train.shape[0])) <= 1e-10
    np.testing.assert_allclose(est.validation_loss_, val_mse(d, est.coef_), rtol=1e-12)


def test_a_clone_with_an_optax_wrapper_reuses_the_program():
    """``outer=optax.MultiSteps(...)`` (an object, not a tuple of functions) was compared by identity in the fit's
    static key, so each clone (a GridSearchCV's folds) compiled again; now by its fields. Another wrapper does not
    share the program."""
    from fbjax import estimator

    d = calibrated_degenerate(2, 40, 45, 0.95)  # a shape no other test fits
    args = d.A_train, d.b_train, d.A_val, d.b_val
    est = fbjax.WeightedL1(outer=optax.MultiSteps(optax.adam(0.05), 2), max_iter=4, start=0.2)
    est.fit(*args)
    programs = estimator._learn.program._cache_size()
    np.testing.assert_array_equal(clone(est).fit(*args).coef_, est.coef_)
    assert estimator._learn.program._cache_size() == programs
    est.set_params(outer=optax.MultiSteps(optax.adam(0.05), 3)).fit(*args)
    assert estimator._learn.program._cache_size() == programs + 1


def test_logistic_is_a_classifier_of_any_two_labels():
    """Labels {0, 1} or strings fit the model of the labels {-1, +1} (``classes_[1]`` coded +1); ``predict``
    returns the user's labels, ``predict_proba`` the logistic model's probabilities; the squared loss is a
    regressor without them."""
    d = aip_classification(0, 60, 20, 5)
    kw = dict(max_iter=5, grid=10)
    ref = fbjax.WeightedL1("logistic", **kw).fit(d.A_train, d.b_train, d.A_val, d.b_val)
    for code in ({-1.0: 0, 1.0: 1}, {-1.0: "no", 1.0: "yes"}):
        to = np.vectorize(code.get)
        est = fbjax.WeightedL1("logistic", **kw).fit(d.A_train, to(d.b_train), d.A_val, to(d.b_val))
        np.testing.assert_array_equal(est.classes_, [code[-1.0], code[1.0]])
        np.testing.assert_array_equal(est.coef_, ref.coef_)
        np.testing.assert_array_equal(est.predict(d.A_test), to(ref.predict(d.A_test)))
        assert est.score(d.A_test, to(d.b_test)) == ref.score(d.A_test, d.b_test)
    t = d.A_test @ np.asarray(ref.coef_)
    np.testing.assert_allclose(ref.decision_function(d.A_test), t, rtol=1e-12)
    proba = ref.predict_proba(d.A_test)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-t)), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-15)
    # oracle log(expit(u)), accurate to rounding: log1p(-expit(-u)) where expit(u) is near 1. np.log(proba) is
    # not: the log of a number 1 - 4.8e-5 rounded to eps has a relative error 2e-12 (on a GPU's fit, and on
    # the CPU's, depending on the last bits of t)
    log_expit = lambda u: np.where(u > 0, np.log1p(-expit(-abs(u))), np.log(expit(-abs(u))))  # noqa: E731
    log_proba = ref.predict_log_proba(d.A_test)
    np.testing.assert_allclose(log_proba, np.column_stack([log_expit(-t), log_expit(t)]), rtol=1e-12, atol=1e-300)
    far = ref.predict_log_proba(10 * d.A_test)  # |t| up to ~100: 1 - s rounds to 0, its log is -inf
    np.testing.assert_allclose(far, np.column_stack([log_expit(-10 * t), log_expit(10 * t)]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=0, atol=1e-15)
    assert is_classifier(ref) and ref.n_iter_ == int(ref.result_.num_iter) >= 1
    reg = fbjax.WeightedL1()
    assert is_regressor(reg) and not any(hasattr(reg, m) for m in ("decision_function", "predict_proba"))


def test_more_classes_one_vs_rest():
    """The remedy the binary classifier's error names: scikit-learn's ``OneVsRestClassifier`` fits one
    ``WeightedL1`` per class (with an intercept each: a class against the rest is imbalanced) and predicts
    the class with the largest decision function, probabilities normalised over the classes."""
    from sklearn.datasets import load_iris
    from sklearn.multiclass import OneVsRestClassifier

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    ovr = OneVsRestClassifier(fbjax.WeightedL1("logistic", fit_intercept=True, max_iter=10, grid=10)).fit(X, y)
    assert len(ovr.estimators_) == 3 and all(e.intercept_ != 0.0 for e in ovr.estimators_)
    scores = np.column_stack([e.decision_function(X) for e in ovr.estimators_])
    np.testing.assert_array_equal(ovr.predict(X), np.argmax(scores, axis=1))
    np.testing.assert_allclose(ovr.predict_proba(X).sum(axis=1), 1.0)
    assert ovr.score(X, y) >= 0.9


def test_refits_with_other_numbers_reuse_the_compiled_program():
    """The fit's numbers (l2, radius, step, the start fraction, box_lower, and the split's settings, which the
    program does not read) are traced, so a refit with other values (a GridSearchCV over them) does not
    compile again, and each value takes effect: the first radius, the ridge of the certificate, the start."""
    from fbjax import estimator

    d = calibrated_degenerate(1, 60, 70, 0.95)  # a shape no other test fits
    args = d.A_train, d.b_train, d.A_val, d.b_val
    fbjax.WeightedL1(max_iter=3, start=0.2, box_lower=-4.0).fit(*args)
    programs = estimator._learn.program._cache_size()
    n = d.A_train.shape[0]
    for kw in (dict(radius=0.3), dict(l2=0.05), dict(start=0.1), dict(box_lower=-1.0), dict(random_state=3)):
        est = fbjax.WeightedL1(max_iter=3, **{"start": 0.2, "box_lower": -4.0, **kw}).fit(*args)
        assert estimator._learn.program._cache_size() == programs, kw
        assert est.result_.radii[0] == pytest.approx(kw.get("radius", 0.1), rel=1e-15)
        F = fbjax.LeastSquares(d.A_train, d.b_train, l2=kw.get("l2", 1.0 / n))
        assert fb_residual_of(est, F) <= 1e-10
        x0 = np.log(max(kw.get("start", 0.2), np.exp(kw.get("box_lower", -4.0))) * est.alpha_max_)  # clipped
        w0 = fbjax.solve(F, jnp.full(d.p, x0)).y
        np.testing.assert_allclose(est.result_.values[0], val_mse(d, w0), rtol=1e-8)
        assert float(est.x_.min()) >= np.log(est.alpha_max_) + kw.get("box_lower", -4.0) - 1e-12


def test_a_refit_compiles_nothing():
    """A second fit on data of the same shapes, and its predictions, run programs compiled by the first: none is
    compiled again, in any model (the squared and the logistic loss, with an intercept, on a sparse design).
    Eager loops outside the fit's program compiled anew at every call: the power iteration for ``Lambda_F`` and
    the intercept's root once took 0.35 s of a 0.7-0.8 s logistic fit with an intercept (benchmarks/RESULTS.md)."""
    X, y, _, _ = imbalanced_classification(7, n=90, p=12, n_val=0)
    Xs = scipy.sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))

    def fit(loss, X_, y_, intercept):
        est = fbjax.WeightedL1(loss, fit_intercept=intercept, max_iter=3, grid=4).fit(X_, y_)
        return est.predict(X_), est.score(X_, y_)

    for case in (("squared", X, X[:, 0] - X[:, 1], False), ("logistic", X, y, True), ("logistic", Xs, y, True)):
        assert compiles(lambda: fit(*case)) > 0
        assert compiles(lambda: fit(*case)) == 0, (case[0], type(case[1]).__name__)


def test_fit_intercept_is_exact_for_the_squared_loss():
    """``fit_intercept``: the model ``X w + c`` on shifted data. Checked against the optimality conditions of
    ``||X w + c - y||^2 / (2 n) + l2/2 ||w||^2 + sum_i alpha_i |w_i|`` at the learned ``alpha_`` (independent of
    the centring), the uncentred validation MSE, and invariance to the shift."""
    d = calibrated_degenerate(0, 100, 150, 0.95)
    shift = np.random.default_rng(1).uniform(-5, 5, 150)
    X, y, X_val, y_val = d.A_train + shift, d.b_train + 3.0, d.A_val + shift, d.b_val + 3.0
    kw = dict(max_iter=8, grid=20, argmin_kw={"tol": 1e-12})
    est = fbjax.WeightedL1(fit_intercept=True, **kw).fit(X, y, X_val, y_val)
    w, c, n = np.asarray(est.coef_), est.intercept_, X.shape[0]
    r = y - X @ w - c
    assert abs(np.mean(r)) <= 1e-12 * np.abs(y).max()  # d/dc = 0
    g = X.T @ r / n - w / n  # = alpha_i sign(w_i) on the support, |.| <= alpha_i off it (l2 = 1 / n)
    alpha, on = np.asarray(est.alpha_), w != 0
    assert on.sum() >= 5
    np.testing.assert_allclose(g[on], alpha[on] * np.sign(w[on]), rtol=1e-9, atol=1e-12)
    assert np.all(np.abs(g[~on]) <= alpha[~on] * (1 + 1e-9))
    np.testing.assert_allclose(est.validation_loss_, np.mean((X_val @ w + c - y_val) ** 2), rtol=1e-10)
    np.testing.assert_allclose(est.predict(d.A_test + shift), (d.A_test + shift) @ w + c, rtol=1e-12)
    # the shift is centred away: the same model as on the unshifted data, its intercept moved by 3 - shift . w
    ref = fbjax.WeightedL1(fit_intercept=True, **kw).fit(d.A_train, d.b_train, d.A_val, d.b_val)
    np.testing.assert_allclose(w, ref.coef_, atol=1e-9)
    assert c == pytest.approx(ref.intercept_ + 3.0 - shift @ w, abs=1e-8)
    # without the intercept the shifted data fit far worse; without fit_intercept intercept_ is 0
    plain = fbjax.WeightedL1(**kw).fit(X, y, X_val, y_val)
    assert plain.intercept_ == 0.0 and est.validation_loss_ < 0.5 * plain.validation_loss_
    # float32 data: a float32 fit, its intercept and validation MSE to float32's tolerance
    data32 = (a.astype(np.float32) for a in (X, y, X_val, y_val))
    f32 = fbjax.WeightedL1(fit_intercept=True, max_iter=8, grid=20).fit(*data32)
    w32, c32 = np.asarray(f32.coef_), f32.intercept_
    assert w32.dtype == np.float32 and isinstance(c32, float)
    assert abs(np.mean(y - X @ w32 - c32)) <= 1e-4 * np.abs(y).max()
    np.testing.assert_allclose(f32.validation_loss_, np.mean((X_val @ w32 + c32 - y_val) ** 2), rtol=1e-4)


def imbalanced_classification(seed, n=160, p=30, n_val=80):
    """Binary labels from a sparse logistic model with intercept -2 (about one positive in four) on centred
    features: a model without an intercept has nothing to fit the imbalance with."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_val, p))
    w = np.where(np.arange(p) < 5, rng.choice([-2.0, 2.0], p), 0.0)
    y = (rng.random(n + n_val) < expit(X @ w - 2.0)).astype(int)
    return X[:n], y[:n], X[n:], y[n:]


def test_fit_intercept_for_the_logistic_loss():
    """``fit_intercept`` with the logistic loss: the intercept is profiled out of the lower level
    (:class:`fbjax.WithIntercept`). Checked against the optimality conditions of ``mean_i log(1 + exp(-y_i (x_i^T w +
    c))) + l2/2 ||w||^2 + sum_i alpha_i |w_i|`` at the learned ``alpha_``, the validation log-loss and
    ``predict_proba`` of ``X w + c``, and invariance to a shift of the features."""
    X, y, X_val, y_val = imbalanced_classification(0)
    kw = dict(max_iter=15, grid=20, argmin_kw={"tol": 1e-12})
    est = fbjax.WeightedL1("logistic", fit_intercept=True, **kw).fit(X, y, X_val, y_val)
    w, c, n = np.asarray(est.coef_), est.intercept_, X.shape[0]
    s = np.where(y == est.classes_[1], 1.0, -1.0)
    r = -s * expit(-s * (X @ w + c))  # l'(x_i^T w + c, s_i)
    assert abs(np.mean(r)) <= 1e-12  # d/dc = 0
    g = -(X.T @ r / n + w / n)  # = alpha_i sign(w_i) on the support, |.| <= alpha_i off it (l2 = 1 / n)
    alpha, on = np.asarray(est.alpha_), w != 0
    assert 3 <= on.sum() < 30
    np.testing.assert_allclose(g[on], alpha[on] * np.sign(w[on]), rtol=1e-8, atol=1e-12)
    assert np.all(np.abs(g[~on]) <= alpha[~on] * (1 + 1e-8))
    s_val = np.where(y_val == est.classes_[1], 1.0, -1.0)
    np.testing.assert_allclose(est.validation_loss_, np.mean(np.logaddexp(0, -s_val * (X_val @ w + c))), rtol=1e-10)
    np.testing.assert_allclose(est.predict_proba(X_val)[:, 1], expit(X_val @ w + c), rtol=1e-12)
    # without the intercept: a worse validation loss; with it, the same model on shifted features, c moved
    plain = fbjax.WeightedL1("logistic", **kw).fit(X, y, X_val, y_val)
    assert plain.intercept_ == 0.0 and est.validation_loss_ < 0.9 * plain.validation_loss_
    shift = np.random.default_rng(1).uniform(-2, 2, X.shape[1])
    moved = fbjax.WeightedL1("logistic", fit_intercept=True, **kw).fit(X + shift, y, X_val + shift, y_val)
    np.testing.assert_allclose(moved.coef_, w, atol=1e-7)
    assert moved.intercept_ == pytest.approx(c - shift @ w, abs=1e-6)
    with pytest.raises(ValueError, match="the training rows hold one class only"):  # the held-out split's rows
        train, _ = split(40)
        labels = np.ones(40)
        labels[np.setdiff1d(np.arange(40), train)[:3]] = 0
        fbjax.WeightedL1("logistic", fit_intercept=True, max_iter=2, grid=5).fit(X[:40], labels)


def test_fit_intercept_on_a_sparse_design_is_the_dense_fit():
    """Squared loss: a sparse ``X`` profiles the intercept out (FISTA on BCOO); a dense one is centred (coordinate
    descent on CPU): the same model."""
    d = calibrated_degenerate(0, 100, 150, 0.95)
    shift = np.where(np.random.default_rng(1).random(150) < 0.2, 2.0, 0.0)  # a few shifted columns: still sparse
    X, X_val = np.where(np.abs(d.A_train) > 1.0, d.A_train, 0.0) + shift, d.A_val + shift
    kw = dict(fit_intercept=True, max_iter=8, grid=20, argmin_kw={"tol": 1e-12})
    dense = fbjax.WeightedL1(**kw).fit(X, d.b_train + 3.0, X_val, d.b_val + 3.0)
    csr = fbjax.WeightedL1(**kw).fit(scipy.sparse.csr_matrix(X), d.b_train + 3.0, X_val, d.b_val + 3.0)
    assert np.sum(np.asarray(dense.coef_) != 0) >= 5
    np.testing.assert_allclose(csr.coef_, dense.coef_, atol=1e-8)
    assert csr.intercept_ == pytest.approx(dense.intercept_, abs=1e-8)
    np.testing.assert_allclose(csr.validation_loss_, dense.validation_loss_, rtol=1e-8)


def test_bad_input_and_unfitted_use():
    X, y = np.ones((4, 3)), np.ones(4)
    for kw, msg in [(dict(loss="hinge"), "loss must be one of"), (dict(outer="adam"), "outer must be"),
                    (dict(start=0.0), "start must be"), (dict(start=True), "start must be"),
                    (dict(box_lower=0.0), "box_lower"),
                    (dict(radius=0.0), "radius must be"), (dict(step=float("inf")), "step must be"),
                    (dict(validation_fraction=1.0), "validation_fraction"),
                    (dict(l2=-1.0), "l2 must be a finite number >= 0"), (dict(l2=float("nan")), "l2 must be"),
                    (dict(max_iter=0), "max_iter must be an int >= 1"), (dict(grid=2.5), "grid must be"),
                    (dict(fit_intercept="yes"), "fit_intercept must be True or False"),
                    (dict(argmin_kw={"psi": "softplus"}), r"may not set \['psi'\]"),
                    (dict(argmin_kw={"tolerance": 1e-9}), r"argmin_kw has \['tolerance'\], which fbjax.argmin"),
                    (dict(argmin_kw=[("tol", 1e-9)]), "argmin_kw must be None or a dict"),
                    (dict(random_state="a"), "random_state must be None, an int >= 0 or a numpy.random.Generator"),
                    (dict(random_state=-1), "random_state must be")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            fbjax.WeightedL1(**kw).fit(X, y)
    est = fbjax.WeightedL1()
    assert clone(est.set_params(max_iter=7, argmin_kw={"tol": 1e-9})).get_params()["argmin_kw"] == {"tol": 1e-9}
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[4, 5\]"):
        est.fit(np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match="X_val has 2 features, but WeightedL1 is expecting 3"):
        est.fit(np.ones((4, 3)), np.ones(4), np.ones((2, 2)), np.ones(2))
    for X_bad, msg in [(np.full((4, 3), np.nan), "Input X contains NaN"), (np.ones((4, 3)) * 1j, "Complex data"),
                       (np.ones((1, 3)), "1 sample"), (np.ones(4), "Reshape your data")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            est.fit(X_bad, np.ones(len(X_bad)))
    with pytest.raises(ValueError, match="pass both X_val and y_val"):
        est.fit(np.ones((4, 3)), np.ones(4), np.ones((2, 3)))
    clf, X = fbjax.WeightedL1("logistic"), np.eye(6, 3)
    for y_bad, msg in [([0, 1, 2, 0, 1, 2], "Only binary .* target y is multiclass. For more classes, .*OneVsRest"),
                       ([1] * 6, "y holds one class only"), (np.linspace(0, 1, 6), "Unknown label type: continuous")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            clf.fit(X, y_bad)
    with pytest.raises(ValueError, match=r"y_val has labels \['c'\] that y has not; classes_ = \['a', 'b'\]"):
        clf.fit(X, list("ababab"), X[:2], ["a", "c"])


@pytest.mark.parametrize("kind", ["bcoo", "scipy"])
def test_sparse_design_gives_the_dense_fit(kind):
    """A BCOO or SciPy CSR ``X`` (FISTA on BCOO below) fits the model of the dense ``X``."""
    d = calibrated_degenerate(1, 60, 75, 0.95)
    as_sparse = sparse.BCOO.fromdense if kind == "bcoo" else scipy.sparse.csr_matrix
    kw = dict(max_iter=5, start=0.1, argmin_kw={"tol": 1e-12})  # no grid: a shorter program
    dense = fbjax.WeightedL1(**kw).fit(d.A_train, d.b_train)
    sp = fbjax.WeightedL1(**kw).fit(as_sparse(d.A_train), d.b_train)
    np.testing.assert_allclose(sp.validation_loss_, dense.validation_loss_, rtol=1e-8)
    np.testing.assert_allclose(sp.coef_, dense.coef_, atol=1e-8)
    np.testing.assert_allclose(sp.predict(as_sparse(d.A_test)), dense.predict(d.A_test), atol=1e-7)


def test_float32_design_fits_in_float32():
    """float64 enabled, a float32 X (and float64 y): the whole fit runs in float32, to float32's tolerance."""
    d = calibrated_degenerate(1, 60, 75, 0.95)
    X = d.A_train.astype(np.float32)
    est = fbjax.WeightedL1(max_iter=5, grid=10).fit(X, d.b_train)
    assert est.coef_.dtype == np.float32 and est.x_.dtype == np.float32
    train = split(X.shape[0])[0]
    F = fbjax.LeastSquares(jnp.asarray(X[train]), jnp.asarray(d.b_train[train], jnp.float32), l2=1 / len(train))
    assert fb_residual_of(est, F) <= 1e-4
    assert est.score(d.A_test, d.b_test) > 0.5


def test_ill_conditioned_design_fits():
    """Two features of mean 100 and no intercept (scikit-learn's check_fit_check_is_fitted data): cond 2e4,
    where coordinate descent alone needs thousands of sweeps (or stalls) at small penalties; solver="auto"
    finishes with FISTA, and the fit's model is certified: on the data as the fit solves them, X / 2^7 (its columns'
    root-mean-square is 100), where l2 is l2 / 2^14, alpha is alpha / 2^7 and w is 2^7 w."""
    rng = np.random.RandomState(42)
    X, y = rng.normal(loc=100, size=(100, 2)), rng.normal(size=100)
    est = fbjax.WeightedL1(max_iter=5, grid=10).fit(X, y)
    train, a = split(100)[0], 2.0**7
    F = fbjax.LeastSquares(jnp.asarray(X[train] / a), jnp.asarray(y[train]), l2=1 / 75 / a**2)
    x, w = est.x_ - np.log(a), est.coef_ * a
    assert float(jnp.max(jnp.abs(fbjax.fb_residual(F, x, w, 0.99 / F.lipschitz)))) <= 1e-10
    # A lower level that does not converge is an error naming it. One sweep of CD does not solve it (on the raw
    # data CD stalled past 5000 sweeps on XLA:CPU, at its rounding floor; on the rescaled data it takes 8)
    with pytest.raises(RuntimeError, match="did not reach"):
        fbjax.WeightedL1(max_iter=5, grid=10, argmin_kw={"solver": "cd", "max_iter": 1}).fit(X, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_target_orthogonal_to_the_design_gives_the_zero_model(dtype):
    """``alpha_max = ||X^T y||_inf / n = 0``: ``w = 0`` for every penalty. The fit floors ``alpha_max`` as
    scikit-learn's LassoCV does and returns the zero model, with finite penalties, instead of failing on
    ``log(0)``. Logistic: balanced labels on duplicated rows (``X^T y = 0``); the model is ``P = 1/2``."""
    X = np.random.default_rng(0).standard_normal((40, 6)).astype(dtype)
    for start in ("scalar", 0.2):
        est = fbjax.WeightedL1(max_iter=5, grid=10, start=start).fit(X, np.zeros(40, dtype))
        assert est.alpha_max_ == pytest.approx(fbjax.estimator.ALPHA_MAX_FLOOR, rel=1e-6)
        assert np.all(np.asarray(est.coef_) == 0) and np.all(np.isfinite(np.asarray(est.alpha_)))
        assert est.validation_loss_ == 0.0
    X2, labels = np.r_[X[:20], X[:20]], np.r_[np.ones(20), -np.ones(20)]
    est = fbjax.WeightedL1("logistic", max_iter=5, grid=10).fit(X2, labels, X2, labels)
    assert np.all(np.asarray(est.coef_) == 0)
    np.testing.assert_allclose(est.predict_proba(X2), 0.5)


@pytest.mark.parametrize("loss, a, c, kw", [
    ("squared", 1e3, 1e6, {}), ("squared", 1.0, 1e-6, {}), ("squared", 1e-8, 1e-8, {}),
    ("squared", 3e-4, 50.0, {"fit_intercept": True}),
    ("squared", 1e4, 1e4, {"sparse": True, "fit_intercept": True}), ("logistic", 1e4, 1.0, {"outer": "nba"}),
])  # fmt: skip
def test_fit_is_equivariant_to_the_scale_of_the_data(loss, a, c, kw):
    """``fit(a X, c y)`` with the ridge ``l2 a^2`` is the same problem as ``fit(X, y)`` with ``l2``: ``w = (c / a)
    w_1``, ``alpha = a c alpha_1``, ``Phi = c^2 Phi_1``. The fit rescales the data by powers of two, so that its
    absolute tolerances and stopping tests hold relative to the data's scale. Before, the first case failed ("did
    not reach ||R_gamma||_inf <= tol": the residual's rounding floor lies above 1e-10 there), the second
    stopped at the start (``||h|| < 1e-8`` at once: Phi is 1e-12 times as large), and in the third the floor
    that keeps ``log(alpha_max)`` finite (1e-15, absolute) lay 4x above ``alpha_max`` = 2.2e-16."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 30)) * (np.abs(rng.standard_normal((80, 30))) > 0.3)  # for the sparse case
    y = X[:, :4] @ np.array([1.0, -2.0, 1.5, 0.5]) + 0.1 * rng.standard_normal(80) + 2.0 * kw.get("fit_intercept", 0)
    if loss == "logistic":
        y = np.sign(y + 0.3 * rng.standard_normal(80))
    as_x = scipy.sparse.csr_matrix if kw.pop("sparse", False) else np.asarray
    make = lambda l2: fbjax.WeightedL1(loss, l2=l2, max_iter=20, grid=20, **kw)  # noqa: E731
    ref, est = make(0.02).fit(as_x(X), y), make(0.02 * a**2).fit(as_x(a * X), c * y)
    assert est.n_iter_ == ref.n_iter_ and np.array_equal(est.result_.accepted, ref.result_.accepted)
    np.testing.assert_allclose(np.asarray(est.coef_) * a / c, ref.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(est.x_ - np.log(a * c), ref.x_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(est.alpha_max_ / (a * c), ref.alpha_max_, rtol=1e-12)
    np.testing.assert_allclose(est.result_.values / c**2, ref.result_.values, rtol=1e-7)
    np.testing.assert_allclose(est.result_.grad_norms / c**2, ref.result_.grad_norms, rtol=1e-5)
    np.testing.assert_allclose(est.intercept_ / c, ref.intercept_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(est.validation_loss_ / c**2, ref.validation_loss_, rtol=1e-7)
    np.testing.assert_allclose(est.predict(a * X[:5]) / c if loss == "squared" else est.predict_proba(a * X[:5]),
                               ref.predict(X[:5]) if loss == "squared" else ref.predict_proba(X[:5]), rtol=1e-6)


def test_a_zero_design_gives_the_zero_model():
    """``X = 0``: ``w = 0`` for every penalty, and the fit says so, with and without an intercept. Before, the
    power iteration's estimate of ``||X||^2`` was 0 / 0 = NaN, so was ``Lambda_F``, and the fit failed with "did not
    reach". The fit now passes ``Lambda_F = l2``; a loss built on ``A = 0`` without ``lipschitz=`` raises, naming
    the case, and so does a ``Lambda_F`` that is not finite and ``> 0``."""
    X, y = np.zeros((40, 6)), np.random.default_rng(0).standard_normal(40)
    for loss, target in (("squared", y), ("logistic", np.sign(y))):
        for intercept in (False, True):
            est = fbjax.WeightedL1(loss, max_iter=5, grid=10, fit_intercept=intercept).fit(X, target)
            assert np.all(np.asarray(est.coef_) == 0) and np.isfinite(est.validation_loss_)
    with pytest.raises(RuntimeError, match=r"Lambda_F .* must be finite and > 0; with A = 0 .* pass lipschitz=l2"):
        fbjax.LeastSquares(jnp.asarray(X), jnp.asarray(y), l2=0.5)
    assert float(fbjax.LeastSquares(jnp.asarray(X), jnp.asarray(y), l2=0.5, lipschitz=0.5).lipschitz) == 0.5
    for lipschitz in (0.0, float("nan"), float("inf")):
        with pytest.raises(RuntimeError, match=r"lipschitz \(Lambda_F, passed to the loss\) must be finite and > 0"):
            fbjax.Logistic(jnp.ones((4, 2)), jnp.array([1.0, -1, 1, -1]), l2=0.1, lipschitz=lipschitz)


@parametrize_with_checks([fbjax.WeightedL1(max_iter=3, grid=5), fbjax.WeightedL1("logistic", max_iter=3, grid=5),
                          fbjax.WeightedL1(max_iter=3, grid=5, fit_intercept=True),
                          fbjax.WeightedL1("logistic", max_iter=3, grid=5, fit_intercept=True)])
def test_scikit_learn_estimator_checks(estimator, check):
    """scikit-learn's own API checks (input validation, NotFittedError, clone, pickling, n_features_in_, sparse
    input, float32, ...), the regressor's and (logistic loss) the binary classifier's: string labels,
    ``classes_``, ``predict_proba`` against ``decision_function``, accuracy on separable blobs, ..."""
    check(estimator)


def test_a_float64_fit_is_float64_with_jax_s_64_bit_mode_off():
    """JAX computes in 32 bits unless told (``jax_enable_x64``), and a joblib worker of ``GridSearchCV(n_jobs=2)``
    starts so. A float64 ``X`` fitted in 32 bits there (coef_ float32, validation loss 0.0050777 against
    0.0050774): results depended on ``n_jobs``. The fit now enables 64 bits around itself for a float64 ``X``, and
    equals the fit of a 64-bit process; a float32 ``X`` still fits in float32."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np, jax, fbjax; r = np.random.default_rng(0); X = r.standard_normal((120, 30)); "
        "y = X[:, :4].sum(1) + 0.1 * r.standard_normal(120); assert not jax.config.jax_enable_x64; "
        "m = fbjax.WeightedL1(max_iter=10).fit(X, y); "
        "m32 = fbjax.WeightedL1(max_iter=10).fit(np.float32(X), np.float32(y)); "
        "print(m.coef_.dtype, m32.coef_.dtype, m.validation_loss_.hex(), *(v.hex() for v in np.asarray(m.coef_, float)))"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    out = out.stdout.split()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 30))
    here = fbjax.WeightedL1(max_iter=10).fit(X, X[:, :4].sum(1) + 0.1 * rng.standard_normal(120))
    assert out[:2] == ["float64", "float32"]
    assert out[2:] == [here.validation_loss_.hex(), *(v.hex() for v in np.asarray(here.coef_, float))]
