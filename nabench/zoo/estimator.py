"""A loaded zoo estimator: its ensemble members, the training corpus's target distribution, the card.

``predict(graphs)`` gives, per architecture, the predicted target (mean over members), an
uncertainty (standard deviation over the bootstrap members; ``None`` for a single model) and the
percentile at which the prediction would fall among the measured targets of the training corpus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from nabench.zoo.catalog import Entry, ZooError


def with_arch_ids(graphs: Sequence) -> list:
    """The graphs, each carrying its ``arch_id`` in ``metadata`` (computed for user models that lack it),
    so that the tabular encoder's feature cache encodes each graph once for all members."""
    from nabench.graph import arch_id

    return [g if g.metadata.get("arch_id") else replace(g, metadata={**g.metadata, "arch_id": arch_id(g)})
            for g in graphs]


def ensemble_predict(members: Sequence, graphs: Sequence) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean and (for several members) sample standard deviation of the members' predictions."""
    from nabench.encoders.tabular import feature_cache

    graphs = list(graphs)
    if len(members) > 1 and any(m.nabench_tags().family == "gbdt" for m in members):
        graphs = with_arch_ids(graphs)
    with feature_cache():
        preds = np.stack([np.asarray(m.predict(graphs), dtype=np.float64) for m in members])
    if len(members) == 1:
        return preds[0], None
    return preds.mean(axis=0), preds.std(axis=0, ddof=1)


@dataclass(frozen=True)
class Prediction:
    prediction: np.ndarray
    uncertainty: np.ndarray | None
    percentile: np.ndarray


class ZooModel:
    """A zoo entry loaded from a verified folder."""

    def __init__(self, entry: Entry, folder: Path):
        from nabench.predictors.base import load
        from nabench.zoo.build import REFERENCE_FILE

        self.entry = entry
        self.folder = folder
        self.members = [load(folder / f"member-{k}") for k in range(entry.members)]
        try:
            ref = json.loads((folder / REFERENCE_FILE).read_text(encoding="utf-8"))
            self.reference = np.asarray(ref["quantiles"], dtype=np.float64)
        except (OSError, ValueError, KeyError) as e:
            raise ZooError(f"{folder / REFERENCE_FILE}: unreadable reference distribution ({e})") from None

    @property
    def name(self) -> str:
        return self.entry.name

    def percentile(self, values: np.ndarray) -> np.ndarray:
        """Share (0-100) of the training corpus's architectures whose measured target is at or below
        each value (for lower-is-better targets such as latency: a low percentile is good)."""
        q = self.reference
        return 100.0 * np.searchsorted(q, values, side="right") / len(q)

    def predict(self, graphs: Sequence) -> np.ndarray:
        """The point predictions (ensemble mean) for a list of ArchGraphs."""
        return ensemble_predict(self.members, graphs)[0]

    def predict_full(self, graphs: Sequence) -> Prediction:
        mean, std = ensemble_predict(self.members, graphs)
        return Prediction(mean, std, self.percentile(mean))
