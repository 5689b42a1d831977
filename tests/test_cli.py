"""The nabench command line, run as a user would (a subprocess), on the embedded corpora."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq


def nabench(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "nabench", *args], capture_output=True, text=True, env=env)


def test_list_in_three_formats():
    as_json = nabench("corpora", "list", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    names = {r["name"] for r in rows}
    assert {"analognas", "nasbench-graph", "nb201", "transnas-micro", "help-fbnet"} <= names
    assert all({"name", "title", "version", "embedded", "built"} <= set(r) for r in rows)
    as_csv = nabench("corpora", "list", "--format", "csv")
    assert {r["name"] for r in csv.DictReader(io.StringIO(as_csv.stdout))} == names
    table = nabench("corpora", "list")
    assert "nasbench-graph" in table.stdout and "nabench corpora" in table.stdout


def test_build_info_export(tmp_path):
    built = nabench("corpora", "build", "nasbench-graph", "--format", "json")
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)[0]["records"] == 26206
    info = nabench("corpora", "info", "nasbench-graph", "--format", "json")
    manifest = json.loads(info.stdout)
    assert manifest["license"] == "Apache-2.0"
    assert any(c["name"] == "cora__test_acc__final" for c in manifest["columns"])
    info_csv = nabench("corpora", "info", "nasbench-graph", "--format", "csv")
    cols = list(csv.DictReader(io.StringIO(info_csv.stdout)))
    assert {"column", "kind", "unit", "higher_is_better", "non_null"} <= set(cols[0])
    exported = nabench("corpora", "export", "nasbench-graph", "--to", str(tmp_path))
    assert exported.returncode == 0, exported.stderr
    table = pq.read_table(tmp_path / "nasbench-graph" / "records.parquet")
    assert table.num_rows == 26206
    assert (tmp_path / "nasbench-graph" / "README.md").read_text().startswith("---\n")


def test_errors_are_one_line_and_nonzero(tmp_path):
    unknown = nabench("corpora", "info", "nb-202")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().startswith("error: no corpora entry named 'nb-202'")
    assert len(unknown.stderr.strip().splitlines()) == 1
    missing = nabench("corpora", "build", "nb201", "--source", str(tmp_path / "nope"))
    assert missing.returncode == 1
    assert "nope: source path not found" in missing.stderr
    no_data = nabench("corpora", "build", "nb201", env_extra={"NABENCH_DATA": ""})
    assert no_data.returncode == 1 and "--source" in no_data.stderr
    assert "Traceback" not in unknown.stderr + missing.stderr + no_data.stderr


def test_card_check_passes_for_an_embedded_corpus():
    result = nabench("corpora", "card", "nasbench-graph", "--check")
    assert result.returncode == 0, result.stderr + result.stdout


def test_graph_inspect_on_an_exported_model(tmp_path):
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(8, 10))
    path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False,
                      training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
    result = nabench("graph", "inspect", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["params"] == sum(p.numel() for p in model.parameters())
    assert row["flops"] == 8 * 32 * 32 * 3 * 9 + 8 * 10 + 8 * 32 * 32 + 8 * 32 * 32  # conv + linear + relu + pool
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    broken = nabench("graph", "inspect", str(bad))
    assert broken.returncode == 1 and "bad.onnx" in broken.stderr and "Traceback" not in broken.stderr
