"""The projected first-order loop shared by NBA, the optax adapter and Sparse-HO's descent rule:

    (Phi_k, h_k) = fun(x_k);  stop if ||h_k|| < tol;  x_{k+1} = P_X(x_k + d_k),

where ``update(x_k, Phi_k, h_k, k, state, value_fn) -> (d_k, step_length, state)`` is the only difference
between them (``value_fn(y) = Phi(P_X(y))``, for a line search: :func:`value_fn`). ``evals(state)`` is given
where the update calls the oracle through ``value_fn``: it counts those calls, and the update then runs only on the
steps taken. One ``lax.scan`` of ``max_iter`` steps, so a whole run jits and vmaps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fbjax import _errors
from fbjax.outer._common import OuterResult, checked, setup, tree_where


def value_fn(oracle, aux, project):
    """``Phi o P_X`` as a function for a line search, which tries points outside the box (the loop takes
    ``P_X(x + d)``): ``y -> oracle(P_X(y), aux)``'s value, whose derivative (``jax.grad``, as a line search takes
    it for its curvature test) is the oracle's subgradient ``h`` on the coordinates that ``P_X`` leaves as they are
    and 0 on the clipped ones, not autodiff through the oracle."""

    def fwd(y):
        x = project(y)
        v, h, _ = oracle(x, aux)
        return v, jnp.where(x == y, h, 0.0)

    phi = jax.custom_vjp(lambda y: fwd(y)[0])
    phi.defvjp(fwd, lambda h, g: (g * h,))
    return phi


@_errors.eager_checked
def first_order_loop(
    fun, x0, update, state0, *, max_iter, tol, lower, upper, aux0, record_x, name, evals=None
) -> OuterResult:
    oracle, project, x0, inf, tol = setup(fun, x0, max_iter, lower, upper, aux0, name, tol)

    def body(carry, k):
        x, v_last, gn_last, aux, best_x, best_v, best_aux, done, n_iter, n_evals, state = carry
        run = ~done

        def evaluate(_):
            v, h, a = oracle(x, aux)
            v, h = checked(v, h, name)
            return v, h, a

        v, h, aux = jax.lax.cond(run, evaluate, lambda _: (v_last, jnp.zeros_like(x), aux), None)
        gn = jnp.where(run, jnp.linalg.norm(h), gn_last)
        stop = run & (gn < tol)
        take = run & ~stop

        def step(_):
            return update(x, v, h, k, state, value_fn(oracle, aux, project))

        def skip(_):  # not computed where no step is taken (a finished run): its line search would call the oracle
            return jnp.zeros_like(x), jnp.zeros((), x.dtype), state

        if evals is None:  # the update does not call the oracle
            d, length, new_state = step(None)
            searched = 0
        else:
            d, length, new_state = jax.lax.cond(take, step, skip, None)
            searched = jnp.where(take, evals(new_state), 0)
        x_next = jnp.where(take, project(x + d), x)
        state = tree_where(take, new_state, state)
        better = run & (v < best_v)
        best_x, best_v, best_aux = tree_where(better, (x, v, aux), (best_x, best_v, best_aux))
        record = (v, gn, jnp.where(take, length, 0.0).astype(x.dtype), take, x)
        n_evals = n_evals + run + searched
        carry = (x_next, v, gn, aux, best_x, best_v, best_aux, done | stop, n_iter + take, n_evals, state)
        return carry, record

    init = (x0, inf, inf, aux0, x0, inf, aux0, jnp.asarray(False), jnp.asarray(0), jnp.asarray(0), state0)
    carry, (values, gns, lengths, taken, xs) = jax.lax.scan(body, init, jnp.arange(max_iter))
    x, v, _, aux, best_x, best_v, best_aux, _, n_iter, n_evals, _ = carry
    return OuterResult(
        x=x, value=v, best_x=best_x, best_value=best_v, values=values, grad_norms=gns, radii=lengths,
        accepted=taken, ratios=jnp.full(values.shape, jnp.nan, values.dtype), num_iter=n_iter,
        num_evals=n_evals, aux=aux, xs=xs if record_x else None, best_aux=best_aux,
    )  # fmt: skip
