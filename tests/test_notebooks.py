"""Every research notebook runs, in small mode (``FBJAX_NOTEBOOK_SMALL=1``), in this process.

The committed notebooks carry the outputs of a full-size run (``python notebooks/build.py``); this
test executes the same code cells so that none can rot. Each notebook's own assertions run too. The
notebooks are read as the JSON they are (nbformat 4), so the test needs neither nbformat nor Jupyter
and runs wherever the package does (a GPU machine's image included).
"""

import json
import os

import matplotlib
import pytest

matplotlib.use("Agg")

HERE = os.path.join(os.path.dirname(__file__), "..", "notebooks")
NOTEBOOKS = sorted(f for f in os.listdir(HERE) if f.endswith(".ipynb"))


def code_cells(name):
    """The code cells of notebook ``name`` (nbformat 4 JSON), each with its ``source`` as one string."""
    with open(os.path.join(HERE, name)) as f:
        nb = json.load(f)
    assert nb["nbformat"] == 4, f"{name}: nbformat {nb['nbformat']}, expected 4"
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return [{**c, "source": "".join(c["source"])} for c in cells]


def test_all_five_notebooks_exist_with_outputs():
    assert len(NOTEBOOKS) == 5
    for name in NOTEBOOKS:
        code = code_cells(name)
        assert code and all(c.get("outputs") for c in code[1:]), f"{name} is committed without outputs"
        assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"]), f"{name} has an error output"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_small_mode(name, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("FBJAX_NOTEBOOK_SMALL", "1")
    monkeypatch.chdir(HERE)
    monkeypatch.setattr(plt, "show", lambda *a, **k: plt.close("all"))
    namespace = {"__name__": "__notebook__"}
    for cell in code_cells(name):
        exec(compile(cell["source"], f"{name}:cell", "exec"), namespace)
    assert namespace["SMALL"] is True
    plt.close("all")
