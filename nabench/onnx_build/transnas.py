"""Weightless ONNX graphs of TransNAS-Bench-101 networks (micro and macro spaces).

Which network a record is. TransNAS-Bench-101 trains one *encoder* (the searched backbone) per
architecture with seven task-specific decoders; a record's graph is the encoder plus the head of
ONE task, ``task=`` (default :data:`DEFAULT_TASK` = ``class_scene``, the task with the most
published parameter counts in the corpora); all seven are selectable.

Reference implementation: yawen-d/TransNASBench ``lib/models/``, as vendored by automl/NASLib in
``naslib/search_spaces/transbench101/tnb101/`` (``model_builder.py`` ``create_model(encoder_str,
task_name)``: the networks NAS-Bench-Suite-Zero computed its ``params``/``flops`` proxies on):

- input: 256x256 RGB (``configs/train_from_scratch/<task>/config.py`` ``input_dim``); jigsaw: 9
  tiles of 64x64 (``MakeJigsawPuzzle(tile_dim=(64, 64))``), graph input ``(1, 9, 3, 64, 64)``.
- encoder — ``net_infer/net_macro.py`` ``MacroNet(code, structure='backbone')``: stem
  Conv3x3(3→C/2, stride 2, no bias) → BN → ReLUConvBN(C/2→C, 3x3, stride 2) (C = 64, the ``64-``
  of the code); one layer per macro digit d (``% 2 == 0``: channels x2; ``> 2``: stride 2), each of
  two blocks, the first with the stride/channel change. Micro space: macro code ``41414``, blocks
  are ``MicroCell``s; macro space: blocks are ``ResNetBasicblock``s (``-basic``).
- ``net_infer/cell_micro.py`` ``MicroCell``: code ``a_bc_def`` = ops of edges 0→1 | 0→2, 1→2 |
  0→3, 1→3, 2→3; node j = sum over its edges; output node 3; edges leaving node 0 get
  ``(C_in, C_out, stride)``, the others ``(C_out, C_out, 1)``. ``ResNetBasicblock``: ReLUConvBN 3x3
  (stride) → ReLUConvBN 3x3, plus a Conv1x1(stride) → BN shortcut when the shape changes; that BN is
  ``nn.BatchNorm2d(planes, affine, track_running_stats)``, i.e. ``eps=True`` → epsilon 1.0 (kept).
- ``net_ops/cell_ops.py``: 0 = Zero, 1 = Identity or (stride/channel change) FactorizedReduce
  (Relu; Conv1x1(s2) of x and of x shifted one pixel — ConstantPad2d((0,1,0,1)) then
  ``[:, :, 1:, 1:]``; Concat; BN), 2 = ReLUConvBN 1x1, 3 = ReLUConvBN 3x3.
- heads — ``task_models/decoder.py``: ``FFDecoder`` (GAP, Linear) for class_scene (63 classes),
  class_object (100), room_layout (9 outputs); ``SiameseDecoder`` (GAP, Linear(9C → 1000)) on the
  channel concatenation of the 9 tile encodings for jigsaw; ``SegmentationDecoder`` (17 classes)
  for segmentsemantic; ``GenerativeDecoder`` (3 channels, Tanh) for normal and autoencoder.
  Conv/deconv decoder layers: Conv3x3 / ConvTranspose3x3(s2, pad 1, output_padding 1), with bias,
  → BN → LeakyReLU(0.2). Their number of upsampling layers is ``int(log2(256 / w))`` with ``w`` the
  encoder's ``output_dim`` width computed, as the reference does, for its default
  ``input_dim=(224, 224)`` (``56 // 2**k``); for every macro code this equals the 256-input width's.
  The GAN ``Discriminator`` (training only) is not part of the network.

Graph conventions: a Zero edge is dropped from its sum (exact for finite inputs); a node whose
incoming edges are all Zero is ``Mul(cell_input, 0)`` when its shape equals the cell input's, else
``ConstantOfShape`` (the reference's ``new_zeros``); its outgoing edges are kept (their weights
exist and are counted). FactorizedReduce on an even-sized input reads ``x[:, :, 1:, 1:]`` (two
``Slice``) without the pad, which is never read at even sizes (every size in these networks);
odd sizes get the ``Pad``. Jigsaw: the tiles are folded into the batch (``Reshape`` to
``(9, 3, 64, 64)``), encoded by one encoder, pooled and reshaped to ``(1, 9C)``: in eval mode the
reference's per-tile loop + ``cat(dim=1)``, with each weight once.

Parameter counting convention: PyTorch ``parameters()`` (BN running statistics excluded), which is
NAS-Bench-Suite-Zero's ``params`` (millions) for the seven Taskonomy tasks; see
``tests/test_onnx_transnas.py``. Weight names are the ``state_dict`` keys of
:class:`nabench.spaces.transnas_torch.TransNASNetwork`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nabench.onnx_build import builder as B

TASKS = ("class_scene", "class_object", "room_layout", "jigsaw", "segmentsemantic", "normal", "autoencoder")
DEFAULT_TASK = "class_scene"
#: FFDecoder tasks and their output sizes (``model_builder.py`` / task configs ``target_dim``).
FF_TASKS = {"class_scene": 63, "class_object": 100, "room_layout": 9}
JIGSAW_CLASSES, JIGSAW_PIECES, JIGSAW_TILE = 1000, 9, 64
SEGMENT_CLASSES = 17
TARGET_WIDTH = 256
#: The reference computes decoder input widths from MacroNet's default ``input_dim=(224, 224)``.
REF_INPUT_WIDTH = 224
INPUT_SIZE = {t: (JIGSAW_TILE if t == "jigsaw" else 256) for t in TASKS}
SHORTCUT_BN_EPS = 1.0
MICRO_OPS = ("none", "skip_connect", "conv_1x1", "conv_3x3")
MICRO_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
MICRO_MACRO_CODE = "41414"
_INT64_MAX = 9223372036854775807


@dataclass(frozen=True)
class TNBNet:
    base_channels: int
    macro_code: str
    cell: tuple[int, ...] | None  # micro op codes in MICRO_EDGES order; None: ResNet basic blocks

    @property
    def space(self) -> str:
        return "transnas-macro" if self.cell is None else "transnas-micro"

    def __str__(self) -> str:
        if self.cell is None:
            return f"{self.base_channels}-{self.macro_code}-basic"
        c = "".join(map(str, self.cell))
        return f"{self.base_channels}-{self.macro_code}-{c[0]}_{c[1:3]}_{c[3:]}"


_FULL = re.compile(r"^(\d+)-([1-4]{1,8})-(basic|[0-3]_[0-3]{2}_[0-3]{3})$")
_CELL = re.compile(r"^[0-3]_[0-3]{2}_[0-3]{3}$")


def parse(arch: str | TNBNet, space: str | None = None) -> TNBNet:
    """``64-41414-1_02_333`` / ``1_02_333`` (micro) or ``64-1234-basic`` / ``1234`` (macro)."""
    if isinstance(arch, TNBNet):
        return arch
    if not isinstance(arch, str):
        raise ValueError(f"TransNAS architecture must be a string, got {arch!r}")  # noqa: TRY004 (contract: ValueError)
    s = arch.strip()
    m = _FULL.match(s)
    if m:
        base, macro, last = int(m.group(1)), m.group(2), m.group(3)
        if base < 2 or base % 2:
            raise ValueError(f"invalid TransNAS base channels in {arch!r}")
        net = TNBNet(base, macro, None if last == "basic" else tuple(int(c) for c in last.replace("_", "")))
    elif _CELL.match(s) and space in (None, "transnas-micro", "micro"):
        net = TNBNet(64, MICRO_MACRO_CODE, tuple(int(c) for c in s.replace("_", "")))
    elif re.fullmatch(r"[1-4]{1,8}", s) and space in (None, "transnas-macro", "macro"):
        net = TNBNet(64, s, None)
    else:
        raise ValueError(f"invalid TransNAS-Bench-101 architecture {arch!r}")
    if space in ("transnas-micro", "micro") and net.cell is None or space in ("transnas-macro", "macro") and net.cell:
        raise ValueError(f"{arch!r} is not a {space} architecture")
    return net


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown TransNAS task {task!r}; one of {', '.join(TASKS)}")
    return task


def input_shape(task: str = DEFAULT_TASK, input_size: int | None = None) -> tuple[int, ...]:
    """Graph input shape; ``input_size`` overrides the image (jigsaw: tile) side."""
    check_task(task)
    h = INPUT_SIZE[task] if input_size is None else int(input_size)
    if task == "jigsaw":
        return (1, JIGSAW_PIECES, 3, h, h)
    return (1, 3, h, h)


def layer_plan(net: TNBNet) -> list[tuple[int, int]]:
    """(output channels, stride) of each macro layer (``MacroNet.__init__``)."""
    out, c = [], net.base_channels
    for d in map(int, net.macro_code):
        c = c * 2 if d % 2 == 0 else c
        out.append((c, 2 if d > 2 else 1))
    return out


def _down(h: int, s: int) -> int:
    return (h - 1) // s + 1


def encoder_out_size(net: TNBNet, input_size: int) -> int:
    h = _down(_down(input_size, 2), 2)
    for _, s in layer_plan(net):
        h = _down(h, s)
    return h


@dataclass(frozen=True)
class DecoderLayer:
    name: str
    c_in: int
    c_out: int
    act: str | None  # "leaky", "tanh" or None
    norm: bool
    transposed: bool


def num_upsample(net: TNBNet) -> int:
    w = REF_INPUT_WIDTH // 4
    for _, s in layer_plan(net):
        w //= s
    n = int(math.log2(TARGET_WIDTH / w)) if w > 0 else 0
    if n not in (2, 3, 4, 5, 6):
        raise ValueError(f"macro code {net.macro_code!r}: invalid num_upsample {n} for a dense-prediction decoder")
    return n


def decoder_plan(task: str, c: int, net: TNBNet) -> list[DecoderLayer]:
    """Layers of ``SegmentationDecoder`` / ``GenerativeDecoder`` (``task_models/decoder.py``)."""
    n_up = num_upsample(net)
    L = DecoderLayer
    if task == "segmentsemantic":
        layers = [L("model.0", c, 1024, "leaky", True, False)]
        t = 1024
        for _ in range(6 - n_up):
            layers.append(L(f"model.{len(layers)}", t, t // 2, "leaky", True, False))
            t //= 2
        for _ in range(n_up - 1):
            layers.append(L(f"model.{len(layers)}", t, t // 2, "leaky", True, True))
            t //= 2
        layers.append(L(f"model.{len(layers)}", t, t, "leaky", True, True))
        layers.append(L(f"model.{len(layers)}", t, SEGMENT_CLASSES, None, False, False))
        return layers
    if task in ("normal", "autoencoder"):
        spec = [(c, 1024, False), (1024, 1024, False), (1024, 512, n_up == 6), (512, 512, False),
                (512, 256, n_up >= 5), (256, 128, False), (128, 64, n_up >= 4), (64, 64, False),
                (64, 32, n_up >= 3), (32, 32, False), (32, 16, True), (16, 32, False), (32, 16, True)]
        layers = [L(f"conv{i}", ci, co, "leaky", True, tr) for i, (ci, co, tr) in enumerate(spec, start=1)]
        layers.append(L("conv14", 16, 3, "tanh", False, False))
        return layers
    raise ValueError(f"task {task!r} has no conv decoder")


# -- graph construction -------------------------------------------------------------------------
class _Builder(B.GraphBuilder):
    """GraphBuilder plus the few layers TransNAS needs (written with ``node`` / ``weight``)."""

    def const_i64(self, name: str, values: list[int]) -> str:
        if name not in self.shapes:
            arr = np.asarray(values, dtype=np.int64)
            self.node("Constant", [], name, arr.shape, (helper.make_attribute("value", numpy_helper.from_array(arr)),))
        return name

    def act(self, x: str, name: str, kind: str) -> str:
        if kind == "leaky":
            return self.node("LeakyRelu", [x], name, self.shapes[x], (B._attr("alpha", 0.2),))
        return self.node("Tanh", [x], name, self.shapes[x])

    def deconv(self, x: str, name: str, c_out: int) -> str:
        n, c_in, h, w = self.shapes[x]
        ins = [x, self.weight(f"{name}.weight", (c_in, c_out, 3, 3)), self.weight(f"{name}.bias", (c_out,))]
        attrs = (B._attr("kernel_shape", [3, 3]), B._attr("pads", [1, 1, 1, 1]), B._attr("strides", [2, 2]),
                 B._attr("output_padding", [1, 1]))
        out = (n, c_out, 2 * h, 2 * w)
        self.layers.append(B.Layer("deconv", name, (n, c_in, h, w), out, 3, True))
        return self.node("ConvTranspose", ins, name, out, attrs)

    def slice1(self, x: str, name: str, axis: int) -> str:
        """``x[..., 1:, ...]`` along ``axis`` (one ``Slice``, as torch exports basic slicing)."""
        s = list(self.shapes[x])
        s[axis] -= 1
        ins = [x, self.const_i64("const.one", [1]), self.const_i64("const.int64_max", [_INT64_MAX]),
               self.const_i64(f"const.axis{axis}", [axis]), self.const_i64("const.one", [1])]
        return self.node("Slice", ins, name, tuple(s))

    def pad_br(self, x: str, name: str) -> str:
        n, c, h, w = self.shapes[x]
        return self.node("Pad", [x, self.const_i64("const.pad_br", [0, 0, 0, 0, 0, 0, 1, 1])], name,
                         (n, c, h + 1, w + 1))

    def zeros(self, name: str, shape: tuple[int, ...]) -> str:
        shp = self.const_i64(f"{name}.shape", list(shape))
        attr = helper.make_attribute("value", numpy_helper.from_array(np.zeros((1,), np.float32)))
        return self.node("ConstantOfShape", [shp], name, tuple(shape), (attr,))


def _relu_conv_bn(b: _Builder, x: str, p: str, c_out: int, k: int, stride: int) -> str:
    y = b.conv(b.relu(x, f"{p}.ops.0"), f"{p}.ops.1", c_out, k, stride, k // 2)
    return b.bn(y, f"{p}.ops.2")


def _factorized_reduce(b: _Builder, x: str, p: str, c_out: int, stride: int) -> str:
    r = b.relu(x, f"{p}.relu")
    h, w = b.shapes[r][2:]
    y = r if h % 2 == 0 and w % 2 == 0 else b.pad_br(r, f"{p}.pad")
    y = b.slice1(b.slice1(y, f"{p}.shift.h", 2), f"{p}.shift.w", 3)
    a = b.conv(r, f"{p}.convs.0", c_out // 2, 1, stride, 0)
    c = b.conv(y, f"{p}.convs.1", c_out - c_out // 2, 1, stride, 0)
    n, _, ho, wo = b.shapes[a]
    cat = b.node("Concat", [a, c], f"{p}.cat", (n, c_out, ho, wo), (B._attr("axis", 1),))
    return b.bn(cat, f"{p}.bn")


def _edge(b: _Builder, x: str, p: str, code: int, c_out: int, stride: int) -> str:
    if code == 1:
        if stride == 1 and b.shapes[x][1] == c_out:
            return x
        return _factorized_reduce(b, x, p, c_out, stride)
    k = 1 if code == 2 else 3
    return _relu_conv_bn(b, x, p, c_out, k, stride)


def _micro_cell(b: _Builder, x: str, p: str, cell: tuple[int, ...], c_out: int, stride: int) -> str:
    n, _, h, w = b.shapes[x]
    out_shape = (n, c_out, _down(h, stride), _down(w, stride))
    nodes = [x]
    for j in (1, 2, 3):
        terms = []
        for k, ((i, jj), code) in enumerate(zip(MICRO_EDGES, cell)):
            if jj != j or code == 0:
                continue
            s = stride if i == 0 else 1
            terms.append(_edge(b, nodes[i], f"{p}.edges.{k}", code, c_out, s))
        if not terms:
            if out_shape == b.shapes[x]:
                nodes.append(b.mul_zero(x, f"{p}.n{j}.zero"))
            else:
                nodes.append(b.zeros(f"{p}.n{j}.zero", out_shape))
            continue
        acc = terms[0]
        for m, t in enumerate(terms[1:], start=1):
            acc = b.add(acc, t, f"{p}.n{j}" if m == len(terms) - 1 else f"{p}.n{j}.{m}")
        nodes.append(acc)
    return nodes[3]


def _basic_block(b: _Builder, x: str, p: str, c_out: int, stride: int) -> str:
    f = _relu_conv_bn(b, x, f"{p}.conv_a", c_out, 3, stride)
    f = _relu_conv_bn(b, f, f"{p}.conv_b", c_out, 3, 1)
    r = x
    if stride != 1 or b.shapes[x][1] != c_out:
        r = b.bn(b.conv(x, f"{p}.downsample.0", c_out, 1, stride, 0), f"{p}.downsample.1", eps=SHORTCUT_BN_EPS)
    return b.add(r, f, p)


def _encoder(b: _Builder, x: str, net: TNBNet) -> str:
    C = net.base_channels
    x = b.bn(b.conv(x, "encoder.stem.0", C // 2, 3, 2, 1), "encoder.stem.1")
    x = _relu_conv_bn(b, x, "encoder.stem.2", C, 3, 2)
    for i, (c_out, stride) in enumerate(layer_plan(net)):
        for blk in range(2):
            p = f"encoder.layer{i}.{blk}"
            s = stride if blk == 0 else 1
            x = _basic_block(b, x, p, c_out, s) if net.cell is None else _micro_cell(b, x, p, net.cell, c_out, s)
    return x


def build_builder(arch: str | TNBNet, *, task: str = DEFAULT_TASK, space: str | None = None,
                  input_size: int | None = None, weights: None | str | Mapping[str, np.ndarray] = None, seed: int = 0) -> _Builder:
    """The populated builder of the network (encoder + ``task`` head)."""
    net = parse(arch, space)
    check_task(task)
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    b = _Builder(net.space.replace("-", "_"), weights=weights, seed=seed)
    shape = input_shape(task, input_size)
    x = b.input("input", shape)
    if task == "jigsaw":
        tiles = (shape[0] * shape[1], *shape[2:])
        x = b.node("Reshape", [x, b.const_i64("const.tiles_shape", [-1, *shape[2:]])], "tiles", tiles)
    x = _encoder(b, x, net)
    c = b.shapes[x][1]
    if task in FF_TASKS or task == "jigsaw":
        x = b.flatten(b.global_avgpool(x, "decoder.avgpool"), "decoder.flatten")
        n_out = FF_TASKS.get(task, JIGSAW_CLASSES)
        if task == "jigsaw":
            x = b.node("Reshape", [x, b.const_i64("const.concat_shape", [shape[0], -1])], "decoder.concat",
                       (shape[0], JIGSAW_PIECES * c))
        x = b.gemm(x, "decoder.fc", n_out)
    else:
        for L in decoder_plan(task, c, net):
            p = f"decoder.{L.name}"
            x = b.deconv(x, f"{p}.conv", L.c_out) if L.transposed else b.conv(x, f"{p}.conv", L.c_out, 3, 1, 1, bias=True)
            if L.norm:
                x = b.bn(x, f"{p}.norm")
            if L.act:
                x = b.act(x, f"{p}.activation", L.act)
    b.output(x)
    return b


def build_transnas_micro(arch: str, *, task: str = DEFAULT_TASK, weights: None | str | Mapping[str, np.ndarray] = None,
                         metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """Graph of a micro-space network: ``64-41414-a_bc_def`` (or the cell code ``a_bc_def``)."""
    net = parse(arch, "transnas-micro")
    b = build_builder(net, task=task, weights=weights, seed=seed)
    return b.model(metadata if metadata is not None else _default_metadata(net, task))


def build_transnas_macro(arch: str, *, task: str = DEFAULT_TASK, weights: None | str | Mapping[str, np.ndarray] = None,
                         metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """Graph of a macro-space network: ``64-<code>-basic`` (or the code, e.g. ``121314``)."""
    net = parse(arch, "transnas-macro")
    b = build_builder(net, task=task, weights=weights, seed=seed)
    return b.model(metadata if metadata is not None else _default_metadata(net, task))


def _default_metadata(net: TNBNet, task: str) -> dict[str, str]:
    return {"space": net.space, "native_id": str(net), "task": task}


def params(arch: str | TNBNet, task: str = DEFAULT_TASK, space: str | None = None) -> int:
    """Trainable parameters (PyTorch ``parameters()`` convention) of encoder + ``task`` head."""
    return build_builder(arch, task=task, space=space).n_params


# -- corpus records -------------------------------------------------------------------------------
_OP_COLUMNS = tuple(f"op_{i}_{j}" for i, j in MICRO_EDGES)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def record_arch(record: Mapping[str, Any], corpus: str) -> str:
    """The TransNAS string of a corpus row (``tnb_arch_str``, else the op / macro_code columns)."""
    if corpus == "transnas-micro":
        s = record.get("tnb_arch_str")
        if not _missing(s):
            try:
                net = parse(s, "transnas-micro")
            except ValueError as e:
                raise ValueError(f"tnb_arch_str: {e}") from None
            return str(net)
        codes = []
        for col in _OP_COLUMNS:
            v = record.get(col)
            if v not in MICRO_OPS:
                raise ValueError(f"{col}: expected one of {MICRO_OPS}, got {v!r}")
            codes.append(MICRO_OPS.index(v))
        return str(TNBNet(64, MICRO_MACRO_CODE, tuple(codes)))
    if corpus == "transnas-macro":
        s = record.get("tnb_arch_str")
        field = "tnb_arch_str"
        if _missing(s):
            s, field = record.get("macro_code"), "macro_code"
            s = None if _missing(s) else str(s)
        if s is None:
            raise ValueError("tnb_arch_str: missing (and no macro_code)")
        try:
            return str(parse(s, "transnas-macro"))
        except ValueError as e:
            raise ValueError(f"{field}: {e}") from None
    raise ValueError(f"corpus: {corpus!r} is not a TransNAS-Bench-101 corpus (transnas-micro, transnas-macro)")


def from_record(record: Mapping[str, Any], corpus: str, *, task: str = DEFAULT_TASK,
                weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one row of ``transnas-micro`` / ``transnas-macro`` (encoder + ``task`` head)."""
    arch = record_arch(record, corpus)
    meta = metadata if metadata is not None else {**_default_metadata(parse(arch), task), "corpus": corpus}
    build = build_transnas_micro if corpus == "transnas-micro" else build_transnas_macro
    return build(arch, task=task, weights=weights, metadata=meta)
