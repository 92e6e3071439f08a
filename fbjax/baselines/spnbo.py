"""SPNBO (smoothing + penalty for nonsmooth bilevel optimisation; ``003_``, Algorithms 1-2).

The l1 term is smoothed (:mod:`fbjax.baselines.smoothing`, ``r_mu(t) = sqrt(t^2 + mu^2) - mu``) and
the smoothed lower level is replaced by its optimality condition, giving the single-level problem
(3) in the joint variable ``(w, x)`` (``w`` the lower-level variable, ``x`` the hyperparameters):

    min_{w, x} f(w, x)  s.t.  c(w, x; mu) = grad F(w) + psi(x) * r_mu'(w) = 0,

solved through the penalised minimax problem (4) with a distribution ``p`` over the ``d``
constraints:

    min_{w, x} max_{p in Delta^d}  M(w, x, p) = f(w, x) + beta sum_i p_i c_i^2 - tau/2 ||p||^2.

Algorithm 2 (SCG), one iteration: sample ``i ~ p`` and ``j ~ U{1..d}``; stochastic gradients
(5)-(6) ``g_z = grad f + 2 beta c_i grad c_i`` (one Hessian row, never the Hessian) and
``g_p = d e_j (c_j^2 - tau p_j)``; STORM momentum ``m_t = g(z_t) + (1 - a)(m_{t-1} - g(z_{t-1}))``
(both at the same sample); adaptive matrices ``A_t = diag(sqrt(clip(v_t, rho, b)))`` with
``v_t = a_hat g^2 + (1 - a_hat) v_{t-1}``; updates (7)-(9) ``z~ = z - gamma A^{-1} m``,
``p~ = P_Delta(p + sigma A_p^{-1} m_p)``, then ``(z, p) += eta_t (~ - current)`` with
``eta_t = eta / (1 + t)^{1/3}``. A stage stops when the full-gradient conditions (10)
``||grad_w M||, ||grad_x M||, ||c|| <= eps_k`` hold (checked every ``check_every`` iterations) or
after ``inner_iter`` iterations. Algorithm 1 then sets ``mu <- delta_mu mu``, ``eps <- delta_eps
eps`` and ``beta <- delta_beta beta`` ("we enlarge the penalty parameter").

SPNBO is a joint solver, not a hypergradient oracle: it returns ``(w, x)`` and per-stage records;
compare it with the oracle methods through ``Phi(x) = L(x, S(x))`` at its ``x``. Parameters
default to the paper's experiments where it states them (``a_hat = 0.9``, ``beta`` from {0.1, 1,
10, 100}); the rest (``gamma``, ``sigma``, ``eta``, ``a``, ``tau``, ``rho``, ``b``) are documented
choices here (Theorem 1's constants are not computable in practice).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from fbjax import _checks, _errors
from fbjax import weights as _w
from fbjax.baselines._simplex import project_simplex
from fbjax.baselines.smoothing import surrogate
from fbjax.outer._common import refuse
from fbjax.solvers import validate


class SPNBOResult(NamedTuple):
    x: jax.Array
    w: jax.Array
    p: jax.Array
    merit_start: jax.Array  # (stages,) M at the start of each stage (that stage's mu, beta)
    merit_end: jax.Array  # (stages,) M at the end of each stage
    constraint_norm: jax.Array  # (stages,) ||c(w, x; mu_k)|| at the end of each stage
    iterations: jax.Array  # (stages,) SCG iterations used
    mus: jax.Array
    betas: jax.Array


class SPNBO(NamedTuple):
    """SPNBO's parameters (Alg. 1-2 of ``003_``)."""

    stages: int = 5  # K of Algorithm 1
    inner_iter: int = 2000  # SCG budget per stage
    check_every: int = 50  # conditions (10) are checked this often
    mu: float = 1e-1  # mu^1
    beta: float = 10.0  # beta^1, from the paper's grid {0.1, 1, 10, 100}
    eps: float = 1e-2  # eps^1
    delta_mu: float = 0.5
    delta_eps: float = 0.5
    delta_beta: float = 2.0
    tau: float = 1.0  # strong concavity in p
    gamma: float = 1e-2  # step for (w, x)
    sigma: float = 1e-2  # step for p
    eta: float = 1.0  # eta_t = eta / (1 + t)^(1/3)
    a: float = 0.1  # STORM momentum 1 - a
    a_hat: float = 0.9  # second-moment weight (paper: 0.9)
    rho: float = 1e-2  # clip range [rho, b] of the second moment (a floor: 1e-8 diverged here)
    b: float = 1e8


