"""nabench's own PyTorch reference module for a NAS-Bench-201 network.

Written from (read, not copied) the NB201 reference implementation, D-X-Y/AutoDL-Projects:

- macro skeleton — ``xautodl/models/cell_infers/tiny_network.py`` (``TinyNetwork``):
  stem ``Conv3x3(3→C, bias=False)`` + ``BatchNorm2d(C)``; ``N`` cells at C, a
  ``ResNetBasicblock(C→2C, stride 2)``, ``N`` cells at 2C, ``ResNetBasicblock(2C→4C, stride 2)``,
  ``N`` cells at 4C; ``lastact = BatchNorm2d(4C) + ReLU``; ``AdaptiveAvgPool2d(1)``;
  ``Linear(4C → num_classes)`` with bias.
- cell — ``xautodl/models/cell_infers/cells.py`` (``InferCell``): node j is the *sum* of its
  incoming edges ``op(node_i)``; the cell returns the last node (3). In cells C_in == C_out and
  stride == 1, so every edge op is built with ``(C, C, stride=1)``.
- ops — ``xautodl/models/cell_operations.py``:
  ``nor_conv_kxk`` = ``ReLUConvBN``: ReLU → Conv(k, stride 1, pad k//2, ``bias = not affine`` =
  False) → BatchNorm2d(affine=True); ``avg_pool_3x3`` = ``POOLING``: ``AvgPool2d(3, stride 1,
  pad 1, count_include_pad=False)`` (its preprocessing ``ReLUConvBN`` exists only when
  C_in != C_out, never inside a cell); ``skip_connect`` = ``Identity`` (stride 1, C_in == C_out);
  ``none`` = ``Zero``: ``x.mul(0.0)``; ``ResNetBasicblock(stride 2)`` = ``conv_a`` ReLUConvBN(3x3,
  stride 2) → ``conv_b`` ReLUConvBN(3x3), plus shortcut ``AvgPool2d(2, stride 2)`` →
  ``Conv1x1(bias=False)``, summed.

Zero handling (numerically identical to the reference for finite inputs): a ``none`` edge
contributes ``x * 0`` to a sum, so it is dropped. A node whose incoming edges are *all* ``none``
is the zero tensor; it is represented by one ``x.mul(0.0)`` of the cell input (same shape),
and its outgoing edges are kept: a ReLUConvBN applied to zeros is not zero (BatchNorm adds its
shift), its parameters exist in the trained network and are counted in the published
parameter numbers. If node 3 is zero, the cell outputs zeros.
``nabench.onnx_build.nb201`` builds the same graph, op for op.
"""

from __future__ import annotations

import torch
from torch import nn

from nabench.spaces import nb201

#: The edges of a cell, named ``e{i}{j}`` for edge i→j, in NB201 string order.
EDGE_KEYS = tuple(f"e{i}{j}" for i, j in nb201.EDGES)


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv2d(bias=False) → BatchNorm2d(affine=True)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)


class ResNetBasicblock(nn.Module):
    """The stride-2 reduction block between stages."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def _edge_op(op: str, c: int) -> nn.Module | None:
    if op == "none":
        return None
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {op!r}")


class Cell(nn.Module):
    """An NB201 inference cell on 4 nodes; edge i→j is submodule ``e{i}{j}``, absent if ``none``."""

    def __init__(self, arch_str: str, c: int):
        super().__init__()
        self.incoming: dict[int, list[int]] = {1: [], 2: [], 3: []}
        for (i, j), op in nb201.edge_ops(arch_str).items():
            m = _edge_op(op, c)
            if m is not None:
                self.add_module(f"e{i}{j}", m)
                self.incoming[j].append(i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            acc = None
            for i in self.incoming[j]:
                y = getattr(self, f"e{i}{j}")(nodes[i])
                acc = y if acc is None else acc + y
            nodes.append(x.mul(0.0) if acc is None else acc)
        return nodes[3]


class NB201Network(nn.Module):
    """The network NAS-Bench-201 trained for one cell (``TinyNetwork``)."""

    def __init__(self, arch_str: str, num_classes: int = 10, C: int = 16, N: int = 5):
        super().__init__()
        nb201.parse(arch_str)
        self.arch_str = arch_str
        self.stem = nn.Sequential(nn.Conv2d(3, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        c_prev = C
        for stage, c in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                cells.append(ResNetBasicblock(c_prev, c))
            cells.extend(Cell(arch_str, c) for _ in range(N))
            c_prev = c
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(torch.flatten(x, 1))


def n_params(module: nn.Module) -> int:
    """Trainable parameters (``parameters()``; BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
