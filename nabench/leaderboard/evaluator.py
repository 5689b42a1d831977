"""The official evaluator: every leaderboard score is computed here, from predictions.

``Evaluator(task).eval(y_true, y_pred)`` with both as pandas Series indexed by the task's unit
id (``arch_id``, or ``native_id`` for native-id protocol tasks), or ``y_pred`` as an array with
``ids=`` naming its rows in order. It refuses, with a message that says which: duplicate ids,
missing or extra architectures, ids that do not line up with the test set's order, NaN or
infinite predictions, constant predictions (rank correlations undefined) and predictions made
for another version of the task. Metrics are never ``abs()``-ed: a predictor that ranks
backwards scores negative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from nabench.errors import NabenchError
from nabench.leaderboard.tasks import Task

METRICS = ("kendall_tau_b", "spearman_rho", "pearson_r", "precision_at_top_k", "ndcg_at_k", "top1_regret")


class EvaluationError(NabenchError):
    """Predictions the evaluator refuses to score."""


def _preview(ids: Sequence) -> str:
    ids = list(ids)
    return ", ".join(map(str, ids[:3])) + (f" ... ({len(ids)} in all)" if len(ids) > 3 else "")


class Evaluator:
    """Scores predictions for one task (one split's test set at a time)."""

    def __init__(self, task: Task):
        self.task = task

    def check_version(self, task_version: int | None) -> None:
        if task_version is not None and int(task_version) != self.task.version:
            raise EvaluationError(f"predictions were made for task {self.task.name} version {task_version}, "
                                  f"but the current task is version {self.task.version}; rerun the predictor")

    def align(self, y_true: pd.Series, y_pred, ids: Sequence | None = None) -> np.ndarray:
        """``y_pred`` as a float array in ``y_true``'s order, or an :class:`EvaluationError`."""
        name = self.task.name
        if not y_true.index.is_unique:
            raise EvaluationError(f"task {name}: y_true has duplicate ids")
        if isinstance(y_pred, pd.Series):
            if ids is not None:
                raise EvaluationError("pass ids only with an array of predictions, not with a Series")
            pred_ids, values = y_pred.index, y_pred.to_numpy()
        else:
            if ids is None:
                raise EvaluationError(f"task {name}: predictions without ids; pass a Series indexed by "
                                      f"{self.task.key} or ids=")
            pred_ids, values = pd.Index(ids), np.asarray(y_pred)
            if len(pred_ids) != len(values):
                raise EvaluationError(f"task {name}: {len(values)} predictions but {len(pred_ids)} ids")
        dup = pred_ids[pred_ids.duplicated()]
        if len(dup):
            raise EvaluationError(f"task {name}: duplicate {self.task.key}(s) in predictions: {_preview(dup.unique())}")
        missing = y_true.index.difference(pred_ids)
        if len(missing):
            raise EvaluationError(f"task {name}: {len(missing)} test architecture(s) missing from the predictions: "
                                  f"{_preview(missing)}")
        extra = pred_ids.difference(y_true.index)
        if len(extra):
            raise EvaluationError(f"task {name}: {len(extra)} prediction(s) for architectures not in the test set: "
                                  f"{_preview(extra)}")
        if not isinstance(y_pred, pd.Series) and not pred_ids.equals(y_true.index):
            first = int(np.argmax(pred_ids.to_numpy() != y_true.index.to_numpy()))
            raise EvaluationError(f"task {name}: misaligned ids: position {first} is {pred_ids[first]!r}, "
                                  f"the test set has {y_true.index[first]!r} there")
        try:
            values = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise EvaluationError(f"task {name}: predictions are not numbers ({e})") from None
        if values.ndim != 1:
            raise EvaluationError(f"task {name}: predictions must be 1-D, got shape {values.shape}")
        bad = ~np.isfinite(values)
        if bad.any():
            raise EvaluationError(f"task {name}: {int(bad.sum())} NaN or infinite prediction(s), e.g. for "
                                  f"{_preview(pred_ids[bad])}")
        aligned = pd.Series(values, index=pred_ids).reindex(y_true.index).to_numpy()
        if np.ptp(aligned) == 0:
            raise EvaluationError(f"task {name}: all {len(aligned)} predictions are equal; rank correlations are undefined")
        return aligned

    def eval(self, y_true: pd.Series, y_pred, *, ids: Sequence | None = None, task_version: int | None = None) -> dict[str, float]:
        """All metrics of one test set; ``y_true`` is indexed by unit id."""
        from scipy import stats
        from sklearn.metrics import ndcg_score

        self.check_version(task_version)
        pred = self.align(y_true, y_pred, ids)
        true = y_true.to_numpy(dtype=np.float64)
        if len(true) < 3:
            raise EvaluationError(f"task {self.task.name}: {len(true)} test architectures; need at least 3")
        sign = 1.0 if self.task.higher_is_better else -1.0
        n = len(true)
        k = max(1, math.ceil(n * self.task.top_k_percent / 100))
        true_top = set(np.argsort(-sign * true, kind="stable")[:k])
        pred_top = np.argsort(-sign * pred, kind="stable")[:k]
        relevance = stats.rankdata(sign * true) / n  # in (0, 1], best = 1
        best_pred = int(np.argmax(sign * pred))
        scores = {
            "kendall_tau_b": float(stats.kendalltau(true, pred, variant="b").statistic),
            "spearman_rho": float(stats.spearmanr(true, pred).statistic),
            "pearson_r": float(stats.pearsonr(true, pred).statistic),
            "precision_at_top_k": len(true_top.intersection(pred_top)) / k,
            "ndcg_at_k": float(ndcg_score(relevance[None, :], (sign * pred)[None, :], k=self.task.ndcg_k)),
            "top1_regret": float((sign * true).max() - sign * true[best_pred]),
        }
        undefined = [m for m, v in scores.items() if not math.isfinite(v)]
        if undefined:
            raise EvaluationError(f"task {self.task.name}: {undefined} undefined for this test set (constant targets?)")
        return scores
