"""Runtime checks that raise eagerly, under ``jax.jit`` and ``jax.vmap``, and that cacheable programs carry as values.

:func:`error_if` is :func:`equinox.error_if` everywhere a user traces fbjax: the check raises through a host
callback. JAX never writes a program with a host callback to its persistent compilation cache
(``jax_compilation_cache_dir``), so fbjax's own whole programs (the estimator's fit, the experiments' runs) are
built with :func:`checked_jit`: inside them every check is a ``checkify.check``, functionalized into an error
value that the call raises after the program returns, as :class:`jax.errors.JaxRuntimeError` with the same
message. Those programs hold no host callback, and a second process loads them from the cache instead of
compiling them (``benchmarks/RESULTS.md``, "Compiled programs cached across processes"). Each check is numbered by
a hash of its message, not by ``checkify``'s count over the process, so the program's text does not depend on what
the process traced before it. :func:`eager_checked` does the same for an eager call of a loop (the outer solvers),
so that a failed check raises with its message alone.

``checkify`` refuses a ``jax.vmap`` of a while loop (a program with one keeps its callbacks), and it leaves
a check inside a ``custom_vmap`` (``fbjax._batching.batch_switch``) as it is, which then cannot compile: checks
traced there are collected by :func:`deferred` and leave it as outputs (:class:`Deferred`), raised after it.
The mode is part of JAX's trace context, so an inner jitted function traced inside a checked program is cached
apart from its eager trace.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

try:  # not public API: without it (another JAX), checked_jit is jit and programs keep their callbacks
    from jax._src import config as _jax_config

    _AS_VALUES = _jax_config.bool_state(
        "fbjax_checks_as_values", False, "fbjax (internal): trace fbjax's error_if as checkify.check",
        include_in_jit_key=True, include_in_trace_context=True)  # fmt: skip
except (ImportError, AttributeError, TypeError):  # pragma: no cover
    _AS_VALUES = None
try:  # not public API: without it, checks are numbered by checkify's count (see _check)
    from jax._src import checkify as _ck

    _ck.FailedCheckError, _ck.get_traceback, _ck.update_error, _ck.init_error, _ck._check_error  # noqa: B018
except (ImportError, AttributeError):  # pragma: no cover
    _ck = None
try:  # not public API either: without it, eager_checked is the function itself
    from jax._src.core import trace_state_clean as _top_level
except ImportError:  # pragma: no cover
    _top_level = None
_LOCAL = threading.local()  # .held: the open collectors of `deferred`, innermost last
_MESSAGES: set = set()  # every message error_if has traced: rerun_checked finds a failed one in equinox's text
CHECK_FAILED = " (`check` failed)"  # what checkify appends to a message
BATCHED_WHILE = "Checkify does not support batched while-loops"  # checkify's refusal of a vmapped while loop


def traced(tree) -> bool:
    """Whether a leaf of ``tree`` is a tracer (a call inside ``jax.jit``, ``jax.vmap``, ``jax.grad``, ...)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(tree))


def as_values() -> bool:
    """Whether checks are traced as values here (inside a :func:`checked_jit` program)."""
    return _AS_VALUES is not None and bool(_AS_VALUES.value)


def error_if(x, pred, msg: str):
    """``x``, raising ``msg`` where ``pred`` holds (any element): :func:`equinox.error_if`, or inside a
    :func:`checked_jit` program a ``checkify.check`` (an entry of the innermost :func:`deferred` collector). A
    ``pred`` that is known now (not traced: an eager call's argument checks) is tested now, and a failure raises
    :class:`jax.errors.JaxRuntimeError` with ``msg`` alone, as a checked program does (not equinox's traceback)."""
    _MESSAGES.add(msg)
    if not isinstance(pred, jax.core.Tracer):
        if np.any(np.asarray(pred)):
            raise jax.errors.JaxRuntimeError(msg)
        return x
    if not as_values():
        return eqx.error_if(x, pred, msg)
    held = getattr(_LOCAL, "held", [])
    if held:
        held[-1].append((jnp.any(pred), msg))
    else:
        _check(jnp.any(pred), msg)
    return x


