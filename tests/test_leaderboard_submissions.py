"""Submissions: good ones are written and validated; bad ones are refused precisely and leave
every existing leaderboard file untouched."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from nabench.leaderboard.runner import read_predictions, write_predictions
from nabench.leaderboard.submissions import (
    SubmissionError,
    default_card,
    submit,
    validate_card,
    validate_submission,
)
from nabench.leaderboard.tasks import get_task

PLUGIN = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def predictions(corpus, tmp_path_factory) -> Path:
    """Real predictions of the example predictor on nb101-cifar10, train size 20, all 10 seeds."""
    from nabench.leaderboard.runner import run
    from nabench.registry import predictors

    corpus("nb101")
    sys.path.insert(0, str(PLUGIN))
    try:
        from nabench_plugin_example import GraphStatsRidge
    finally:
        sys.path.remove(str(PLUGIN))
    predictors._registered["example-ridge"] = GraphStatsRidge
    try:
        task = get_task("nb101-cifar10")
        frame = run("example-ridge", task, train_sizes=[20])
    finally:
        predictors._registered.pop("example-ridge", None)
    return write_predictions(frame, tmp_path_factory.mktemp("preds") / "nb101-cifar10.parquet", task=task,
                             predictor="example-ridge")


def good_card() -> dict:
    return {"name": "Example ridge", "version": "0.1.0", "authors": ["Example Lab"], "code_url": "https://example.org/x",
            "paper": None, "license": "MIT", "predictor": "example-ridge", "predictor_family": "baseline",
            "uses_extra_data": False, "uses_proxies": [], "pretrained_on": [], "hardware": "2-core CPU",
            "wall_time_s": {"nb101-cifar10": 3.5}}


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def root(predictions, tmp_path) -> Path:
    """A leaderboard folder that already holds one good submission."""
    root = tmp_path / "leaderboard"
    submit("existing", [predictions], root=root, card=good_card())
    return root


def test_good_submission_is_written_and_validates(root, predictions):
    sub = root / "submissions" / "existing"
    assert yaml.safe_load((sub / "card.yml").read_text()) == good_card()
    assert (sub / "predictions" / "nb101-cifar10.parquet").read_bytes() == predictions.read_bytes()
    scores = validate_submission(sub)
    assert len(scores) == 10 and set(scores["seed"]) == set(range(10))
    assert scores["kendall_tau_b"].mean() > 0.2  # real predictions of a real predictor
    r = CliRunner().invoke(__import__("nabench.cli", fromlist=["app"]).app, ["leaderboard", "validate", "--root", str(root)])
    assert r.exit_code == 0 and "existing: ok (1 task(s), 10 splits scored)" in r.output


def _bad(predictions: Path, tmp_path: Path, change, meta_version: int = 1) -> Path:
    frame, _ = read_predictions(predictions)
    out = tmp_path / "bad.parquet"
    task = dataclasses.replace(get_task("nb101-cifar10"), version=meta_version)
    write_predictions(change(frame.copy()), out, task=task, predictor="x")
    return out


def _nan(f):
    f.loc[5, "y_pred"] = np.nan
    return f


def _dup(f):
    return pd.concat([f, f.iloc[[3]]], ignore_index=True)


def _seed(f):
    return f[f["seed"] != 7]


def _task(f):
    f["task"] = "nb101-cifar11"
    return f


def _extra_column(f):
    f["kendall_tau_b"] = 0.9
    return f


def _missing_arch(f):
    return f.drop(index=f.index[(f["seed"] == 2)][:1])


@pytest.mark.parametrize("change, version, message", [
    (_nan, 1, "1 NaN or infinite y_pred value(s), first at train size 20, seed 0"),
    (_dup, 1, "1 duplicate row(s), first: arch_id"),
    (_seed, 1, "train size 20 is missing seed(s) [7]; every task seed is required"),
    (_task, 1, "predictions for a task that does not exist: no leaderboard task named 'nb101-cifar11'"),
    (_extra_column, 1, "columns ['task', 'train_size', 'seed', 'arch_id', 'y_pred', 'kendall_tau_b']"),
    (_missing_arch, 1, "train size 20, seed 2: task nb101-cifar10: 1 test architecture(s) missing from the predictions"),
    (lambda f: f, 2, "made for task nb101-cifar10 version 2, the current version is 1"),
])
def test_bad_predictions_are_refused_and_nothing_changes(root, predictions, tmp_path, change, version, message):
    bad = _bad(predictions, tmp_path, change, version)
    before = tree_digest(root)
    for key, replace in (("new", False), ("existing", True)):
        with pytest.raises(SubmissionError) as e:
            submit(key, [bad], root=root, card=good_card(), replace=replace)
        assert message in str(e.value)
    assert tree_digest(root) == before
    assert not [p for p in (root / "submissions").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(licence=c.pop("license")), "unknown key(s) 'licence' (did you mean 'license'?)"),
    (lambda c: c.update(kendall_tau_b=0.93), "the card claims scores ('kendall_tau_b')"),
    (lambda c: c.update(results={"nb101-cifar10": 0.9}), "the card claims scores ('results')"),
    (lambda c: c.pop("authors"), "'authors' is a required property"),
    (lambda c: c.update(predictor_family="magic"), "predictor_family: 'magic' is not one of"),
    (lambda c: c.update(code_url="example.org"), "code_url: 'example.org' does not match"),
])
def test_bad_cards_are_refused_precisely_and_nothing_changes(root, predictions, tmp_path, edit, message):
    card = good_card()
    edit(card)
    before = tree_digest(root)
    with pytest.raises(SubmissionError) as e:
        submit("existing", [predictions], root=root, card=card, replace=True)
    assert message in str(e.value)
    # the same card through the CLI and a YAML file
    path = tmp_path / "card.yml"
    path.write_text(yaml.safe_dump(card))
    from nabench.cli import app

    r = CliRunner().invoke(app, ["submit", "other", "--predictions", str(predictions), "--card", str(path), "--root", str(root)])
    assert r.exit_code != 0 and message in str(r.exception)
    assert tree_digest(root) == before


def test_existing_key_needs_replace(root, predictions):
    with pytest.raises(SubmissionError, match="a submission with this key exists; pass --replace"):
        submit("existing", [predictions], root=root, card=good_card())


def test_replacing_keeps_the_wall_time_of_unchanged_predictions_only(root, predictions, tmp_path):
    """Predictions copied out of a submission have no run info: resubmitted unchanged, they keep the
    wall time the card recorded; changed predictions do not inherit it."""
    stored = root / "submissions" / "existing" / "predictions" / "nb101-cifar10.parquet"
    kept = tmp_path / "nb101-cifar10.parquet"
    kept.write_bytes(stored.read_bytes())
    submit("existing", [kept], root=root, predictor="params", replace=True)
    card = yaml.safe_load((root / "submissions" / "existing" / "card.yml").read_text())
    assert card["wall_time_s"] == {"nb101-cifar10": 3.5}
    changed = _bad(predictions, tmp_path, lambda f: f.assign(y_pred=2 * f["y_pred"]))
    submit("existing", [changed], root=root, predictor="params", replace=True)
    card = yaml.safe_load((root / "submissions" / "existing" / "card.yml").read_text())
    assert card["wall_time_s"] == {}


def test_the_published_schema_rejects_unknown_keys_on_its_own():
    import json

    import jsonschema

    from nabench.leaderboard.submissions import schema

    schema_file = Path(__file__).resolve().parents[1] / "leaderboard" / "schema" / "submission-card.schema.json"
    assert json.loads(schema_file.read_text()) == schema()
    card = {**good_card(), "homepage": "x"}
    assert not jsonschema.Draft202012Validator(schema()).is_valid(card)
    assert validate_card(good_card(), "card") == good_card()


def test_default_card_for_a_builtin_predictor_is_valid():
    from nabench.registry import predictors

    names = [n for n in predictors.names() if not n.startswith("example")]
    if not names:
        pytest.skip("no built-in predictor registered")
    card = default_card(names[0], {"nb101-cifar10": 1.0})
    assert validate_card(card, "card")["code_url"].startswith("nabench:nabench.")
