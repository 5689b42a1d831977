"""GNN predictor: GIN or GATv2 message passing over the tensor-flow graph (PyTorch Geometric).

Architectures are encoded by :class:`nabench.encoders.graph.GraphEncoder`. Each layer passes
messages both along and against tensor flow (two convolutions, summed) with a residual
connection; the readout concatenates mean and max pooling of every layer (jumping knowledge)
with the graph-level features ``u`` and feeds an MLP. Targets are standardized.

Training is a fixed schedule (no early stopping, no validation split): ``epochs`` epochs of
AdamW with cosine learning-rate decay; with ``epochs="auto"`` the number of epochs gives about
``steps`` optimizer steps whatever the training-set size (N = 78 → ~200 epochs, N = 1563 → ~20).
``loss``: ``mse``, or a ranking loss (``pairwise_logistic``, ``pairwise_hinge``, ``listmle``)
over all pairs / the whole list of a batch, mixed with ``mse_weight`` × MSE.

Saved as ``model.safetensors`` (weights) + ``state.json`` (encoder vocabulary, target scaling,
input width); never pickle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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

LOSSES = ("mse", "pairwise_logistic", "pairwise_hinge", "listmle")
CONVS = ("gin", "gat")
MODEL_FILE = "model.safetensors"
STATE_FILE = "state.json"


# ---------------------------------------------------------------------------------------------
# Shared torch helpers (also used by the text and contrastive predictors)
# ---------------------------------------------------------------------------------------------

@contextmanager
def torch_session(n_threads: int, seed: int | None = None) -> Iterator[None]:
    """Use ``n_threads`` torch intra-op threads (restored afterwards); seed torch if ``seed`` is given."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n_threads)))
    if seed is not None:
        torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def ranking_loss(pred, target, loss: str, mse_weight: float):
    """``loss`` between predictions and standardized targets of one batch (see module docstring)."""
    import torch
    import torch.nn.functional as F

    mse = F.mse_loss(pred, target)
    if loss == "mse":
        return mse
    if loss == "listmle":
        order = torch.argsort(target, descending=True)
        s = pred[order]
        # -log P(order) under Plackett-Luce: sum_i logsumexp(s_i..s_n) - s_i
        tail = torch.logcumsumexp(s.flip(0), dim=0).flip(0)
        rank = (tail - s).mean()
    else:
        diff_t = target[:, None] - target[None, :]
        diff_p = pred[:, None] - pred[None, :]
        mask = diff_t > 1e-6
        per_pair = F.softplus(-diff_p) if loss == "pairwise_logistic" else F.relu(0.1 - diff_p)
        if pred.is_cuda:  # the same value without a host sync (a sync per step is costly on a GPU)
            mask = mask.to(per_pair.dtype)
            n_pairs = mask.sum()
            return torch.where(n_pairs > 0, (per_pair * mask).sum() / n_pairs.clamp(min=1) + mse_weight * mse, mse)
        if not bool(mask.any()):
            return mse
        rank = per_pair[mask].mean()
    return rank + mse_weight * mse


def torch_device(device: str):
    """The ``torch.device`` of a predictor's ``device`` parameter: ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"``, or ``"auto"`` (the first CUDA device when there is one, else the CPU); a clear
    error when that device is not on this machine."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise PredictorError(f"device={device!r}; expected 'cpu', 'cuda', 'cuda:N' or 'auto'")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise PredictorError(f"device={device!r}, but this machine has {torch.cuda.device_count()} usable CUDA "
                             "device(s); use device='cpu' or 'auto'")
    return dev


def to_device(batch, dev):
    """A batch (tensor, PyG ``Batch``, or a list of them) on ``dev``."""
    if isinstance(batch, (list, tuple)):
        return [to_device(b, dev) for b in batch]
    if dev.type == "cuda":  # from pinned memory without blocking: the host does not wait for the GPU
        return batch.pin_memory().to(dev, non_blocking=True)
    return batch.to(dev)


def check_choice(name: str, value: Any, choices: Sequence) -> None:
    if value not in choices:
        raise PredictorError(f"{name}={value!r}; choose one of {list(choices)}")


def resolve_epochs(epochs: int | str, steps: int, n: int, batch_size: int) -> int:
    """``epochs`` as an int; ``"auto"`` → enough epochs for about ``steps`` optimizer steps."""
    if epochs == "auto":
        return max(10, math.ceil(steps / max(1, math.ceil(n / batch_size))))
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise PredictorError(f"epochs={epochs!r}; expected a positive int or 'auto'")
    return epochs


def save_torch_state(directory: Path, module, state: dict[str, Any]) -> None:
    """``module`` weights as safetensors and ``state`` as JSON, each written atomically."""
    from safetensors.torch import save_file

    from nabench.corpora.store import write_atomic_text

    tmp = directory / (MODEL_FILE + ".part")
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    tmp.replace(directory / MODEL_FILE)
    write_atomic_text(directory / STATE_FILE, json.dumps(state, indent=1, sort_keys=True) + "\n")


def load_torch_state(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, state) written by :func:`save_torch_state`; a clear error when missing or broken."""
    from safetensors.torch import load_file

    try:
        state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        tensors = load_file(str(directory / MODEL_FILE))
    except (OSError, ValueError) as e:
        raise PredictorError(f"{directory}: cannot read saved model ({e})") from e
    return tensors, state