def _check(failed, msg: str):
    """``checkify.check(~failed, msg)``, numbered by the message.

    ``checkify`` numbers each check from a counter global to the process and writes the number into the program,
    so a program's text, and with it the key of JAX's persistent compilation cache, would depend on how many checks
    the process had traced before (another fit, an eager outer run): a new process would load a cached program only
    after the same history. Here the number is a hash of the message (30 bits), the same in every process; checks
    with one message share it, which is all the number is for (the message reported)."""
    if _ck is None:  # pragma: no cover
        return checkify.check(~failed, msg.replace("{", "{{").replace("}", "}}"))
    error = _ck.FailedCheckError(_ck.get_traceback(), msg.replace("{", "{{").replace("}", "}}"))
    code = 1 + int.from_bytes(hashlib.blake2b(msg.encode(), digest_size=4).digest(), "big") % (2**30 - 1)
    payload, metadata = jax.tree_util.tree_flatten(error)
    _ck._check_error(_ck.update_error(_ck.init_error, failed, code, {code: metadata}, payload, error.get_effect_type()))


class Deferred(eqx.Module):
    """Checks held as values: ``failed[i]`` is whether check ``msgs[i]`` failed."""

    failed: tuple
    msgs: tuple = eqx.field(static=True)

    def raise_any(self, x):
        """``x``, raising the first failed check (under jit: :func:`error_if` for each)."""
        for failed, msg in zip(self.failed, self.msgs):
            x = error_if(x, failed, msg)
        return x


@contextlib.contextmanager
def deferred():
    """Collect the checks traced inside (while checks are values) as ``[(failed, msg), ...]``, traced at the
    level of the ``with`` (no loop in between). Outside that mode nothing is collected (the checks raise where
    they are)."""
    stack = _LOCAL.__dict__.setdefault("held", [])
    stack.append([])
    try:
        yield stack[-1]
    finally:
        stack.pop()


def carried(branches, operands):
    """``(branches', msgs)`` for control flow that ``checkify`` does not enter (a ``custom_vmap``): each branch
    returns ``(out, failed)``, ``failed[i]`` whether its check ``msgs[i]`` failed (``msgs``: the union over the
    branches, found by tracing each once more); raise them after it with ``Deferred(failed, msgs).raise_any``."""

    def msgs_of(branch):
        with deferred() as held:
            jax.eval_shape(branch, operands)
        return [m for _, m in held]

    msgs = tuple(dict.fromkeys(m for branch in branches for m in msgs_of(branch)))

    def lift(branch):
        def run(ops):
            with deferred() as held:
                out = branch(ops)
            failed = dict.fromkeys(msgs, jnp.bool_(False))
            for pred, msg in held:
                failed[msg] = failed[msg] | pred
            return out, tuple(failed.values())

        return run

    return [lift(branch) for branch in branches], msgs


def checked_jit(fun, *, jit=jax.jit, values=None, **jit_kw):
    """``jit(fun, **jit_kw)`` (``jax.jit`` or ``equinox.filter_jit``) with fbjax's checks as values.

    Inside the program every fbjax check is a ``checkify.check``, so the program holds no host callback and JAX's
    persistent compilation cache (``jax_compilation_cache_dir``) can keep it across processes. A failed check
    raises :class:`jax.errors.JaxRuntimeError` with fbjax's message after the call.

    - Called with traced arguments (inside another transformation), it is plain ``jit(fun)``: the checks raise
      through :func:`equinox.error_if`, as everywhere else.
    - ``checkify`` refuses a ``jax.vmap`` of a while loop (``fbjax.argmin`` vmapped inside ``fun``). Such a
      program is plain ``jit(fun)`` from its first call on: callbacks, not cached.
    - ``values(*args, **kw)``, if given, says beforehand whether to try. False means plain ``jit(fun)``, which
      spares a call known to vmap a while loop the refused trace.

    ``.program`` is the jitted program with checks as values; it returns ``(error, out)``."""
    plain = jit(fun, **jit_kw)
    if _AS_VALUES is None:  # pragma: no cover
        return plain

    def functional(*args, **kw):
        return _as_values(fun, *args, **kw)

    functional.__name__ = f"checked_{getattr(fun, '__name__', 'program')}"  # the cache's file names show it
    program = jit(functional, **jit_kw)

    callbacks = []  # [True] once checkify has refused this program (a vmapped while loop)

    @functools.wraps(fun)
    def call(*args, **kw):
        if callbacks or traced((args, kw)) or (values is not None and not values(*args, **kw)):
            return plain(*args, **kw)
        try:
            err, out = program(*args, **kw)
        except ValueError as e:  # raised while tracing, before anything ran
            if BATCHED_WHILE not in str(e):
                raise
            callbacks.append(True)
            return plain(*args, **kw)
        return _raised(err, out)

    call.program = program  # the compiled program (its _cache_size(), lower(...))
    return call


