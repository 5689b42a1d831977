"""The corpus store: validation, atomic writes, loading labels by their parts."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from nabench import corpora
from nabench.corpora.base import CorpusTable, Importer
from nabench.corpora.columns import hardware_label, parse_name, quality_label
from nabench.corpora.store import built_versions, corpus_dir
from nabench.errors import CorpusNotBuiltError, NabenchError, UnknownNameError
from nabench.registry import corpora as registry

ACC = quality_label("cifar10", "test", "acc", "200ep", unit="percent", higher_is_better=True, source="t.csv", description="acc")
LAT = hardware_label("cifar10", "latency_ms", "pixel3", unit="ms", source="t.csv", description="lat")


def toy_frame(n: int = 5, acc_offset: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame({
        "native_id": [f"a{i}" for i in range(n)],
        "space": "toy",
        ACC.name: [90.0 + i + acc_offset for i in range(n)],
        LAT.name: [1.0 * i for i in range(n)],
    })


class ToyImporter(Importer):
    name = "toy"
    version = "1.0.0"
    title = "Toy"
    space = "toy"
    upstream = "tests"
    license = "MIT"
    citation = "@misc{toy}"
    embedded = True
    frame: pd.DataFrame = toy_frame()
    fail: Exception | None = None

    def embedded_source(self) -> Path:
        return Path(__file__)

    def read(self, source, progress):
        if self.fail is not None:
            raise self.fail
        return CorpusTable(frame=type(self).frame.copy(), columns=[ACC, LAT], source_format="toy",
                           source_files={"test_store.py": Path(__file__)})


@pytest.fixture(autouse=True)
def reset_toy(fresh_home, monkeypatch):
    """Register the toy corpus for each test of this file only, so other files never see it."""
    monkeypatch.setitem(registry._registered, "toy", ToyImporter)
    ToyImporter.frame = toy_frame()
    ToyImporter.fail = None
    yield


def test_label_names_say_dataset_split_metric_fidelity():
    assert ACC.name == "cifar10__test_acc__200ep"
    assert LAT.name == "cifar10__latency_ms__pixel3"
    assert parse_name(ACC.name) == {"dataset": "cifar10", "middle": "test_acc", "last": "200ep"}
    with pytest.raises(ValueError, match="fidelity"):
        quality_label("cifar10", "test", "acc", "200 epochs", unit="%", higher_is_better=True, source="", description="")


def test_build_load_and_labels_by_parts(fresh_home):
    corpus = corpora.build("toy")
    assert corpus.path == corpus_dir("toy", "1.0.0")
    assert corpus.manifest["n_records"] == 5
    acc = corpus.labels(dataset="cifar10", split="test", metric="acc", fidelity="200ep")
    assert acc.index.name == "native_id" and acc["a2"] == 92.0
    assert corpus.labels(device="pixel3")["a3"] == 3.0
    with pytest.raises(NabenchError, match="matches several columns"):
        corpus.labels(dataset="cifar10")
    with pytest.raises(NabenchError, match="matches no column"):
        corpus.labels(split="valid")
    assert corpora.load("toy").manifest == corpus.manifest


def test_embedded_corpus_builds_on_first_load(fresh_home):
    assert built_versions("toy") == []
    assert corpora.load("toy").manifest["n_records"] == 5


def test_unknown_corpus_names_the_known_ones():
    with pytest.raises(UnknownNameError, match="known: .*nasbench-graph"):
        corpora.importer_for("nb-202")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.assign(native_id=["a0", "a1", "a1", "a3", "a4"]), "duplicate native_id 'a1'"),
        (lambda f: f.assign(extra=1.0), r"unknown column\(s\) \['extra'\]"),
        (lambda f: f.drop(columns=[LAT.name]), "not in the table"),
        (lambda f: f.assign(**{ACC.name: ["x"] * 5}), "has dtype"),
        (lambda f: f.iloc[:0], "no records"),
    ],
)
def test_invalid_tables_are_refused_and_previous_version_kept(mutate, message):
    good = corpora.build("toy")
    before = (good.path / "records.parquet").read_bytes()
    ToyImporter.frame = mutate(toy_frame(acc_offset=1.0))
    with pytest.raises(NabenchError, match=message):
        corpora.build("toy")
    assert (good.path / "records.parquet").read_bytes() == before
    assert [p.name for p in good.path.parent.iterdir()] == ["1.0.0"]


def test_failure_while_writing_leaves_no_half_corpus(monkeypatch):
    good = corpora.build("toy")
    manifest = json.loads((good.path / "manifest.json").read_text())
    ToyImporter.frame = toy_frame(acc_offset=5.0)

    def broken_manifest(*args, **kwargs):
        raise OSError("disk full")

    # records.parquet is already written in the build folder when the manifest fails
    with monkeypatch.context() as patch:
        patch.setattr("nabench.corpora.store.manifest_for", broken_manifest)
        with pytest.raises(OSError, match="disk full"):
            corpora.build("toy")
    assert json.loads((good.path / "manifest.json").read_text()) == manifest
    assert corpora.load("toy").labels(ACC.name)["a0"] == 90.0
    assert [p.name for p in good.path.parent.iterdir()] == ["1.0.0"]


def test_rebuild_replaces_the_version_atomically():
    corpora.build("toy")
    ToyImporter.frame = toy_frame(acc_offset=1.0)
    assert corpora.build("toy").labels(ACC.name)["a0"] == 91.0


def test_not_built_corpus_says_how_to_build(fresh_home):
    with pytest.raises(CorpusNotBuiltError, match="nabench corpora build nb201"):
        corpora.load("nb201")


def test_export_is_readable_by_datasets(tmp_path):
    import datasets

    corpora.build("toy")
    out = corpora.export("toy", tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "records.parquet"]
    ds = datasets.load_dataset("parquet", data_files=str(out / "records.parquet"), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == 5 and ds.column_names == ["native_id", "space", ACC.name, LAT.name]
    assert ds[2][ACC.name] == 92.0


def test_export_refuses_a_file_as_target(tmp_path):
    corpora.build("toy")
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NabenchError, match="not a folder"):
        corpora.export("toy", target)
