"""Zero-cost proxies as training-free predictors (``nabench.predictors`` name ``zc``).

``ZeroCostPredictor(proxy="synflow")`` scores each architecture with one proxy of
:mod:`nabench.zc.proxies` (or ``proxy="ensemble"``: the rank vote of ``members``) on a freshly
initialized module; ``fit`` is a no-op. Predictions are oriented so that higher is better.

The module is built from the architecture's ONNX graph:

- an :class:`~nabench.graph.ArchGraph` read from a corpus carries ``metadata["corpus"]`` and
  ``["native_id"]``; its ONNX is rebuilt from that record (space builder, else the stored
  normalized ONNX), exactly as ``nabench zc compute`` does, so both give the same numbers;
- any other ArchGraph (e.g. ``from_onnx`` of a user's file) is turned back into ONNX by
  :func:`nabench.zc.convert.graph_to_onnx` (checked to have the graph's ``arch_id`` and
  parameter count), using the small constant values the graph keeps (scalar factors, Clip
  bounds, Slice starts, ...). A graph with weight tying, or with a non-weight constant of more
  than ``CONSTANT_VALUE_MAX`` elements, raises :class:`PredictorError` naming the node: score
  its ONNX file with ``nabench.zc.compute.score_cell`` instead.

``reuse_runs=True`` reads the scores of corpus graphs from the ``nabench zc compute`` runs
already in the corpus store (same nabench version, dataset, batch size and seed; computed with
shared passes, possibly in parallel) and computes only the others: that is how to score a large
test set with every proxy, e.g. ``nabench zc compute nb201 --task nb201-cifar10 --workers 2``
then ``nabench run --predictor zc --param proxy=snip --param reuse_runs=true ...`` per proxy.

Data-dependent proxies use the image batch of ``dataset``; for a model declaring another
static image size the batch is resized to it (bilinear). Each architecture's weights are seeded
by ``seed`` and its native id (corpus graphs) or arch id, so a prediction does not depend on
the other architectures in ``X``; corpus graphs are initialized as their space's reference
implementation does (``nabench.zc.convert.SPACE_INIT``: NB101, TransNAS), others with PyTorch's
defaults. A proxy that fails on an architecture raises :class:`PredictorError` naming it and
the reason (never a silent 0); with ``on_failure="lowest"`` the architecture is instead ranked
below every scored one (oriented score :data:`FAILED_SCORE` = -1e8, NAS-Bench-Suite-Zero's
published convention: a cell whose output does not depend on its input has no jacov, nwot or zen
score, and is chance-level).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nabench.predictors.base import Predictor, PredictorError, PredictorTags, check_graphs, check_targets

STATE_FILE = "zc.json"


def _onnx_of(graph: Any, cache: dict, label: str) -> tuple[Any, str]:
    """The ONNX model to score for ``graph`` and its weight initialization (see the module
    docstring)."""
    from nabench import corpora
    from nabench.normalize import build_model, has_builder
    from nabench.zc.convert import ConversionError, graph_to_onnx, init_for

    meta = getattr(graph, "metadata", {}) or {}
    name, nid = meta.get("corpus"), meta.get("native_id")
    if not name or nid is None:
        try:
            return graph_to_onnx(graph), "pytorch"
        except ConversionError as e:
            raise PredictorError(f"zc: {label}: cannot build a module from its ArchGraph: {e}") from None
    if name not in cache:
        corpus = corpora.load(name)
        records = corpus.records()
        cache[name] = (corpus, dict(zip(records["native_id"].astype(str), range(len(records)))), records)
    corpus, index, records = cache[name]
    if str(nid) not in index:
        raise PredictorError(f"zc: corpus {name} has no record {nid!r}")
    rec = records.iloc[index[str(nid)]].to_dict()
    return (build_model(rec, name) if has_builder(str(rec["space"])) else corpus.onnx(str(nid))), init_for(rec["space"])


def stored_runs(corpus_name: str, names: list[str], dataset: str, batch_size: int, seed: int) -> list:
    """The score tables (one DataFrame per run: ``native_id``, each proxy and its ``__error``,
    ``seconds`` per cell) of the ``nabench zc compute`` runs in the corpus store made by this
    nabench version with the same dataset, batch size and seed (and no ``--data-root``) that
    hold all of ``names`` (and, for spaces with their own weight initialization, used it)."""
    from nabench import __version__, corpora
    from nabench.zc.compute import RUN_FILE, read_scores, space_inits

    corpus = corpora.load(corpus_name)
    inits = space_inits(corpus.records())
    tables = []
    for run_file in sorted((Path(corpus.path) / "zc").glob(f"*/{RUN_FILE}")):
        doc = json.loads(run_file.read_text(encoding="utf-8"))
        cfg = doc.get("config", {})
        if (doc.get("nabench_version") != __version__ or cfg.get("version") != corpus.version
                or (cfg.get("dataset"), cfg.get("batch_size"), cfg.get("seed")) != (dataset, batch_size, seed)
                or cfg.get("data_root") is not None or not set(names) <= set(cfg.get("proxies", []))
                or cfg.get("init", {}) != inits):
            continue
        tables.append(read_scores(run_file.parent))
    return tables


def _stored_scores(corpus_name: str, names: list[str], dataset: str, batch_size: int, seed: int) -> dict[str, dict]:
    """``native_id → {proxy: (score, error)}`` from :func:`stored_runs` (the first run wins)."""
    found: dict[str, dict] = {}
    for table in stored_runs(corpus_name, names, dataset, batch_size, seed):
        for row in table.to_dict("records"):
            found.setdefault(str(row["native_id"]), {n: (row[n], row[f"{n}__error"]) for n in names})
    return found


def _fit_batch(batch: tuple, model: Any) -> tuple:
    """The image batch, resized to the model's declared static image size when it differs."""
    import torch.nn.functional as F

    x, y = batch
    ins = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    dims = [d.dim_value for d in ins[0].type.tensor_type.shape.dim] if ins else []
    if len(dims) == 4 and dims[2] > 0 and dims[3] > 0 and tuple(dims[2:]) != tuple(x.shape[2:]):
        x = F.interpolate(x, size=tuple(dims[2:]), mode="bilinear", align_corners=False)
    return x, y


