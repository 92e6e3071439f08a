"""Control flow that stays cheap under ``jax.vmap``, and the map of a batch inside one program."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from fbjax import _errors


def batch_switch(index, branches, operands):
    """``lax.switch(index, branches, operands)`` that, under ``jax.vmap``, runs one branch for the batch.

    A plain switch with a batched index becomes a ``select`` of every branch. Here the branches
    must be *nested*: branch ``j`` gives the right answer for every member whose own index is
    ``i <= j`` (a larger bucket holds every smaller candidate set; computing a page that a member
    does not use adds zero). So the largest index over the batch is correct for every member: this
    rule takes it and runs that one branch, vmapped. It saves the other branches' work, and it
    avoids a jaxlib 0.10 deadlock: the branches' batched Cholesky factorisations ran side by side
    and blocked every thread of a 2-thread XLA:CPU pool (tests/test_batched_lapack.py). One vmap
    level per recursion, so nested vmaps work too.

    The branches must take every batched value through ``operands``: ``custom_vmap`` refuses a
    branch that closes over one (a per-seed design matrix, say) with ``AssertionError``.
    """

    leaves, tree = jax.tree.flatten(operands)  # flat, so that pytrees such as BCOO batch leaf by leaf
    flat = [lambda xs, f=f: f(jax.tree.unflatten(tree, xs)) for f in branches]
    if _errors.as_values():  # checkify does not enter a custom_vmap: the branches' checks come out as values
        flat, msgs = _errors.carried(flat, leaves)
        out, failed = _switch(index, flat, leaves)
        return _errors.Deferred(failed, msgs).raise_any(out)
    return _switch(index, flat, leaves)


def _switch(index, flat, leaves):

    @jax.custom_batching.custom_vmap
    def switch(index, leaves):
        return jax.lax.switch(index, flat, leaves)

    @switch.def_vmap
    def rule(axis_size, in_batched, index, leaves):
        if not (in_batched[0] or any(in_batched[1])):  # JAX's jvp of this rule calls it with nothing
            # batched and vmaps the result itself: recursing would wrap that vmap again, forever
            out = jax.lax.switch(index, flat, leaves)
            return out, jax.tree.map(lambda _: False, out)
        index = jnp.max(index) if in_batched[0] else index
        axes = [0 if b else None for b in in_batched[1]]
        batched = [lambda xs, f=f: jax.vmap(f, in_axes=(axes,), axis_size=axis_size)(xs) for f in flat]
        out = _switch(index, batched, leaves)
        return out, jax.tree.map(lambda _: True, out)

    return switch(index, leaves)


def batch_when(pred, fn, operands):
    """``fn(operands) if pred else zeros`` (one branch runs); under ``jax.vmap`` ``fn`` runs for the
    whole batch when any member needs it, so ``fn`` must also be correct where ``pred`` is false.
    As for :func:`batch_switch`, ``fn`` gets every batched value through ``operands``."""

    return batch_switch(jnp.asarray(pred).astype(jnp.int32), [zeros_of(fn), fn], operands)


def zeros_of(fn):
    """A branch that returns zeros shaped as ``fn``'s output (for :func:`batch_switch`'s "skip" index 0)."""

    def zeros(ops):  # made inside the branch: a zero closed over from the caller's trace can leak
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, ops))

    return zeros


_CAN_SHARD = hasattr(jax, "shard_map") and hasattr(jax.sharding, "AxisType")  # JAX >= 0.7


def shard_count(size: int) -> int:
    """The number of devices :func:`batch_map` splits a batch of ``size`` over: the largest count of the
    default backend's devices that divides ``size`` (1: one device)."""
    if not _CAN_SHARD:
        return 1
    return max((d for d in range(1, min(jax.device_count(), size) + 1) if size % d == 0), default=1)


def batch_method(method: str = "auto") -> str:
    """:func:`batch_map`'s ``method``, with ``"auto"`` resolved by backend: ``"map"`` on the CPU, else ``"vmap"``."""
    if method == "auto":
        method = "map" if jax.default_backend() == "cpu" else "vmap"
    if method not in ("vmap", "map"):
        raise ValueError(f"method must be 'auto', 'vmap' or 'map', got {method!r}")
    return method


def batch_map(fn, batch, method: str = "auto", shard: bool | None = None):
    """Map ``fn`` over the leading axis of the pytree ``batch`` inside one compiled program.

    ``"vmap"`` batches the lanes (the GPU choice: Table 3 in 86 s against 122 s on an H100),
    ``"map"`` runs them one after another with ``lax.map`` (the CPU choice: a while-loop under
    ``vmap`` runs until its slowest lane; on 2 CPU cores neither wins everywhere, vmap by 9-15% on
    Tables 2-3 and map by 16% on Table 1, benchmarks/RESULTS.md); ``"auto"`` picks by backend.

    With several devices the batch is split over them (``shard``, default: when the backend has more
    than one device and this call is not already inside a ``shard_map``, so a nested ``batch_map``
    maps on its own device): ``jax.shard_map`` over the largest number of devices ``d`` that divides
    the batch size gives each an equal share of ``size / d`` members, mapped by ``method``; with no
    such ``d > 1`` (e.g. 5 members on 2 or 4 devices) the batch stays on one device. Equal shares
    need no padding, so the program holds no collective: a check that fails in one share (e.g. a
    lower level that did not converge) raises at once. A padded batch would need an all-gather to
    drop its copies, and there the failing device never arrives and XLA aborts the process after
    40 s. The same holds for a reduction over the sharded result inside the caller's jit: reduce
    outside it, or pass ``shard=False``.
    """
    method = batch_method(method)
    local = jax.vmap(fn) if method == "vmap" else functools.partial(jax.lax.map, fn)
    shapes = [jnp.shape(leaf) for leaf in jax.tree.leaves(batch)]
    if not shapes or any(s == () for s in shapes) or len({s[0] for s in shapes}) > 1:
        more = " ..." if len(shapes) > 8 else ""
        raise ValueError(f"batch_map maps over the leading axis of every leaf of batch, which must have one size; "
                         f"got leaves of shapes {shapes[:8]}{more} (stack members with jnp.stack)")
    size = shapes[0][0]
    if shard is None:
        shard = _CAN_SHARD and not jax.sharding.get_abstract_mesh().manual_axes
    used = shard_count(size) if shard else 1
    if used == 1:
        return local(batch)
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:used]), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
    spec = PartitionSpec("batch")
    return jax.shard_map(local, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(batch)
