"""The registry and the estimators that ship inside the package (AnalogNAS-Bench GBDT and GNN;
NAS-Bench-201 accuracy and HW-NAS-Bench latency GBDTs).

They must load with no network and no download, predict on the corpus's own ONNX graphs with a
real correlation to the measured target, work on ONNX files exported from ordinary PyTorch
models, export to ONNX with the same predictions, and be packaged in the wheel.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from test_archgraph import exported

from nabench import zoo
from nabench.graph import from_onnx
from nabench.registry import predictors
from nabench.zoo.build import RELEASE_BASE
from nabench.zoo.catalog import FORMAT, NAME_RE, ZooError, read_registry, version_ok
from nabench.zoo.onnx_export import OnnxEstimator, export

EMBEDDED = ("xgb.analognas-cifar10-analog", "gnn.analognas-cifar10-analog")
TARGET = "cifar10__test_acc_analog__final"
NB201 = [n for n in zoo.names() if zoo.entry(n).embedded and zoo.entry(n).sources[0].corpus == "nb201"]
REPO = Path(__file__).resolve().parents[1]
EMBEDDED_ROOT = Path(zoo.__file__).parent / "embedded"
#: what the embedded estimators may add to an installed package, together
EMBEDDED_BUDGET = 6_000_000


def test_registry_is_consistent():
    names = zoo.names()
    assert set(EMBEDDED) <= set(names)
    assert {"xgb.nb201-cifar10", "xgb.nb201-cifar100", "xgb.nb201-imagenet16"} <= set(names)
    assert sum(n.startswith("xgb.nb201-latency-") for n in names) >= 3
    assert any(e.target_transform == "rank" and len(e.sources) > 1 for e in map(zoo.entry, names))
    known = set(predictors.names())
    for name in names:
        e = zoo.entry(name)
        assert NAME_RE.match(name) and e.predictor in known and e.format == FORMAT
        assert e.intended_use and e.limits and e.license
        assert version_ok("0.1.0", e.nabench_versions)
        for f in e.files:
            assert f.url == f"{RELEASE_BASE}/{name}/{f.path}"
        if e.files:  # built: the card's metrics were measured on held-out architectures
            assert {"kendall_tau_b", "spearman_rho", "test_size"} <= set(e.metrics)
    for name in EMBEDDED:
        e = zoo.entry(name)
        assert e.embedded and e.sources[0].corpus == "analognas" and e.sources[0].target == TARGET


def test_embedded_entries_ship_their_files_within_budget():
    """NB201 CIFAR-10/100/ImageNet16-120 accuracy and >= 3 latency devices work offline after install."""
    targets = {zoo.entry(n).sources[0].target for n in NB201}
    assert {"cifar10__test_acc__200ep", "cifar100__test_acc__200ep", "imagenet16-120__test_acc__200ep"} <= targets
    assert sum("__latency_ms__" in t for t in targets) >= 3
    embedded = [zoo.entry(n) for n in zoo.names() if zoo.entry(n).embedded]
    for e in embedded:
        zoo.verify(e, zoo.embedded_dir(e.name))
        assert sum(f.size for f in e.files) < 1_000_000, e.name
    on_disk = {p.relative_to(EMBEDDED_ROOT).as_posix() for p in EMBEDDED_ROOT.rglob("*") if p.is_file()}
    assert on_disk == {f"{e.name}/{f.path}" for e in embedded for f in e.files}  # nothing stale, nothing missing
    assert sum(f.size for e in embedded for f in e.files) < EMBEDDED_BUDGET


def _matches(path: str, pattern: str) -> bool:
    """setuptools package-data glob semantics: ``*`` stays inside one path component."""
    a, b = path.split("/"), pattern.split("/")
    return len(a) == len(b) and all(fnmatch.fnmatchcase(x, y) for x, y in zip(a, b))


def test_every_embedded_file_is_declared_as_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["nabench.zoo"]
    files = [p.relative_to(EMBEDDED_ROOT.parent).as_posix() for p in EMBEDDED_ROOT.rglob("*") if p.is_file()]
    assert files and all(any(_matches(f, pat) for pat in patterns) for f in files)
    assert any(_matches("registry.yml", pat) for pat in patterns)


@pytest.mark.slow
def test_the_wheel_carries_every_embedded_file(tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True)
    (whl,) = tmp_path.glob("nabench-*.whl")
    names = set(zipfile.ZipFile(whl).namelist())
    for name in zoo.names():
        e = zoo.entry(name)
        if e.embedded:
            assert {f"nabench/zoo/embedded/{name}/{f.path}" for f in e.files} <= names
    assert "nabench/zoo/registry.yml" in names


@pytest.mark.parametrize("text, problem", [
    ("entries: []", "entries"),
    ("entries: {Bad Name: {}}", "not of the form"),
    ("entries: {x.y: {title: t}}", "missing"),
])
def test_malformed_registries_are_refused(text, problem):
    with pytest.raises(ZooError, match=problem):
        read_registry(text)


def test_file_paths_must_stay_inside_the_entry():
    import yaml

    block = zoo.entry(EMBEDDED[0]).raw
    bad = yaml.safe_dump({"entries": {"x.y": {**block, "files": [{**block["files"][0], "path": "../../etc/passwd"}]}}})
    with pytest.raises(ZooError, match="relative"):
        read_registry(bad)


def test_version_ranges():
    assert version_ok("0.1.0", ">=0.1,<0.2") and not version_ok("0.2.0", ">=0.1,<0.2")
    assert version_ok("1.2.3", "==1.2.3") and not version_ok("1.2", ">1.2")
    with pytest.raises(ZooError):
        version_ok("0.1.0", "~=0.1")


@pytest.fixture(scope="module")
def sample(corpus):
    """200 AnalogNAS-Bench cells (random, seeded), normalized, with their measured accuracy."""
    from nabench.normalize import normalize

    c = corpus("analognas")
    ids = list(c.records()["native_id"].sample(200, random_state=7))
    normalize("analognas", ids=ids)
    return c.arch_graphs(ids), c.labels(TARGET).loc[ids].to_numpy()


@pytest.fixture(scope="module")
def user_graphs():
    return [from_onnx(exported(name)[1]) for name in ("resnet", "mobilenet", "transformer")]


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_estimator_predicts_measured_accuracy(name, sample, fresh_home):
    model = zoo.load(name)
    graphs, y = sample
    p = model.predict_full(graphs)
    assert not (fresh_home / "zoo").exists()  # nothing downloaded, nothing cached
    # The sample overlaps the training set (1,000 of 15,625 cells): this checks the shipped files
    # work; the held-out numbers are the card's, recomputed by the slow rebuild test.
    assert stats.kendalltau(y, p.prediction).statistic > 0.55
    assert np.all(p.uncertainty >= 0) and np.median(p.uncertainty) > 0
    assert np.all((p.percentile >= 0) & (p.percentile <= 100))
    assert stats.spearmanr(p.prediction, p.percentile).statistic > 0.99
    q = model.measured_quantiles
    measured_pct = 100 * np.searchsorted(q, y, side="right") / len(q)
    assert stats.spearmanr(measured_pct, p.percentile).statistic > 0.7


@pytest.fixture(scope="module")
def nb201_sample(corpus):
    """150 NAS-Bench-201 cells (random, seeded), normalized."""
    from nabench.normalize import normalize

    c = corpus("nb201")
    ids = list(c.records()["native_id"].sample(150, random_state=11))
    normalize("nb201", ids=ids)
    return c, ids, c.arch_graphs(ids)


@pytest.mark.parametrize("name", NB201)
def test_embedded_nb201_estimators_predict_their_target(name, nb201_sample, fresh_home):
    c, ids, graphs = nb201_sample
    model = zoo.load(name)
    e = model.entry
    y = c.labels(e.sources[0].target).reindex(ids)
    p = model.predict_full(graphs)
    assert not (fresh_home / "zoo").exists()
    # ~10% of the sample is in the training set; the held-out metrics are recomputed by the slow test
    known = y.notna().to_numpy()
    assert known.sum() > 100
    assert stats.kendalltau(y[known], p.prediction[known]).statistic > 0.7
    assert np.all(p.uncertainty >= 0) and np.median(p.uncertainty) > 0
    assert stats.spearmanr(p.prediction, p.percentile).statistic > 0.99
    assert e.metrics["kendall_tau_b"] > 0.8 and e.metrics["test_size"] == e.test_size


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in zoo.names() if zoo.entry(n).embedded])
def test_shipped_files_give_the_registered_held_out_metrics(name, corpus):
    """The registry's metrics, recomputed from the shipped files on the held-out split (no retraining),
    and the zero-shot metrics on the whole corpora the entry never trained on."""
    from nabench.zoo.build import load_source, metrics, source_sizes, split_source, zero_shot_metrics

    e = zoo.entry(name)
    model = zoo.load(name)
    y_test, pred = [], []
    for source in e.sources:
        corpus(source.corpus)
        c = load_source(source, workers=2)
        s = split_source(c, source.target, *source_sizes(e, source), e.seed, e.target_transform)
        y_test.append(s.y_test)
        pred.append(model.predict(c.arch_graphs(s.test_ids)))
    got = metrics(np.concatenate(y_test), np.concatenate(pred), e.target_transform)
    assert got == pytest.approx({k: v for k, v in e.metrics.items() if k != "zero_shot"}, abs=1e-6)
    assert len(e.metrics.get("zero_shot", [])) == len(e.zero_shot)
    for z, registered in zip(e.zero_shot, e.metrics.get("zero_shot", [])):
        corpus(z.corpus)
        assert zero_shot_metrics(model.members, z, workers=2) == pytest.approx(registered, abs=1e-6)


def test_the_two_embedded_estimators_agree(sample):
    a, b = (zoo.load(n).predict(sample[0]) for n in EMBEDDED)
    assert stats.kendalltau(a, b).statistic > 0.6


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_estimators_on_real_world_models_and_their_onnx_export(name, sample, user_graphs, tmp_path):
    model = zoo.load(name)
    p = model.predict_full(user_graphs)
    assert np.all(np.isfinite(p.prediction)) and np.all(np.isfinite(p.uncertainty))
    runner = OnnxEstimator(export(model, tmp_path / "m.onnx"))
    graphs = sample[0][:40] + user_graphs
    np.testing.assert_allclose(runner.predict(graphs), model.predict(graphs), rtol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", EMBEDDED)
def test_rebuilding_an_embedded_entry_gives_its_files_and_metrics(name, corpus, tmp_path):
    """The full recipe (normalizes all 15,625 cells first): same metrics, same predictions."""
    import yaml

    from nabench.zoo.build import CARD_FILE, build

    corpus("analognas")
    e = zoo.entry(name)
    folder = build(e, tmp_path, workers=2)
    block = yaml.safe_load((folder / CARD_FILE).read_text())[name]
    for k, v in e.metrics.items():
        assert block["metrics"][k] == pytest.approx(v, abs=1e-6), k
    rebuilt, shipped = zoo.load_dir(folder), zoo.load(name)
    graphs = [from_onnx(exported(n)[1]) for n in ("resnet", "mobilenet")]
    np.testing.assert_allclose(rebuilt.predict(graphs), shipped.predict(graphs), rtol=0, atol=1e-6)
    same = {f["path"] for f in block["files"]} == {f.path for f in e.files}
    assert same and re.fullmatch(r"nabench \S+", block["built_with"])


CROSS_SPACE = "xgb.crossspace-accuracy-rank"


def test_cross_space_entry_ranks_nb201_cells_it_never_saw_labels_of(nb201_sample, user_graphs, fresh_home, tmp_path):
    """Trained on other search spaces only: it ranks NB201 cells, scores user models offline, exports to ONNX."""
    e = zoo.entry(CROSS_SPACE)
    assert e.embedded and e.target_transform == "rank" and len({s.corpus for s in e.sources}) >= 3
    assert "nb201" not in {s.corpus for s in e.sources}
    (zero_shot,) = e.metrics["zero_shot"]  # recomputed from the shipped files by the slow test above
    assert zero_shot["corpus"] == "nb201" and zero_shot["records"] == 15625 and zero_shot["spearman_rho"] > 0.6
    c, ids, graphs = nb201_sample
    model = zoo.load(CROSS_SPACE)
    p = model.predict_full(graphs + user_graphs)
    assert not (fresh_home / "zoo").exists()
    y = c.labels("cifar10__test_acc__200ep").loc[ids].to_numpy()
    assert stats.spearmanr(y, p.prediction[:len(ids)]).statistic > 0.5
    assert np.all(np.isfinite(p.prediction)) and np.all(p.uncertainty >= 0) and np.median(p.uncertainty) > 0
    assert np.all((p.percentile >= 0) & (p.percentile <= 100))
    runner = OnnxEstimator(export(model, tmp_path / "m.onnx"))
    some = graphs[:40] + user_graphs
    # percentiles in about [0, 1]: float32 rounding of the exported trees is ~1e-7 absolute
    np.testing.assert_allclose(runner.predict(some), model.predict(some), rtol=1e-5, atol=1e-6)


def test_predict_cli_with_the_cross_space_entry_on_a_torch_export(tmp_path):
    import json
    import subprocess
    import sys

    onnx_file = tmp_path / "resnet.onnx"
    onnx_file.write_bytes(exported("resnet")[1])
    r = subprocess.run([sys.executable, "-m", "nabench", "predict", str(onnx_file), "--model", CROSS_SPACE,
                        "--format", "json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["model"] == CROSS_SPACE and row["unit"] == "percentile"
    assert 0 <= row["corpus_percentile"] <= 100
    assert row["prediction"] == pytest.approx(zoo.load(CROSS_SPACE).predict([from_onnx(onnx_file.read_bytes())])[0],
                                              abs=5e-4)  # printed to 3 decimals


def test_zero_shot_corpora_must_not_be_training_sources():
    import yaml

    block = zoo.entry(CROSS_SPACE).raw
    assert {s["corpus"]: s.get("train_size") for s in block["training"]["sources"]}["nb101"] == 220
    leaky = {**block, "zero_shot": [{"corpus": "nb101", "target": "cifar10__valid_acc__108ep-1seed"}]}
    with pytest.raises(ZooError, match="zero_shot corpus must not be a training source"):
        read_registry(yaml.safe_dump({"entries": {CROSS_SPACE: leaky}}))
