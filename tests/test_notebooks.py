"""Every research notebook runs, in small mode (``FBJAX_NOTEBOOK_SMALL=1``), in this process.

The committed notebooks carry the outputs of a full-size run (``python notebooks/build.py``); this
test executes the same code cells so that none can rot. Each notebook's own assertions run too.
"""

import os

import matplotlib
import pytest

matplotlib.use("Agg")

nbformat = pytest.importorskip("nbformat")

HERE = os.path.join(os.path.dirname(__file__), "..", "notebooks")
NOTEBOOKS = sorted(f for f in os.listdir(HERE) if f.endswith(".ipynb"))


def test_all_five_notebooks_exist_with_outputs():
    assert len(NOTEBOOKS) == 5
    for name in NOTEBOOKS:
        nb = nbformat.read(os.path.join(HERE, name), as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.get("outputs") for c in code[1:]), f"{name} is committed without outputs"
        assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"]), f"{name} has an error output"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_small_mode(name, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("FBJAX_NOTEBOOK_SMALL", "1")
    monkeypatch.chdir(HERE)
    monkeypatch.setattr(plt, "show", lambda *a, **k: plt.close("all"))
    nb = nbformat.read(os.path.join(HERE, name), as_version=4)
    namespace = {"__name__": "__notebook__"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"{name}:cell", "exec"), namespace)
    assert namespace["SMALL"] is True
    plt.close("all")
