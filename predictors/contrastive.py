"""GENNAPE-style contrastive ensemble: a contrastively pretrained graph encoder, fuzzy c-means
over its embeddings, one ridge head per cluster blended by membership.

1. Encoder: the GNN of :mod:`nabench.predictors.gnn` (its pooled ``embed`` output) pretrained
   without labels, GraphCL-style: two augmented views of every graph (node-feature masking and
   edge dropping, each with probability ``augment``) are pulled together and the other graphs of
   the batch pushed apart (NT-Xent loss, temperature ``temperature``) through a projection head.
   As in GENNAPE, the unlabeled graphs are by default those of other search-space families:
   ``pretrain_limit`` normalized graphs (a seeded sample, ``pretrain_seed``) of each corpus in
   ``pretrain_corpora`` (default :data:`OTHER_FAMILIES`; read with ``Corpus.arch_graphs``, labels
   are never read). That encoder does not depend on the training split, so it is pretrained once
   and cached (:func:`shared_encoder`) and a fit only embeds, clusters and fits the heads. With
   ``pretrain_with_train`` the training architectures join the unlabeled graphs and every fit
   pretrains its own encoder (seeded by ``random_state``). Or ``encoder_path`` names a file
   written by :func:`pretrain_encoder` (safetensors; its metadata holds the encoder config and
   vocabulary).
2. Fuzzy c-means (:func:`fuzzy_cmeans`, the standard alternating update) splits the
   standardized embeddings of the training graphs into ``n_clusters`` soft clusters (fuzzifier
   ``fuzziness``).
3. Per cluster, a ridge regression (``RidgeCV``, leave-one-out choice of alpha) is fitted with the
   membership ``u^m`` as sample weight; a prediction is the membership-weighted sum of the heads.

Saved as ``model.safetensors`` (encoder weights) + ``state.json`` (vocabulary, scaler, cluster
centres, ridge coefficients); never pickle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from nabench.predictors.base import (
    Predictor,
    PredictorError,
    PredictorTags,
    check_graphs,
    check_targets,
)
from nabench.predictors.gnn import (
    CONVS,
    build_gnn,
    check_choice,
    load_torch_state,
    save_torch_state,
    torch_session,
)

_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)

#: the default unlabeled pretraining graphs: cell-based search spaces of other families than
#: NAS-Bench-201 (GENNAPE pretrains on families other than the ones it predicts)
OTHER_FAMILIES = ("nb101", "nb301", "transnas-micro", "transnas-macro")


# ---------------------------------------------------------------------------------------------
# Fuzzy c-means
# ---------------------------------------------------------------------------------------------

def fcm_memberships(Z: np.ndarray, centers: np.ndarray, m: float) -> np.ndarray:
    """Memberships ``[n, c]`` of points ``Z`` to ``centers`` (rows sum to 1)."""
    d = np.sqrt(((Z[:, None, :] - centers[None, :, :]) ** 2).sum(-1))
    d = np.maximum(d, 1e-12)
    ratio = (d[:, :, None] / d[:, None, :]) ** (2.0 / (m - 1.0))
    return 1.0 / ratio.sum(-1)


def fuzzy_cmeans(Z: np.ndarray, c: int, m: float = 2.0, max_iter: int = 300, tol: float = 1e-6,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fuzzy c-means (Bezdek): (centres ``[c, d]``, memberships ``[n, c]``), seeded initialization."""
    if m <= 1.0:
        raise PredictorError(f"fuzziness must be > 1, got {m}")
    U = np.random.default_rng(seed).dirichlet(np.ones(c), size=len(Z))
    centers = np.zeros((c, Z.shape[1]))
    for _ in range(max_iter):
        W = U ** m
        centers = (W.T @ Z) / W.sum(0)[:, None]
        U_new = fcm_memberships(Z, centers, m)
        done = np.abs(U_new - U).max() < tol
        U = U_new
        if done:
            break
    return centers, U


# ---------------------------------------------------------------------------------------------
# Contrastive pretraining
# ---------------------------------------------------------------------------------------------

