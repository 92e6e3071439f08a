"""NTRBA (Algorithm 3): a trust region with the projected Cauchy step and the ``ared/pred`` test."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from fbjax import _errors
from fbjax._checks import check_positive
from fbjax.outer._common import NON_FINITE, OuterResult, setup, tree_where


@dataclasses.dataclass(frozen=True)
class TrustRegion:
    """Algorithm 3's constants; the defaults are the paper's code (Table 3 runs)."""

    radius_min: float = 1e-12
    radius_max: float = 1e2
    eta_accept: float = 0.1
    eta_expand: float = 0.75
    shrink: float = 0.25
    grow: float = 2.0
    pinned: float = 1e-12  # epsilon of step 8: ||s_k|| below it means pinned by the box

    def __post_init__(self):
        if not 0 < self.radius_min <= self.radius_max:
            raise ValueError(f"need 0 < radius_min <= radius_max, got {self.radius_min}, {self.radius_max}")
        if not 0 < self.eta_accept < self.eta_expand:
            raise ValueError(f"need 0 < eta_accept < eta_expand, got {self.eta_accept}, {self.eta_expand}")
        if not (0 < self.shrink < 1 and self.grow > 1):
            raise ValueError(f"need shrink in (0, 1) and grow > 1, got {self.shrink}, {self.grow}")
        if not 0 <= self.pinned < math.inf:  # (a NaN or a negative one never stopped a pinned run)
            raise ValueError(f"need pinned >= 0 finite, got {self.pinned}")


def radius_update(tr: TrustRegion, radius, ratio, step_norm, tried):
    """Steps 15-25 of Alg. 3: ``(accept, new_radius, hit_min)`` for a trial with ratio ``ared/pred``.

    A trial that was not evaluated (``tried`` False: ``pred <= 0``) or gave a non-finite ratio
    is rejected.
    """
    accept = tried & (ratio >= tr.eta_accept)
    expand = accept & (ratio > tr.eta_expand) & (step_norm >= 0.95 * radius)
    contracted = jnp.maximum(tr.radius_min, tr.shrink * radius)
    new = jnp.where(accept, jnp.where(expand, jnp.minimum(tr.radius_max, tr.grow * radius), radius), contracted)
    return accept, new, ~accept & (contracted <= tr.radius_min)


@_errors.eager_checked
def ntrba(
    fun, x0, *, max_iter: int = 50, radius: float = 0.1, tol: float = 1e-8, lower=None, upper=None, aux0=None,
    trust_region: TrustRegion = TrustRegion(), record_x: bool = False,
) -> OuterResult:  # fmt: skip
    """Algorithm 3 (NTRBA). Per iteration, with ``h_k`` from the oracle at ``x_k``:

        d_k = -(Delta_k / ||h_k||) h_k;   s_k = P_X(x_k + d_k) - x_k;   pred_k = -<h_k, s_k>
        rho_k = (Phi(x_k) - Phi(x_k + s_k)) / pred_k
        rho_k <  eta_accept: reject, Delta <- max(Delta_min, shrink Delta)   (stop at Delta_min)
        rho_k >= eta_accept: accept; if rho_k > eta_expand and ||s_k|| >= 0.95 Delta_k:
                             Delta <- min(Delta_max, grow Delta)

    and it stops when ``||h_k|| < tol``, when ``||s_k|| < trust_region.pinned`` (pinned by the
    box) or when the radius reaches ``radius_min``. The oracle is called once at ``x0`` and once per
    trial point; an accepted trial's subgradient is reused, so a run costs ``1 + max_iter`` calls
    at most. A trial with a non-finite value is rejected.

    Args: as :func:`fbjax.nba`, with ``radius`` the initial ``Delta_0`` (paper's code: 0.1; as ``step``) and
    ``trust_region`` the remaining constants. ``result.radii[k]`` is ``Delta_k``,
    ``result.ratios[k]`` is ``rho_k`` (NaN where no trial was evaluated).
    """
    (radius,) = check_positive(radius=radius)
    tr = trust_region
    oracle, project, x0, inf, tol = setup(fun, x0, max_iter, lower, upper, aux0, "fbjax.ntrba", tol)
    dtype = x0.dtype

    # Step 0 of the scan evaluates the oracle at x0 and the max_iter steps after it are Alg. 3's: one
    # call site, so the oracle (lower-level solver and adjoint) is compiled once, not twice.
    def body(carry, _):
        x, v, h, aux, delta, best_x, best_v, best_aux, done, n_iter, n_evals = carry
        first = n_evals == 0
        gn = jnp.linalg.norm(h)
        stationary = ~first & (gn < tol)
        s = project(x - (delta / jnp.where(stationary | first, 1.0, gn)) * h) - x
        sn = jnp.linalg.norm(s)
        pinned = ~first & (sn < tr.pinned)
        active = ~first & ~done & ~stationary & ~pinned
        pred = -jnp.vdot(h, s)
        tried = active & (pred > 0)
        trial = jnp.where(first, x, x + s)
        vt, ht, auxt = jax.lax.cond(first | tried, lambda _: oracle(trial, aux), lambda _: (v, h, aux), None)
        finite = jnp.isfinite(vt) & jnp.all(jnp.isfinite(ht))
        vt = _errors.error_if(vt, first & ~finite, f"fbjax.ntrba (at x0): {NON_FINITE}")
        ratio = jnp.where(tried & finite, (v - vt) / jnp.where(tried, pred, 1.0), jnp.nan)
        accept, new_delta, hit_min = radius_update(tr, delta, jnp.where(finite, ratio, -jnp.inf), sn, tried & finite)
        accept = accept | first
        better = ((tried & finite) | first) & (vt < best_v)
        record = (v, gn, delta, accept, ratio, x)
        carry = (
            *tree_where(accept, (trial, vt, ht, auxt), (x, v, h, aux)), jnp.where(active, new_delta, delta),
            *tree_where(better, (trial, vt, auxt), (best_x, best_v, best_aux)),
            done | stationary | pinned | (active & hit_min), n_iter + active, n_evals + (tried | first),
        )  # fmt: skip
        return carry, record

    init = (x0, inf, jnp.zeros_like(x0), aux0, jnp.asarray(radius, dtype), x0, inf, aux0, jnp.asarray(False),
            jnp.asarray(0), jnp.asarray(0))  # fmt: skip
    carry, records = jax.lax.scan(body, init, None, length=max_iter + 1)
    values, gns, radii, accepted, ratios, xs = jax.tree_util.tree_map(lambda r: r[1:], records)
    x, v, _, aux, _, best_x, best_v, best_aux, _, n_iter, n_evals = carry
    return OuterResult(
        x=x, value=v, best_x=best_x, best_value=best_v, values=values, grad_norms=gns, radii=radii.astype(dtype),
        accepted=accepted, ratios=ratios, num_iter=n_iter, num_evals=n_evals, aux=aux, xs=xs if record_x else None,
        best_aux=best_aux,
    )  # fmt: skip
