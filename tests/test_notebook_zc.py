"""notebooks/compare_zero_cost_proxies.ipynb runs top to bottom (it asserts on its own results)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "compare_zero_cost_proxies.ipynb"


def test_compare_zero_cost_proxies_notebook_runs(corpus, tmp_path):
    corpus("nb201")  # the kernel inherits NABENCH_HOME and NABENCH_DATA from this session
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    assert "Spearman(ours, published): synflow" in "".join(o.get("text", "") for o in outputs)