def fit_regressor(model, batches_for_epoch, n_epochs: int, lr: float, weight_decay: float,
                  loss: str, mse_weight: float, device=None) -> None:
    """Train ``model`` (``model(batch) -> [B]``) with AdamW + cosine decay over a fixed schedule,
    on ``device`` (a ``torch.device``; default the CPU).

    ``batches_for_epoch(epoch)`` yields ``(batch, target)`` pairs (moved to ``device`` here).
    """
    import torch

    dev = device or torch.device("cpu")
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_epochs)
    model.train()
    for epoch in range(n_epochs):
        for batch, target in batches_for_epoch(epoch):
            batch, target = to_device(batch, dev), target.to(dev)
            opt.zero_grad()
            ranking_loss(model(batch), target, loss, mse_weight).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        sched.step()
    model.eval()


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------

def build_gnn(conv: str, n_in: int, n_graph: int, hidden: int, layers: int, heads: int, dropout: float,
              head_norm: bool = False, head_skip: bool = False):
    """The GNN module: ``forward(batch) -> [num_graphs]``; ``embed(batch) -> [num_graphs, D]``;
    ``score(embedding) -> [num_graphs]``.

    ``head_norm`` puts a LayerNorm between the readout and the MLP head; ``head_skip`` adds a
    linear map of the readout to the MLP head's output.
    """
    import torch
    from torch import nn
    from torch_geometric.nn import GATv2Conv, GINConv, global_max_pool, global_mean_pool

    def make_conv():
        if conv == "gin":
            return GINConv(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)),
                           train_eps=True)
        return GATv2Conv(hidden, hidden // heads, heads=heads, add_self_loops=True)

    class GNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU())
            self.fwd = nn.ModuleList(make_conv() for _ in range(layers))
            self.bwd = nn.ModuleList(make_conv() for _ in range(layers))
            self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
            self.dropout = nn.Dropout(dropout)
            self.embed_dim = 2 * hidden * (layers + 1) + n_graph
            norm = [nn.LayerNorm(self.embed_dim)] if head_norm else []
            self.head = nn.Sequential(*norm, nn.Linear(self.embed_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, 1))
            self.skip = nn.Linear(self.embed_dim, 1) if head_skip else None

        def node_states(self, batch):
            h = self.inp(batch.x)
            ei = batch.edge_index
            rev = ei.flip(0)
            states = [h]
            for f, b, norm in zip(self.fwd, self.bwd, self.norms):
                h = h + self.dropout(torch.relu(norm(f(h, ei) + b(h, rev))))
                states.append(h)
            return states

        def embed(self, batch):
            pooled = [p(s, batch.batch, size=batch.num_graphs) for s in self.node_states(batch)
                      for p in (global_mean_pool, global_max_pool)]
            return torch.cat(pooled + [batch.u], dim=1)

        def score(self, embedding):
            out = self.head(embedding)
            if self.skip is not None:
                out = out + self.skip(embedding)
            return out.squeeze(-1)

        def forward(self, batch):
            return self.score(self.embed(batch))

    return GNN()


