"""nabench's own PyTorch reference module for a NAS-Bench-301 (DARTS space) network.

Two variants of the same macro skeleton (written from the reference code, read, not copied):

``variant="darts"`` (default) — the network NAS-Bench-301 actually trained. NB301's data
generation (automl/nasbench301 ``nasbench301/data_generation/run_proxy.py``) trains Auto-PyTorch's
``darts`` network (automl/Auto-PyTorch ``autoPyTorch/components/networks/image/darts/model.py``,
a copy of quark0/darts ``cnn/model.py`` ``NetworkCIFAR`` with ``cnn/operations.py``) with the
config in ``nasbench301/data_generation/configs/config_0.json``: ``init_channels`` 32, ``layers``
8, ``auxiliary`` True, ``drop_path_prob`` 0.2 (training only), 100 epochs.

- stem: ``Conv3x3(3 → 3C, bias=False)`` + ``BatchNorm2d(3C)``;
- ``layers`` cells; cells ``layers//3`` and ``2*layers//3`` are reduction cells and double C;
  cell i reads the outputs of cells i-2 and i-1 (both = stem output for the first cell);
- cell: ``preprocess0`` = ``FactorizedReduce(C_pp, C)`` after a reduction cell, else
  ``ReLUConvBN(C_pp, C, 1)``; ``preprocess1`` = ``ReLUConvBN(C_p, C, 1)``; four intermediate
  nodes, each the sum of two ops on earlier states; output = concat of the four nodes (4C);
  in a reduction cell, ops reading the two cell inputs have stride 2;
- ops (``OPS[name](C, stride, affine=True)``): ``sep_conv_kxk`` = (ReLU, depthwise kxk,
  pointwise 1x1, BN) twice, the first depthwise with the stride; ``dil_conv_kxk`` = ReLU,
  depthwise kxk dilation 2 (pad k-1), pointwise, BN; ``max_pool_3x3`` = ``MaxPool2d(3, s, 1)``;
  ``avg_pool_3x3`` = ``AvgPool2d(3, s, 1, count_include_pad=False)`` (no BN after pools);
  ``skip_connect`` = identity, or ``FactorizedReduce(C, C)`` at stride 2 (ReLU; two 1x1 stride-2
  convs to C/2 on ``x`` and ``x[:, :, 1:, 1:]``, concatenated; BN);
- head: global average pool, ``Linear(4C_last → classes)``; the auxiliary head
  (``AuxiliaryHeadCIFAR`` on cell ``2*layers//3``: ReLU, AvgPool(5, s3), Conv1x1 → 128, BN,
  ReLU, Conv2x2 → 768, BN, ReLU, Linear(768 → classes)) is used in training only, so it is left
  out unless ``auxiliary=True``. Drop path is a training-time op, never in the graph.

``variant="naslib"`` — NASLib's ``NasBench301SearchSpace`` (automl/NASLib
``naslib/search_spaces/nasbench301/graph.py`` ``_set_ops``, ``naslib/search_spaces/core/primitives.py``),
the network on which NAS-Bench-Suite-Zero computed its zero-cost proxies (and the published
``params``): same skeleton with channels [32, 64, 128], but the cell ops are built with
``affine=False`` (BatchNorms of sep/dil convs and of the stride-2 skip's FactorizedReduce have no
weight/bias) and each pool is followed by ``BatchNorm2d(C, affine=False)``
(``MaxPool``/``AvgPool`` with ``use_bn=True``). Preprocessing, stem and classifier keep affine BN.
NASLib adds the auxiliary head only in ``prepare_evaluation``, not for the proxies.

Zero ops: NB301 has no ``none`` op. ``nabench.onnx_build.nb301`` builds the same graph, op for
op, with this module's ``state_dict`` keys as weight names.
"""

from __future__ import annotations

import torch
from torch import nn

from nabench.onnx_build.nb301 import VARIANTS, parse_genotype, reduction_layers


class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, 1, bias=False),
                                nn.BatchNorm2d(c_out, affine=affine))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class SepConv(nn.Module):
    def __init__(self, c: int, k: int, stride: int, affine: bool):
        super().__init__()
        p = k // 2
        self.op = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, 1, p, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c: int, k: int, stride: int, affine: bool):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False), nn.Conv2d(c, c, k, stride, k - 1, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))

    def forward(self, x):
        return self.op(x)


def make_op(name: str, c: int, stride: int, *, affine: bool, pool_bn: bool) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = nn.MaxPool2d(3, stride, 1) if name == "max_pool_3x3" else \
            nn.AvgPool2d(3, stride, 1, count_include_pad=False)
        return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False)) if pool_bn else pool
    k = int(name[-1])
    if name.startswith("sep_conv"):
        return SepConv(c, k, stride, affine)
    if name.startswith("dil_conv"):
        return DilConv(c, k, stride, affine)
    raise ValueError(f"unknown NB301 op {name!r}")


class Cell(nn.Module):
    def __init__(self, cell: tuple[tuple[str, int], ...], c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, *, affine: bool, pool_bn: bool):
        super().__init__()
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c)
        self.preprocess1 = ReLUConvBN(c_p, c)
        self.indices = [i for _, i in cell]
        self._ops = nn.ModuleList(make_op(name, c, 2 if reduction and i < 2 else 1, affine=affine, pool_bn=pool_bn)
                                  for name, i in cell)

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j in range(4):
            a, b = 2 * j, 2 * j + 1
            states.append(self._ops[a](states[self.indices[a]]) + self._ops[b](states[self.indices[b]]))
        return torch.cat(states[2:], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class NB301Network(nn.Module):
    """The NB301 evaluation network for one genotype (any form :func:`parse_genotype` accepts)."""

    def __init__(self, genotype, *, C: int = 32, layers: int = 8, num_classes: int = 10, variant: str = "darts",
                 auxiliary: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
        affine, pool_bn = VARIANTS[variant]["affine"], VARIANTS[variant]["pool_bn"]
        normal, reduce = parse_genotype(genotype)
        self.auxiliary = auxiliary
        c_stem = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(3, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_pp, c_p, c = c_stem, c_stem, C
        reds = reduction_layers(layers)
        self.aux_at = 2 * layers // 3
        cells, red_prev, c_aux = [], False, None
        for i in range(layers):
            red = i in reds
            if red:
                c *= 2
            cells.append(Cell(reduce if red else normal, c_pp, c_p, c, red, red_prev, affine=affine, pool_bn=pool_bn))
            red_prev = red
            c_pp, c_p = c_p, 4 * c
            if i == self.aux_at:
                c_aux = c_p
        self.cells = nn.ModuleList(cells)
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_at and self.auxiliary:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(torch.flatten(self.global_pooling(s1), 1))
        return (logits, aux) if self.auxiliary else logits


def n_params(module: nn.Module) -> int:
    """Trainable parameters (``parameters()``; BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in module.parameters())
