"""A loaded zoo estimator: its ensemble members, the training corpus's reference distributions, the card.

``predict_full(graphs)`` gives, per architecture, the predicted target (mean over members), an
uncertainty (standard deviation over the bootstrap members; ``None`` for a single model) and the
percentile at which the prediction falls among the estimator's own predictions for the
architectures of its training corpus (quantiles stored at build time, so nothing is recomputed at
load). ``score_corpus(corpus)`` does the same for every normalized record of a corpus, decoding and
encoding each distinct architecture once and running every member once on the whole batch.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from nabench.zoo.catalog import FORMAT, Entry, ZooError

#: columns of :meth:`ZooModel.score_corpus`
SCORE_COLUMNS = ("native_id", "arch_id", "prediction", "uncertainty", "corpus_percentile")
#: fewest distinct architectures for which :meth:`ZooModel.score_corpus` with ``workers=0`` starts
#: worker processes (starting one costs about a second of imports; below this one process is faster)
PARALLEL_MIN = 2000


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

        if entry.format != FORMAT:
            raise ZooError(f"zoo entry {entry.name} is in format {entry.format!r}; this nabench reads {FORMAT!r} "
                           f"(rebuild it with `nabench zoo build {entry.name}`)")
        self.entry = entry
        self.folder = folder
        self.members = [load(folder / f"member-{k}") for k in range(entry.members)]
        try:
            ref = json.loads((folder / REFERENCE_FILE).read_text(encoding="utf-8"))
            self.predicted_quantiles = np.asarray(ref["predicted_quantiles"], dtype=np.float64)
            self.measured_quantiles = np.asarray(ref["measured_quantiles"], dtype=np.float64)
            self.reference_records = int(ref["records"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ZooError(f"{folder / REFERENCE_FILE}: unreadable reference distribution ({e})") from None

    @property
    def name(self) -> str:
        return self.entry.name

    def percentile(self, predictions: np.ndarray) -> np.ndarray:
        """Share (0-100) of the training corpus's architectures whose *predicted* target is at or below
        each prediction: where an architecture ranks in that corpus by this estimator's judgement
        (for lower-is-better targets such as latency, a low percentile is good)."""
        q = self.predicted_quantiles
        return 100.0 * np.searchsorted(q, predictions, side="right") / len(q)

    def predict(self, graphs: Sequence) -> np.ndarray:
        """The point predictions (ensemble mean) for a list of ArchGraphs."""
        return ensemble_predict(self.members, graphs)[0]

    def predict_full(self, graphs: Sequence) -> Prediction:
        mean, std = ensemble_predict(self.members, graphs)
        return Prediction(mean, std, self.percentile(mean))

    def score_corpus(self, corpus, ids: Sequence[str] | None = None, workers: int = 1):
        """A DataFrame (:data:`SCORE_COLUMNS`) scoring every normalized record of ``corpus`` (a name or a
        :class:`~nabench.corpora.Corpus`), or the records with native ids ``ids`` in that order.

        Each distinct architecture (``arch_id``; isomorphic twins share one) is decoded from the
        stored graphs and encoded once, every member predicts it, and the result is broadcast back to
        the records. Decoding and encoding dominate, so with ``workers > 1`` (``0``: one per CPU, at
        most 4, and a single process below :data:`PARALLEL_MIN` architectures) the distinct
        architectures are split over spawned processes, each returning only the members' mean and
        spread for its share; like any spawning code, a script calling it must guard its entry
        point with ``if __name__ == "__main__":``.
        """
        import pandas as pd

        from nabench.normalize import read_graphs

        if workers < 0:
            raise ZooError(f"workers must be 0 (automatic) or more, got {workers}")
        if isinstance(corpus, str):
            from nabench import corpora

            corpus = corpora.load(corpus)
        table = read_graphs(corpus.path, columns=["native_id", "arch_id"])
        if ids is not None:
            table = table.set_index("native_id")
            missing = [str(k) for k in ids if str(k) not in table.index]
            if missing:
                raise ZooError(f"corpus {corpus.name}: no normalized record(s) {missing[:5]}"
                               f"{' ...' if len(missing) > 5 else ''}")
            table = table.loc[[str(k) for k in ids]].reset_index()
        reps = table.drop_duplicates("arch_id")
        mean, std = self._score_ids(corpus.path, list(reps["native_id"]), workers)
        row = pd.Index(reps["arch_id"]).get_indexer(table["arch_id"])
        return pd.DataFrame({
            "native_id": table["native_id"].to_numpy(), "arch_id": table["arch_id"].to_numpy(),
            "prediction": mean[row],
            "uncertainty": np.full(len(table), np.nan) if std is None else std[row],
            "corpus_percentile": self.percentile(mean)[row],
        }, columns=list(SCORE_COLUMNS))

    def _score_ids(self, corpus_path: Path, native_ids: list[str], workers: int):
        """Ensemble mean and spread of the stored graphs ``native_ids``, split over worker processes.

        The processes are spawned (not forked: the parent may hold OpenMP or torch thread pools) and
        limited to one thread each; this process scores the first share while they start.
        """
        import os

        if workers == 0:
            workers = min(os.cpu_count() or 1, 4) if len(native_ids) >= PARALLEL_MIN else 1
        shares = [list(s) for s in np.array_split(np.asarray(native_ids, dtype=object), workers) if len(s)]
        if len(shares) <= 1:
            return _score_share(self, corpus_path, native_ids)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(len(shares) - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_score_share_in_worker, self.entry, self.folder, corpus_path, s)
                       for s in shares[1:]]
            parts = [_score_share(self, corpus_path, shares[0])] + [f.result() for f in futures]
        mean = np.concatenate([m for m, _ in parts])
        std = None if parts[0][1] is None else np.concatenate([s for _, s in parts])
        return mean, std


def _score_share(model: ZooModel, corpus_path: Path, native_ids: list[str]):
    """(mean, spread) of the members on the stored graphs of ``native_ids``."""
    from nabench.corpora.store import Corpus

    return ensemble_predict(model.members, Corpus(corpus_path).arch_graphs(native_ids))


def _score_share_in_worker(entry: Entry, folder: Path, corpus_path: Path, native_ids: list[str]):
    """:func:`_score_share` in a worker process: the model is loaded there, on one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        model = ZooModel(entry, folder)
        for m in model.members:
            if "n_jobs" in m.get_params():
                m.set_params(n_jobs=1)
        if "torch" in sys.modules:  # a GNN or text member
            sys.modules["torch"].set_num_threads(1)
        return _score_share(model, corpus_path, native_ids)
