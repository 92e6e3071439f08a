"""fbjax never runs two batched LAPACK calls side by side under vmap (a jaxlib 0.10 deadlock on XLA:CPU).

Each case runs in a subprocess with a time limit, so a regression fails here instead of hanging the
suite. Before the fix both cases hung on a 2-core machine every time.
"""

import os
import subprocess
import sys

import pytest

BODY = os.path.join(os.path.dirname(__file__), "_batched_lapack.py")


@pytest.mark.parametrize("case, repeats", [("bregman", 20), ("adjoint", 5)])
def test_vmapped_lapack_finishes(case, repeats):
    try:
        out = subprocess.run([sys.executable, BODY, case, str(repeats)], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case}: vmapped batched LAPACK did not finish in 240 s (the XLA:CPU pool deadlock is back)")
    assert out.returncode == 0 and out.stdout.strip().endswith("done"), out.stderr[-2000:]
