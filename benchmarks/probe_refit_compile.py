"""Refits of ``WeightedL1`` with other numbers (session 28): does each one compile the fit again?

One calibrated design (0.95, 100, 150), ``max_iter=5``; a first fit, then refits that change one parameter each
(the way ``GridSearchCV`` walks a grid), with the number of compiled programs of ``fbjax.estimator._learn``
and the wall time of each fit. Run it in two checkouts to compare them:

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_refit_compile.py    # benchmarks/results/probe_refit_compile_s28.log
"""

import time

import jax

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import estimator  # noqa: E402
from fbjax.data import calibrated_degenerate  # noqa: E402

REFITS = ({}, {"l2": 0.02}, {"radius": 0.2}, {"step": 0.2, "outer": "nba"}, {"step": 0.3, "outer": "nba"},
          {"random_state": 1}, {"validation_fraction": 0.3}, {"box_lower": -4.0}, {"box_lower": -3.0},
          {"start": 0.2}, {"start": 0.1})  # fmt: skip


def main():
    d = calibrated_degenerate(0, 100, 150, 0.95)
    for kw in REFITS:
        t = time.perf_counter()
        fbjax.WeightedL1(max_iter=5, **kw).fit(d.A_train, d.b_train, d.A_val, d.b_val)
        print(f"{str(kw):40s} {time.perf_counter() - t:6.2f} s   compiled programs: {estimator._learn._cache_size()}")


if __name__ == "__main__":
    main()