def _check(P: SPNBO) -> SPNBO:
    """``P``, raising ValueError naming the first parameter out of its range. The counts are static; the constants
    may be traced (a sweep over ``beta`` under ``jax.vmap``), and are then checked when the program runs (ranges
    included)."""
    counts = ("stages", "inner_iter", "check_every")
    _checks.check_count(**{f"spnbo: params.{k}": getattr(P, k) for k in counts})
    names = [k for k in P._fields if k not in counts]
    P = P._replace(**dict(zip(names, _checks.check_positive(**{f"spnbo: params.{k}": getattr(P, k) for k in names}))))
    return P._replace(a=_at_most(P.a, 1, "spnbo: params.a must lie in (0, 1]"),
                      a_hat=_at_most(P.a_hat, 1, "spnbo: params.a_hat must lie in (0, 1]"),
                      rho=_at_most(P.rho, P.b, "spnbo: params.rho <= params.b needed (the clip range)"))  # fmt: skip


def _at_most(value, bound, msg: str):
    """``value``, refused unless ``value <= bound``: a ValueError now, or an error when the program runs where either
    is traced (:func:`fbjax.outer._common.refuse`; the message then fixed, without the values)."""
    if not _errors.traced((value, bound)):
        msg += f", got {value!r} > {bound!r}"
    return refuse(value, lambda v, b, xp: ~(v <= b), (value, bound), msg)


_DIVERGED = (
    "fbjax.baselines.spnbo: the iterates diverged (NaN or inf in w, x or p); lower params.gamma (the step for "
    "(w, x)), params.sigma (the step for p) or params.eta"
)


