"""Child process of ``tests/test_outer.py::test_batch_map_shards_over_devices``.

The parent starts it with three XLA:CPU host devices (``--xla_force_host_platform_device_count=3``), which
JAX reads only at start-up. Prints ``done`` when every check passed.
"""

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

import fbjax  # noqa: E402

assert jax.device_count() == 3, jax.devices()
SEEDS, N, P = 6, 25, 12  # 6 members on 3 devices: shares of 2


def problem(seed):
    rng = np.random.default_rng(seed)
    A, A_val = rng.standard_normal((N, P)), rng.standard_normal((N, P))
    beta = rng.standard_normal(P) * (rng.random(P) < 0.4)
    return A, A @ beta + 0.1 * rng.standard_normal(N), np.full(P, np.log(0.05)), A_val, A_val @ beta


batch = tuple(jnp.asarray(np.stack(a)) for a in zip(*map(problem, range(SEEDS))))
scales = jnp.linspace(0.5, 2.0, 4)


def one(args):
    """An NTRBA run, a hypergradient through masked CG, and a nested batch_map (a grid over scaled penalties, as the scalar baseline's)."""
    A, b, x0, A_val, b_val = args
    F = fbjax.LeastSquares(A, b, l2=0.1)

    def phi(x, adjoint="auto"):  # "auto" here is a Cholesky bucket, "cg" the matrix-free solve
        return jnp.mean((A_val @ fbjax.argmin(F, x, solver="fista", max_support=P, adjoint=adjoint) - b_val) ** 2)

    r = fbjax.ntrba(jax.value_and_grad(phi), x0, max_iter=6)
    h_cg = jax.grad(phi)(x0, "cg")
    return r.values, r.best_x, h_cg, fbjax.batch_map(lambda s: phi(x0 + jnp.log(s)), scales)


def partitions(fn, args):
    """The number of devices the compiled program of ``jax.jit(fn)(args)`` runs on (its HLO header)."""
    header = jax.jit(fn).lower(args).compile().as_text().splitlines()[0]
    return int(header.split("num_partitions=")[1].split(",")[0]) if "num_partitions=" in header else 1


loop = [one(tuple(a[i] for a in batch)) for i in range(SEEDS)]
for how in ("map", "vmap"):
    assert partitions(lambda a: fbjax.batch_map(one, a, how), batch) == 3, "the batch was not split over the 3 devices"
    out = jax.jit(lambda a: fbjax.batch_map(one, a, how))(batch)
    for i in range(SEEDS):
        for got, want in zip(out, loop[i]):
            np.testing.assert_allclose(got[i], want, rtol=1e-9, atol=1e-12)

from fbjax._batching import shard_count  # noqa: E402

assert [shard_count(k) for k in (1, 2, 4, 5, 6, 9)] == [1, 2, 2, 1, 3, 3]
rows = jnp.ones((6, 4))
assert partitions(lambda a: fbjax.batch_map(jnp.sum, a, shard=False), rows) == 1
# 5 members: no number of devices in 2..3 divides 5 (padding would need a collective, see batch_map); 4: two devices
assert partitions(lambda a: fbjax.batch_map(jnp.sum, a), rows[:5]) == 1
assert partitions(lambda a: fbjax.batch_map(jnp.sum, a), rows[:4]) == 2
# the scalar grid reduces over its values in the same program, so it stays on one device
grid = fbjax.baselines.grid_search(lambda x, y: (jnp.sum((x - 0.41) ** 2), y), jnp.linspace(0, 1, 6)[:, None], 0.0, "map")
assert int(grid[0]) == 2
assert partitions(lambda xs: fbjax.baselines.grid_search(lambda x, y: (jnp.sum(x**2), y), xs, 0.0, "vmap"), rows) == 1

# a check inside a sharded member still raises, naming what is wrong
bad = (batch[0].at[3].set(jnp.nan),) + batch[1:]
try:
    jax.block_until_ready(jax.jit(lambda a: fbjax.batch_map(one, a, "map"))(bad))
except Exception as e:  # noqa: BLE001 - JAX wraps the callback's error in its own runtime error
    assert "A contains NaN or inf" in str(e), str(e)[:2000]
else:
    raise AssertionError("non-finite data in one sharded member did not raise")
print("done")
