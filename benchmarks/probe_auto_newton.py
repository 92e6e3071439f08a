"""``solver="auto"`` on the CPU (coordinate descent, finished by FISTA where CD fails its budget) with that FISTA
finish taking Newton steps on its settled support (``newton_every=NEWTON_EVERY``, as ``solver="fista-newton"``),
against the committed finish, plain FISTA (session 33; "noticed, not done" in session 32).

``WeightedL1().fit`` (defaults: grid start, NTRBA-SC, 50 outer iterations) on the designs of
``probe_grid_solver.py`` (the first ``--designs``), each variant in turn in one process (``jax.clear_caches()``
between, since the solver is read when the fit is traced): the first fit (compile included) and the median of
``--repeats`` warm fits, with the validation loss, the support size and the largest relative difference of the
learned penalties against the committed variant's.

    OPENBLAS_NUM_THREADS=1 python benchmarks/probe_auto_newton.py --designs 4 --repeats 2
"""

import argparse
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402
from fbjax import solvers  # noqa: E402
from probe_grid_solver import designs  # noqa: E402

PLAIN = solvers.fista_any


def newton_finish(F, w, y0, gamma, tol, **kw):
    return PLAIN(F, w, y0, gamma, tol, **{"newton_every": solvers.NEWTON_EVERY, **kw})


VARIANTS = {"auto (FISTA finish)": PLAIN, "auto (FISTA-Newton finish)": newton_finish}


def main(n_designs, repeats):
    for i, (name, A, b, A_val, b_val) in enumerate(designs()):
        if i >= n_designs:
            break
        print(name, flush=True)
        ref = None
        for label, finish in VARIANTS.items():
            solvers.fista_any = finish  # cd_then_fista's finish reads the module's name when traced
            jax.clear_caches()
            t0 = time.perf_counter()
            est = fbjax.WeightedL1().fit(A, b, A_val, b_val)
            first = time.perf_counter() - t0
            warm = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                est = fbjax.WeightedL1().fit(A, b, A_val, b_val)
                warm.append(time.perf_counter() - t0)
            alpha = np.asarray(est.alpha_)
            diff = 0.0 if ref is None else float(np.max(np.abs(alpha - ref) / ref))
            ref = alpha if ref is None else ref
            print(f"  {label}: first fit {first:.2f} s, warm median {np.median(warm):.2f} s; validation_loss_ "
                  f"{est.validation_loss_:.10g}, nnz {int(np.sum(np.asarray(est.coef_) != 0))}, penalties vs the "
                  f"first variant's: max relative difference {diff:.1e}", flush=True)  # fmt: skip
    solvers.fista_any = PLAIN


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--designs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    main(a.designs, a.repeats)
