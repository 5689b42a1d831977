"""nabench.normalize: checked weightless ONNX + arch_id for every record; resumable; export-onnx."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest

from nabench import __version__
from nabench.errors import NabenchError
from nabench.normalize import (
    COLUMNS,
    graphs_dir,
    normalize,
    normalize_record,
    space_module,
)

REPO = Path(__file__).resolve().parents[1]
SUBSET = 12


def _ids(corpus, n=SUBSET, seed=0):
    return corpus.records()["native_id"].sample(n, random_state=seed).tolist()


def test_normalize_nb201_subset(corpus):
    c = corpus("nb201")
    ids = _ids(c)
    normalize("nb201", ids=ids, shard_size=5)
    g = c.graphs()
    assert list(g.columns) == list(COLUMNS)
    assert sorted(g["native_id"]) == sorted(ids)
    assert g["native_id"].is_unique
    assert str(g["onnx"].dtype) == "object" and isinstance(g["onnx"].iat[0], bytes)
    for col in ("n_params", "flops", "n_nodes", "depth", "onnx_bytes"):
        assert g[col].dtype == np.int64 and (g[col] > 0).all()
    assert (g["onnx_bytes"] == g["onnx"].map(len)).all()
    assert g["arch_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert g["onnx_bytes"].max() < 40_000  # the mean over all cells (< 20 KB) is pinned in test_onnx_nb201
    # published params (the corpus column) agree with the graph's
    r = c.records(with_graphs=True).set_index("native_id").loc[ids]
    assert len(c.records(with_graphs=True)) == len(c.records())
    pcol = [x.name for x in c.columns if x.name.startswith("cifar10__params")]
    if pcol:
        pub = r[pcol[0]].dropna()
        np.testing.assert_allclose(r.loc[pub.index, "n_params"] / 1e6, pub, atol=5e-7)


ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_stored_size_per_nb201_cell_under_20kb(corpus):
    """The issue's 20 KB per NB201 cell is a limit on what is stored: the graphs table (zstd Parquet:
    ONNX, ArchGraph and the scalar columns) takes ~3.5 KB per cell on disk, and even the largest
    cell's ONNX (40.6 KB raw), compressed on its own with zstd, stays under 20 KB."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    c = corpus("nb201")
    ids = [x for x in _ids(c, 200, seed=3) if x != ALL_CONV3] + [ALL_CONV3]
    out = normalize("nb201", ids=ids, shard_size=100)
    shards = sorted(out.glob("part-*.parquet"))
    assert len(shards) == (len(ids) + 99) // 100
    assert {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in shards} == {"ZSTD"}
    assert sum(p.stat().st_size for p in shards) / len(ids) < 20_000
    blob = c.onnx(ALL_CONV3)
    assert len(blob) > 40_000 and len(pa.compress(blob, codec="zstd", asbytes=True)) < 20_000


def test_metadata_and_graph_access(corpus):
    c = corpus("analognas")
    ids = _ids(c, 6, seed=1)
    normalize("analognas", ids=ids)
    g = c.graphs().set_index("native_id")
    for nid in ids:
        m = onnx.load_from_string(c.onnx(nid))
        assert {p.key: p.value for p in m.metadata_props} == {
            "nabench_version": __version__, "corpus": "analognas", "space": "nb201", "native_id": nid,
            "arch_id": g.loc[nid, "arch_id"]}
        assert len(m.graph.initializer) == 0
        onnx.checker.check_model(onnx.shape_inference.infer_shapes(m, strict_mode=True), full_check=True)
        ag = c.graph(nid)
        assert (ag.params, ag.flops, len(ag.nodes), ag.depth) == tuple(g.loc[nid, ["n_params", "flops", "n_nodes", "depth"]])
        assert c.onnx(g.loc[nid, "arch_id"]) is not None  # also addressable by arch_id


def test_arch_graphs_bulk(corpus):
    c = corpus("analognas")
    ids = _ids(c, 7, seed=6)
    normalize("analognas", ids=ids, shard_size=3)
    g = c.graphs()
    graphs = c.arch_graphs()
    assert [x.metadata["native_id"] for x in graphs] == list(g["native_id"])
    assert [x.arch_id for x in graphs] == list(g["arch_id"])
    assert [x.params for x in graphs] == list(g["n_params"]) and [x.flops for x in graphs] == list(g["flops"])
    picked = [ids[3], ids[0], ids[3]]
    sub = c.arch_graphs(picked)
    assert [x.metadata["native_id"] for x in sub] == picked
    assert sub[1] == graphs[list(g["native_id"]).index(ids[0])]
    assert c.arch_graphs(ids=[]) == []
    with pytest.raises(NabenchError, match="no normalized record"):
        c.arch_graphs(["|no-such-cell|"])


