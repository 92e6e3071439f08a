"""fbjax: exact nonsmooth bilevel hyperparameter optimisation for weighted-l1 models in JAX.

The lower-level solution map ``S(x) = argmin_y F(y) + sum_i psi(x_i) |y_i|`` is differentiated
through its forward-backward residual (Pérez-Aros, Vilches, Villacís): ``jax.grad`` through
:func:`argmin` returns a computable element of the residual-enlarged subdifferential, nonzero on
biactive coordinates where implicit differentiation à la Sparse-HO starves.
"""

from fbjax import adjoint, coderivative, data, fb, outer, solvers, weights
from fbjax._errors import checked_jit
from fbjax.coderivative import Null, Policy, SignConsistent
from fbjax.fb import fb_operator, fb_residual, forward_map, partition, soft_threshold
from fbjax.implicit import adjoint_selection, argmin, solution_vjp
from fbjax.outer import OuterResult, TrustRegion, batch_map, nba, ntrba, optax_solve
from fbjax.losses import LeastSquares, LinearModelLoss, Logistic, SmoothLoss
from fbjax.intercept import WithIntercept
from fbjax.solvers import Solution, solve
from fbjax.estimator import WeightedL1

__version__ = "0.1.0"

__all__ = [
    "LeastSquares",
    "LinearModelLoss",
    "Logistic",
    "Null",
    "OuterResult",
    "TrustRegion",
    "WeightedL1",
    "WithIntercept",
    "Policy",
    "SignConsistent",
    "SmoothLoss",
    "Solution",
    "adjoint",
    "adjoint_selection",
    "argmin",
    "batch_map",
    "checked_jit",
    "coderivative",
    "data",
    "fb",
    "fb_operator",
    "fb_residual",
    "forward_map",
    "nba",
    "ntrba",
    "optax_solve",
    "outer",
    "partition",
    "soft_threshold",
    "solution_vjp",
    "solve",
    "solvers",
    "weights",
]