#: The score NAS-Bench-Suite-Zero publishes for an architecture a proxy failed on (e.g. jacov,
#: nwot and zen of an NB201 cell whose output does not depend on its input): it ranks it last.
FAILED_SCORE = -1e8


class ZeroCostPredictor(Predictor):
    """A zero-cost proxy (or the rank-vote ensemble) as a predictor; see the module docstring."""

    registry_name = "zc"

    def __init__(self, proxy: str = "synflow", dataset: str = "cifar10", batch_size: int = 64, seed: int = 0,
                 members: tuple | list | None = None, reuse_runs: bool = False, on_failure: str = "raise"):
        self.proxy = proxy
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.members = members
        self.reuse_runs = reuse_runs
        self.on_failure = on_failure

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"proxy": "synflow"}

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="zc", requires_fit=False)

    def _names(self) -> list[str]:
        from nabench.zc import proxies as P

        if self.on_failure not in ("raise", "lowest"):
            raise PredictorError(f"zc: on_failure must be 'raise' or 'lowest', got {self.on_failure!r}")
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
        from nabench.graph import arch_id
        from nabench.zc import data, proxies as P
        from nabench.zc.compute import _cell_seed, score_cell

        X = check_graphs(X)
        names = self._names()
        batch = None
        if any(P.get(n).needs_data for n in names):
            x, y, _ = data.batch(self.dataset, batch_size=self.batch_size, seed=self.seed)
            batch = (x, y)
        cache: dict = {}
        stored: dict[str, dict] = {}
        cols = {n: np.empty(len(X)) for n in names}
        for i, g in enumerate(X):
            nid, corpus = g.metadata.get("native_id"), g.metadata.get("corpus")
            key = str(nid) if nid is not None and corpus else (g.arch_id or arch_id(g))
            label = f"{corpus}/{nid}" if corpus else f"X[{i}] (arch {key[:12]})"
            if self.reuse_runs and corpus and nid is not None:
                if corpus not in stored:
                    stored[corpus] = _stored_scores(corpus, names, self.dataset, self.batch_size, self.seed)
                row = stored[corpus].get(str(nid))
                if row is not None:
                    self._fill(cols, i, label, {n: v for n, (v, why) in row.items() if not why},
                               {n: why for n, (_, why) in row.items() if why})
                    continue
            model, init = _onnx_of(g, cache, label)
            res = score_cell(model, names, None if batch is None else _fit_batch(batch, model),
                             seed=_cell_seed(self.seed, key), init=init)
            self._fill(cols, i, label, res.scores, res.failures)
        if self.proxy == P.ENSEMBLE:
            return np.asarray(P.rank_vote(cols), dtype=np.float64)
        v = cols[self.proxy]
        return np.asarray(v if P.get(self.proxy).higher_is_better else -v, dtype=np.float64)

    def _fill(self, cols: dict, i: int, label: str, scores: dict, failures: dict) -> None:
        """Row ``i`` of ``cols``: the scores, or for a failed proxy (``on_failure="lowest"``) the
        value that ranks the architecture last, :data:`FAILED_SCORE` once oriented."""
        from nabench.zc import proxies as P

        if failures and self.on_failure == "raise":
            raise PredictorError(f"zc: {label}: " + "; ".join(f"{k}: {v}" for k, v in failures.items()))
        for n in cols:
            hib = P.get(n).higher_is_better
            cols[n][i] = scores[n] if n not in failures else (FAILED_SCORE if hib else -FAILED_SCORE)

    def _save_state(self, directory: Path) -> None:
        (Path(directory) / STATE_FILE).write_text(json.dumps({"fitted_state": None}) + "\n", encoding="utf-8")

    def _load_state(self, directory: Path) -> None:
        if not (Path(directory) / STATE_FILE).is_file():
            raise PredictorError(f"{directory}: no {STATE_FILE}; not a saved zc predictor")
