"""Zero-cost proxies as training-free predictors (``nabench.predictors`` name ``zc``).

``ZeroCostPredictor(proxy="synflow")`` scores each architecture with one proxy of
:mod:`nabench.zc.proxies` (or ``proxy="ensemble"``: the rank vote of ``members``) on a freshly
initialized module; ``fit`` is a no-op. Predictions are oriented so that higher is better.

The module is built from the architecture's ONNX graph: an :class:`~nabench.graph.ArchGraph`
read from a corpus carries ``metadata["corpus"]`` and ``["native_id"]``, and the graph is
rebuilt from that record (space builder, else the stored normalized ONNX). A proxy that fails
on an architecture raises :class:`PredictorError` naming it and the reason (never a silent 0).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nabench.predictors.base import Predictor, PredictorError, PredictorTags, check_graphs, check_targets

STATE_FILE = "zc.json"


def _onnx_of(graph: Any, cache: dict) -> Any:
    from nabench import corpora
    from nabench.normalize import build_model, has_builder

    meta = getattr(graph, "metadata", {}) or {}
    name, nid = meta.get("corpus"), meta.get("native_id")
    if not name or nid is None:
        raise PredictorError("zc: this ArchGraph names no corpus record (metadata corpus/native_id); "
                             "score ONNX files with nabench.zc.compute.score_cell")
    if name not in cache:
        corpus = corpora.load(name)
        records = corpus.records()
        cache[name] = (corpus, dict(zip(records["native_id"].astype(str), range(len(records)))), records)
    corpus, index, records = cache[name]
    if str(nid) not in index:
        raise PredictorError(f"zc: corpus {name} has no record {nid!r}")
    rec = records.iloc[index[str(nid)]].to_dict()
    return build_model(rec, name) if has_builder(str(rec["space"])) else corpus.onnx(str(nid))


class ZeroCostPredictor(Predictor):
    """A zero-cost proxy (or the rank-vote ensemble) as a predictor; see the module docstring."""

    registry_name = "zc"

    def __init__(self, proxy: str = "synflow", dataset: str = "cifar10", batch_size: int = 64, seed: int = 0,
                 members: tuple | list | None = None):
        self.proxy = proxy
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.members = members

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"proxy": "synflow"}

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="zc", requires_fit=False)

    def _names(self) -> list[str]:
        from nabench.zc import proxies as P

        if self.proxy == P.ENSEMBLE:
            names = list(self.members or P.ENSEMBLE_MEMBERS)
        else:
            names = [self.proxy]
        try:
            for n in names:
                P.get(n)
        except P.ProxyError as e:
            raise PredictorError(str(e)) from None
        return names

    def fit(self, X: Sequence, y: Any) -> "ZeroCostPredictor":
        check_targets(X, y)
        check_graphs(X)
        self._names()
        return self

    def predict(self, X: Sequence) -> np.ndarray:
        from nabench.zc import data, proxies as P
        from nabench.zc.compute import _cell_seed, score_cell

        X = check_graphs(X)
        names = self._names()
        batch = None
        if any(P.get(n).needs_data for n in names):
            x, y, _ = data.batch(self.dataset, batch_size=self.batch_size, seed=self.seed)
            batch = (x, y)
        cache: dict = {}
        cols = {n: np.empty(len(X)) for n in names}
        for i, g in enumerate(X):
            nid = g.metadata.get("native_id", str(i))
            res = score_cell(_onnx_of(g, cache), names, batch, seed=_cell_seed(self.seed, nid))
            if res.failures:
                raise PredictorError(f"zc: {g.metadata.get('corpus')}/{nid}: " +
                                     "; ".join(f"{k}: {v}" for k, v in res.failures.items()))
            for n in names:
                cols[n][i] = res.scores[n]
        if self.proxy == P.ENSEMBLE:
            return np.asarray(P.rank_vote(cols), dtype=np.float64)
        v = cols[self.proxy]
        return np.asarray(v if P.get(self.proxy).higher_is_better else -v, dtype=np.float64)

    def _save_state(self, directory: Path) -> None:
        (Path(directory) / STATE_FILE).write_text(json.dumps({"fitted_state": None}) + "\n", encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        if not (Path(directory) / STATE_FILE).is_file():
            raise PredictorError(f"{directory}: no {STATE_FILE}; not a saved zc predictor")
