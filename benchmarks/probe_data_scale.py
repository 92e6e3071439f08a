"""``WeightedL1`` on the same data at other scales: ``fit(a X, c y)`` with the ridge ``l2 a^2`` is the same problem
as ``fit(X, y)`` with ``l2`` (``w = (c / a) w_1``), so every row should give the first row's model (session 34).

Three designs: the AIP regression design (n 100, m 300, nz 30, seed 0), scikit-learn's diabetes data unscaled
(``load_diabetes(scaled=False)``: ages, blood pressures, ... and a target of about 150; 10 features) and
scikit-learn's ``check_fit_check_is_fitted`` data (two features of mean 100). Per row: whether the fit ran, the
median of ``--repeats`` warm fits, ``validation_loss_ / c^2``, the test R^2, the support size and the largest
relative difference of ``coef_ a / c`` against the ``(1, 1)`` row's (on coefficients above 1e-8 of its largest).
The committed code before the rescaling, for the "before" log: a ``git worktree`` of ``317e738`` and
``PYTHONPATH=<worktree>``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_data_scale.py

``--ar1``: instead, the default fit on the one design of ``probe_grid_solver.py`` outside ``[1/16, 16]``, the
AR(1) rho 0.99 design (its target's root-mean-square is 64, so ``c = 64``): first fit and warm fits.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_data_scale.py --ar1 --repeats 3

``--floor``: instead, ``alpha_max_ / (a c)`` of a 200 x 30 design (four true features) at tiny scales, where
``alpha_max`` falls below ``ALPHA_MAX_FLOOR`` = 1e-15.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_data_scale.py --floor

``--mixed``: instead, columns on different scales (4 of 30 columns, two of them with signal, times ``big``): test
R^2 of ``WeightedL1()``, of ``StandardScaler(with_mean=False)`` then ``WeightedL1()``, and of ``LassoCV()``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_data_scale.py --mixed
"""

import argparse
import time

import jax
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax.data import aip_regression  # noqa: E402

SCALES = [(1.0, 1.0), (1e3, 1.0), (1.0, 1e4), (1e3, 1e6), (1e-3, 1.0), (1.0, 1e-4)]


def designs():
    d = aip_regression(0, 100, 300, 30)
    yield "AIP (100, 300, 30)", d.A_train, d.b_train, d.A_test, d.b_test, SCALES
    X, y = load_diabetes(return_X_y=True, scaled=False)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0)
    yield "diabetes, unscaled", Xtr, ytr, Xte, yte, [(1.0, 1.0), (1e-2, 1e-2), (1e2, 1.0)]
    rng = np.random.RandomState(42)
    X, y = rng.normal(loc=100, size=(100, 2)), rng.normal(size=100)
    yield "two features of mean 100", X[:80], y[:80], X[80:], y[80:], [(1.0, 1.0), (1e-2, 1.0)]


def r2(y, pred):
    return 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


def main(repeats):
    print(fbjax.__file__)
    for name, X, y, Xt, yt, scales in designs():
        print(name, flush=True)
        ref = None
        l2 = 1.0 / (0.75 * X.shape[0])  # the default 1 / n_train at (1, 1)
        for a, c in scales:
            make = lambda: fbjax.WeightedL1(l2=l2 * a**2)  # noqa: E731
            try:
                est = make().fit(a * X, c * y)
            except Exception as e:  # noqa: BLE001
                print(f"  a {a:g}, c {c:g}: {type(e).__name__}: {str(e)[:110]}", flush=True)
                continue
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                est = make().fit(a * X, c * y)
                times.append(time.perf_counter() - t0)
            w = np.asarray(est.coef_) * a / c
            big = None if ref is None else np.abs(ref) > 1e-8 * np.abs(ref).max()
            diff = 0.0 if ref is None else float(np.max(np.abs(w - ref)[big] / np.abs(ref)[big]))
            ref = w if ref is None else ref
            print(f"  a {a:g}, c {c:g}: fit {np.median(times):.2f} s, validation_loss_ / c^2 "
                  f"{est.validation_loss_ / c**2:.10g}, test R^2 {r2(c * yt, est.predict(a * Xt)):.6f}, nnz "
                  f"{int(np.sum(w != 0))}, coef_ a / c vs the first row's: {diff:.1e}", flush=True)  # fmt: skip


def ar1(repeats):
    from probe_grid_solver import designs as grid_designs

    name, A, b, A_val, b_val = next(d for d in grid_designs() if d[0].startswith("AR(1)"))
    print(fbjax.__file__, name, flush=True)
    t0 = time.perf_counter()
    fbjax.WeightedL1().fit(A, b, A_val, b_val)
    print(f"  first fit {time.perf_counter() - t0:.2f} s", flush=True)
    for _ in range(repeats):
        t0 = time.perf_counter()
        est = fbjax.WeightedL1().fit(A, b, A_val, b_val)
        print(f"  warm fit {time.perf_counter() - t0:.2f} s: validation_loss_ {est.validation_loss_:.10g}, nnz "
              f"{int(np.sum(np.asarray(est.coef_) != 0))}, outer iterations {est.n_iter_}", flush=True)


def floor(_):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 30))
    y = X[:, :4] @ np.array([1.0, -2.0, 1.5, 0.5]) + 0.1 * rng.standard_normal(200)
    print(fbjax.__file__, flush=True)
    for a, c in [(1.0, 1.0), (1e-8, 1e-8), (1e-10, 1e-6)]:
        est = fbjax.WeightedL1(l2=0.01 * a**2, max_iter=20).fit(a * X, c * y)
        print(f"  a {a:g}, c {c:g}: alpha_max_ / (a c) {est.alpha_max_ / (a * c):.6g}, nnz "
              f"{int(np.sum(np.asarray(est.coef_) != 0))}, R^2 {est.score(a * X, c * y):.10f}", flush=True)


def mixed(_):
    from sklearn.linear_model import LassoCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    n, p = 200, 30
    w = np.zeros(p)
    w[:6] = [1, -2, 1.5, 0.5, 1, 1]
    X = rng.standard_normal((n, p))
    y = X @ w + 0.1 * rng.standard_normal(n)
    Xt = rng.standard_normal((500, p))
    yt = Xt @ w
    for big in [1.0, 1e3, 1e6]:
        d = np.ones(p)
        d[4:8] = big
        plain = fbjax.WeightedL1().fit(X * d, y)
        scaled = make_pipeline(StandardScaler(with_mean=False), fbjax.WeightedL1()).fit(X * d, y)
        lasso = LassoCV().fit(X * d, y)
        print(f"  big {big:g}: test R^2 WeightedL1 {plain.score(Xt * d, yt):.3f} (nnz "
              f"{int(np.sum(np.asarray(plain.coef_) != 0))}), StandardScaler + WeightedL1 "
              f"{scaled.score(Xt * d, yt):.3f}, LassoCV {lasso.score(Xt * d, yt):.3f}", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--ar1", action="store_true")
    ap.add_argument("--floor", action="store_true")
    ap.add_argument("--mixed", action="store_true")
    args = ap.parse_args()
    (ar1 if args.ar1 else floor if args.floor else mixed if args.mixed else main)(args.repeats)