def _augment(batch, p: float, gen):
    """A GraphCL view: node features zeroed and edges dropped, each with probability ``p``."""
    import torch

    view = batch.clone()
    keep_nodes = torch.rand(view.x.shape[0], generator=gen) >= p
    view.x = view.x * keep_nodes.unsqueeze(-1)
    keep_edges = torch.rand(view.edge_index.shape[1], generator=gen) >= p
    view.edge_index = view.edge_index[:, keep_edges]
    return view


def _nt_xent(a, b, temperature: float):
    import torch
    import torch.nn.functional as F

    z = F.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    n = a.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def pretrain(graphs: Sequence, *, conv: str = "gin", hidden: int = 64, layers: int = 3, heads: int = 4,
             epochs: int = 20, batch_size: int = 64, lr: float = 2e-3, augment: float = 0.2,
             temperature: float = 0.2, seed: int = 0, n_threads: int = 1):
    """(fitted ``GraphEncoder``, pretrained GNN module) from unlabeled ``graphs``."""
    import torch
    from nabench.encoders.graph import GraphEncoder, collate
    from torch import nn

    encoder = GraphEncoder().fit(graphs)
    data = encoder.transform(graphs)
    with torch_session(n_threads, seed):
        model = build_gnn(conv, encoder.n_features, 4, hidden, layers, heads, 0.0)
        proj = nn.Sequential(nn.Linear(model.embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        opt = torch.optim.AdamW(list(model.parameters()) + list(proj.parameters()), lr=lr, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(data), generator=gen).tolist()
            for i in range(0, len(perm), batch_size):
                idx = perm[i:i + batch_size]
                if len(idx) < 2:
                    continue
                batch = collate([data[j] for j in idx])
                opt.zero_grad()
                a = proj(model.embed(_augment(batch, augment, gen)))
                b = proj(model.embed(_augment(batch, augment, gen)))
                _nt_xent(a, b, temperature).backward()
                opt.step()
        model.eval()
    return encoder, model


def pretrain_encoder(graphs: Sequence, path: str | Path, **settings: Any) -> Path:
    """Pretrain (see :func:`pretrain`) and write the encoder to ``path`` (safetensors, atomically)."""
    from safetensors.torch import save_file

    graphs = check_graphs(graphs)
    conv = settings.get("conv", "gin")
    check_choice("conv", conv, CONVS)
    encoder, model = pretrain(graphs, **settings)
    config = {"conv": conv, "hidden": settings.get("hidden", 64), "layers": settings.get("layers", 3),
              "heads": settings.get("heads", 4)}
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"config": json.dumps(config), "encoder": json.dumps(encoder.state()),
                        "n_graphs": str(len(graphs))})
    tmp.replace(path)
    return path


