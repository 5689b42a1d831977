"""notebooks/submit_a_predictor.ipynb runs top to bottom (it asserts on its own results)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "submit_a_predictor.ipynb"


def test_submit_a_predictor_notebook_runs(corpus, tmp_path):
    corpus("nb101")  # the kernel inherits NABENCH_HOME and NABENCH_DATA from this session
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "site:" in outputs
