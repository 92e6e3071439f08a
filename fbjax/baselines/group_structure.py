"""Learning the group-lasso structure by bilevel optimisation (Frecon, Salzo & Pontil 2018).

    min_{theta in Theta}  U_K(theta) = mean_t ||y_t^val - X_t^val w_t^{(K)}(theta)||^2 / (2 n_val),
    w_t^{(K)}(theta) = K Bregman dual FB steps for  ||y_t - X_t w||^2/(2N) + l2/2||w||^2
                                                      + lam sum_l ||theta_l * w||_2,

``Theta = {theta in R_+^{L x P}: sum_l theta_{l,i} = 1}`` (each feature's memberships on the simplex),
solved by projected gradient ``theta <- P_Theta(theta - eta grad U_K / ||grad U_K||_inf)`` with
``grad U_K`` by reverse-mode unrolling (:func:`fbjax.baselines.bregman.dual_fb`), all tasks in
one ``vmap``. The learned partition is ``argmax_l theta_{l,i}``; compare it with the truth by the
adjusted Rand index (invariant to relabelling the groups).

Task groups (ICPR 2020, :func:`learn_task_groups`): ``theta in R_+^{L x T}`` over the tasks, with the
trace norm ``lam sum_l ||diag(theta_l) W||_tr`` (:func:`fbjax.baselines.bregman.task_fb`) in place of the
group norms; the same projected gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fbjax import _checks, _errors
from fbjax.baselines._simplex import project_simplex
from fbjax.baselines.bregman import dual_fb, task_fb
from fbjax.losses import LeastSquares


class GroupResult(NamedTuple):
    theta: jax.Array  # (L, P) learned memberships
    labels: np.ndarray  # (P,) argmax_l theta
    values: jax.Array  # U_K(theta_n) per outer iteration
    ari: float | None  # adjusted Rand index against ``true_groups`` (None if not given)


def task_solutions(X, y, theta, lam, l2, num_iter, solver=dual_fb):
    """``w_t^{(K)}(theta)`` for every task (``X``: ``(T, N, P)``), vmapped; ``theta=None``: the lasso."""

    lam = jnp.broadcast_to(jnp.asarray(lam, X.dtype), (X.shape[-1],)) if theta is None else lam

    def one(X_t, y_t):
        F = LeastSquares(X_t, y_t, l2=l2, lipschitz=1.0)  # Lambda_F unused by the dual FB
        return solver(F, lam, num_iter, theta)

    return jax.vmap(one)(X, y)


def validation_error(W, X_val, y_val):
    return 0.5 * jnp.mean((jnp.einsum("tnp,tp->tn", X_val, W) - y_val) ** 2)


def learn_group_structure(
    design, num_groups: int, lam: float, *, l2: float = 1e-2, num_iter: int = 100, outer_iter: int = 200,
    step: float = 0.05, seed: int = 0, restarts: int = 1,
) -> GroupResult:  # fmt: skip
    """Projected gradient on ``theta`` (Frecon's BiGL); ``design`` a :class:`~fbjax.data.multitask.MultiTaskDesign`.

    ``theta_0`` is drawn from a flat Dirichlet (a uniform start is a saddle: every group would get
    the same gradient). ``step`` is the largest change of a membership per iteration.
    ``U_K`` is nonconvex with local minima that mix groups; ``restarts > 1`` runs from
    ``restarts`` Dirichlet draws (seeds ``seed, seed + 1, ...``) and keeps the run with the lowest
    final validation error - selection by the upper-level objective only, never by the truth.
    """

    def U(theta, X, y, Xv, yv):
        return validation_error(task_solutions(X, y, theta, lam, l2, num_iter), Xv, yv)

    _checked("learn_group_structure", design, num_groups, lam, l2, num_iter, outer_iter, step, restarts)
    return _projected_gradient(U, design, num_groups, design[0].shape[-1], outer_iter, step, seed, restarts)


def learn_task_groups(
    design, num_groups: int, lam: float, *, l2: float = 1e-1, loss: str = "squared", num_iter: int = 100,
    outer_iter: int = 200, step: float = 0.05, seed: int = 0, restarts: int = 1,
) -> GroupResult:  # fmt: skip
    """Group the *tasks* (Frecon, Salzo & Pontil, ICPR 2020): ``theta`` of shape ``(L, T)``, one simplex
    per task, lower level :func:`fbjax.baselines.bregman.task_fb` (trace norm per task group, ``loss``
    ``"squared"`` or ``"logistic"``); upper level the validation error of the same loss (mean squared
    error / 2, or mean logistic loss). The same projected gradient and restarts as
    :func:`learn_group_structure`; labels and ARI are over tasks (``design`` from
    :func:`fbjax.data.multitask.task_clusters`, with ``classification=True`` for the logistic loss)."""
    _checked("learn_task_groups", design, num_groups, lam, l2, num_iter, outer_iter, step, restarts)
    if loss not in ("squared", "logistic"):
        raise ValueError(f"learn_task_groups: loss must be 'squared' or 'logistic', got {loss!r}")
    error = validation_error if loss == "squared" else validation_logloss

    def U(theta, X, y, Xv, yv):
        return error(task_fb(X, y, lam, num_iter, theta, l2=l2, loss=loss), Xv, yv)

    return _projected_gradient(U, design, num_groups, design[0].shape[0], outer_iter, step, seed, restarts)


def validation_logloss(W, X_val, y_val):
    return jnp.mean(jnp.logaddexp(0.0, -y_val * jnp.einsum("tnp,tp->tn", X_val, W)))


def _checked(who, design, num_groups, lam, l2, num_iter, outer_iter, step, restarts):
    """Raise ValueError naming the first argument that is wrong: ``lam`` or ``step`` not ``> 0``, ``l2 < 0``, a
    count below 1, the design's shapes (``X`` ``(T, N, P)``, ``y`` ``(T, N)``, the validation pair alike) or values
    that are not finite."""
    try:
        _checks.check_positive(lam=lam, step=step)
        _checks.check_positive(zero_ok=True, l2=l2)
        _checks.check_count(num_groups=num_groups, num_iter=num_iter, outer_iter=outer_iter, restarts=restarts)
    except ValueError as e:
        raise ValueError(f"{who}: {e}") from None
    X, y, Xv, yv = (np.shape(a) for a in design[:4])
    if len(X) != 3 or y != X[:2] or len(Xv) != 3 or Xv[::2] != X[::2] or yv != Xv[:2]:
        raise ValueError(f"{who}: the design needs X_train (T, N, P), y_train (T, N), X_val (T, N_val, P) and "
                         f"y_val (T, N_val); got {X}, {y}, {Xv} and {yv}")  # fmt: skip
    for name, a in zip(("X_train", "y_train", "X_val", "y_val"), design[:4]):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{who}: {name} contains NaN or inf")


def _projected_gradient(U, design, num_groups, m, outer_iter, step, seed, restarts) -> GroupResult:
    """``theta <- P_Theta(theta - step grad U / ||grad U||_inf)`` over ``(num_groups, m)`` memberships, best
    of ``restarts`` Dirichlet starts by the final upper-level value; ARI against ``design.groups``."""
    X, y, Xv, yv = (jnp.asarray(a) for a in design[:4])
    project = jax.vmap(project_simplex, in_axes=1, out_axes=1)

    @_errors.checked_jit  # a failed check (e.g. a lower level that diverged) raises with its message alone
    def outer(theta, X, y, Xv, yv):  # data as arguments: XLA:CPU stalled on closed-over constants
        def it(theta, _):
            v, g = jax.value_and_grad(U)(theta, X, y, Xv, yv)
            g = g / (jnp.max(jnp.abs(g)) + 1e-30)
            return project(theta - step * g), v

        return jax.lax.scan(it, theta, None, length=outer_iter)

    best = None
    for s in range(seed, seed + restarts):
        theta0 = jax.random.dirichlet(jax.random.PRNGKey(s), jnp.ones(num_groups), (m,)).T.astype(X.dtype)
        theta, values = outer(theta0, X, y, Xv, yv)
        if best is None or float(values[-1]) < float(best[1][-1]):
            best = (theta, values)
    theta, values = best
    labels = np.asarray(jnp.argmax(theta, axis=0))
    ari = None
    if design.groups is not None:
        from sklearn.metrics import adjusted_rand_score

        ari = float(adjusted_rand_score(np.asarray(design.groups), labels))
    return GroupResult(theta, labels, values, ari)
