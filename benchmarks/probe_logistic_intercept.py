"""WeightedL1(loss="logistic") with and without ``fit_intercept``, against scikit-learn's l1 LogisticRegressionCV.

Two datasets, a 70/30 train/test split each (seed 0):
- scikit-learn's breast-cancer data (569 x 30, 37% positive), standardised on the training rows;
- an imbalanced synthetic design: 600 x 200 standard normal features, 5 relevant (weights +-2), intercept -2.5
  (30% positive).
Reports test accuracy, test log-loss, support size, the learned intercept and the fit time (the median of
``--repeats`` fits after one warm-up fit, which also compiles; the compile-inclusive first fit reported apart),
then the cost of one gradient with and without the intercept and the Newton steps of ``c(w)``.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/probe_logistic_intercept.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import expit
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

jax.config.update("jax_enable_x64", True)
import fbjax  # noqa: E402


def synthetic():
    """``(train/test split, true weights)`` of the imbalanced synthetic design."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 200))
    w = np.where(np.arange(200) < 5, rng.choice([-2.0, 2.0], 200), 0.0)
    y = (rng.random(600) < expit(X @ w - 2.5)).astype(int)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y), w


def datasets():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    scale = StandardScaler().fit(Xtr)
    yield "breast cancer 569 x 30", scale.transform(Xtr), scale.transform(Xte), ytr, yte
    (Xtr, Xte, ytr, yte), _ = synthetic()
    positive = np.concatenate([ytr, yte]).mean()
    yield f"synthetic 600 x 200, {positive:.0%} positive", Xtr, Xte, ytr, yte


def timed(make, X, y, repeats):
    t = time.perf_counter()
    make().fit(X, y)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        est = make().fit(X, y)
        times.append(time.perf_counter() - t)
    return est, first, statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    models = {
        "WeightedL1 logistic": lambda: fbjax.WeightedL1("logistic"),
        "WeightedL1 logistic, fit_intercept": lambda: fbjax.WeightedL1("logistic", fit_intercept=True),
        # liblinear penalises the intercept like a weight; intercept_scaling = 100 makes that penalty negligible
        # (saga, whose intercept is unpenalised, took 92 s a fit on the first dataset and did not converge)
        "LogisticRegressionCV l1 (liblinear, 5-fold log-loss, 20 Cs)": lambda: LogisticRegressionCV(
            Cs=20, l1_ratios=(1.0,), solver="liblinear", scoring="neg_log_loss", intercept_scaling=100.0, tol=1e-6,
            max_iter=10_000, random_state=0, use_legacy_attributes=False,
        ),
    }
    print("| data | model | test accuracy | test log-loss | nonzeros | intercept | first fit (s) | fit (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, Xtr, Xte, ytr, yte in datasets():
        for label, make in models.items():
            est, first, fit = timed(make, Xtr, ytr, args.repeats)
            coef = np.ravel(np.asarray(est.coef_))
            c = float(np.ravel(est.intercept_)[0]) if np.ndim(est.intercept_) else float(est.intercept_)
            print(f"| {name} | {label} | {accuracy_score(yte, est.predict(Xte)):.3f} | {log_loss(yte, est.predict_proba(Xte)):.3f} | "
                  f"{int(np.sum(coef != 0))} | {c:.2f} | {first:.1f} | {fit:.2f} |", flush=True)


def gradient_cost(repeats=5):
    """Microseconds per gradient of ``F`` and of ``G = WithIntercept(F)`` (1000 gradients in one compiled loop,
    median of ``repeats``), and the Newton steps of ``c(w)``, on the synthetic training rows at the true weights
    scaled by 0, 0.5 and 1 (margins up to about 10)."""
    from fbjax.intercept import _root

    (Xtr, _, ytr, _), w = synthetic()
    F = fbjax.Logistic(Xtr, 2.0 * ytr - 1.0)
    G = fbjax.WithIntercept(F)
    for name, L in (("F", F), ("G = WithIntercept(F)", G)):
        loop = jax.jit(lambda y, L=L: jax.lax.fori_loop(0, 1000, lambda i, y: y - 1e-9 * L.grad(y), y))
        loop(jnp.asarray(w)).block_until_ready()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            loop(jnp.asarray(w)).block_until_ready()
            times.append(time.perf_counter() - t)
        print(f"{name}: {1e3 * statistics.median(times):.1f} us a gradient")
    steps = []
    for scale in (0.0, 0.5, 1.0):
        t = jnp.asarray(Xtr @ (scale * w))
        steps.append(int(_root_steps(_root, t, F.b)))
    print(f"Newton steps of c(w) at the weights scaled by 0, 0.5, 1: {steps}")


def _root_steps(root, t, b):
    """The number of loop steps ``root`` takes (its while loop's counter, read through a wrapper while it is traced:
    the function under ``root``'s ``jax.jit``, which would not trace it again)."""
    seen = []
    loop = jax.lax.while_loop

    def counting(cond, body, init):
        out = loop(cond, body, init)
        seen.append(out[-1])
        return out

    jax.lax.while_loop = counting
    try:
        getattr(root, "__wrapped__", root)(fbjax.Logistic, t, b)
    finally:
        jax.lax.while_loop = loop
    return seen[0]


if __name__ == "__main__":
    main()
    gradient_cost()
