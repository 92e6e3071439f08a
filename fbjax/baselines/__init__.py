"""Baselines the field compares against, each a solution map behind one oracle interface
(:func:`hypergradient`: ``x -> (Phi(x), h)``), plus the outer rules and joint solvers.

- exact FB (this package): ``fbjax.argmin(F, x, policy="sc" | "null")`` (``"null"`` is Sparse-HO);
- unrolled differentiation (RMD / FMD): :func:`unrolled`;
- smoothing + implicit differentiation (BE, Huber): :func:`smoothed_argmin`;
- Bregman-smoothed dual forward-backward (Frecon et al.): :func:`dual_fb`, :func:`bregman_argmin`,
  group-structure learning over features :func:`learn_group_structure`, and over tasks with trace
  norms (ICPR 2020) :func:`task_fb`, :func:`learn_task_groups`;
- SPNBO (smoothing + penalty, joint in ``(w, x)``): :func:`spnbo`;
- Sparse-HO's outer rule :func:`sparse_ho_gd`; scalar grid search :func:`grid_search`, :func:`best_scalar_penalty`.
"""

from fbjax.baselines.bregman import bregman_argmin, bregman_prox, dual_fb, spectral_bregman_prox, task_fb
from fbjax.baselines.grid import best_scalar_penalty, grid_search, log_grid, scalar_penalties
from fbjax.baselines.group_structure import learn_group_structure, learn_task_groups
from fbjax.baselines.oracle import hypergradient
from fbjax.baselines.smoothing import smoothed_argmin, surrogate
from fbjax.baselines.sparse_ho import sparse_ho_gd
from fbjax.baselines.spnbo import SPNBO, spnbo
from fbjax.baselines.unrolled import unrolled

__all__ = [
    "SPNBO",
    "best_scalar_penalty",
    "bregman_argmin",
    "bregman_prox",
    "dual_fb",
    "grid_search",
    "hypergradient",
    "learn_group_structure",
    "learn_task_groups",
    "log_grid",
    "scalar_penalties",
    "smoothed_argmin",
    "sparse_ho_gd",
    "spectral_bregman_prox",
    "spnbo",
    "surrogate",
    "task_fb",
    "unrolled",
]
