"""PyTorch reference of the NAS-Bench-NLP language model (one time step), for export comparisons.

Follows the benchmark's release code, fmsnew/nas-bench-nlp-release (Klyuchnikov et al., 2020):

- ``custom_rnn.py`` (``CustomRNNCell``): a cell is a ``recepie`` dict ``{node: {"op", "input"}}``
  over the leaves ``x`` and ``h_prev_i``; every ``linear`` node is a ``MultiLinear(input_sizes,
  hidden_size)`` whose input size is ``input_size`` for ``x`` and ``hidden_size`` for any other
  input; ``activation_{tanh,sigm,leaky_relu}`` are ``nn.Tanh`` / ``nn.Sigmoid`` /
  ``nn.LeakyReLU()`` (slope 0.01); ``elementwise_{sum,prod}`` are ``torch.add`` / ``torch.mul``
  (folded left over the inputs); ``blend(z, a, b) = z*a + (1-z)*b``. The cell's state is the
  tuple ``h_new_0 .. h_new_{k-1}`` (``k`` = 1 + the largest digit suffix of an ``h_new_`` key);
  the layer's output is ``h_new_0``.
- ``multilinear.py`` (``MultiLinear``, imported by ``custom_rnn.py``): one weight
  ``[output_size, input_size_i]`` per input (``weights``, a ``ParameterList``) and ONE bias
  ``[output_size]``; output = sum of the per-input linear maps + bias.
- ``model.py`` (``AWDRNNModel``) with the arguments of ``main_one_model_train.py``:
  ``Embedding(ntokens, emsize=400)``; ``nlayers=3`` ``CustomRNN`` layers, layer ``l`` maps
  ``400→600``, ``600→600``, ``600→400`` (the last layer's hidden size is ``emsize`` because
  ``tied=True``); ``decoder = Linear(nhid, ntokens)`` whose weight IS the encoder's
  (``tie_weights``), so only its bias adds parameters. The decoder is applied by the loss
  (``SplitCrossEntropyLoss`` with ``splits=[]``, i.e. a full softmax over ``decoder.weight`` /
  ``decoder.bias``); here it is part of the forward and yields the logits.
- WikiText-2 vocabulary: ``ntokens = 33,278``.

Published ``num_params`` (``main_one_model_train.py``) is ``sum(numel)`` over ``parameters()``,
which deduplicates the tied weight: ``33278*400`` (embedding) + ``33278`` (decoder bias) + the
cells' MultiLinear weights and biases (dead nodes included). Not modelled: dropouts (embedding,
locked, ``WeightDrop`` on the hidden-to-hidden weights; all identity in eval mode; ``WeightDrop``
renames ``weights.i`` to ``weights.i_raw`` but keeps its size).

Unit of the graph: ONE time step of the 3-layer stack for batch 1: token id [1] and the previous
states ``h_prev_i`` of each layer ([1, hidden]) in; logits [1, 33278] and the new states out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NTOKENS = 33278
EMSIZE = 400
NHID = 600
NLAYERS = 3

OPS = ("linear", "activation_tanh", "activation_sigm", "activation_leaky_relu", "elementwise_sum",
       "elementwise_prod", "blend")
LEAKY_SLOPE = 0.01


def _hidden_index(name: str, prefix: str) -> int | None:
    if name.startswith(prefix) and name[len(prefix):].isdigit():
        return int(name[len(prefix):])
    return None


def parse_recipe(recipe: str | Mapping[str, Any], field: str = "recipe") -> tuple[dict[str, dict], list[str], int]:
    """Validate a recipe (JSON text or dict): (recipe, nodes in topological order, state size).
    Raises ValueError naming ``field`` for anything malformed."""
    if isinstance(recipe, str):
        try:
            recipe = json.loads(recipe)
        except ValueError as e:
            raise ValueError(f"{field}: not valid JSON ({e})") from None
    if not isinstance(recipe, Mapping) or not recipe:
        raise ValueError(f"{field}: expected a non-empty mapping node -> {{op, input}}")
    out: dict[str, dict] = {}
    for k, v in recipe.items():
        if not isinstance(k, str) or k == "x" or _hidden_index(k, "h_prev_") is not None:
            raise ValueError(f"{field}: bad node name {k!r}")
        if not isinstance(v, Mapping) or v.get("op") not in OPS or not isinstance(v.get("input"), (list, tuple)):
            raise ValueError(f"{field}: node {k!r}: expected {{'op': one of {OPS}, 'input': [names]}}")
        ins = list(v["input"])
        if not ins or not all(isinstance(i, str) for i in ins):
            raise ValueError(f"{field}: node {k!r}: empty or non-string inputs")
        op = v["op"]
        n_ok = (len(ins) == 1 if op.startswith("activation_") else len(ins) == 3 if op == "blend"
                else len(ins) >= 2 if op.startswith("elementwise_") else True)
        if not n_ok:
            raise ValueError(f"{field}: node {k!r}: wrong number of inputs ({len(ins)}) for {op}")
        out[k] = {"op": op, "input": ins}
    news = [i for i in (_hidden_index(k, "h_new_") for k in out) if i is not None]
    if not news:
        raise ValueError(f"{field}: no h_new_<i> output node")
    n_state = max(news) + 1
    if sorted(news) != list(range(n_state)):
        raise ValueError(f"{field}: outputs h_new_0..h_new_{n_state - 1} not all present")
    # topological order (DFS in key order), cycle and unknown-input checks
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise ValueError(f"{field}: cycle through node {n!r}")
        state[n] = 1
        for i in out[n]["input"]:
            if i == "x":
                continue
            j = _hidden_index(i, "h_prev_")
            if j is not None:
                if j >= n_state:
                    raise ValueError(f"{field}: node {n!r} reads {i!r} but the state has {n_state} tensors")
                continue
            if i not in out:
                raise ValueError(f"{field}: node {n!r} reads unknown input {i!r}")
            visit(i)
        state[n] = 2
        order.append(n)

    for k in out:
        visit(k)
    return out, order, n_state


def layer_sizes(emsize: int = EMSIZE, nhid: int = NHID, nlayers: int = NLAYERS) -> list[tuple[int, int]]:
    """(input size, hidden size) of each layer (tied weights: the last hidden size is emsize)."""
    return [(emsize if i == 0 else nhid, emsize if i == nlayers - 1 else nhid) for i in range(nlayers)]


class MultiLinear(nn.Module):
    def __init__(self, input_sizes: list[int], output_size: int):
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(output_size, s)) for s in input_sizes])
        self.bias = nn.Parameter(torch.empty(output_size))
        for w in self.weights:
            nn.init.uniform_(w, -0.1, 0.1)
        nn.init.zeros_(self.bias)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        y = F.linear(inputs[0], self.weights[0], self.bias)
        for x, w in zip(inputs[1:], list(self.weights)[1:]):
            y = y + F.linear(x, w)
        return y


class CustomRNNCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, recipe):
        super().__init__()
        self.recipe, self.order, self.n_state = parse_recipe(recipe)
        self.components = nn.ModuleDict({
            k: MultiLinear([input_size if i == "x" else hidden_size for i in v["input"]], hidden_size)
            for k, v in self.recipe.items() if v["op"] == "linear"})

    def forward(self, x: torch.Tensor, hidden: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        vals: dict[str, torch.Tensor] = {"x": x}
        for i, h in enumerate(hidden):
            vals[f"h_prev_{i}"] = h
        for n in self.order:
            op, ins = self.recipe[n]["op"], [vals[i] for i in self.recipe[n]["input"]]
            if op == "linear":
                y = self.components[n](*ins)
            elif op == "activation_tanh":
                y = torch.tanh(ins[0])
            elif op == "activation_sigm":
                y = torch.sigmoid(ins[0])
            elif op == "activation_leaky_relu":
                y = F.leaky_relu(ins[0], LEAKY_SLOPE)
            elif op == "blend":
                y = ins[0] * ins[1] + (1 - ins[0]) * ins[2]
            else:
                f = torch.add if op == "elementwise_sum" else torch.mul
                y = f(ins[0], ins[1])
                for t in ins[2:]:
                    y = f(y, t)
            vals[n] = y
        return tuple(vals[f"h_new_{i}"] for i in range(self.n_state))


class CustomRNN(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, recipe):
        super().__init__()
        self.cell = CustomRNNCell(input_size, hidden_size, recipe)


class NLPLanguageModel(nn.Module):
    """``forward(tokens [1] int64, *h_prev)`` → ``(logits [1, ntokens], *h_new)``; the states are
    flat, layer by layer (``n_state`` tensors per layer, [1, hidden of that layer])."""

    def __init__(self, recipe, *, ntokens: int = NTOKENS, emsize: int = EMSIZE, nhid: int = NHID,
                 nlayers: int = NLAYERS):
        super().__init__()
        self.encoder = nn.Embedding(ntokens, emsize)
        self.rnns = nn.ModuleList([CustomRNN(i, h, recipe) for i, h in layer_sizes(emsize, nhid, nlayers)])
        self.decoder = nn.Linear(emsize, ntokens)
        self.decoder.weight = self.encoder.weight  # tie_weights
        self.n_state = self.rnns[0].cell.n_state
        self.sizes = layer_sizes(emsize, nhid, nlayers)

    def forward(self, tokens: torch.Tensor, *hidden: torch.Tensor):
        k = self.n_state
        if len(hidden) != k * len(self.rnns):
            raise ValueError(f"expected {k * len(self.rnns)} state tensors, got {len(hidden)}")
        x = self.encoder(tokens)
        new: list[torch.Tensor] = []
        for li, rnn in enumerate(self.rnns):
            h = rnn.cell(x, tuple(hidden[li * k:(li + 1) * k]))
            new.extend(h)
            x = h[0]
        return (self.decoder(x), *new)

    def example_inputs(self) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(1)
        hs = [torch.randn(1, h, generator=g) for _, h in self.sizes for _ in range(self.n_state)]
        return (torch.tensor([7], dtype=torch.long), *hs)


def n_params(module: nn.Module) -> int:
    """``parameters()`` (the tied weight once), the published ``num_params`` convention."""
    return sum(p.numel() for p in module.parameters())
