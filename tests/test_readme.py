"""The README's Python examples run as written (after a preamble defining the data they leave to the reader).

Each ```python block of the README is executed in order in one namespace, so a renamed argument or a
changed return value breaks this test, not a user's first session. The preamble supplies ``X, y, X_test,
y_test, labels``, the data the estimator example leaves to the reader, from a small calibrated design.
"""

import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "README.md")

PREAMBLE = """
import numpy as np
from fbjax.data import calibrated_degenerate
_d = calibrated_degenerate(seed=0, n=60, p=40, rho=0.9)
X, y = np.vstack([_d.A_train, _d.A_val]), np.concatenate([_d.b_train, _d.b_val])
X_test, y_test, labels = _d.A_test, _d.b_test, np.where(y > np.median(y), 1.0, -1.0)
"""


def blocks():
    with open(README) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_examples_run():
    code = blocks()
    assert len(code) >= 3, "the README lost its examples"
    namespace = {"__name__": "__readme__"}
    exec(compile(PREAMBLE, "preamble", "exec"), namespace)
    for i, block in enumerate(code):
        exec(compile(block, f"README.md python block {i}", "exec"), namespace)
    res, est = namespace["res"], namespace["est"]
    assert res.values.shape == (50,) and bool(res.best_value <= res.values[0])  # the last run: NTRBA on unrolled ISTA
    assert set(est.predict(namespace["X_test"]).tolist()) <= {-1.0, 1.0}  # the logistic estimator predicts labels
