"""nabench's own PyTorch reference module for TransNAS-Bench-101 networks (micro and macro).

Written from (read, not copied) the reference implementation, yawen-d/TransNASBench
(``lib/models/...``), as vendored by automl/NASLib in
``naslib/search_spaces/transbench101/tnb101/`` (``model_builder.py`` ``create_model``, the code
NAS-Bench-Suite-Zero built its TransNAS networks with):

- encoder — ``models/net_infer/net_macro.py`` ``MacroNet(net_code, structure='backbone')``: stem
  ``Conv3x3(3→C/2, stride 2, no bias)`` + ``BatchNorm2d`` + ``ReLUConvBN(C/2→C, 3x3, stride 2)``;
  then one layer per macro digit (``1`` plain, ``2`` channels x2, ``3`` stride 2, ``4`` both), each
  two blocks (the first carries the stride and the channel change); no pooling or head.
- blocks — ``models/net_infer/cell_micro.py``: ``MicroCell`` (micro space: 4 nodes, node j the sum
  of ``op(node_i)``, edges from node 0 carry ``(C_in, C_out, stride)``, the others
  ``(C_out, C_out, 1)``) and ``ResNetBasicblock`` (macro space: ``conv_a`` ReLUConvBN 3x3 with the
  stride, ``conv_b`` ReLUConvBN 3x3, shortcut ``Conv1x1(stride) + BatchNorm2d(planes, affine,
  track_running_stats)`` when the shape changes — the two booleans land in BatchNorm2d's positional
  ``eps`` and ``momentum``, so that BN has ``eps = 1.0``, kept here; ``residual + feature``).
- ops — ``models/net_ops/cell_ops.py``: ``0`` Zero, ``1`` Identity (``FactorizedReduce`` when the
  stride or the channels change: ReLU, two ``Conv1x1(stride 2)`` on x and on x shifted by one pixel
  (``ConstantPad2d((0,1,0,1))`` then ``[:, :, 1:, 1:]``), concatenated, BN), ``2`` ReLUConvBN 1x1,
  ``3`` ReLUConvBN 3x3 (ReLU → Conv(bias=False) → BN).
- heads — ``models/task_models/decoder.py`` and the task configs
  (``configs/train_from_scratch/<task>/config.py``): ``FFDecoder`` (GAP + Linear) for
  class_scene (63), class_object (100), room_layout (9); ``SiameseDecoder`` (GAP over the channel
  concatenation of the 9 tile encodings, Linear(9C → 1000)) for jigsaw (``SiameseNet``, 64x64 tiles);
  ``SegmentationDecoder`` (17 classes) for segmentsemantic; ``GenerativeDecoder`` (3 channels,
  Tanh) for normal and autoencoder (``GAN``; its ``Discriminator`` is a training-only module, not
  part of the network that maps an image to a prediction, and is left out).

Zero handling: a Zero edge contributes ``0`` to its node's sum and is dropped (exact for finite
inputs); a node whose incoming edges are all Zero is a zero tensor: ``x.mul(0)`` of the cell input
when the shapes agree, else ``new_zeros`` of the node's shape (the reference's ``Zero`` does the
same); outgoing edges of a zero node are kept (BN of zeros is BN's shift, and the weights exist).
Jigsaw: the 9 tiles go through the shared encoder as one batch (``(B, 9, 3, h, w) → (9B, ...)``), and
the pooled features are reshaped to ``(B, 9C)`` — in eval mode the same numbers as the reference's
loop over tiles with ``torch.cat(dim=1)``.
"""

from __future__ import annotations

import torch
from torch import nn

from nabench.onnx_build import transnas as T


class ReLUConvBN(nn.Module):
    def __init__(self, c_in: int, c_out: int, k: int, stride: int, pad: int):
        super().__init__()
        self.ops = nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, k, stride, pad, bias=False),
                                 nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ops(x)


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c, 1, stride=stride, padding=0, bias=False)
                                   for c in (c_out // 2, c_out - c_out // 2))
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # the pad row/column is read only at odd sizes (even sizes: skip it, same numbers, cleaner export)
        y = x if x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 else self.pad(x)
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1))


