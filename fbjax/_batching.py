"""Control flow that stays cheap under ``jax.vmap``."""

from __future__ import annotations

import jax
import jax.numpy as jnp


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
        out = batch_switch(index, batched, leaves)
        return out, jax.tree.map(lambda _: True, out)

    return switch(index, leaves)


def batch_when(pred, fn, operands):
    """``fn(operands) if pred else zeros`` (one branch runs); under ``jax.vmap`` ``fn`` runs for the
    whole batch when any member needs it, so ``fn`` must also be correct where ``pred`` is false.
    As for :func:`batch_switch`, ``fn`` gets every batched value through ``operands``."""

    def zeros(ops):  # made inside the branch: a zero closed over from the caller's trace can leak
        return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, ops))

    return batch_switch(jnp.asarray(pred).astype(jnp.int32), [zeros, fn], operands)
