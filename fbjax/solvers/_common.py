"""What every lower-level solver returns and how it stops: ``||R_gamma(x, y)||_inf <= tol``."""

from __future__ import annotations

from typing import NamedTuple

import jax


class Solution(NamedTuple):
    """A lower-level solve: ``y ~ S(x)`` with its certificate.

    ``residual`` is ``||R_gamma(x, y)||_inf`` at the returned ``y`` (Prop. 3: zero iff exact),
    ``num_iter`` counts iterations (FISTA) or epochs (coordinate descent), ``converged`` is
    ``residual <= tol``, and ``grad`` is ``grad F(y)`` as used for the certificate (the backward pass
    reuses it instead of another pass over the data).
    """

    y: jax.Array
    residual: jax.Array
    num_iter: jax.Array
    converged: jax.Array
    grad: jax.Array
