"""Outer solvers: NBA, NTRBA, the optax adapter and Sparse-HO's descent rule."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import fbjax
from fbjax.baselines import sparse_ho_gd
from fbjax.outer import TrustRegion, radius_update

from conftest import random_problem, upper

SHARDED = os.path.join(os.path.dirname(__file__), "_sharded_batch.py")

C = jnp.array([1.0, -2.0, 0.5, 3.0])
Q = jnp.diag(jnp.array([1.0, 4.0, 0.5, 2.0])) + 0.3


def quad(x, c=C):
    return 0.5 * (x - c) @ Q @ (x - c)


FUN = jax.value_and_grad(quad)


def test_ntrba_reaches_minimizer_of_smooth_convex():
    res = fbjax.ntrba(FUN, jnp.zeros(4), max_iter=300, radius=0.1)
    np.testing.assert_allclose(res.best_x, C, atol=1e-6)
    assert res.best_value < 1e-12
    assert bool(jnp.all(jnp.diff(res.values[res.accepted]) <= 0))  # accepted steps never increase Phi


def test_ntrba_box_constrained_minimizer():
    q = jax.value_and_grad(lambda x: 0.5 * jnp.sum(jnp.array([1.0, 4.0, 0.5, 2.0]) * (x - C) ** 2))
    res = fbjax.ntrba(q, jnp.zeros(4), max_iter=300, lower=-1.0, upper=1.0)
    np.testing.assert_allclose(res.best_x, jnp.clip(C, -1, 1), atol=1e-6)
    # an infinite bound is no bound: the same run as None on that side
    half = fbjax.ntrba(q, jnp.zeros(4), max_iter=300, lower=-jnp.inf, upper=1.0)
    none = fbjax.ntrba(q, jnp.zeros(4), max_iter=300, upper=1.0)
    np.testing.assert_allclose(half.best_x, jnp.minimum(C, 1), atol=1e-6)
    np.testing.assert_array_equal(half.values, none.values)


def test_nba_reaches_step_sized_neighbourhood():
    step = 0.01
    res = fbjax.nba(FUN, jnp.zeros(4), max_iter=1000, step=step)
    assert float(jnp.linalg.norm(res.best_x - C)) <= 2 * step
    np.testing.assert_allclose(res.radii[: int(res.num_iter)], step)


def test_nba_step_is_normalized_and_projected():
    res = fbjax.nba(FUN, jnp.zeros(4), max_iter=2, step=0.5, upper=0.2, record_x=True)
    h = jax.grad(quad)(jnp.zeros(4))
    np.testing.assert_allclose(res.xs[1], jnp.minimum(-0.5 * h / jnp.linalg.norm(h), 0.2))


def test_stationary_point_stops_both():
    res = fbjax.ntrba(FUN, C, max_iter=10)
    assert int(res.num_iter) == 0 and int(res.num_evals) == 1
    res = fbjax.nba(FUN, C, max_iter=10)
    assert int(res.num_iter) == 0 and int(res.num_evals) == 1


@pytest.mark.parametrize(
    "ratio, step_norm, want_accept, want_radius, want_min",
    [
        (0.05, 1.0, False, 0.25, False),  # reject: contract
        (0.5, 1.0, True, 1.0, False),  # accept, keep
        (0.9, 1.0, True, 2.0, False),  # accept with a full step and a good ratio: expand
        (0.9, 0.5, True, 1.0, False),  # good ratio but a step cut by the box: keep
        (-np.inf, 1.0, False, 0.25, False),  # non-finite trial: reject
    ],
)
def test_radius_update_cases(ratio, step_norm, want_accept, want_radius, want_min):
    accept, new, hit_min = radius_update(TrustRegion(), jnp.asarray(1.0), jnp.asarray(ratio), jnp.asarray(step_norm), True)
    assert bool(accept) == want_accept and float(new) == want_radius and bool(hit_min) == want_min


def test_radius_update_bounds():
    tr = TrustRegion(radius_min=0.3, radius_max=1.5)
    _, new, hit = radius_update(tr, jnp.asarray(1.0), jnp.asarray(0.0), jnp.asarray(1.0), True)
    assert float(new) == 0.3 and bool(hit)
    _, new, _ = radius_update(tr, jnp.asarray(1.0), jnp.asarray(1.0), jnp.asarray(1.0), True)
    assert float(new) == 1.5


def test_ntrba_rejects_and_contracts_on_a_bad_model():
    """An oracle whose gradient points uphill: every trial increases Phi, so each step is
    rejected, x stays put and the radius shrinks by 0.25 until radius_min stops the run."""
    f = lambda x: jnp.sum(x**2)  # noqa: E731
    fun = lambda x: (f(x), -2 * x - 1.0)  # noqa: E731
    tr = TrustRegion(radius_min=1e-3)
    res = fbjax.ntrba(fun, jnp.ones(2), max_iter=20, radius=1.0, trust_region=tr, record_x=True)
    k = int(res.num_iter)
    assert not bool(jnp.any(res.accepted))
    np.testing.assert_allclose(res.xs[:k], jnp.ones((k, 2)))
    np.testing.assert_allclose(res.radii[:k], 0.25 ** jnp.arange(k))
    assert k == 5  # 1, .25, .0625, .0156, .0039 -> max(1e-3, 9.8e-4) = radius_min: stop
    assert bool(jnp.all(res.ratios[:k] < 0))


def test_ntrba_expands_on_a_linear_function():
    fun = jax.value_and_grad(lambda x: jnp.sum(x))
    res = fbjax.ntrba(fun, jnp.zeros(2), max_iter=5, radius=0.1)
    np.testing.assert_allclose(res.radii, 0.1 * 2.0 ** jnp.arange(5))
    assert bool(jnp.all(res.accepted)) and np.allclose(res.ratios, 1.0)


def test_ntrba_program_holds_one_copy_of_the_oracle():
    """NTRBA evaluates ``x0`` in the first step of its scan, so the oracle has one call site and is
    compiled once (in a bilevel run: one lower-level solver and one adjoint, not two). Counted in the
    jaxpr: one ``sin`` from the oracle's value."""
    import re

    fun = jax.value_and_grad(lambda x: quad(x) + jnp.sum(jnp.sin(x)))
    jaxpr = str(jax.make_jaxpr(lambda x0: fbjax.ntrba(fun, x0, max_iter=3).x)(jnp.zeros(4)))
    assert len(re.findall(r"\bsin\b", jaxpr)) == 1
    res = fbjax.ntrba(fun, jnp.zeros(4), max_iter=3)
    assert int(res.num_evals) == 4 and res.values.shape == (3,)  # x0 and 3 trials; 3 recorded iterations