def _edge(code: int, c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if code == 0:
        return None
    if code == 1:
        return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)
    k = 1 if code == 2 else 3
    return ReLUConvBN(c_in, c_out, k, stride, k // 2)


class MicroCell(nn.Module):
    """Edges in TransNAS order (0→1 | 0→2, 1→2 | 0→3, 1→3, 2→3) are ``edges.0`` ... ``edges.5``
    (a ModuleDict keyed by position: Zero edges have no module)."""

    def __init__(self, codes: tuple[int, ...], c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.same = stride == 1 and c_in == c_out
        self.edges = nn.ModuleDict()
        self.incoming: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 3: []}
        for k, ((i, j), code) in enumerate(zip(T.MICRO_EDGES, codes)):
            m = _edge(code, c_in, c_out, stride) if i == 0 else _edge(code, c_out, c_out, 1)
            if m is not None:
                self.edges[str(k)] = m
                self.incoming[j].append((k, i))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            acc = None
            for k, i in self.incoming[j]:
                y = self.edges[str(k)](nodes[i])
                acc = y if acc is None else acc + y
            if acc is None:
                if self.same:
                    acc = x.mul(0.0)
                else:
                    h, w = int(x.shape[2]), int(x.shape[3])
                    acc = x.new_zeros((int(x.shape[0]), self.c_out, (h - 1) // self.stride + 1,
                                       (w - 1) // self.stride + 1))
            nodes.append(acc)
        return nodes[3]


class ResNetBasicblock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            # reference: nn.BatchNorm2d(planes, affine, track_running_stats) → eps=True, momentum=True
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, padding=0, bias=False),
                                            nn.BatchNorm2d(c_out, eps=T.SHORTCUT_BN_EPS, momentum=1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv_b(self.conv_a(x))
        r = x if self.downsample is None else self.downsample(x)
        return r + f


class Encoder(nn.Module):
    """``MacroNet(net_code, structure='backbone')``."""

    def __init__(self, net: T.TNBNet):
        super().__init__()
        C = net.base_channels
        self.stem = nn.Sequential(nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2),
                                  ReLUConvBN(C // 2, C, 3, 2, 1))
        c = C
        self.n_layers = len(net.macro_code)
        for i, (c_out, stride) in enumerate(T.layer_plan(net)):
            blocks = []
            for b in range(2):
                s, ci = (stride, c) if b == 0 else (1, c_out)
                blocks.append(ResNetBasicblock(ci, c_out, s) if net.cell is None else MicroCell(net.cell, ci, c_out, s))
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            c = c_out
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in range(self.n_layers):
            x = getattr(self, f"layer{i}")(x)
        return x


class FFDecoder(nn.Module):
    def __init__(self, c: int, n_out: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ConvLayer(nn.Module):
    def __init__(self, c_in: int, c_out: int, act: str | None, norm: bool, transposed: bool = False):
        super().__init__()
        self.conv = (nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1) if transposed
                     else nn.Conv2d(c_in, c_out, 3, stride=1, padding=1))
        self.norm = nn.BatchNorm2d(c_out) if norm else None
        self.activation = {"leaky": nn.LeakyReLU(0.2, False), "tanh": nn.Tanh(), None: None}[act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return x if self.activation is None else self.activation(x)


class _SeqDecoder(nn.Module):
    """SegmentationDecoder (``model.{i}``) / GenerativeDecoder (``conv{i}``) from a layer plan."""

    def __init__(self, plan: list[T.DecoderLayer]):
        super().__init__()
        self.names = []
        for L in plan:
            mod = self
            parts = L.name.split(".")
            for p in parts[:-1]:
                if not hasattr(mod, p):
                    mod.add_module(p, nn.Module())
                mod = getattr(mod, p)
            mod.add_module(parts[-1], ConvLayer(L.c_in, L.c_out, L.act, L.norm, L.transposed))
            self.names.append(L.name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for n in self.names:
            x = self.get_submodule(n)(x)
        return x


class TransNASNetwork(nn.Module):
    """Encoder + the decoder of ``task`` (``create_model(encoder_str, task_name)``)."""

    def __init__(self, arch: str, task: str = T.DEFAULT_TASK, space: str | None = None):
        super().__init__()
        net = T.parse(arch, space)
        T.check_task(task)
        self.task = task
        self.encoder = Encoder(net)
        c = self.encoder.out_channels
        if task in T.FF_TASKS:
            self.decoder = FFDecoder(c, T.FF_TASKS[task])
        elif task == "jigsaw":
            self.decoder = FFDecoder(c * T.JIGSAW_PIECES, T.JIGSAW_CLASSES)
        else:
            self.decoder = _SeqDecoder(T.decoder_plan(task, c, net))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.task != "jigsaw":
            return self.decoder(self.encoder(x))
        b = x.shape[0]
        f = self.encoder(x.flatten(0, 1))
        f = torch.flatten(self.decoder.avgpool(f), 1).reshape(b, -1)
        return self.decoder.fc(f)


def input_shape(task: str = T.DEFAULT_TASK) -> tuple[int, ...]:
    return T.input_shape(task)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
