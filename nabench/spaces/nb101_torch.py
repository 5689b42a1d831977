"""nabench's own PyTorch reference module for a NAS-Bench-101 network.

Written from (read, not copied) the NB101 reference implementation, google-research/nasbench
(TensorFlow); EC-NAS-Bench trains the same network (PedramBakh/EC-NAS-Bench,
``ecnas/vendors/ec_nasbench/nasbench/lib/{model_builder,base_ops,config}.py`` are NB101's files
with the same defaults):

- macro skeleton — ``nasbench/lib/model_builder.py`` (``build_model_fn``) with the defaults of
  ``nasbench/lib/config.py``: stem ``conv_bn_relu(3x3, stem_filter_size=128)``; ``num_stacks=3``
  stacks of ``num_modules_per_stack=3`` modules; before stacks 1 and 2 a
  ``max_pooling2d(2x2, stride 2, 'same')`` and the channel count doubles (128, 256, 512);
  global average pool (``reduce_mean`` over H, W); ``dense(num_labels=10)`` with bias.
- ``conv_bn_relu`` — ``nasbench/lib/base_ops.py``: ``conv2d(use_bias=False, 'same')`` →
  ``batch_normalization`` (TF defaults ``center=True, scale=True``: trainable beta and gamma;
  ``epsilon=1e-5``) → ReLU. Ops: ``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3`` =
  ``max_pooling2d(3x3, stride 1, 'same')`` (TF's 'same' max pool ignores the padding, as
  PyTorch's padded max pool does).
- module — ``model_builder.py`` ``build_module`` / ``compute_vertex_channels`` / ``projection`` /
  ``truncate``: the output's channels are split evenly among the vertices feeding the output
  (the first ``C % k`` of them get one more); other interior vertices take the max of their
  successors' channels. Vertex t's input is the sum (``add_n``: interior predecessors in vertex
  order, each truncated to the vertex's channels by a channel slice, then the input's
  projection) where the input → t edge is replaced by a ``projection`` (1x1 conv_bn_relu from
  the module input to the vertex's channels). The module output is the channel concatenation
  of the vertices feeding the output (in vertex order), plus a projection of the module input
  if input → output is an edge; a cell with only input → output is that projection.

Parameter convention: PyTorch ``parameters()`` (conv weights, BN gamma and beta, dense weight and
bias; BN running statistics are buffers). This equals NB101's ``trainable_parameters`` (TF's
trainable variables: the same tensors) and EC-NAS's ``trainable_params``.
``nabench.onnx_build.nb101`` builds the same graph, op for op, with the same weight names.
"""

from __future__ import annotations

import torch
from torch import nn

from nabench.spaces import nb101

#: NB101 training defaults (``nasbench/lib/config.py``).
STEM_FILTERS = 128
NUM_STACKS = 3
MODULES_PER_STACK = 3
NUM_LABELS = 10
BN_EPS = 1e-5


def vertex_channels(c_in: int, c_out: int, matrix) -> list[int]:
    """Channels of every vertex (upstream ``compute_vertex_channels``) of a pruned matrix."""
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[n - 1] = c_in, c_out
    if n == 2:
        return ch
    feeding_out = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    base, extra = divmod(c_out, len(feeding_out))
    for v in feeding_out:
        ch[v] = base + (1 if extra else 0)
        extra = max(extra - 1, 0)
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v][dst]:
                    ch[v] = max(ch[v], ch[dst])
        if ch[v] <= 0:
            raise ValueError(f"vertex {v} gets no channels")
    return ch


class ConvBnRelu(nn.Module):
    """``conv_bn_relu``: Conv2d(k, 'same', no bias) → BatchNorm2d(eps 1e-5) → ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=1, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def _op(label: str, c_in: int, c_out: int) -> nn.Module:
    if label == nb101.CONV3X3:
        return ConvBnRelu(c_in, c_out, 3)
    if label == nb101.CONV1X1:
        return ConvBnRelu(c_in, c_out, 1)
    if label == nb101.MAXPOOL3X3:
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NB101 op {label!r}")


class Cell(nn.Module):
    """One NB101 module. Submodules: ``proj{t}`` (projection of the input to vertex t; ``t = n-1``
    for the output) and ``op{t}`` (the op at interior vertex t)."""

    def __init__(self, cell: nb101.Cell, c_in: int, c_out: int):
        super().__init__()
        self.matrix = [list(r) for r in cell.matrix]
        n = self.n = cell.n_vertices
        self.channels = vertex_channels(c_in, c_out, self.matrix)
        for t in range(1, n):
            if self.matrix[0][t]:
                self.add_module(f"proj{t}", ConvBnRelu(c_in, self.channels[t], 1))
        for t in range(1, n - 1):
            # maxpool keeps its input's channels; the vertex input has ch[t] channels
            self.add_module(f"op{t}", _op(cell.ops[t], self.channels[t], self.channels[t]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, m, ch = self.n, self.matrix, self.channels
        tensors = [x]
        concat = []
        for t in range(1, n - 1):
            terms = [tensors[s][:, :ch[t]] if ch[s] > ch[t] else tensors[s]
                     for s in range(1, t) if m[s][t]]
            if m[0][t]:
                terms.append(getattr(self, f"proj{t}")(x))
            acc = terms[0]
            for y in terms[1:]:
                acc = acc + y
            tensors.append(getattr(self, f"op{t}")(acc))
            if m[t][n - 1]:
                concat.append(tensors[t])
        if not concat:
            return getattr(self, f"proj{n - 1}")(x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        if m[0][n - 1]:
            out = out + getattr(self, f"proj{n - 1}")(x)
        return out


class NB101Network(nn.Module):
    """The network NAS-Bench-101 trained for one cell (``model_builder.build_model_fn``).

    ``matrix``/``ops``: an NB101 cell (pruned here, as upstream's ``ModelSpec`` does).
    Submodules: ``stem``, ``cells.{k}`` (k = stack * modules_per_stack + module),
    ``downsample{s}`` (stride-2 max pool before stack s > 0), ``classifier``.
    """

    def __init__(self, matrix, ops, *, num_labels: int = NUM_LABELS, stem_filters: int = STEM_FILTERS,
                 num_stacks: int = NUM_STACKS, modules_per_stack: int = MODULES_PER_STACK):
        super().__init__()
        cell = nb101.prune(matrix, ops)
        self.cell = cell
        self.stem = ConvBnRelu(3, stem_filters, 3)
        cells: list[nn.Module] = []
        c = stem_filters
        self.stacks = num_stacks
        self.per_stack = modules_per_stack
        for s in range(num_stacks):
            c_in = c
            if s:
                # TF 'same' 2x2/2 pooling = ceil mode (pads the bottom/right on odd sizes)
                self.add_module(f"downsample{s}", nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c *= 2
            for _ in range(modules_per_stack):
                cells.append(Cell(cell, c_in, c))
                c_in = c
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_labels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        k = 0
        for s in range(self.stacks):
            if s:
                x = getattr(self, f"downsample{s}")(x)
            for _ in range(self.per_stack):
                x = self.cells[k](x)
                k += 1
        return self.classifier(torch.flatten(self.global_pooling(x), 1))


def n_params(module: nn.Module) -> int:
    """Trainable parameters (``parameters()``; BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