def test_optax_adapter_and_user_oracle():
    class Oracle:  # a user-written oracle: any callable returning (value, subgradient)
        def __call__(self, x):
            return quad(x), Q @ (x - C)

    res = fbjax.optax_solve(Oracle(), jnp.zeros(4), optax.adam(0.05), max_iter=800)
    np.testing.assert_allclose(res.best_x, C, atol=1e-4)
    for solver in (fbjax.nba, fbjax.ntrba):
        r = solver(Oracle(), jnp.zeros(4), max_iter=5)
        assert float(r.best_value) < float(quad(jnp.zeros(4)))


def test_optax_line_searches_get_phi_and_its_subgradient():
    """``optax.lbfgs``'s zoom line search takes ``value=``, ``grad=`` and ``value_fn=`` (was a TypeError), and its
    curvature test differentiates ``value_fn``: that derivative is the oracle's ``h`` (autodiff through the oracle
    failed on ``fbjax.argmin``). Under ``jax.vmap`` too, where the oracle closes over batched values."""
    from fbjax.outer._common import as_oracle, box
    from fbjax.outer._loop import value_fn

    phi = value_fn(as_oracle(FUN, False), None, box(-1.0, 1.0))  # the function a line search gets: Phi o P_X
    y = jnp.array([0.5, -3.0, 0.25, 2.0])  # coordinates 1 and 3 outside the box
    v, g = jax.value_and_grad(phi)(y)
    x = jnp.clip(y, -1.0, 1.0)
    np.testing.assert_allclose(v, quad(x))
    np.testing.assert_allclose(g, (Q @ (x - C)) * jnp.array([1.0, 0.0, 1.0, 0.0]))  # J_P^T h
    res = fbjax.optax_solve(FUN, jnp.zeros(4), optax.lbfgs(), max_iter=20)
    np.testing.assert_allclose(res.x, C, atol=1e-7)
    assert int(res.num_iter) < 20  # stopped on ||h|| < tol
    cs = jnp.stack([C, -C])

    def run(c):
        return fbjax.optax_solve(jax.value_and_grad(lambda x: quad(x, c)), jnp.zeros(4), optax.lbfgs()).x

    np.testing.assert_allclose(jax.vmap(run)(cs), cs, atol=1e-7)
    F, x0, L = _bilevel(0)

    def pulled(x, y0):
        """A linear term pulls x up without bound: the line search extrapolates far past the box, where psi(x) =
        exp(x) overflows; it sees Phi o P_X (was "psi gave a non-finite weight"), and the run ends on the box."""
        y = fbjax.argmin(F, x, y0=y0)
        return L(y) - 5.0 * jnp.sum(x), y

    fun = jax.value_and_grad(pulled, has_aux=True)
    res = fbjax.optax_solve(fun, x0, optax.lbfgs(), max_iter=6, aux0=jnp.zeros_like(x0), upper=x0 + 1)
    np.testing.assert_allclose(res.best_x, x0 + 1)
    assert np.all(np.isfinite(res.values)) and float(res.best_value) < float(res.values[0])


