"""`nabench zoo build`: recipes train real predictors on a real corpus, reproducibly, with honest metrics.

The small entries here are trained on NAS-Bench-NLP (291 records, the smallest corpus with a
builder), so that a full build — normalize, split, train, card — runs in seconds. Other zoo test
modules import :func:`small_entry` and :func:`built` from here.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from nabench.zoo import ZooError, load_dir
from nabench.zoo.build import CARD_FILE, N_QUANTILES, REFERENCE_FILE, build, load_source, release, split_source
from nabench.zoo.catalog import FORMAT, parse_entry

CORPUS, TARGET = "nasbench-nlp", "wikitext-2__test_loss__50ep"
_BUILT: dict[str, Path] = {}


def small_entry(name: str = "xgb.nlp-test-loss", predictor: str = "xgb", params: dict | None = None,
                members: int = 2, train_size: int = 120, test_size: int = 100):
    """A real registry block for a quick entry (parsed by the same code as the registry)."""
    return parse_entry(name, {
        "title": f"{predictor} on NAS-Bench-NLP test loss (test entry)", "family": "gbdt",
        "format": FORMAT, "license": "Apache-2.0", "nabench_versions": ">=0.1,<0.2",
        "embedded": False, "files": [],
        "training": {"sources": [{"corpus": CORPUS, "target": TARGET}], "train_size": train_size,
                     "test_size": test_size, "seed": 0},
        "recipe": {"predictor": predictor, "params": params if params is not None else {"n_estimators": 40},
                   "members": members},
        "metrics": {}, "intended_use": "tests", "limits": "tests",
    })


def built(tmp_path_factory, key: str = "xgb", **kwargs) -> Path:
    """The build folder of a small entry, built once per session (the corpus is normalized on first use)."""
    if key not in _BUILT:
        out = tmp_path_factory.mktemp(f"zoo-build-{key}")
        _BUILT[key] = build(small_entry(**kwargs), out)
    return _BUILT[key]


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def normalized(corpus):
    """The NAS-Bench-NLP corpus, built and normalized (once per session)."""
    corpus(CORPUS)
    return load_source(small_entry().sources[0])


@pytest.fixture(scope="module")
def nlp(corpus):
    return normalized(corpus)


def test_build_writes_members_reference_and_a_card_that_verifies(nlp, tmp_path_factory):
    folder = built(tmp_path_factory)
    card = yaml.safe_load((folder / CARD_FILE).read_text())
    (name, block), = card.items()
    entry = parse_entry(name, block)
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {CARD_FILE}
    assert {f.path for f in entry.files} == on_disk
    assert {"member-0/config.json", "member-0/model.ubj", "member-1/model.ubj", REFERENCE_FILE} <= on_disk
    assert not any(p.suffix in (".pkl", ".pickle", ".pt") for p in folder.rglob("*"))
    src = block["training"]["sources"][0]
    assert src["corpus"] == CORPUS and src["version"] == nlp.version and src["content_sha256"] == nlp.manifest["content_sha256"]
    assert block["training"]["higher_is_better"] is False  # a loss
    model = load_dir(folder)
    assert len(model.members) == 2 and block["format"] == FORMAT
    assert model.predicted_quantiles.size == model.measured_quantiles.size == N_QUANTILES
    assert model.reference_records == len(nlp.labels(TARGET))


def test_reference_quantiles_are_the_models_own_predictions_over_the_corpus(nlp, tmp_path_factory):
    """Recomputed with the batch scorer: the stored quantiles need no corpus at load time."""
    model = load_dir(built(tmp_path_factory))
    y = nlp.labels(TARGET)
    scores = model.score_corpus(nlp, list(y.index))
    levels = np.linspace(0, 1, N_QUANTILES)
    np.testing.assert_allclose(model.predicted_quantiles, np.quantile(scores["prediction"], levels), rtol=1e-12)
    np.testing.assert_allclose(model.measured_quantiles, np.quantile(y, levels), rtol=1e-12)
    # the percentile of a corpus architecture is its rank among the corpus's predictions (to the
    # resolution of the quantiles and of the corpus size)
    rank = stats.rankdata(scores["prediction"], method="max") / len(scores) * 100
    step = 100 / min(N_QUANTILES - 1, len(scores))
    assert np.max(np.abs(scores["corpus_percentile"] - rank)) <= step + 1e-9


def test_score_corpus_in_worker_processes_equals_one_process(nlp, tmp_path_factory):
    """Shares of the corpus scored in spawned processes give the same rows, in the same order."""
    model = load_dir(built(tmp_path_factory))
    one = model.score_corpus(nlp, workers=1)
    two = model.score_corpus(nlp, workers=2)
    assert len(one) >= len(nlp.labels(TARGET)) and one["arch_id"].nunique() > 2
    pd.testing.assert_frame_equal(one, two, check_exact=False, rtol=1e-12)
    with pytest.raises(ZooError, match="workers"):
        model.score_corpus(nlp, workers=-1)


def test_build_is_reproducible_byte_for_byte(nlp, tmp_path_factory, tmp_path):
    first = built(tmp_path_factory)
    again = build(small_entry(), tmp_path)
    assert _digests(first) == _digests(again)


def test_card_metrics_are_the_held_out_metrics(nlp, tmp_path_factory):
    """Recompute Kendall/Spearman/MAE from the split rule and the loaded model, independently of build()."""
    folder = built(tmp_path_factory)
    model = load_dir(folder)
    e = model.entry
    s = split_source(load_source(e.sources[0]), TARGET, e.train_size, e.test_size, e.seed, "none")
    assert not set(s.train_ids) & set(s.test_ids)
    pred = model.predict(nlp.arch_graphs(s.test_ids))
    m = e.metrics
    assert m["test_size"] == e.test_size == len(pred)
    assert m["kendall_tau_b"] == pytest.approx(stats.kendalltau(s.y_test, pred).statistic, abs=1e-6)
    assert m["spearman_rho"] == pytest.approx(stats.spearmanr(s.y_test, pred).statistic, abs=1e-6)
    assert m["mae"] == pytest.approx(np.mean(np.abs(s.y_test - pred)), abs=1e-6)
    # a real signal, not noise: NAS-Bench-NLP loss is predictable from the recurrent cell's graph
    assert m["kendall_tau_b"] > 0.3


def test_split_groups_isomorphic_twins_and_rejects_oversized_requests(nlp):
    s = split_source(nlp, TARGET, 100, 100, 0, "none")
    g = nlp.graphs().set_index("native_id")["arch_id"]
    assert not set(g.loc[s.train_ids]) & set(g.loc[s.test_ids])
    assert len(set(g.loc[s.train_ids])) == 100
    assert s.train_ids == split_source(nlp, TARGET, 100, 100, 0, "none").train_ids
    assert s.train_ids != split_source(nlp, TARGET, 100, 100, 1, "none").train_ids
    with pytest.raises(ZooError, match="exceeds"):
        split_source(nlp, TARGET, 200, 200, 0, "none")
    ranks = split_source(nlp, TARGET, 100, 100, 0, "rank")
    assert 0 < ranks.y_reference.min() and ranks.y_reference.max() == 1.0
    assert sorted(s.reference_ids) == sorted(nlp.labels(TARGET).index)


def test_load_dir_rejects_a_tampered_file(nlp, tmp_path_factory, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(built(tmp_path_factory), folder)
    (folder / REFERENCE_FILE).write_text((folder / REFERENCE_FILE).read_text().replace("1", "2", 1))
    with pytest.raises(ZooError, match="does not match"):
        load_dir(folder)


def test_an_older_artifact_format_is_refused_with_what_to_do(nlp, tmp_path_factory, tmp_path):
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(built(tmp_path_factory), folder)
    card = yaml.safe_load((folder / CARD_FILE).read_text())
    (name, block), = card.items()
    (folder / CARD_FILE).write_text(yaml.safe_dump({name: {**block, "format": "nabench-predictor-ensemble/1"}}))
    with pytest.raises(ZooError, match=f"format 'nabench-predictor-ensemble/1'.*nabench zoo build {name}"):
        load_dir(folder)


def test_release_records_a_build_in_the_registry_and_embeds_it(nlp, tmp_path_factory, tmp_path):
    """What maintainers run to publish a rebuilt entry: registry block = card block, files copied."""
    import shutil

    from nabench.zoo import catalog

    package = tmp_path / "zoo"
    package.mkdir()
    shutil.copy(Path(catalog.__file__).with_name(catalog.REGISTRY_FILE), package / catalog.REGISTRY_FILE)
    (package / "embedded").mkdir()
    registry = package / catalog.REGISTRY_FILE
    before = catalog.read_registry(registry.read_text())
    folder = tmp_path / "build"
    shutil.copytree(built(tmp_path_factory), folder / "xgb.analognas-cifar10-analog")
    folder = folder / "xgb.analognas-cifar10-analog"
    (name, block), = yaml.safe_load((folder / CARD_FILE).read_text()).items()
    # pretend the small build is the embedded AnalogNAS entry's new version
    (folder / CARD_FILE).write_text(yaml.safe_dump({"xgb.analognas-cifar10-analog": {**block, "embedded": True}}))
    release(folder, package)
    after = catalog.read_registry(registry.read_text())
    assert set(after) == set(before)
    new = after["xgb.analognas-cifar10-analog"]
    assert new.files == parse_entry(name, block).files and new.sources[0].corpus == CORPUS
    assert all(after[n].raw == before[n].raw for n in after if n != new.name)
    assert registry.read_text().startswith("# The nabench model zoo")
    assert _digests(package / "embedded" / new.name) == {k: v for k, v in _digests(folder).items() if k != CARD_FILE}
    with pytest.raises(ZooError, match="no entry"):
        (folder / CARD_FILE).write_text(yaml.safe_dump({"xgb.not-in-registry": {**block, "embedded": True}}))
        release(folder, package)


def test_gnn_build_is_reproducible(nlp, tmp_path_factory, tmp_path):
    """Torch training too: same predictions to 1e-6 (here even the same bytes, on one machine)."""
    kwargs = {"name": "gnn.nlp-gnn", "predictor": "gnn", "params": {"hidden": 16, "layers": 2, "steps": 40}}
    first = built(tmp_path_factory, "gnn", **kwargs)
    again = build(small_entry(**kwargs), tmp_path)
    graphs = nlp.arch_graphs(list(nlp.graphs()["native_id"][:50]))
    np.testing.assert_allclose(load_dir(again).predict(graphs), load_dir(first).predict(graphs), rtol=0, atol=1e-6)
    assert (again / REFERENCE_FILE).read_bytes() == (first / REFERENCE_FILE).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["xgb.nb201-cifar10", "xgb.nb201-latency-pixel3"])
def test_release_entries_rebuild_to_their_registered_files(name, corpus, tmp_path):
    """The published files are what `nabench zoo build` makes: same sha256, same metrics."""
    from nabench import zoo

    e = zoo.entry(name)
    if not e.files:
        pytest.skip(f"{name} is recipe-only (not published)")
    corpus("nb201")
    folder = build(e, tmp_path, workers=2)
    block = yaml.safe_load((folder / CARD_FILE).read_text())[name]
    assert {f["path"]: f["sha256"] for f in block["files"]} == {f.path: f.sha256 for f in e.files}
    assert block["metrics"] == e.metrics