SPACE_CORPORA = ["nb201", "nb101", "ec-nas", "nb301", "transnas-micro", "transnas-macro", "nasbench-graph",
                 "help-fbnet", "help-ofa", "nasbench-nlp"]


@pytest.mark.parametrize("name", SPACE_CORPORA)
def test_stored_archgraph_is_from_onnx_of_stored_onnx(corpus, name):
    """The codec form written by normalize decodes to exactly from_onnx(stored ONNX), in every space,
    and the stored ONNX passes the full check."""
    from nabench.graph import codec, from_onnx
    from nabench.normalize import ARCHGRAPH

    c = corpus(name)
    spec = [x.name for x in c.columns if x.kind == "spec"]
    for rec in c.records()[spec + ["native_id", "space"]].sample(3, random_state=7).to_dict("records"):
        row = normalize_record(rec, name)
        g = from_onnx(row["onnx"])
        assert codec.loads(row[ARCHGRAPH]) == g
        assert g.arch_id == row["arch_id"] and g.metadata["native_id"] == str(rec["native_id"])
        onnx.checker.check_model(row["onnx"], full_check=True)


def test_check_and_infer_is_the_full_check():
    """check_and_infer rejects what check_model(full_check=True) rejects (here a value_info that
    contradicts inference, and an op with a wrong attribute) and returns the inferred model."""
    from onnx import TensorProto, helper

    from nabench.normalize import check_and_infer

    def model(vi_dim: int, attr: dict) -> bytes:
        nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Flatten", ["r"], ["y"], **attr)]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
                              value_info=[helper.make_tensor_value_info("r", TensorProto.FLOAT, [2, vi_dim])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()

    inferred = check_and_infer(model(3, {}))
    assert [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim] == [2, 3]
    for bad in (model(4, {}), model(3, {"axis": 5}), model(3, {"nonsense": 1})):
        with pytest.raises(Exception) as full:
            onnx.checker.check_model(bad, full_check=True)
        with pytest.raises(type(full.value)):
            check_and_infer(bad)


def test_same_cell_same_id_across_corpora(corpus):
    """nb201 and analognas build the same CIFAR-10 network for a cell: same arch_id."""
    nid = corpus("nb201").records()["native_id"].iat[7]
    a = normalize_record({"native_id": nid, "space": "nb201"}, "nb201")
    b = normalize_record({"native_id": nid, "space": "nb201"}, "analognas")
    assert a["arch_id"] == b["arch_id"] and a["n_params"] == b["n_params"]


def test_resume_after_sigkill(corpus, nabench_home):
    c = corpus("analognas")
    ids = _ids(c, 40, seed=2)
    out = graphs_dir(c.path)
    shutil.rmtree(out, ignore_errors=True)  # shards of earlier tests would look like progress
    code = ("import sys, json; from nabench.normalize import normalize; "
            "normalize('analognas', ids=json.loads(sys.argv[1]), shard_size=4)")
    import json

    env = dict(os.environ, NABENCH_HOME=str(nabench_home))
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(ids)], env=env, cwd=REPO)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if len(list(out.glob("part-*.parquet"))) >= 2:
                break
            time.sleep(0.05)
        done_before = sorted(p.name for p in out.glob("part-*.parquet"))
        assert proc.poll() is None, "the run finished before it could be killed; use more records"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 2 <= len(done_before) < 10
    mtimes = {p: (out / p).stat().st_mtime_ns for p in done_before}
    normalize("analognas", ids=ids, shard_size=4)
    assert all((out / p).stat().st_mtime_ns == t for p, t in mtimes.items())  # not recomputed
    assert not list(out.glob(".*.part"))
    g = c.graphs()
    assert sorted(g["native_id"]) == sorted(ids) and g["native_id"].is_unique
    want = pd.DataFrame([normalize_record({"native_id": i, "space": "nb201"}, "analognas")
                         for i in g["native_id"]], columns=list(COLUMNS))
    pd.testing.assert_frame_equal(g.reset_index(drop=True), want.astype(g.dtypes.to_dict()))