@pytest.mark.parametrize("name", ["lbfgs", "backtracking", "adam"])
@pytest.mark.parametrize("max_iter", [5, 30])
def test_num_evals_counts_the_line_search_s_oracle_calls(name, max_iter):
    """``num_evals`` is every oracle call of the run: the loop's and the line search's (they were left out), counted
    here by a callback in the oracle. After a stop no line search runs (it ran, uncounted, on every step left)."""
    calls = []

    def fun(x):
        jax.debug.callback(lambda: calls.append(1))
        return FUN(x)

    opt = {
        "lbfgs": optax.lbfgs(),
        "backtracking": optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=8)),
        "adam": optax.adam(0.05),
    }[name]
    res = fbjax.optax_solve(fun, jnp.zeros(4), opt, max_iter=max_iter)
    jax.effects_barrier()
    assert int(res.num_evals) == len(calls)
    if max_iter == 5:
        assert int(res.num_iter) == 5 and (len(calls) == 5 if name == "adam" else len(calls) > 5)
    elif name == "lbfgs":
        assert int(res.num_iter) < 30  # stopped on ||h|| < tol


def test_optax_wrappers_that_are_not_transformations_run():
    """``optax.MultiSteps`` is a wrapper with ``gradient_transformation()`` (was "optimizer must be an
    optax.GradientTransformation"): k accumulated steps are one Adam step, so 2 x 300 reach what 300 do."""
    one = fbjax.optax_solve(FUN, jnp.zeros(4), optax.adam(0.05), max_iter=300)
    two = fbjax.optax_solve(FUN, jnp.zeros(4), optax.MultiSteps(optax.adam(0.05), 2), max_iter=600)
    np.testing.assert_allclose(two.x, one.x, rtol=1e-12)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation, got str"):
        fbjax.optax_solve(FUN, jnp.zeros(4), "adam")


def test_sparse_ho_gd_rule_step_by_step():
    """Steps p / ||h_k|| while Phi decreases; on the first increase the step is divided by 10
    and frozen (no renormalisation afterwards), as the sparse-ho library's GradientDescent."""
    fun = jax.value_and_grad(lambda x: 0.5 * jnp.sum(x**2))
    res = sparse_ho_gd(fun, jnp.array([0.3]), max_iter=4, p_grad_norm=1.0, record_x=True)
    xs = np.asarray(res.xs)[:, 0]
    # k=0: t = 1/0.3, x1 = 0.3 - 1 = -0.7; k=1: Phi went up -> t = 1/0.7 used, then t /= 10
    np.testing.assert_allclose(xs[:3], [0.3, -0.7, -0.7 + 1.0])
    t_frozen = (1 / 0.7) / 10
    np.testing.assert_allclose(xs[3], xs[2] - t_frozen * xs[2])


