"""NAS-Bench-NLP (WikiText-2 logs): counts, aggregation of repeated runs, failed runs, doc2vec join, bad input."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from nabench.corpora.cards import check_card
from nabench.corpora.importers import nasbench_nlp as nlp
from nabench.errors import SourceError

VALID = "wikitext-2__valid_loss__50ep"
TEST = "wikitext-2__test_loss__50ep"


@pytest.fixture(scope="module")
def nb(corpus):
    return corpus("nasbench-nlp")


@pytest.fixture(scope="module")
def runs(data_root):
    """Every run log, read independently of the importer."""
    with zipfile.ZipFile(data_root / nlp.SUBDIR / nlp.ZIP_NAME) as zf:
        return [json.loads(zf.read(n)) for n in zf.namelist()]


def test_counts(nb, runs):
    df = nb.records().set_index("native_id")
    assert len(runs) == 345
    assert len(df) == 291 == len({nlp.canonical_recipe(r["recepie"]) for r in runs})
    assert df["n_runs"].sum() == 345
    assert df["n_failed_runs"].sum() == 4 == sum(r["status"] != "OK" for r in runs)
    assert (df["n_runs"] > 1).sum() == 49
    assert df[VALID].notna().sum() == 289  # two recipes only ever diverged
    assert (df["doc2vec_recipe_id"] >= 0).sum() == 108
    assert all(len(r["val_losses"]) == 50 for r in runs if r["status"] == "OK")


def test_single_run_labels_equal_the_log(nb, runs):
    df = nb.records().set_index("native_id")
    run = next(r for r in runs if r["recepie_id"] == 1000000)
    row = df.loc["1000000"]
    assert row["n_runs"] == 1 and row["recipe"] == nlp.canonical_recipe(run["recepie"])
    assert row[VALID] == run["val_losses"][-1] and row[TEST] == run["test_losses"][-1]
    assert row["wikitext-2__train_loss__50ep"] == run["train_losses"][-1]
    best = int(np.argmin(run["val_losses"]))
    assert row["wikitext-2__valid_best_loss__50ep"] == run["val_losses"][best]
    assert row["wikitext-2__test_loss_at_best_valid__50ep"] == run["test_losses"][best]
    assert row["num_params"] == run["num_params"]


def test_repeated_runs_are_averaged_not_dropped(nb, runs):
    df = nb.records().set_index("native_id")
    # one recipe under two recepie_ids
    row = df.loc["1000213"]
    assert row["recipe_ids"] == "1000213 1002213" and row["n_runs"] == 2
    both = [r for r in runs if r["recepie_id"] in (1000213, 1002213)]
    assert row[VALID] == pytest.approx(np.mean([r["val_losses"][-1] for r in both]), rel=1e-15)
    assert both[0]["val_losses"][-1] != both[1]["val_losses"][-1]
    # one recepie_id with two runs (two experiment_ids)
    assert df.loc["1002429", "n_runs"] == 2 and df.loc["1002429", "recipe_ids"] == "1002429"


def test_failed_runs_are_kept_with_nan_labels(nb):
    df = nb.records().set_index("native_id")
    for rid in ("1007257", "1009703"):  # every run of these recipes diverged
        assert df.loc[rid, "n_failed_runs"] == df.loc[rid, "n_runs"]
        assert np.isnan(df.loc[rid, VALID])
    # 1009182 and 1011182 are one recipe: one run diverged, the other is the label
    assert df.loc["1009182", "n_runs"] == 2 and df.loc["1009182", "n_failed_runs"] == 1
    assert np.isfinite(df.loc["1009182", VALID])
    assert len(nb.labels(VALID)) == 289  # labels() drops the NaN rows


def test_doc2vec_join_by_recipe_id(nb, data_root):
    df = nb.records()
    d2v = pd.read_csv(data_root / nlp.SUBDIR / nlp.DOC2VEC_NAME).set_index("recepie_id")
    joined = df[df["doc2vec_recipe_id"] >= 0]
    for rid, v in zip(joined["doc2vec_recipe_id"], joined["doc2vec_v03"]):
        assert v == d2v.loc[rid, "v03"]
    assert df.loc[df["doc2vec_recipe_id"] < 0, "doc2vec_v00"].isna().all()


def test_labels_are_consistent(nb):
    df = nb.records().dropna(subset=[VALID])
    assert (df["wikitext-2__valid_best_loss__50ep"] <= df[VALID] + 1e-12).all()
    assert spearmanr(df[VALID], df[TEST]).statistic > 0.95
    assert 4.0 < df[VALID].min() < df[VALID].max() < 8.0  # log-perplexity in nats
    for r in df["recipe"]:
        assert nlp.canonical_recipe(r) == r


def test_card_agrees(nb):
    assert check_card(nb) == []


# ---- bad input ---------------------------------------------------------------------------------


def _rewrite(data_root, tmp_path, edit=None, drop=None):
    """A copy of the release folder in tmp_path with one log edited (``edit(log) -> log``) or dropped."""
    folder = tmp_path / nlp.SUBDIR
    folder.mkdir(parents=True)
    (folder / nlp.DOC2VEC_NAME).write_bytes((data_root / nlp.SUBDIR / nlp.DOC2VEC_NAME).read_bytes())
    buf = io.BytesIO()
    with zipfile.ZipFile(data_root / nlp.SUBDIR / nlp.ZIP_NAME) as src, zipfile.ZipFile(buf, "w") as dst:
        for i, name in enumerate(src.namelist()):
            data = src.read(name)
            if drop == i:
                continue
            if edit is not None and i == 0:
                data = edit(json.loads(data))
                data = data if isinstance(data, bytes) else json.dumps(data).encode()
            dst.writestr(name, data)
    (folder / nlp.ZIP_NAME).write_bytes(buf.getvalue())
    return folder


def test_missing_and_truncated_zip(data_root, tmp_path):
    with pytest.raises(SourceError, match="train_logs_wikitext-2_logs.zip: file not found"):
        nlp.NASBenchNLPImporter().build_table(tmp_path)
    folder = _rewrite(data_root, tmp_path)
    data = (folder / nlp.ZIP_NAME).read_bytes()
    (folder / nlp.ZIP_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="not a readable zip archive"):
        nlp.NASBenchNLPImporter().build_table(tmp_path)


def test_missing_run_and_broken_log(data_root, tmp_path):
    _rewrite(data_root, tmp_path / "a", drop=3)
    with pytest.raises(SourceError, match="expected 345 run logs, found 344"):
        nlp.NASBenchNLPImporter().build_table(tmp_path / "a")
    _rewrite(data_root, tmp_path / "b", edit=lambda log: b'{"recepie": ')
    with pytest.raises(SourceError, match="member log_stats_model_1000000.* is not valid JSON"):
        nlp.NASBenchNLPImporter().build_table(tmp_path / "b")


def test_inconsistent_runs_are_refused(data_root, tmp_path):
    def other_epochs(log):
        log["epochs"] = 40
        return log

    _rewrite(data_root, tmp_path / "a", edit=other_epochs)
    with pytest.raises(SourceError, match=r"(different settings \['epochs'\]|expected WikiText-2 runs of 50 epochs)"):
        nlp.NASBenchNLPImporter().build_table(tmp_path / "a")

    def reuse_id(log):  # 1000000's id on another recipe
        log["recepie"] = json.dumps({"h_new_0": {"op": "linear", "input": ["x", "h_prev_0"]}})
        return log

    def dup_id(log):
        log = reuse_id(log)
        log["recepie_id"] = 1000001
        return log

    _rewrite(data_root, tmp_path / "b", edit=dup_id)
    with pytest.raises(SourceError, match="recepie_id 1000001 is used for two different recipes"):
        nlp.NASBenchNLPImporter().build_table(tmp_path / "b")

    def truncated_ok_run(log):
        log["val_losses"] = log["val_losses"][:10]
        return log

    _rewrite(data_root, tmp_path / "c", edit=truncated_ok_run)
    with pytest.raises(SourceError, match="loss curves have different lengths"):
        nlp.NASBenchNLPImporter().build_table(tmp_path / "c")


def test_doc2vec_problems(data_root, tmp_path):
    folder = _rewrite(data_root, tmp_path)
    path = folder / nlp.DOC2VEC_NAME
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    lines[2] = lines[1].split(",")[0] + "," + lines[2].split(",", 1)[1]
    path.write_text("".join(lines))
    with pytest.raises(SourceError, match="duplicate recepie_id '1013370'"):
        nlp.NASBenchNLPImporter().build_table(tmp_path)
    path.write_text(text.replace("recepie_id,", "recipe_id,", 1))
    with pytest.raises(SourceError, match=r"missing column\(s\) \['recepie_id'\]"):
        nlp.NASBenchNLPImporter().build_table(tmp_path)
