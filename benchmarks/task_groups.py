"""Task-group learning (Frecon, Salzo & Pontil, ICPR 2020 model with the squared loss) on a synthetic design.

Usage:
    OPENBLAS_NUM_THREADS=1 python benchmarks/task_groups.py [--T 30] [--L 3] [--restarts 3]
        [--loss squared|logistic] [--lam 1.0] [--l2 0.1]

``fbjax.data.multitask.task_clusters``: T tasks in L rank-one clusters (N = 10 < P = 20 observations per
task). ``learn_task_groups`` (projected gradient through K = 50 unrolled Bregman dual FB steps with the
spectral Bregman prox) from ``--restarts`` Dirichlet starts; the start with the lowest final validation
error is kept. Prints the adjusted Rand index against the true clusters and the validation error of the
learned, true, pooled (one group) and independent (singleton) structures (mean squared error / 2, or
mean logistic loss with ``--loss logistic``, whose labels are ``sign(X_t w_t* + sigma eps)``).
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

from fbjax.baselines import learn_task_groups, task_fb  # noqa: E402
from fbjax.baselines.group_structure import validation_error, validation_logloss  # noqa: E402
from fbjax.data.multitask import task_clusters  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--T", type=int, default=30)
ap.add_argument("--L", type=int, default=3)
ap.add_argument("--restarts", type=int, default=3)
ap.add_argument("--loss", default="squared", choices=["squared", "logistic"])
ap.add_argument("--lam", type=float, default=1.0)
ap.add_argument("--l2", type=float, default=0.1)
args = ap.parse_args()
lam, K, l2, loss = args.lam, 50, args.l2, args.loss
d = task_clusters(0, T=args.T, L=args.L, classification=loss == "logistic")
t0 = time.perf_counter()
res = learn_task_groups(d, args.L, lam, l2=l2, loss=loss, num_iter=K, outer_iter=250, step=0.1, restarts=args.restarts)
wall = time.perf_counter() - t0
X, y, Xv, yv = (jnp.asarray(a) for a in d[:4])
error = validation_error if loss == "squared" else validation_logloss
U = lambda theta: float(error(task_fb(X, y, lam, K, theta, l2=l2, loss=loss), Xv, yv))  # noqa: E731
print(f"{loss}, lam={lam}, l2={l2}, T={args.T} L={args.L} restarts={args.restarts}: ARI {res.ari:.3f} in {wall:.0f} s (incl. compile)")
print(f"validation error: learned {U(res.theta):.4f} | true groups {U(np.eye(args.L)[d.groups].T):.4f} | "
      f"one group {U(np.ones((1, args.T))):.4f} | singletons {U(np.eye(args.T)):.4f}")
print("learned labels:", res.labels.tolist())
print("true labels:   ", d.groups.tolist())
