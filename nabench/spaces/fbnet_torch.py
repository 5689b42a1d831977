"""nabench's own PyTorch reference module for an FBNet-space network (HW-NAS-Bench / HELP).

Written from (read, not copied) GATECH-EIC/HW-NAS-Bench
``hw_nas_bench_api/fbnet_models/model_infer.py`` (``FBNet_Infer``, ``ConvBlock``, ``Skip``,
``ConvNorm``, ``ChannelShuffle``, ``OPS``/``PRIMITIVES``); module and parameter names are the
reference's (``stem.conv``, ``cells.<i>.conv1`` ... ``bn3``, ``header.bn``, ``fc``), so its
``state_dict`` keys match a HW-NAS-Bench checkpoint's. See :mod:`nabench.onnx_build.fbnet` for the
skeleton (stem 16 ch, stages [1,4,4,4,4,4,1] x [16,24,32,64,112,184,352], CIFAR strides
[1,1,2,2,1,2,1], header 1504, avg-pool, linear) with its sources.

Differences that do not change the function: ``ChannelShuffle`` uses the widths known at
construction instead of ``x.size()`` (so the export has no shape arithmetic), the classifier
input is flattened with ``torch.flatten(x, 1)`` instead of ``.view(N, -1)``, ReLUs are not
in-place, and ``init_params`` (kaiming/normal initialisation) is not reproduced.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from nabench.onnx_build.fbnet import (
    CHANNELS,
    SETTINGS,
    STEM_CHANNELS,
    _kind,
    block_params,
    layer_plan,
    parse_ops,
)


class ChannelShuffle(nn.Module):
    """[N,C,H,W] -> [N,g,C/g,H,W] -> [N,C/g,g,H,W] -> [N,C,H,W]."""

    def __init__(self, groups: int, channels: int):
        super().__init__()
        if channels % groups:
            raise ValueError(f"channels {channels} not divisible by groups {groups}")
        self.groups, self.channels = groups, channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        g = self.groups
        return x.reshape(n, g, self.channels // g, h, w).permute(0, 2, 1, 3, 4).reshape(n, self.channels, h, w)


class ConvNorm(nn.Module):
    """Conv2d(bias=False) → BatchNorm2d → ReLU (stem and header)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class ConvBlock(nn.Module):
    """1x1 (groups g) → BN → ReLU [→ shuffle] → kxk depthwise → BN → ReLU → 1x1 (groups g) → BN
    [+ identity when C_in == C_out and stride 1]."""

    def __init__(self, c_in: int, c_out: int, expansion: int, kernel_size: int, stride: int, groups: int):
        super().__init__()
        mid = c_in * expansion
        pad = math.ceil((kernel_size - stride) / 2)
        self.residual = c_in == c_out and stride == 1
        self.shuffle = ChannelShuffle(groups, mid) if groups > 1 else None
        self.conv1 = nn.Conv2d(c_in, mid, 1, 1, 0, groups=groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size, stride, pad, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, 1, 0, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.nl = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.nl(self.bn1(self.conv1(x)))
        if self.shuffle is not None:
            y = self.shuffle(y)
        y = self.nl(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return y + x if self.residual else y


class Skip(nn.Module):
    """Identity, or Conv1x1(stride) → BN → ReLU when the stride is 2 or the width changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.project = stride == 2 or c_in != c_out
        if self.project:
            self.conv = nn.Conv2d(c_in, c_out, 1, stride=stride, padding=0, bias=False)
            self.bn = nn.BatchNorm2d(c_out)
            self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x))) if self.project else x


def make_op(op: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    kind = block_params(op)
    if kind is None:
        return Skip(c_in, c_out, stride)
    k, e, g = kind
    return ConvBlock(c_in, c_out, e, k, stride, g)


class FBNet(nn.Module):
    """``FBNet_Infer`` for 22 block names (or op indices); CIFAR-100 by default."""

    def __init__(self, arch, dataset: str = "cifar100", num_classes: int | None = None):
        super().__init__()
        self.ops = parse_ops(arch)
        stem_stride, _, header = SETTINGS[_kind(dataset)]
        if num_classes is None:
            num_classes = {"cifar10": 10, "cifar100": 100}.get(dataset, 1000)
        self.stem = ConvNorm(3, STEM_CHANNELS, 3, stem_stride, 1)
        self.cells = nn.ModuleList(make_op(op, ci, co, s) for op, (ci, co, s) in zip(self.ops, layer_plan(dataset)))
        self.header = ConvNorm(CHANNELS[-1], header, 1, 1, 0)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(header, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.fc(torch.flatten(self.avgpool(self.header(x)), 1))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