def test_workers_give_the_same_table(corpus):
    c = corpus("analognas")
    ids = _ids(c, 8, seed=3)
    normalize("analognas", ids=ids, shard_size=3)
    one = c.graphs().copy()
    for p in graphs_dir(c.path).glob("part-*.parquet"):
        p.unlink()
    normalize("analognas", ids=ids, shard_size=3, workers=2)
    pd.testing.assert_frame_equal(c.graphs(), one)


def test_export_onnx_runs_in_onnxruntime(corpus, tmp_path):
    import onnxruntime as ort

    from nabench.corpora.api import export_onnx

    c = corpus("analognas")
    ids = _ids(c, 3, seed=4)
    normalize("analognas", ids=ids)
    plain = export_onnx("analognas", tmp_path / "plain")
    index = pd.read_csv(plain / "index.csv")
    assert sorted(index["native_id"]) == sorted(ids)
    for f in index["file"]:
        m = onnx.load(plain / f)
        assert len(m.graph.initializer) == 0
    rnd = export_onnx("analognas", tmp_path / "rnd", weights="random")
    idx = pd.read_csv(rnd / "index.csv")
    assert list(idx["file"]) == list(index["file"]) and list(idx["arch_id"]) == list(index["arch_id"])
    path = rnd / idx["file"].iat[0]
    m = onnx.load(path)
    assert {p.key: p.value for p in m.metadata_props}["arch_id"] == idx["arch_id"].iat[0]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": np.random.default_rng(0).standard_normal((1, 3, 32, 32), dtype=np.float32)})[0]
    assert y.shape == (1, 10) and np.isfinite(y).all()


def test_cli_normalize_and_export(corpus, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from nabench.cli import app

    corpus("analognas")
    import nabench.normalize as N

    ids = _ids(corpus("analognas"), 2, seed=5)
    real = N.normalize
    monkeypatch.setattr(N, "normalize", lambda name, **kw: real(name, ids=ids, **kw))
    r = CliRunner().invoke(app, ["normalize", "analognas", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert '"records": 2' in r.stdout
    r = CliRunner().invoke(app, ["corpora", "export-onnx", "analognas", "--to", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "analognas").glob("*.onnx"))) == 2


def test_space_without_builder_is_a_clear_error(corpus, monkeypatch):
    with pytest.raises(NabenchError, match="no ONNX builder for search space 'no-such-space'"):
        space_module("no-such-space")
    c = corpus("analognas")
    from nabench.corpora.store import Corpus

    fake = c.records().head(3).assign(space="no-such-space")
    monkeypatch.setattr(Corpus, "records", lambda self, with_graphs=False: fake)
    with pytest.raises(NabenchError, match="no ONNX builder for search space 'no-such-space' \\(corpus analognas\\)"):
        normalize("analognas")


def test_not_normalized_error(fresh_home):
    from nabench import corpora

    with pytest.raises(NabenchError, match="not normalized; run: nabench normalize analognas"):
        corpora.load("analognas").graphs()


@pytest.mark.slow
def test_nb201_arch_id_partition_vs_unique_str(corpus):
    """All 15,625 cells (about 4 minutes on 2 cores) give 10,445 distinct ids; NATS's ``unique_str``
    gives 6,466 classes. The two partitions differ in both directions, for known reasons:

    - ids split NATS classes (up to 204 ids in one class): ``unique_str`` drops dead branches (edges
      whose result never reaches the output), but the graphs keep them, because the trained network
      computes them and its published parameter count includes them;
    - ids merge NATS classes (1,380 ids cover 2-5 classes): ``unique_str(consider_zero=True)`` records
      where ``none`` edges sit (its ``#`` terms) and keeps ``skip_connect`` as a term, while in the graph
      a ``none`` edge is absent and a skip is plain wiring, so those cells are the same network.
    """
    c = corpus("nb201")
    normalize("nb201", workers=os.cpu_count() or 1)
    r = c.records(with_graphs=True)
    assert r["unique_str"].nunique() == 6466
    assert r["arch_id"].nunique() == 10445
    per_class = r.groupby("unique_str")["arch_id"].nunique()
    per_id = r.groupby("arch_id")["unique_str"].nunique()
    assert per_class.max() == 204 and (per_id > 1).sum() == 1380 and per_id.max() == 5
    # a merged pair, spelled out: node 2 = skip(node 1) makes these two cells the same network
    same = r.set_index("native_id")["arch_id"]
    assert same["|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"] == \
        same["|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"]