# the oracle's state is the point and value it was called with, so best_aux must name best_x
TAGGED = jax.value_and_grad(lambda x, aux: (quad(x), (x, quad(x))), has_aux=True)
AUX0 = (jnp.zeros(4), jnp.zeros(()))


@pytest.mark.parametrize(
    "run",
    [
        lambda: fbjax.nba(TAGGED, jnp.zeros(4), max_iter=12, step=1.5, aux0=AUX0),
        # the last trial (rho = 0.085 < eta_accept) is rejected but the best point seen
        lambda: fbjax.ntrba(TAGGED, jnp.zeros(4), max_iter=6, radius=2.0, aux0=AUX0),
        lambda: fbjax.optax_solve(TAGGED, jnp.zeros(4), optax.sgd(0.6), max_iter=12, aux0=AUX0),
        lambda: sparse_ho_gd(TAGGED, jnp.zeros(4), max_iter=6, aux0=AUX0),  # Phi goes up at k = 5
    ],
    ids=["nba", "ntrba", "optax", "sparse_ho_gd"],
)
def test_best_aux_is_the_state_at_best_x(run):
    res = run()
    assert not np.allclose(res.best_x, res.x)  # the run ends elsewhere: aux and best_aux differ
    np.testing.assert_array_equal(res.best_aux[0], res.best_x)
    np.testing.assert_array_equal(res.best_aux[1], res.best_value)
    assert res.best_value <= res.values.min()  # trial points count too
    assert fbjax.nba(FUN, jnp.zeros(4), max_iter=3).best_aux is None  # stateless oracle: no state


def _bilevel(seed):
    F, x, A_val, b_val = random_problem(seed, n=25, p=12)
    L = upper("ls", A_val, b_val)
    return F, x, L


def test_warm_start_aux_does_not_change_the_run():
    F, x0, L = _bilevel(0)
    plain = jax.value_and_grad(lambda x: L(fbjax.argmin(F, x)))

    def phi(x, y0):
        y = fbjax.argmin(F, x, y0=y0)
        return L(y), jax.lax.stop_gradient(y)

    warm = jax.value_and_grad(phi, has_aux=True)
    a = fbjax.ntrba(plain, x0, max_iter=8)
    b = fbjax.ntrba(warm, x0, max_iter=8, aux0=jnp.zeros_like(x0))
    np.testing.assert_allclose(a.values, b.values, rtol=1e-8)
    np.testing.assert_allclose(b.aux, fbjax.solve(F, b.x).y, atol=1e-8)
    np.testing.assert_allclose(b.best_aux, fbjax.solve(F, b.best_x).y, atol=1e-8)


@pytest.mark.parametrize("how", ["vmap", "map"])
def test_batched_outer_runs_equal_the_loop(how):
    problems = [random_problem(s, n=25, p=12) for s in range(3)]
    As = jnp.stack([p[0].A for p in problems])
    bs = jnp.stack([p[0].b for p in problems])
    x0 = jnp.stack([p[1] for p in problems])
    Av = jnp.stack([p[2] for p in problems])
    bv = jnp.stack([p[3] for p in problems])

    def one(args):
        A, b, x, A_val, b_val = args
        F = fbjax.LeastSquares(A, b, l2=0.1)
        fun = jax.value_and_grad(lambda x: upper("ls", A_val, b_val)(fbjax.argmin(F, x, solver="fista", max_support=12)))
        r = fbjax.ntrba(fun, x, max_iter=6)
        return r.values, r.best_x

    values, best = jax.jit(lambda a: fbjax.batch_map(one, a, how))((As, bs, x0, Av, bv))
    for i in range(3):
        v, bx = one((As[i], bs[i], x0[i], Av[i], bv[i]))
        np.testing.assert_allclose(values[i], v, rtol=1e-9)
        np.testing.assert_allclose(best[i], bx, rtol=1e-9)


