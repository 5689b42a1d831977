"""Corpus-scale computation (shards, resume after a kill), `nabench zc compare`, the Ray executor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from nabench.cli import app
from nabench.zc import compute as C

CHEAP = ["params", "l2_norm"]


def test_compute_writes_shards_and_skips_done_ones(corpus, tmp_path, one_torch_thread):
    corpus("nb201")
    out = C.compute_corpus("nb201", CHEAP + ["synflow"], out=tmp_path / "run", limit=10, shard_size=4)
    shards = sorted(out.glob("shard-*.parquet"))
    assert [p.name for p in shards] == ["shard-00000.parquet", "shard-00001.parquet", "shard-00002.parquet"]
    df = C.read_scores(out)
    assert len(df) == 10 and df["native_id"].is_unique
    assert (df[[f"{p}__error" for p in CHEAP + ["synflow"]]] == "").all().all()
    assert df["params"].between(0.07, 1.6).all() and df["synflow"].notna().all()
    mtimes = [p.stat().st_mtime_ns for p in shards]
    C.compute_corpus("nb201", CHEAP + ["synflow"], out=out, limit=10, shard_size=4)
    assert [p.stat().st_mtime_ns for p in shards] == mtimes
    with pytest.raises(Exception, match="different settings"):
        C.compute_corpus("nb201", CHEAP, out=out, limit=10, shard_size=4)


def test_cli_resumes_after_kill_without_recomputing(corpus, tmp_path):
    corpus("nb201")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "nabench", "zc", "compute", "nb201", "-p", ",".join(CHEAP), "--limit", "120",
           "--shard-size", "5", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while len(list(out.glob("shard-*.parquet"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.parquet")}
    assert 3 <= len(before) < 24, "the kill must land mid-run"
    done = subprocess.run(cmd + ["--format", "json"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.parquet")}
    assert len(after) == 24
    assert all(after[k] == v for k, v in before.items()), "finished shards were recomputed"
    df = C.read_scores(out)
    assert len(df) == 120 and df["native_id"].is_unique
    records = corpus("nb201").records()["native_id"].astype(str).iloc[:120].tolist()
    assert df["native_id"].tolist() == records


def test_compare_table_and_plots(corpus, tmp_path):
    corpus("nb201")
    res = CliRunner().invoke(app, ["zc", "compare", "--task", "nb201:cifar10__test_acc__200ep",
                                   "--task", "nb201:cifar100__test_acc__200ep", "--sample", "3000",
                                   "--out", str(tmp_path / "cmp"), "--format", "json"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "cmp" / "table.csv")
    assert set(table.columns) >= {"task", "proxy", "n", "spearman", "kendall_tau_b", "precision_at_top5"}
    for f in ("heatmap.png", "heatmap.svg", "scatter.png", "scatter.svg"):
        assert (tmp_path / "cmp" / f).stat().st_size > 1000
    syn = table[(table.proxy == "synflow") & table.task.str.startswith("nb201:cifar10__")].iloc[0]
    assert syn.n > 1500 and 0.70 < syn.spearman < 0.85  # BENCHMARKS.md §3: 0.737–0.753 (val acc)
    assert "ensemble" in set(table.proxy)
    bad = CliRunner().invoke(app, ["zc", "compare", "--task", "nb201-no-colon"])
    assert bad.exit_code != 0 and "CORPUS:TARGET_COLUMN" in str(bad.exception)


def test_ray_executor_with_two_workers(corpus, tmp_path):
    pytest.importorskip("ray")
    corpus("nb201")
    out = C.compute_corpus("nb201", CHEAP, out=tmp_path / "ray", limit=12, shard_size=3, workers=2, executor="ray")
    local = C.compute_corpus("nb201", CHEAP, out=tmp_path / "local", limit=12, shard_size=3)
    a, b = C.read_scores(out), C.read_scores(local)
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_subset_run_is_reused_by_the_predictor(corpus, monkeypatch, one_torch_thread):
    """`zc compute` on a subset of ids (what `--task` gives), then the `zc` predictor with
    reuse_runs reads those scores instead of recomputing them: the same numbers."""
    import numpy as np

    from nabench.graph import from_onnx
    from nabench.normalize import build_model, graph_metadata
    from nabench.registry import predictors

    records = corpus("nb201").records()
    picked = records.iloc[[40, 5, 17]]
    out = C.compute_corpus("nb201", ["synflow", "params"], ids=picked["native_id"].tolist(), tag="test-subset")
    assert out.name.endswith("-test-subset")
    df = C.read_scores(out)
    assert df["native_id"].tolist() == records["native_id"].iloc[[5, 17, 40]].tolist()  # corpus order
    graphs = [from_onnx(build_model(r, "nb201", metadata=graph_metadata("nb201", r["space"], str(r["native_id"]))))
              for r in picked.to_dict("records")]
    fresh = predictors.get("zc")(proxy="synflow").predict(graphs)

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed a stored score")

    monkeypatch.setattr(C, "score_cell", no_compute)
    reused = predictors.get("zc")(proxy="synflow", reuse_runs=True).predict(graphs)
    np.testing.assert_array_equal(reused, fresh)
    with pytest.raises(Exception, match="not records of nb201"):
        C.compute_corpus("nb201", ["params"], ids=["not-a-cell"], tag="bad")


def test_run_records_the_space_init_and_the_predictor_reuses_only_matching_runs(corpus, monkeypatch,
                                                                                 one_torch_thread):
    """An NB101 run uses (and records) NASLib's NB101 initialization, and the predictor scores the
    same numbers with it; a stored run without that setting (made before it existed) is not reused."""
    import json

    import numpy as np

    from nabench.graph import from_onnx
    from nabench.normalize import build_model, graph_metadata
    from nabench.predictors.zc import stored_runs
    from nabench.registry import predictors

    records = corpus("nb101").records()
    picked = records.iloc[[3, 8]]
    out = C.compute_corpus("nb101", ["l2_norm"], ids=picked["native_id"].tolist(), tag="test-init")
    run = json.loads((out / C.RUN_FILE).read_text())
    assert run["config"]["init"] == {"nb101": "nasbench101"}
    graphs = [from_onnx(build_model(r, "nb101", metadata=graph_metadata("nb101", r["space"], str(r["native_id"]))))
              for r in picked.to_dict("records")]
    stored = C.read_scores(out).set_index("native_id").loc[picked["native_id"], "l2_norm"].to_numpy()
    np.testing.assert_array_equal(predictors.get("zc")(proxy="l2_norm").predict(graphs), stored)
    assert len(stored_runs("nb101", ["l2_norm"], "cifar10", 64, 0)) == 1
    del run["config"]["init"]
    (out / C.RUN_FILE).write_text(json.dumps(run))
    assert stored_runs("nb101", ["l2_norm"], "cifar10", 64, 0) == []


def test_task_ids_are_the_leaderboard_test_units(corpus):
    corpus("analognas")
    ids = C.task_ids("analognas-analog", "analognas")
    assert len(ids) == len(set(ids)) == 1000
    with pytest.raises(Exception, match="no test units in corpus nb201"):
        C.task_ids("analognas-analog", "nb201")
