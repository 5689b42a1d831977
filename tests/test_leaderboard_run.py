"""``nabench run``: predictions for every split, identical bytes on a second run."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

PLUGIN = Path(__file__).parent / "plugin_example"


@pytest.fixture(scope="module")
def example_predictor():
    """The example predictor registered in this process (the plugin test installs it for real)."""
    from nabench.registry import predictors

    sys.path.insert(0, str(PLUGIN))
    try:
        from nabench_plugin_example import GraphStatsRidge
    finally:
        sys.path.remove(str(PLUGIN))
    predictors._registered["example-ridge"] = GraphStatsRidge
    yield "example-ridge"
    predictors._registered.pop("example-ridge", None)


def test_run_twice_gives_identical_files(corpus, example_predictor, tmp_path):
    from nabench.cli import app
    from nabench.leaderboard.runner import read_predictions

    corpus("nb101")
    runner = CliRunner()
    outs = []
    for i in range(2):
        out = tmp_path / f"run{i}.parquet"
        r = runner.invoke(app, ["run", "--predictor", example_predictor, "--task", "nb101-cifar10",
                                "--train-sizes", "20,50", "--seeds", "0,1,2", "--out", str(out)])
        assert r.exit_code == 0, r.output
        outs.append(out)
    assert hashlib.sha256(outs[0].read_bytes()).digest() == hashlib.sha256(outs[1].read_bytes()).digest()
    frame, meta = read_predictions(outs[0])
    assert list(frame.columns) == ["task", "train_size", "seed", "arch_id", "y_pred"]
    assert meta == {"predictor": "example-ridge", "task": "nb101-cifar10", "task_version": 1}
    assert len(frame) == 2 * 3 * 142 and frame.groupby(["train_size", "seed"]).size().eq(142).all()
    assert outs[0].with_suffix(".run.json").is_file()


def test_run_refuses_sizes_and_seeds_outside_the_task(corpus, example_predictor, tmp_path):
    from nabench.cli import app

    corpus("nb101")
    r = CliRunner().invoke(app, ["run", "-p", example_predictor, "-t", "nb101-cifar10", "--train-sizes", "21",
                                 "--out", str(tmp_path / "x.parquet")])
    assert r.exit_code != 0 and "train size(s) [21] are not in the task ([20, 50, 100])" in str(r.exception)
    assert not (tmp_path / "x.parquet").exists()


def test_training_free_predictor_scores_once_and_matches_its_ranking(corpus, tmp_path):
    """A built-in training-free baseline (params) on the same fixed test set for every split."""
    from nabench.leaderboard.runner import run
    from nabench.leaderboard.submissions import score_predictions
    from nabench.leaderboard.tasks import get_task, load_task_data
    from nabench.registry import predictors

    if "params" not in predictors.names():
        pytest.skip("the params baseline is not registered")
    corpus("nb101")
    task = get_task("nb101-cifar10")
    frame = run("params", task, train_sizes=[20], seeds=[0, 1])
    a, b = (frame[frame.seed == s].set_index("arch_id")["y_pred"] for s in (0, 1))
    assert a.equals(b)
    scores = score_predictions(frame, task, load_task_data(task), "params")
    assert scores["kendall_tau_b"].iloc[0] > 0.2  # bigger NB101 cells are more accurate on this subset


def test_splits_fitted_in_worker_processes_give_the_same_predictions(corpus):
    """``workers=2`` fits the splits in spawned processes: same rows, same values as one process."""
    from nabench.leaderboard.runner import RunError, run
    from nabench.leaderboard.tasks import get_task

    corpus("nb101")
    task = get_task("nb101-cifar10")
    params = {"n_estimators": 30}
    one = run("xgb", task, train_sizes=[20, 50], seeds=[0, 1], params=params, workers=1)
    two = run("xgb", task, train_sizes=[20, 50], seeds=[0, 1], params=params, workers=2)
    assert len(one) == 2 * 2 * 142 and one["y_pred"].nunique() > 10
    pd.testing.assert_frame_equal(one, two)
    with pytest.raises(RunError, match="workers must be at least 1"):
        run("xgb", task, train_sizes=[20], seeds=[0], workers=0)
