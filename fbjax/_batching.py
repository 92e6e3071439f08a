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
    """

    @jax.custom_batching.custom_vmap
    def switch(index, operands):
        return jax.lax.switch(index, branches, operands)

    @switch.def_vmap
    def rule(axis_size, in_batched, index, operands):
        index = jnp.max(index) if in_batched[0] else index
        axes = jax.tree.map(lambda b: 0 if b else None, in_batched[1])
        batched = [lambda ops, f=f: jax.vmap(f, in_axes=(axes,), axis_size=axis_size)(ops) for f in branches]
        out = batch_switch(index, batched, operands)
        return out, jax.tree.map(lambda _: True, out)

    return switch(index, operands)


def batch_when(pred, fn, zero, operands):
    """``fn(operands) if pred else zero`` (one branch runs); under ``jax.vmap`` ``fn`` runs for the
    whole batch when any member needs it, so ``fn`` must also be correct where ``pred`` is false."""
    return batch_switch(jnp.asarray(pred).astype(jnp.int32), [lambda _: zero, fn], operands)
