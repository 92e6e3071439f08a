"""Baselines the paper compares against: Sparse-HO's outer rule and scalar grid search.

Weighted Sparse-HO of the paper is ``fbjax.nba`` on ``fbjax.argmin(..., policy="null")``.
"""

from fbjax.baselines.grid import grid_search, log_grid, scalar_penalties
from fbjax.baselines.sparse_ho import sparse_ho_gd

__all__ = ["grid_search", "log_grid", "scalar_penalties", "sparse_ho_gd"]
