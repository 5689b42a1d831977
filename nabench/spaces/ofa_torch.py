"""nabench's own PyTorch reference module for an OFA MobileNetV3 subnet (HELP's ``help-ofa``).

Written from (read, not copied) mit-han-lab/once-for-all:
``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py`` (``OFAMobileNetV3``: widths,
strides, activations, SE stages, ``get_active_subnet``),
``ofa/imagenet_classification/networks/mobilenet_v3.py`` (the static ``MobileNetV3`` a subnet
is: first conv, blocks, final expand, global pool, feature mix, classifier),
``ofa/utils/layers.py`` (``ConvLayer``, ``MBConvLayer``, ``ResidualBlock``, ``LinearLayer``) and
``ofa/utils/pytorch_modules.py`` (``make_divisible``, ``SEModule``, ``Hswish``, ``Hsigmoid``),
with the mid widths of ``DynamicMBConvLayer.get_active_subnet_config``
(``ofa/imagenet_classification/elastic_nn/modules/dynamic_layers.py``). Module names are the
static ``MobileNetV3``'s, so ``state_dict`` keys match an OFA subnet checkpoint.
See :mod:`nabench.onnx_build.ofa` for the skeleton and its sources (HELP: width 1.2).

Numerically equivalent substitutions: ``nn.Hardswish`` / ``nn.Hardsigmoid`` for OFA's
``Hswish`` / ``Hsigmoid`` (same formula), ``AdaptiveAvgPool2d(1)`` for
``x.mean(3, keepdim=True).mean(2, keepdim=True)``, ``torch.flatten(x, 1)`` for ``.view(N, -1)``,
and no dropout (``ofa_net`` builds the supernet with ``dropout_rate=0``).
"""

from __future__ import annotations

import torch
from torch import nn

from nabench.onnx_build.ofa import (
    ACT_STAGES,
    SE_STAGES,
    STRIDE_STAGES,
    WIDTH_MULT,
    active_blocks,
    make_divisible,
    parse,
    widths,
)


def _act(name: str) -> nn.Module:
    return nn.ReLU() if name == "relu" else nn.Hardswish()


class SEModule(nn.Module):
    def __init__(self, channel: int, reduction: int = 4):
        super().__init__()
        mid = make_divisible(channel // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential()
        self.fc.add_module("reduce", nn.Conv2d(channel, mid, 1, 1, 0, bias=True))
        self.fc.add_module("relu", nn.ReLU())
        self.fc.add_module("expand", nn.Conv2d(mid, channel, 1, 1, 0, bias=True))
        self.fc.add_module("h_sigmoid", nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


def _conv_bn_act(c_in: int, c_out: int, k: int, stride: int, groups: int, act: str | None) -> nn.Sequential:
    s = nn.Sequential()
    s.add_module("conv", nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False))
    s.add_module("bn", nn.BatchNorm2d(c_out))
    if act is not None:
        s.add_module("act", _act(act))
    return s


class MBConvLayer(nn.Module):
    """[1x1 expand → BN → act] → kxk depthwise → BN → act [→ SE] → 1x1 → BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, expand_ratio: int, act: str, use_se: bool,
                 mid: int | None = None):
        super().__init__()
        mid = make_divisible(round(c_in * expand_ratio)) if mid is None else mid
        self.inverted_bottleneck = None if expand_ratio == 1 else _conv_bn_act(c_in, mid, 1, 1, 1, act)
        self.depth_conv = _conv_bn_act(mid, mid, k, stride, mid, act)
        if use_se:
            self.depth_conv.add_module("se", SEModule(mid))
        self.point_linear = _conv_bn_act(mid, c_out, 1, 1, 1, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class ResidualBlock(nn.Module):
    def __init__(self, conv: nn.Module, shortcut: bool):
        super().__init__()
        self.conv = conv
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x if self.shortcut else self.conv(x)


class OFAMobileNetV3Subnet(nn.Module):
    """The static ``MobileNetV3`` of ``OFAMobileNetV3(width_mult).set_active_subnet(ks, e, d)``."""

    def __init__(self, ks, e, d, r: int = 224, width_mult: float = WIDTH_MULT, num_classes: int = 1000):
        super().__init__()
        ks, e, d, r = parse(ks, e, d, r)
        self.resolution = r
        w, final_expand, last = widths(width_mult)
        self.first_conv = _conv_bn_act(3, w[0], 3, 2, 1, "h_swish")
        blocks = [ResidualBlock(MBConvLayer(w[0], w[1], 3, STRIDE_STAGES[0], 1, ACT_STAGES[0], SE_STAGES[0], mid=w[0]),
                                w[0] == w[1])]
        for c_in, c_out, k, ee, s, act, se, short in active_blocks(ks, e, d, width_mult):
            blocks.append(ResidualBlock(MBConvLayer(c_in, c_out, k, s, ee, act, se), short))
        self.blocks = nn.ModuleList(blocks)
        self.final_expand_layer = _conv_bn_act(w[-1], final_expand, 1, 1, 1, "h_swish")
        self.global_avg_pool = nn.AdaptiveAvgPool2d(1)
        self.feature_mix_layer = nn.Sequential()
        self.feature_mix_layer.add_module("conv", nn.Conv2d(final_expand, last, 1, 1, 0, bias=False))
        self.feature_mix_layer.add_module("act", nn.Hardswish())
        self.classifier = nn.Sequential()
        self.classifier.add_module("linear", nn.Linear(last, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_conv(x)
        for block in self.blocks:
            x = block(x)
        x = self.feature_mix_layer(self.global_avg_pool(self.final_expand_layer(x)))
        return self.classifier(torch.flatten(x, 1))


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
