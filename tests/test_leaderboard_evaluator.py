"""The official evaluator: metric values against independent computations, and every refusal."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nabench.leaderboard.evaluator import EvaluationError, Evaluator
from nabench.leaderboard.tasks import get_task


@pytest.fixture(scope="module")
def task():
    return dataclasses.replace(get_task("nb101-cifar10"), top_k_percent=10.0, ndcg_k=5)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    ids = [f"a{i:03d}" for i in range(60)]
    y_true = pd.Series(rng.normal(90, 2, 60), index=ids)
    y_pred = pd.Series(y_true.to_numpy() + rng.normal(0, 2, 60), index=ids)
    return y_true, y_pred


def dcg(rel_in_pred_order: np.ndarray) -> float:
    return float(sum(r / math.log2(i + 2) for i, r in enumerate(rel_in_pred_order)))


def test_metrics_match_independent_computations(task, data):
    y_true, y_pred = data
    s = Evaluator(task).eval(y_true, y_pred)
    t, p = y_true.to_numpy(), y_pred.to_numpy()
    # tau-b by pair counting (no ties in continuous data: tau-b = (C - D) / (n(n-1)/2))
    n = len(t)
    c = sum(np.sign(t[i] - t[j]) * np.sign(p[i] - p[j]) for i in range(n) for j in range(i + 1, n))
    assert s["kendall_tau_b"] == pytest.approx(c / (n * (n - 1) / 2))
    assert s["spearman_rho"] == pytest.approx(np.corrcoef(stats.rankdata(t), stats.rankdata(p))[0, 1])
    assert s["pearson_r"] == pytest.approx(np.corrcoef(t, p)[0, 1])
    k = 6  # 10% of 60
    assert s["precision_at_top_k"] == pytest.approx(len(set(np.argsort(-t)[:k]) & set(np.argsort(-p)[:k])) / k)
    rel = stats.rankdata(t) / n
    ideal = dcg(np.sort(rel)[::-1][:5])
    assert s["ndcg_at_k"] == pytest.approx(dcg(rel[np.argsort(-p)][:5]) / ideal)
    assert s["top1_regret"] == pytest.approx(t.max() - t[np.argmax(p)])
    assert 0.3 < s["kendall_tau_b"] < 0.9  # a noisy but real signal


def test_perfect_and_reversed_rankings_are_not_abs_ed(task, data):
    y_true, _ = data
    ev = Evaluator(task)
    best = ev.eval(y_true, y_true * 2 + 1)
    assert best["kendall_tau_b"] == pytest.approx(1.0) and best["top1_regret"] == 0.0
    assert best["precision_at_top_k"] == 1.0 and best["ndcg_at_k"] == pytest.approx(1.0)
    worst = ev.eval(y_true, -y_true)
    assert worst["kendall_tau_b"] == pytest.approx(-1.0) and worst["spearman_rho"] == pytest.approx(-1.0)
    assert worst["top1_regret"] == pytest.approx(y_true.max() - y_true.min())


def test_lower_is_better_targets_look_at_the_smallest_values(data):
    latency = get_task("nb201-latency-pixel3")
    y_true, _ = data
    s = Evaluator(latency).eval(y_true, y_true.copy())
    assert s["top1_regret"] == 0.0 and s["precision_at_top_k"] == 1.0 and s["ndcg_at_k"] == pytest.approx(1.0)
    flipped = Evaluator(latency).eval(y_true, -y_true)
    assert flipped["top1_regret"] == pytest.approx(y_true.max() - y_true.min())
    assert flipped["precision_at_top_k"] == 0.0


def test_series_are_aligned_by_id_not_position(task, data):
    y_true, y_pred = data
    shuffled = y_pred.sample(frac=1.0, random_state=1)
    assert Evaluator(task).eval(y_true, shuffled) == Evaluator(task).eval(y_true, y_pred)


@pytest.mark.parametrize("case, message", [
    ("missing", "2 test architecture(s) missing from the predictions: a000, a001"),
    ("extra", "1 prediction(s) for architectures not in the test set: zzz"),
    ("duplicate", "duplicate arch_id(s) in predictions: a005"),
    ("nan", "1 NaN or infinite prediction(s), e.g. for a007"),
    ("inf", "2 NaN or infinite prediction(s), e.g. for a003, a004"),
    ("constant", "all 60 predictions are equal"),
    ("misaligned", "misaligned ids: position 0 is 'a001', the test set has 'a000' there"),
    ("no_ids", "predictions without ids"),
    ("version", "made for task nb101-cifar10 version 7, but the current task is version 1"),
])
def test_refusals_say_which_problem(task, data, case, message):
    y_true, y_pred = data
    ev = Evaluator(task)
    kwargs = {}
    pred = y_pred.copy()
    if case == "missing":
        pred = pred.iloc[2:]
    elif case == "extra":
        pred = pd.concat([pred, pd.Series([1.0], index=["zzz"])])
    elif case == "duplicate":
        pred = pd.concat([pred, pred.iloc[[5]]])
    elif case == "nan":
        pred.iloc[7] = np.nan
    elif case == "inf":
        pred.iloc[3], pred.iloc[4] = np.inf, -np.inf
    elif case == "constant":
        pred[:] = 1.0
    elif case == "misaligned":
        ids = list(y_true.index)
        ids[0], ids[1] = ids[1], ids[0]
        pred, kwargs = pred.to_numpy(), {"ids": ids}
    elif case == "no_ids":
        pred = pred.to_numpy()
    elif case == "version":
        kwargs = {"task_version": 7}
    with pytest.raises(EvaluationError) as e:
        ev.eval(y_true, pred, **kwargs)
    assert message in str(e.value)