def test_an_eager_run_whose_oracle_vmaps_a_solve_runs_with_callbacks():
    """checkify refuses a vmapped while loop (``fbjax.argmin`` under ``jax.vmap`` in the oracle): the eager run
    then runs as before, after the refused trace, and equals the run under ``jax.jit``."""
    F, x, A_val, b_val = random_problem(0)

    def phi(x):
        ys = jax.vmap(lambda s: fbjax.argmin(F, x + s))(jnp.array([0.0, 0.1]))
        return jnp.mean((ys @ A_val.T - b_val) ** 2)

    fun = jax.value_and_grad(phi)
    eager, jitted = fbjax.ntrba(fun, x, max_iter=3), jax.jit(lambda x: fbjax.ntrba(fun, x, max_iter=3))(x)
    np.testing.assert_array_equal(eager.values, jitted.values)


def test_batch_map_names_a_batch_without_one_leading_axis():
    """A list of numbers, a scalar leaf, leaves of two sizes or no leaf at all: a ValueError naming the shapes (was
    an AttributeError on ``int.shape``, or ``lax.map``'s message)."""
    for batch in ([1.0, 2.0], (jnp.zeros(3), 1.0), (jnp.zeros((3, 2)), jnp.zeros((4, 2))), ()):
        with pytest.raises(ValueError, match="batch_map maps over the leading axis of every leaf"):
            fbjax.batch_map(lambda b: b, batch)
    np.testing.assert_array_equal(fbjax.batch_map(lambda b: 2 * b, jnp.arange(3.0)), [0.0, 2.0, 4.0])


