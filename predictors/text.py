"""Text surrogate: a small transformer trained from scratch over the ONNX-Net-style text encoding.

Each architecture is written by :mod:`nabench.encoders.text` (one line per node) and tokenized
with :func:`nabench.encoders.text.tokenize` (sources as relative offsets). A line is embedded as
the sum of its token embeddings plus token-slot embeddings; a depthwise-separable 1-D
convolution over neighbouring lines and ``layers`` transformer-encoder layers read the line
sequence; masked mean pooling and an MLP give the score. The token vocabulary is fixed at fit
time (tokens seen ``min_count`` times) with an ``<unk>`` bucket; graphs longer than ``max_lines``
lines are cut (the cut is the end of the network, usually the classifier).

Training follows :mod:`nabench.predictors.gnn` (fixed schedule, ranking loss option, AdamW with
cosine decay); saved as ``model.safetensors`` + ``state.json`` (vocabulary, target scaling).
"""

from __future__ import annotations

from collections import Counter
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
from nabench.predictors.gnn import (
    LOSSES,
    check_choice,
    fit_regressor,
    load_torch_state,
    resolve_epochs,
    save_torch_state,
    torch_device,
    torch_session,
)

PAD, UNK = "<pad>", "<unk>"
#: a training batch is run as this many chunks of similar-length graphs (less padding: 1.5x
#: faster steps on NB201 than one padded batch)
_LENGTH_CHUNKS = 4
#: graphs per prediction batch (NB201 on one core: 1.4 ms a graph at 32, 2.0 ms at 128)
_PREDICT_BATCH = 32


@contextmanager
def _regular_attention_path() -> Iterator[None]:
    """Turn off PyTorch's fused inference path for transformer layers while inside (restored
    afterwards). On this small model on CPU it is 3-4x slower than the regular path (NB201, one
    core: 5.4 vs 1.4 ms a graph); outputs agree to float32 rounding."""
    import torch

    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def build_text_model(vocab_size: int, max_tokens: int, d_model: int, layers: int, heads: int, dropout: float):
    """``forward(tokens [B, L, T] long) -> [B]``; padding token id 0, padded lines all 0. A list
    of such tensors gives their outputs concatenated."""
    import torch
    from torch import nn

    class TextSurrogate(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding(vocab_size, d_model, padding_idx=0)
            self.slot = nn.Embedding(max_tokens, d_model)
            self.line_norm = nn.LayerNorm(d_model)
            self.local = nn.Conv1d(d_model, d_model, kernel_size=5, padding=2, groups=d_model)
            layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=2 * d_model, dropout=dropout,
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, d_model), nn.ReLU(),
                                      nn.Linear(d_model, 1))

        def forward(self, tokens):
            if isinstance(tokens, (list, tuple)):  # chunks of one batch, each padded on its own
                return torch.cat([self.forward(t) for t in tokens])
            n_graphs, n_lines, n_tokens = tokens.shape
            # a line = sum over its tokens of (token embedding + slot embedding), padding excluded;
            # summed as bags, without materializing a [B, L, T, d] tensor
            bags = nn.functional.embedding_bag(tokens.reshape(-1, n_tokens), self.tok.weight, mode="sum",
                                               padding_idx=0).view(n_graphs, n_lines, -1)
            slots = (tokens != 0).float() @ self.slot.weight[:n_tokens]
            line_mask = tokens[:, :, 0] != 0
            lines = self.line_norm(bags + slots) * line_mask.unsqueeze(-1)
            h = lines + self.local(lines.transpose(1, 2)).transpose(1, 2)
            h = self.encoder(h, src_key_padding_mask=~line_mask)
            m = line_mask.unsqueeze(-1).float()
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    return TextSurrogate()