class GNNPredictor(Predictor):
    """GIN (``conv="gin"``) or GATv2 (``conv="gat"``) regressor over ArchGraphs.

    ``head_norm``: LayerNorm the readout before the MLP head. ``head_skip``: add a linear map of the
    readout to the head's output. Without them every ReLU of the head can die in the first epoch
    when the targets have far outliers (cells at chance accuracy, 5-6 standard deviations below the
    mean), and the model then predicts a constant; the norm alone made that rarer, the linear path
    keeps the prediction a function of the graph whatever the ReLUs do. ``False`` is the
    architecture of models saved before the options existed.
    ``epochs``: an int, or ``"auto"`` for about ``steps`` optimizer steps. ``loss``: one of
    :data:`LOSSES`; ranking losses add ``mse_weight`` × MSE. ``n_threads``: torch intra-op threads
    while fitting and predicting. ``random_state`` seeds initialization and batch order.
    ``device``: where the network trains and predicts (see :func:`torch_device`); graphs are encoded
    on the CPU either way, and a saved model loads on the CPU and moves to ``device`` when it
    predicts. On CUDA, message passing sums with atomic adds, so a seed reproduces a model only up
    to float32 rounding there.
    """

    registry_name = "gnn"
    params_added_later = {"head_norm": False, "head_skip": False, "device": "cpu"}

    def __init__(self, conv: str = "gin", hidden: int = 64, layers: int = 3, heads: int = 4,
                 dropout: float = 0.0, epochs: int | str = "auto", steps: int = 600, batch_size: int = 32,
                 lr: float = 2e-3, weight_decay: float = 1e-4, loss: str = "pairwise_logistic",
                 mse_weight: float = 0.5, head_norm: bool = True, head_skip: bool = True, random_state: int = 0,
                 n_threads: int = 1, device: str = "cpu"):
        self.conv = conv
        self.hidden = hidden
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.mse_weight = mse_weight
        self.head_norm = head_norm
        self.head_skip = head_skip
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="gnn")

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"hidden": 16, "layers": 2, "epochs": 3}

    def _check_params(self) -> None:
        check_choice("conv", self.conv, CONVS)
        check_choice("loss", self.loss, LOSSES)
        if self.conv == "gat" and self.hidden % self.heads:
            raise PredictorError(f"hidden={self.hidden} must be divisible by heads={self.heads}")

    def _new_model(self, n_in: int):
        return build_gnn(self.conv, n_in, 4, self.hidden, self.layers, self.heads, self.dropout, self.head_norm,
                         self.head_skip)

    def fit(self, X: Sequence, y: Any) -> GNNPredictor:
        import torch
        from nabench.encoders.graph import GraphEncoder, collate

        X = check_graphs(X)
        y = check_targets(X, y)
        self._check_params()
        dev = torch_device(self.device)
        self.encoder_ = GraphEncoder().fit(X)
        data = self.encoder_.transform(X)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        target = torch.tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)
        n_epochs = resolve_epochs(self.epochs, self.steps, len(data), self.batch_size)
        with torch_session(self.n_threads, self.random_state):
            self.model_ = self._new_model(self.encoder_.n_features)
            gen = torch.Generator().manual_seed(self.random_state)

            def batches(epoch):
                perm = torch.randperm(len(data), generator=gen).tolist()
                for i in range(0, len(perm), self.batch_size):
                    idx = perm[i:i + self.batch_size]
                    if len(idx) < 2 and len(perm) > 1:
                        continue
                    yield collate([data[j] for j in idx]), target[idx]

            fit_regressor(self.model_, batches, n_epochs, self.lr, self.weight_decay, self.loss, self.mse_weight,
                          dev)
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise PredictorError(f"{type(self).__name__} is not fitted; call fit(X, y) first")

    def predict(self, X: Sequence) -> np.ndarray:
        import torch
        from nabench.encoders.graph import collate

        self._require_fitted()
        dev = torch_device(self.device)
        data = self.encoder_.transform(check_graphs(X))
        out = []
        with torch_session(self.n_threads), torch.no_grad():
            self.model_.to(dev)
            for i in range(0, len(data), 256):
                out.append(self.model_(collate(data[i:i + 256]).to(dev)).cpu().numpy())
        pred = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
        return pred.astype(np.float64) * self.y_std_ + self.y_mean_

    def _save_state(self, directory: Path) -> None:
        self._require_fitted()
        save_torch_state(directory, self.model_, {"encoder": self.encoder_.state(), "y_mean": self.y_mean_,
                                                  "y_std": self.y_std_})

    def _load_state(self, directory: Path) -> None:
        from nabench.encoders.graph import GraphEncoder

        tensors, state = load_torch_state(directory)
        self._check_params()
        try:
            self.encoder_ = GraphEncoder.from_state(state["encoder"])
            self.y_mean_, self.y_std_ = float(state["y_mean"]), float(state["y_std"])
            self.model_ = self._new_model(self.encoder_.n_features)
            self.model_.load_state_dict(tensors)
        except (KeyError, RuntimeError) as e:
            raise PredictorError(f"{directory}: saved GNN does not match its config ({e})") from e
        self.model_.eval()