def test_batch_map_shards_over_devices():
    """With several devices (here 3 XLA:CPU host devices, in a child process: JAX reads the count at start-up;
    ``JAX_PLATFORMS=cpu``, so that a GPU machine's child uses them and not its one GPU)
    a batch is split over the largest number of devices that divides it: NTRBA runs with a nested batch_map
    equal the per-member loop under both methods, and a failed check in one share raises instead of
    hanging at a collective (tests/_sharded_batch.py)."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=3"
    try:
        out = subprocess.run([sys.executable, SHARDED], capture_output=True, text=True, timeout=240,
                             env={**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"})  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the sharded batch_map did not finish in 240 s (a failed share waiting at a collective?)")
    assert out.returncode == 0 and out.stdout.strip().endswith("done"), out.stderr[-3000:]


def test_bad_input_errors():
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="fbjax.nba: max_iter must be an int >= 1"):
            fbjax.nba(FUN, jnp.zeros(4), max_iter=bad)
    # a NumPy count (e.g. from a config array) is a count, for every outer solver
    for solve in (fbjax.nba, fbjax.ntrba):
        assert solve(FUN, jnp.zeros(4), max_iter=np.int64(3)).values.shape == solve(FUN, jnp.zeros(4), max_iter=3).values.shape
    with pytest.raises(ValueError, match="radius"):
        fbjax.ntrba(FUN, jnp.zeros(4), radius=-1.0)
    with pytest.raises(ValueError, match="lower"):
        fbjax.ntrba(FUN, jnp.zeros(4), lower=jnp.zeros(3))
    with pytest.raises(TypeError, match="floating"):
        fbjax.nba(FUN, jnp.zeros(4, int))
    for dtype in (jnp.float16, jnp.bfloat16):  # (ran in half precision; adam's iterates became inf)
        with pytest.raises(TypeError, match=f"float32 or float64, got dtype {jnp.dtype(dtype).name}"):
            fbjax.optax_solve(FUN, jnp.zeros(4, dtype), optax.adam(0.1))
    for tree in ({"a": jnp.zeros(4)}, {"a": 0.0}, [jnp.zeros(2), jnp.zeros(3)]):  # (was JAX's "entry not a 2- or 3-")
        with pytest.raises(TypeError, match="x0 must be one array of hyperparameters"):
            fbjax.ntrba(FUN, tree)
    for like in ([0.0, 0.0, 0.0, 0.0], [jnp.zeros(2), jnp.zeros(2)]):  # array-likes stay arrays, as jnp.asarray's
        assert fbjax.nba(jax.value_and_grad(lambda x: jnp.sum(x**2)), like, max_iter=2).x.shape == np.shape(like)
    with pytest.raises(ValueError, match="eta_accept"):
        TrustRegion(eta_accept=0.8, eta_expand=0.75)
    for pinned in (float("nan"), -1.0):  # (were taken: such a run never stopped as pinned by the box)
        with pytest.raises(ValueError, match="need pinned >= 0 finite"):
            TrustRegion(pinned=pinned)
    nan = lambda x: (jnp.nan * jnp.sum(x), x)  # noqa: E731
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(fbjax.ntrba(nan, jnp.ones(2)).x)
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(fbjax.nba(nan, jnp.ones(2)).x)
    for solve in (fbjax.nba, fbjax.ntrba, lambda f, x, **kw: fbjax.optax_solve(f, x, optax.sgd(0.1), **kw)):
        with pytest.raises(Exception, match="the box is empty"):
            jax.block_until_ready(solve(FUN, jnp.zeros(4), lower=1.0, upper=jnp.array([2.0, 2, 0, 2])).x)
        with pytest.raises(Exception, match="the box is empty"):  # traced bounds: raised under jit too
            jax.block_until_ready(jax.jit(lambda lo: solve(FUN, jnp.zeros(4), lower=lo).x)(jnp.array([0.0, jnp.nan, 0, 0])))


SOLVERS = {
    "fbjax.nba": fbjax.nba,
    "fbjax.ntrba": fbjax.ntrba,
    "fbjax.optax_solve": lambda f, x, **kw: fbjax.optax_solve(f, x, optax.sgd(0.1), **kw),
    "fbjax.baselines.sparse_ho_gd": sparse_ho_gd,
}


@pytest.mark.parametrize("name", SOLVERS)
def test_bad_values_are_named_at_the_call_or_when_traced(name):
    """A non-finite ``x0``, an empty box and a tolerance that is negative or NaN are ValueErrors at the call, named;
    traced, they raise when the program runs."""
    solve = SOLVERS[name]
    for x0 in (jnp.array([0.0, jnp.nan, 0, 0]), jnp.array([0.0, 0, -jnp.inf, 0])):
        with pytest.raises(ValueError, match=r"x0 contains NaN or inf"):
            solve(FUN, x0, max_iter=3)
        with pytest.raises(Exception, match=r"x0 contains NaN or inf"):
            jax.block_until_ready(jax.jit(lambda x: solve(FUN, x, max_iter=3).x)(x0))
    with pytest.raises(ValueError, match="the box is empty"):
        solve(FUN, jnp.zeros(4), max_iter=3, lower=1.0, upper=jnp.array([2.0, 2, 0, 2]))
    for tol in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"tol must be a finite number >= 0"):
            solve(FUN, jnp.zeros(4), max_iter=3, tol=tol)
    assert solve(FUN, jnp.zeros(4), max_iter=3, tol=0.0).num_iter == 3  # 0: never stop on ||h||


@pytest.mark.parametrize("name", SOLVERS)
def test_an_eager_run_raises_the_check_s_message_alone(name):
    """Called eagerly, an outer run's checks are values (``fbjax._errors.eager_checked``): the oracle's non-finite
    output, and a lower level that did not converge inside it, raise ``JaxRuntimeError`` with fbjax's message, not
    at the end of a host callback's traceback. Under ``jax.jit`` they still raise. A Python number is a value."""
    solve = SOLVERS[name]
    nan = lambda x: (jnp.nan * jnp.sum(x), x)  # noqa: E731
    for oracle, match in ((nan, "the oracle returned a non-finite value"), (lambda x: (float("nan"), x), "non-finite")):
        with pytest.raises(jax.errors.JaxRuntimeError) as err:
            solve(oracle, jnp.ones(2), max_iter=3)
        assert str(err.value).startswith(name) and match in str(err.value) and "allback" not in str(err.value)
    with pytest.raises(Exception, match="the oracle returned a non-finite value"):
        jax.block_until_ready(jax.jit(lambda x: solve(nan, x, max_iter=3).x)(jnp.ones(2)))
    assert np.all(solve(lambda x: (1.0, x), jnp.ones(2), max_iter=3).values == 1.0)

    F, x, _, _ = random_problem(0, 30, 10)
    unsolved = jax.value_and_grad(lambda x: jnp.sum(fbjax.argmin(F, x, max_iter=2) ** 2))
    with pytest.raises(jax.errors.JaxRuntimeError) as err:
        solve(unsolved, x, max_iter=3)
    assert str(err.value).startswith("fbjax.argmin: the lower-level solver did not reach")


