"""`nabench zoo ...` and `nabench predict` run as a user would (subprocesses), and the zoo notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_archgraph import exported

REPO = Path(__file__).resolve().parents[1]
GBDT, GNN = "xgb.analognas-cifar10-analog", "gnn.analognas-cifar10-analog"


def nabench(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "nabench", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory, corpus) -> list[Path]:
    """ResNet-, MobileNet- and transformer-style torch exports, and one AnalogNAS-Bench cell as stored."""
    from nabench.normalize import normalize

    folder = tmp_path_factory.mktemp("onnx")
    paths = []
    for name in ("resnet", "mobilenet", "transformer"):
        paths.append(folder / f"{name}.onnx")
        paths[-1].write_bytes(exported(name)[1])
    c = corpus("analognas")
    best = c.labels("cifar10__test_acc_analog__final").idxmax()
    normalize("analognas", ids=[best])
    paths.append(folder / "analognas_best.onnx")
    paths[-1].write_bytes(c.onnx(best))
    return paths


def test_zoo_list_and_info():
    rows = json.loads(nabench("zoo", "list", "--format", "json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert by_name[GBDT]["status"] == "ready" and by_name[GBDT]["embedded"] is True
    assert by_name[GBDT]["kendall_tau_b"] > 0.5
    card = json.loads(nabench("zoo", "info", GNN, "--format", "json").stdout)
    assert card["training"]["sources"][0]["corpus"] == "analognas" and card["metrics"]["test_size"] > 0
    table = nabench("zoo", "info", GBDT)
    assert table.returncode == 0, table.stderr
    for field in ("training data", "metrics (held-out)", "intended use", "limits", "uncertainty"):
        assert field in table.stdout


def test_zoo_pull_of_an_embedded_entry_verifies_the_packaged_files():
    r = nabench("zoo", "pull", GBDT)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == REPO / "nabench" / "zoo" / "embedded" / GBDT


@pytest.mark.parametrize("model", [GBDT, GNN])
def test_predict_on_torch_exports_and_a_corpus_file(onnx_files, model):
    r = nabench("predict", *map(str, onnx_files), "--model", model, "--format", "json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["file"] for row in rows] == [str(p) for p in onnx_files]
    for row in rows:
        assert row["model"] == model and row["unit"] == "percent"
        assert 0 <= row["corpus_percentile"] <= 100 and row["uncertainty"] >= 0
    # the best cell of the corpus is predicted in the corpus's top fifth
    assert rows[-1]["corpus_percentile"] > 80


def test_predict_defaults_to_the_embedded_gbdt_and_prints_a_table(onnx_files):
    r = nabench("predict", str(onnx_files[0]))
    assert r.returncode == 0, r.stderr
    assert "resnet.onnx" in r.stdout and "corpus_percentile" in r.stdout and GBDT in r.stderr


def test_predict_errors_are_one_line(tmp_path):
    missing = nabench("predict", str(tmp_path / "nothing.onnx"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    unknown = nabench("zoo", "info", "nope.nothing")
    assert unknown.returncode == 1 and "no zoo entry named 'nope.nothing'" in unknown.stderr
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    bad = nabench("predict", str(junk))
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr


def test_predict_scores_a_whole_corpus_like_its_files(tmp_path, corpus):
    """`--corpus`: one row per normalized record, the same numbers as predicting the exported files."""
    import pandas as pd
    from test_zoo_build import normalized

    nlp = normalized(corpus)
    out = tmp_path / "scores.parquet"
    r = nabench("predict", "--corpus", nlp.name, "--model", GBDT, "--to", str(out))
    assert r.returncode == 0, r.stderr
    table = pd.read_parquet(out)
    graphs = nlp.graphs()
    assert list(table.columns) == ["native_id", "arch_id", "prediction", "uncertainty", "corpus_percentile", "unit",
                                   "model"]
    assert list(table["native_id"]) == list(graphs["native_id"]) and list(table["arch_id"]) == list(graphs["arch_id"])
    assert table["prediction"].nunique() > 10 and (table["uncertainty"] > 0).all()
    picked = table.iloc[[0, len(table) // 2, len(table) - 1]]
    files = []
    for native_id in picked["native_id"]:
        files.append(tmp_path / f"{len(files)}.onnx")
        files[-1].write_bytes(nlp.onnx(native_id))
    r = nabench("predict", *map(str, files), "--model", GBDT, "--format", "json")
    assert r.returncode == 0, r.stderr
    single = json.loads(r.stdout)  # rounded to 4 decimals (percentiles to 1) for people
    np.testing.assert_allclose([row["prediction"] for row in single], picked["prediction"], atol=1e-4)
    np.testing.assert_allclose([row["corpus_percentile"] for row in single], picked["corpus_percentile"], atol=0.1)


def test_predict_needs_files_or_a_corpus(tmp_path):
    both = nabench("predict", str(tmp_path / "a.onnx"), "--corpus", "nb201")
    assert both.returncode == 1 and "give ONNX files or --corpus NAME" in both.stderr
    wrong = nabench("predict", "--corpus", "nb201", "--to", str(tmp_path / "out.xlsx"))
    assert wrong.returncode == 1 and ".parquet or .csv" in wrong.stderr


def test_export_command_writes_a_runnable_onnx(tmp_path, onnx_files):
    out = tmp_path / "gbdt.onnx"
    r = nabench("zoo", "export", GBDT, "--to", str(out))
    assert r.returncode == 0, r.stderr
    import onnxruntime as ort

    names = [o.name for o in ort.InferenceSession(str(out)).get_outputs()]
    assert names == ["prediction", "members"]


def test_notebook_runs(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / "pretrained_estimator_on_your_model.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