class TextPredictor(Predictor):
    """Transformer regressor over the text encoding of ArchGraphs (see the module docstring).

    ``device``: where the network trains and predicts, as for :class:`~nabench.predictors.gnn.GNNPredictor`
    (text is tokenized on the CPU either way).
    """

    registry_name = "text"
    params_added_later = {"device": "cpu"}

    def __init__(self, d_model: int = 64, layers: int = 2, heads: int = 4, dropout: float = 0.0,
                 max_lines: int = 1024, max_tokens: int = 16, min_count: int = 1, epochs: int | str = "auto",
                 steps: int = 600, batch_size: int = 32, lr: float = 1e-3, weight_decay: float = 1e-4,
                 loss: str = "pairwise_logistic", mse_weight: float = 0.5, random_state: int = 0,
                 n_threads: int = 1, device: str = "cpu"):
        self.d_model = d_model
        self.layers = layers
        self.heads = heads
        self.dropout = dropout
        self.max_lines = max_lines
        self.max_tokens = max_tokens
        self.min_count = min_count
        self.epochs = epochs
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.loss = loss
        self.mse_weight = mse_weight
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device

    def nabench_tags(self) -> PredictorTags:
        return PredictorTags(family="text")

    @classmethod
    def nabench_test_params(cls) -> dict[str, Any]:
        return {"d_model": 16, "layers": 1, "epochs": 2}

    def _check_params(self) -> None:
        check_choice("loss", self.loss, LOSSES)
        if self.d_model % self.heads:
            raise PredictorError(f"d_model={self.d_model} must be divisible by heads={self.heads}")

    def _token_lines(self, X: Sequence) -> list[list[list[str]]]:
        from nabench.encoders.text import TextEncoder, graph_tokens

        TextEncoder().fit(X)  # checks the input
        return [graph_tokens(g)[: self.max_lines] for g in X]

    def _ids(self, token_lines: list[list[list[str]]]) -> list[np.ndarray]:
        """One ``[lines, max_tokens]`` array of token ids (0 = padding) per graph."""
        unk = self._index[UNK]
        out = []
        for lines in token_lines:
            arr = np.zeros((max(len(lines), 1), self.max_tokens), dtype=np.int64)
            for i, toks in enumerate(lines):
                ids = [self._index.get(t, unk) for t in toks[: self.max_tokens]]
                arr[i, : len(ids)] = ids
            out.append(arr)
        return out

    @staticmethod
    def _tensor(ids: list[np.ndarray]):
        """``[B, L, T]`` token ids, padded to the longest graph of the batch."""
        import torch

        arr = np.zeros((len(ids), max(a.shape[0] for a in ids), ids[0].shape[1]), dtype=np.int64)
        for b, a in enumerate(ids):
            arr[b, : a.shape[0]] = a
        return torch.from_numpy(arr)

    def _new_model(self):
        return build_text_model(len(self.vocab_), self.max_tokens, self.d_model, self.layers, self.heads,
                                self.dropout)

    def _set_vocab(self, vocab: list[str]) -> None:
        self.vocab_ = vocab
        self._index = {t: i for i, t in enumerate(vocab)}

    def fit(self, X: Sequence, y: Any) -> TextPredictor:
        import torch

        X = check_graphs(X)
        y = check_targets(X, y)
        self._check_params()
        dev = torch_device(self.device)
        lines = self._token_lines(X)
        counts = Counter(t for g in lines for line in g for t in line[: self.max_tokens])
        self._set_vocab([PAD, UNK] + sorted(t for t, c in counts.items() if c >= self.min_count))
        ids = self._ids(lines)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        target = torch.tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)
        n_epochs = resolve_epochs(self.epochs, self.steps, len(X), self.batch_size)
        with torch_session(self.n_threads, self.random_state):
            self.model_ = self._new_model()
            gen = torch.Generator().manual_seed(self.random_state)

            def batches(epoch):
                perm = torch.randperm(len(lines), generator=gen).tolist()
                for i in range(0, len(perm), self.batch_size):
                    idx = perm[i:i + self.batch_size]
                    if len(idx) < 2 and len(perm) > 1:
                        continue
                    # the batch in chunks of similar-length graphs, each padded on its own (the
                    # losses do not depend on the order within a batch, but for tied targets)
                    idx = sorted(idx, key=lambda j: len(ids[j]))
                    chunks = [c for c in np.array_split(idx, _LENGTH_CHUNKS) if len(c)]
                    yield [self._tensor([ids[j] for j in c]) for c in chunks], target[idx]

            fit_regressor(self.model_, batches, n_epochs, self.lr, self.weight_decay, self.loss, self.mse_weight,
                          dev)
        return self

    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise PredictorError(f"{type(self).__name__} is not fitted; call fit(X, y) first")

    def predict(self, X: Sequence) -> np.ndarray:
        import torch

        self._require_fitted()
        dev = torch_device(self.device)
        ids = self._ids(self._token_lines(check_graphs(X)))
        # batches of graphs of similar length: little padding (padded lines are masked out)
        order = np.argsort([len(a) for a in ids], kind="stable")
        pred = np.zeros(len(ids), dtype=np.float64)
        with torch_session(self.n_threads), torch.no_grad(), _regular_attention_path():
            self.model_.to(dev)
            for i in range(0, len(order), _PREDICT_BATCH):
                batch = order[i:i + _PREDICT_BATCH]
                pred[batch] = self.model_(self._tensor([ids[j] for j in batch]).to(dev)).cpu().numpy()
        return pred * self.y_std_ + self.y_mean_

    def _save_state(self, directory: Path) -> None:
        self._require_fitted()
        save_torch_state(directory, self.model_, {"vocab": self.vocab_, "y_mean": self.y_mean_, "y_std": self.y_std_})

    def _load_state(self, directory: Path) -> None:
        tensors, state = load_torch_state(directory)
        self._check_params()
        try:
            self._set_vocab([str(t) for t in state["vocab"]])
            self.y_mean_, self.y_std_ = float(state["y_mean"]), float(state["y_std"])
            self.model_ = self._new_model()
            self.model_.load_state_dict(tensors)
        except (KeyError, RuntimeError) as e:
            raise PredictorError(f"{directory}: saved text model does not match its config ({e})") from e
        self.model_.eval()