@pytest.mark.parametrize("solve", ["nba", "ntrba", "optax", "sparse_ho_gd"])
def test_malformed_oracles_are_named(solve):
    """An oracle of the wrong form fails at trace time with what is wrong, not inside lax.cond."""
    run = {
        "nba": fbjax.nba, "ntrba": fbjax.ntrba, "sparse_ho_gd": sparse_ho_gd,
        "optax": lambda f, x, **kw: fbjax.optax_solve(f, x, optax.sgd(0.1), **kw),
    }[solve]  # fmt: skip
    cases = [
        (jax.grad(quad), {}, r"must return \(value, h\) .*got an array of shape \(4,\)"),
        (lambda x: (quad(x), x[:3]), {}, r"subgradient must have the shape of x0 \(4,\), got \(3,\)"),
        (lambda x: (x, x), {}, r"value Phi\(x\) must be a real scalar, got float\d\d\[4\]"),
        (lambda x, a: ((quad(x), a[:1]), x), {"aux0": jnp.zeros(2)}, "state must keep the structure"),
        (lambda x, a: (quad(x), x), {"aux0": jnp.zeros(2)}, r"must return \(\(value, aux\), h\)"),
    ]
    for fun, kw, match in cases:
        with pytest.raises(TypeError, match=match):
            run(fun, jnp.zeros(4), max_iter=3, **kw)
    assert run(FUN, jnp.zeros(4), max_iter=3).values.shape == (3,)  # a well-formed one still runs


def test_float32_path():
    res = fbjax.ntrba(FUN, jnp.zeros(4, jnp.float32), max_iter=200)
    assert res.best_x.dtype == jnp.float32
    np.testing.assert_allclose(res.best_x, C, atol=1e-3)


def test_step_and_radius_are_checked_and_may_be_traced():
    """A number ``<= 0`` is a ValueError at the call; a scalar array may be traced (one program for every value,
    as ``WeightedL1`` refits use it) and is checked when the program runs."""
    for solver, name in ((fbjax.nba, "step"), (fbjax.ntrba, "radius"), (sparse_ho_gd, "p_grad_norm")):
        for bad in (0.0, -1.0, "0.1", True, float("inf")):
            with pytest.raises(ValueError, match=f"{name} must be a positive finite number"):
                solver(FUN, jnp.zeros(4), max_iter=3, **{name: bad})
        run = jax.jit(lambda r, solver=solver, name=name: solver(FUN, jnp.zeros(4), max_iter=20, **{name: r}))
        for r in (0.1, 0.3):
            traced, fixed = run(jnp.asarray(r)), solver(FUN, jnp.zeros(4), max_iter=20, **{name: r})
            np.testing.assert_allclose(traced.values, fixed.values, rtol=1e-12)
            assert traced.radii[0] == pytest.approx(r, rel=1e-10)  # NBA: its step; Sparse-HO: t_0 ||h_0||
        assert run._cache_size() == 1
        for bad in (0.0, -1.0, float("nan")):
            with pytest.raises(Exception, match=f"{name} must be a positive finite number"):
                jax.block_until_ready(run(jnp.asarray(bad)))


def test_an_array_step_keeps_a_float32_run_in_float32():
    for solver, name in ((fbjax.nba, "step"), (fbjax.ntrba, "radius"), (sparse_ho_gd, "p_grad_norm")):
        res = solver(FUN, jnp.zeros(4, jnp.float32), max_iter=5, **{name: jnp.asarray(0.1, jnp.float64)})
        assert res.best_x.dtype == res.x.dtype == res.radii.dtype == jnp.float32