def rerun_checked(fun, *, jit=jax.jit, **jit_kw):
    """``jit(fun, **jit_kw)`` whose call that fails at run time (a check raised through equinox's callback, its
    message after equinox's traceback) raises :class:`jax.errors.JaxRuntimeError` with the failed check's message
    alone. The message is found in equinox's text, among those :func:`error_if` has traced; where it is not (another
    equinox), an eager call runs again as a :func:`checked_jit` program, which raises it. A call that succeeds costs
    what ``jit(fun)`` costs, unlike :func:`checked_jit`, whose calls take JAX's slower dispatch. A traced call is
    ``jit(fun)``; one that runs and fails at once is the forward or backward of an eager ``jax.grad``."""
    plain = jit(fun, **jit_kw)

    @functools.wraps(fun)
    def call(*args, **kw):
        try:
            return plain(*args, **kw)
        except RuntimeError as e:
            failed = e
        # outside the handler, so that the error raised is not chained to equinox's
        found = [m for m in list(_MESSAGES) if f"EquinoxRuntimeError: {m}" in str(failed)]  # (a snapshot)
        if found:
            raise jax.errors.JaxRuntimeError(max(found, key=len))
        if not traced((args, kw)):
            call.checked(*args, **kw)
        raise failed  # not a check's failure, or a traced call

    call.checked = checked_jit(fun, jit=jit, **jit_kw)  # (an attribute: a test counts its runs)
    return call


def _as_values(fun, *args, **kw):
    """``(error, out)``: ``fun(*args, **kw)`` traced with fbjax's checks as values (``checkify``)."""
    with _AS_VALUES(True):
        return checkify.checkify(lambda: fun(*args, **kw), errors=checkify.user_checks)()


def _raised(err, out):
    """``out``, or the failed check of ``err`` (a ``checkify`` error value) raised as ``JaxRuntimeError``."""
    msg = err.get()
    if msg is not None:
        raise jax.errors.JaxRuntimeError(msg.removesuffix(CHECK_FAILED))
    return out


def eager_checked(fun):
    """``fun`` whose checks, in a call at the top level (no trace active: an eager call), are values.

    An eager call of a loop (an outer run) compiles the loop, so a check inside it raises through a host callback,
    and the message arrives at the end of the callback's traceback ("INTERNAL: CpuCallback error ..."). Called
    eagerly, ``fun`` is traced with checks as values and run op by op (``checkify``), and a failed check raises
    :class:`jax.errors.JaxRuntimeError` with fbjax's message alone, after the call. Inside a trace (``jax.jit``,
    ``jax.vmap``, ``jax.grad``, a :func:`checked_jit` program) it is ``fun``; so is a call that ``checkify``
    refuses (one that vmaps a while loop), after the refused trace."""
    if _AS_VALUES is None or _top_level is None:  # pragma: no cover
        return fun

    @functools.wraps(fun)
    def call(*args, **kw):
        if not _top_level():
            return fun(*args, **kw)
        try:
            err, out = _as_values(fun, *args, **kw)
        except ValueError as e:
            if BATCHED_WHILE not in str(e):
                raise
            return fun(*args, **kw)
        return _raised(err, out)

    return call