@_errors.eager_checked
def spnbo(F, upper: Callable, x0, psi="exp", *, w0=None, params: SPNBO = SPNBO(), seed: int = 0) -> SPNBOResult:
    """Run SPNBO on ``min_x upper(x, S(x))``, ``S(x) = argmin_w F(w) + sum psi(x_i)|w_i|``.

    ``F`` any :class:`fbjax.SmoothLoss`; ``upper(x, w)`` smooth. Parameters out of range are a ValueError; iterates
    that diverge (NaN or inf: steps too long for the problem's scale) an error after the run, not a NaN result.
    Jit-compatible (one ``lax.scan`` over stages, a ``while_loop`` per stage; the constants of ``params`` may be
    traced). An eager call compiles the whole run each time (1.6 s at
    ``n = 40, p = 50``; benchmarks/probe_eager_compiles.py): jit it with ``upper`` fixed to run it again, as
    :mod:`fbjax.outer` explains (not jitted inside: a cached program would keep what ``upper`` closed over).
    """
    x0, w0 = validate(F, x0, w0)
    P = _check(params)
    psi = _w.resolve(psi)
    x0 = x0 + 0 * _w.weights(psi, x0)  # psi(x0) finite and >= 0 (tied to x0: kept under jit); the rest at the end
    d, dtype = F.n_features, x0.dtype

    def constraint(w, x, mu):
        return F.grad(w) + psi.psi(x) * surrogate("be", mu).dr(w)  # unchecked: a diverged run raises at the end

    def merit(z, p, mu, beta):
        w, x = z
        return upper(x, w) + beta * jnp.vdot(p, constraint(w, x, mu) ** 2) - 0.5 * P.tau * jnp.vdot(p, p)

    def stoch_grads(z, p, i, j, mu, beta):
        gz = jax.grad(lambda z_: upper(z_[1], z_[0]) + beta * constraint(z_[0], z_[1], mu)[i] ** 2)(z)
        cj = constraint(z[0], z[1], mu)[j]
        gp = jnp.zeros_like(p).at[j].set(d * (cj**2 - P.tau * p[j]))
        return gz, gp

    tmap = jax.tree_util.tree_map

    def scg_step(t, state, mu, beta):
        z, p, z_prev, p_prev, m, mp, v, vp, key = state
        key, ki, kj = jax.random.split(key, 3)
        i = jax.random.categorical(ki, jnp.log(p))
        j = jax.random.randint(kj, (), 0, d)
        gz, gp = stoch_grads(z, p, i, j, mu, beta)
        gz_old, gp_old = stoch_grads(z_prev, p_prev, i, j, mu, beta)
        first = t == 0
        m = tmap(lambda g, mo, go: jnp.where(first, g, g + (1 - P.a) * (mo - go)), gz, m, gz_old)
        mp = jnp.where(first, gp, gp + (1 - P.a) * (mp - gp_old))
        v = tmap(lambda g, vo: P.a_hat * g * g + (1 - P.a_hat) * vo, gz, v)
        vp = P.a_hat * gp * gp + (1 - P.a_hat) * vp
        scale = lambda v_: jnp.sqrt(jnp.clip(v_, P.rho, P.b))  # noqa: E731
        eta = P.eta / (1.0 + t) ** (1.0 / 3.0)
        z_new = tmap(lambda z_, m_, v_: z_ - eta * P.gamma * m_ / scale(v_), z, m, v)
        p_new = p + eta * (project_simplex(p + P.sigma * mp / scale(vp)) - p)
        return z_new, p_new, z, p, m, mp, v, vp, key

    def stage(carry, k):
        z, p, key = carry
        mu = P.mu * P.delta_mu**k
        beta = P.beta * P.delta_beta**k
        eps = P.eps * P.delta_eps**k

        def satisfied(z, p):
            gw, gx = jax.grad(merit)(z, p, mu, beta)
            c = constraint(z[0], z[1], mu)
            return (jnp.linalg.norm(gw) <= eps) & (jnp.linalg.norm(gx) <= eps) & (jnp.linalg.norm(c) <= eps)

        zeros = tmap(jnp.zeros_like, z)
        state = (z, p, z, p, zeros, jnp.zeros_like(p), zeros, jnp.zeros_like(p), key)

        def cond(s):
            t, st, done = s
            return (t < P.inner_iter) & ~done

        def body(s):
            t, st, _ = s
            st = jax.lax.fori_loop(t, t + P.check_every, lambda tt, ss: scg_step(tt, ss, mu, beta), st)
            return t + P.check_every, st, satisfied(st[0], st[1]) | diverged(st[0], st[1])

        start = merit(z, p, mu, beta)
        done = satisfied(z, p) | diverged(z, p)
        t, st, _ = jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), state, done))
        z, p, key = st[0], st[1], st[-1]
        record = (start, merit(z, p, mu, beta), jnp.linalg.norm(constraint(z[0], z[1], mu)), t, mu, beta)
        return (z, p, key), record

    def diverged(z, p):
        return ~(jnp.all(jnp.isfinite(z[0])) & jnp.all(jnp.isfinite(z[1])) & jnp.all(jnp.isfinite(p)))

    p0 = jnp.full((d,), 1.0 / d, dtype)
    stages = jnp.arange(P.stages, dtype=dtype)  # in the problem's dtype: mu, beta and eps follow it
    (z, p, _), rec = jax.lax.scan(stage, ((w0, x0), p0, jax.random.PRNGKey(seed)), stages)
    z, p = _errors.error_if((z, p), diverged(z, p), _DIVERGED)
    return SPNBOResult(z[1], z[0], p, *rec)