def load_pretrained(path: str | Path):
    """(``GraphEncoder``, GNN module, config) from a file written by :func:`pretrain_encoder`."""
    from nabench.encoders.graph import GraphEncoder
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise PredictorError(f"{path}: no pretrained encoder there (write one with pretrain_encoder)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        config = json.loads(meta["config"])
        encoder = GraphEncoder.from_state(json.loads(meta["encoder"]))
        model = build_gnn(config["conv"], encoder.n_features, 4, config["hidden"], config["layers"],
                          config["heads"], 0.0)
        model.load_state_dict(load_file(str(path)))
    except (KeyError, ValueError, RuntimeError, OSError) as e:
        raise PredictorError(f"{path}: not a pretrained nabench encoder ({e})") from e
    model.eval()
    return encoder, model, config


def shared_encoder(corpora: Sequence[str], *, limit: int, seed: int, **settings: Any) -> Path:
    """The encoder file pretrained (see :func:`pretrain`) on ``limit`` graphs of each of
    ``corpora``: read from ``NABENCH_HOME/cache/contrastive/`` when the same pretraining (corpora
    and their versions, sample, settings, nabench version) is stored there, else pretrained and
    stored. Concurrent first calls may each pretrain; they write the same file (one thread, seeded)."""
    import hashlib

    from nabench import __version__, config
    from nabench import corpora as corpora_api
    from nabench.errors import CorpusNotBuiltError

    try:
        versions = [f"{name}@{corpora_api.load(name).version}" for name in corpora]
    except CorpusNotBuiltError as e:
        raise PredictorError(f"contrastive pretraining reads unlabeled graphs of {', '.join(corpora)}: {e}. "
                             "Build them (`nabench corpora build NAME`), or pass pretrain_corpora=() and "
                             "pretrain_with_train=True to pretrain on the training architectures only") from e
    key = json.dumps({"corpora": versions, "limit": limit, "seed": seed, "nabench": __version__,
                      "settings": sorted(settings.items())}, default=str)
    path = config.home() / "cache" / "contrastive" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.safetensors"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        pretrain_encoder(corpus_graphs(corpora, limit, seed), path, seed=seed, **settings)
    return path


def corpus_graphs(names: Sequence[str], limit: int, seed: int) -> list:
    """Up to ``limit`` normalized ArchGraphs of each named corpus (a seeded random sample)."""
    from nabench import corpora

    out = []
    for name in names:
        corpus = corpora.load(name)
        ids = list(corpus.graphs()["native_id"])
        if len(ids) > limit:
            rng = np.random.default_rng(seed)
            ids = [ids[i] for i in sorted(rng.choice(len(ids), size=limit, replace=False))]
        out.extend(corpus.arch_graphs(ids))
    return out


# ---------------------------------------------------------------------------------------------
# The predictor
# ---------------------------------------------------------------------------------------------

class ContrastivePredictor(Predictor):
    """Contrastive graph encoder + fuzzy c-means + membership-blended ridge heads (see module docs).

    ``pretrain_corpora``/``pretrain_limit``/``pretrain_seed``: the unlabeled graphs the encoder is
    pretrained on (once, cached), or with ``pretrain_with_train`` also the training architectures
    (at every fit). ``encoder_path``: a pretrained encoder file (then the pretraining parameters
    are not used).
    """

    registry_name = "contrastive"
    #: models saved before the shared encoder pretrained on the training architectures at each fit
    params_added_later = {"pretrain_seed": 0, "pretrain_with_train": True}

    def __init__(self, conv: str = "gin", hidden: int = 64, layers: int = 3, heads: int = 4,
                 pretrain_epochs: int = 20, pretrain_batch_size: int = 64, augment: float = 0.2,
                 temperature: float = 0.2, pretrain_corpora: Sequence[str] | None = OTHER_FAMILIES,
                 pretrain_limit: int = 750, pretrain_seed: int = 0, pretrain_with_train: bool = False,
                 encoder_path: str | None = None, n_clusters: int = 3, fuzziness: float = 2.0,
                 random_state: int = 0, n_threads: int = 1):
        self.conv = conv
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_batch_size = pretrain_batch_size
        self.augment = augment
        self.temperature = temperature
        self.pretrain_corpora = pretrain_corpora
        self.pretrain_limit = pretrain_limit
        self.pretrain_seed = pretrain_seed
        self.pretrain_with_train = pretrain_with_train
        self.encoder_path = encoder_path
        self.n_clusters = n_clusters
        self.fuzziness = fuzziness
        self.random_state = random_state
        self.n_threads = n_threads

    def nabench_tags(self) -> PredictorTags:
        pretrained_on = (str(self.encoder_path),) if self.encoder_path is not None else tuple(self.pretrain_corpora or ())
        return PredictorTags(family="contrastive", pretrained_on=pretrained_on)

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"hidden": 16, "layers": 2, "pretrain_epochs": 2, "pretrain_corpora": (), "pretrain_with_train": True}

    def _embed(self, X: Sequence) -> np.ndarray:
        import torch
        from nabench.encoders.graph import collate

        data = self.graph_encoder_.transform(X)
        out = []
        with torch_session(self.n_threads), torch.no_grad():
            for i in range(0, len(data), 256):
                out.append(self.model_.embed(collate(data[i:i + 256])).numpy())
        z = np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.model_.embed_dim))
        return (z - self.z_mean_) / self.z_std_ if hasattr(self, "z_mean_") else z

    def fit(self, X: Sequence, y: Any) -> ContrastivePredictor:
        from sklearn.linear_model import RidgeCV

        X = check_graphs(X)
        y = check_targets(X, y)
        check_choice("conv", self.conv, CONVS)
        if not (isinstance(self.n_clusters, int) and self.n_clusters >= 1):
            raise PredictorError(f"n_clusters={self.n_clusters!r}; expected a positive int")
        if self.fuzziness <= 1.0:
            raise PredictorError(f"fuzziness must be > 1, got {self.fuzziness}")
        corpora = tuple(self.pretrain_corpora or ())
        settings = {"conv": self.conv, "hidden": self.hidden, "layers": self.layers, "heads": self.heads,
                    "epochs": self.pretrain_epochs, "batch_size": self.pretrain_batch_size,
                    "augment": self.augment, "temperature": self.temperature}
        if self.encoder_path is not None:
            self.graph_encoder_, self.model_, self.encoder_config_ = load_pretrained(self.encoder_path)
        elif self.pretrain_with_train:
            extra = corpus_graphs(corpora, self.pretrain_limit, self.pretrain_seed) if corpora else []
            self.graph_encoder_, self.model_ = pretrain(X + extra, seed=self.random_state,
                                                        n_threads=self.n_threads, **settings)
            self.encoder_config_ = {k: settings[k] for k in ("conv", "hidden", "layers", "heads")}
        elif corpora:
            path = shared_encoder(corpora, limit=self.pretrain_limit, seed=self.pretrain_seed, **settings)
            self.graph_encoder_, self.model_, self.encoder_config_ = load_pretrained(path)
        else:
            raise PredictorError("nothing to pretrain the encoder on: give pretrain_corpora, "
                                 "pretrain_with_train=True or encoder_path")
        for attr in ("z_mean_", "z_std_"):
            self.__dict__.pop(attr, None)
        z = self._embed(X)
        self.z_mean_ = z.mean(0)
        self.z_std_ = np.where(z.std(0) > 1e-8, z.std(0), 1.0)
        z = (z - self.z_mean_) / self.z_std_
        c = min(self.n_clusters, len(X))
        self.centers_, U = fuzzy_cmeans(z, c, self.fuzziness, seed=self.random_state)
        W = U ** self.fuzziness
        self.coef_, self.intercept_ = np.zeros((c, z.shape[1])), np.zeros(c)
        for k in range(c):
            head = RidgeCV(alphas=_ALPHAS).fit(z, y, sample_weight=W[:, k] / W[:, k].max())
            self.coef_[k], self.intercept_[k] = head.coef_, head.intercept_
        return self

    def predict(self, X: Sequence) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise PredictorError(f"{type(self).__name__} is not fitted; call fit(X, y) first")
        z = self._embed(check_graphs(X))
        if len(z) == 0:
            return np.zeros(0)
        U = fcm_memberships(z, self.centers_, self.fuzziness)
        return ((z @ self.coef_.T + self.intercept_) * U).sum(1)

    def _save_state(self, directory: Path) -> None:
        if not hasattr(self, "coef_"):
            raise PredictorError(f"{type(self).__name__} is not fitted; call fit(X, y) first")
        state = {"encoder": self.graph_encoder_.state(), "encoder_config": self.encoder_config_,
                 "z_mean": self.z_mean_.tolist(), "z_std": self.z_std_.tolist(),
                 "centers": self.centers_.tolist(), "coef": self.coef_.tolist(),
                 "intercept": self.intercept_.tolist()}
        save_torch_state(directory, self.model_, state)

    def _load_state(self, directory: Path) -> None:
        from nabench.encoders.graph import GraphEncoder

        tensors, state = load_torch_state(directory)
        try:
            self.graph_encoder_ = GraphEncoder.from_state(state["encoder"])
            cfg = self.encoder_config_ = state["encoder_config"]
            self.model_ = build_gnn(cfg["conv"], self.graph_encoder_.n_features, 4, cfg["hidden"], cfg["layers"],
                                    cfg["heads"], 0.0)
            self.model_.load_state_dict(tensors)
            self.z_mean_, self.z_std_ = np.asarray(state["z_mean"]), np.asarray(state["z_std"])
            self.centers_ = np.asarray(state["centers"], dtype=np.float64)
            self.coef_ = np.asarray(state["coef"], dtype=np.float64)
            self.intercept_ = np.asarray(state["intercept"], dtype=np.float64)
        except (KeyError, RuntimeError, TypeError) as e:
            raise PredictorError(f"{directory}: saved contrastive predictor is broken ({e})") from e
        self.model_.eval()
