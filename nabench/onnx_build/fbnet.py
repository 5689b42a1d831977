"""Weightless ONNX graph of an FBNet-space network as HW-NAS-Bench (and HELP) define it.

Reference implementation: GATECH-EIC/HW-NAS-Bench, ``hw_nas_bench_api/fbnet_models/model_infer.py``
(``FBNet_Infer``; ``hw_nas_bench_api.get_net_config(arch, dataset)`` feeds it ``op_idx_list``,
``dataset`` and ``num_classes``). HELP's ``data/fbnet/metainfo.pt`` holds exactly those configs
for ``dataset="cifar100"`` (see :mod:`nabench.corpora.importers.help_latency`), so the defaults
here are the CIFAR-100 network: 32x32 input, 100 classes. Choices, each with its source line:

- stem: ``self.stem = ConvNorm(3, 16, kernel_size=3, stride=stride_init, padding=1)`` with
  ``stride_init = 1`` for CIFAR (2 for ImageNet); ``ConvNorm`` = Conv(bias=False) → BN → ReLU.
- stages: ``num_layer_list = [1, 4, 4, 4, 4, 4, 1]`` (22 searchable layers),
  ``num_channel_list = [16, 24, 32, 64, 112, 184, 352]``, ``stride_list = [1, 1, 2, 2, 1, 2, 1]``
  for CIFAR ("unofficial CIFAR-10/100 setting"; ImageNet ``[1, 2, 2, 2, 1, 2, 1]``). The first
  layer of a stage maps the previous stage's width (the stem's 16 for stage 0) to the stage
  width with the stage stride; the others are width→width, stride 1.
- blocks (``OPS`` / ``PRIMITIVES``, op index order ``k3_e1 k3_e1_g2 k3_e3 k3_e6 k5_e1 k5_e1_g2
  k5_e3 k5_e6 skip``): ``ConvBlock(C_in, C_out, expansion=e, kernel_size=k, groups=g)`` =
  ``conv1`` 1x1 C_in→C_in*e (groups g, no bias) → ``bn1`` → ReLU → ``ChannelShuffle(g)`` if g>1
  → ``conv2`` kxk depthwise (groups C_in*e, stride s, padding ``ceil((dilation*(k-1) + 1 - s)/2)``
  = k//2 for k in {3,5}, s in {1,2}) → ``bn2`` → ReLU → ``conv3`` 1x1 C_in*e→C_out (groups g) →
  ``bn3``; ``x += identity`` iff ``C_in == C_out and stride == 1``. Note the expansion is of
  the *input* width (``C_in*expansion``).
- ``ChannelShuffle``: ``x.view(N, g, C/g, H, W).permute(0, 2, 1, 3, 4).view(N, C, H, W)`` =
  Reshape → Transpose(perm 0,2,1,3,4) → Reshape (shape constants as ``Constant`` nodes).
- ``Skip(C_in, C_out, stride)``: identity (no node) unless ``stride == 2 or C_in != C_out``, then
  Conv1x1(stride, no bias) → BN → ReLU.
- head: ``self.header = ConvNorm(352, header_channel, kernel_size=1)`` with ``header_channel =
  1504`` for CIFAR (1984 ImageNet); ``nn.AdaptiveAvgPool2d(1)`` (GlobalAveragePool);
  ``.view(N, -1)`` (Flatten); ``self.fc = nn.Linear(header_channel, num_classes)`` (Gemm, bias).
- BatchNorm: PyTorch defaults (eps 1e-5).

Weight names are the reference module's ``state_dict`` keys (``stem.conv.weight``,
``cells.3.conv2.weight``, ``header.bn.running_var``, ``fc.bias``), which are also those of
:class:`nabench.spaces.fbnet_torch.FBNet`. Parameter convention: PyTorch ``parameters()``
(BN running statistics are buffers, not parameters). The data (HELP / HW-NAS-Bench) publishes
no parameter or FLOP counts for this space, so faithfulness is checked against the torch module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nabench.onnx_build import builder as B

#: Block names in HW-NAS-Bench's op-index order (``PRIMITIVES``).
OPS = ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip")
N_LAYERS = 22
NUM_LAYERS = (1, 4, 4, 4, 4, 4, 1)
CHANNELS = (16, 24, 32, 64, 112, 184, 352)
STEM_CHANNELS = 16
#: dataset kind -> (stem stride, stage strides, header channels, default classes, default input size)
SETTINGS = {
    "cifar": (1, (1, 1, 2, 2, 1, 2, 1), 1504),
    "imagenet": (2, (1, 2, 2, 2, 1, 2, 1), 1984),
}
DEFAULTS = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet": (1000, 224)}


def block_params(op: str) -> tuple[int, int, int] | None:
    """(kernel, expansion, groups) of a block name; None for ``skip``."""
    if op == "skip":
        return None
    parts = op.split("_")
    return int(parts[0][1:]), int(parts[1][1:]), int(parts[2][1:]) if len(parts) > 2 else 1


def parse_ops(arch: str | Sequence[str] | Sequence[int]) -> tuple[str, ...]:
    """22 block names from names / op indices (a sequence, or a space-separated string)."""
    items = arch.split() if isinstance(arch, str) else list(arch)
    if len(items) != N_LAYERS:
        raise ValueError(f"an FBNet architecture has {N_LAYERS} layers, got {len(items)}")
    out = []
    for i, it in enumerate(items):
        if isinstance(it, (int, np.integer)) or (isinstance(it, str) and it.isdigit()):
            k = int(it)
            if not 0 <= k < len(OPS):
                raise ValueError(f"layer {i}: op index {k} not in 0..{len(OPS) - 1}")
            out.append(OPS[k])
        elif it in OPS:
            out.append(it)
        else:
            raise ValueError(f"layer {i}: unknown FBNet block {it!r} (expected one of {OPS})")
    return tuple(out)


def layer_plan(dataset: str = "cifar100") -> list[tuple[int, int, int]]:
    """(C_in, C_out, stride) of each of the 22 searchable layers (``FBNet_Infer.__init__``)."""
    _, strides, _ = SETTINGS[_kind(dataset)]
    plan, c_prev = [], STEM_CHANNELS
    for stage, n in enumerate(NUM_LAYERS):
        for i in range(n):
            plan.append((c_prev if i == 0 else CHANNELS[stage], CHANNELS[stage], strides[stage] if i == 0 else 1))
        c_prev = CHANNELS[stage]
    return plan


def _kind(dataset: str) -> str:
    if "cifar" in dataset:  # the reference tests ``"cifar" in config["dataset"]``
        return "cifar"
    if dataset == "imagenet":
        return "imagenet"
    raise ValueError(f"dataset must be cifar10, cifar100 or imagenet, got {dataset!r}")


# -- layers the generic builder lacks ---------------------------------------------------------
def conv(b: B.GraphBuilder, x: str, name: str, c_out: int, k: int, stride: int = 1, pad: int | None = None,
         groups: int = 1, bias: bool = False) -> str:
    """Conv2d (grouped / depthwise allowed); weight ``name.weight`` (+ ``name.bias``)."""
    n, c_in, h, w = b.shapes[x]
    pad = k // 2 if pad is None else pad
    ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    ins = [x, b.weight(f"{name}.weight", (c_out, c_in // groups, k, k))]
    if bias:
        ins.append(b.weight(f"{name}.bias", (c_out,)))
    attrs = [B._attr("kernel_shape", [k, k]), B._attr("pads", [pad] * 4), B._attr("strides", [stride, stride])]
    if groups != 1:
        attrs.insert(0, B._attr("group", groups))
    out = (n, c_out, ho, wo)
    b.layers.append(B.Layer("conv", name, (n, c_in, h, w), out, k, bias, extra={"groups": groups}))
    return b.node("Conv", ins, name, out, tuple(attrs))


def const(b: B.GraphBuilder, name: str, values: Sequence[int]) -> str:
    """An int64 ``Constant`` node."""
    n = onnx.NodeProto()
    n.op_type, n.name = "Constant", name
    n.output.append(name)
    n.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.asarray(values, np.int64))))
    b.nodes.append(n)
    b.shapes[name] = (len(values),)
    return name


def channel_shuffle(b: B.GraphBuilder, x: str, name: str, groups: int) -> str:
    n, c, h, w = b.shapes[x]
    y = b.node("Reshape", [x, const(b, f"{name}.shape0", [n, groups, c // groups, h, w])], f"{name}.view0",
               (n, groups, c // groups, h, w))
    y = b.node("Transpose", [y], f"{name}.permute", (n, c // groups, groups, h, w),
               (B._attr("perm", [0, 2, 1, 3, 4]),))
    return b.node("Reshape", [y, const(b, f"{name}.shape1", [n, c, h, w])], name, (n, c, h, w))


def conv_bn_relu(b: B.GraphBuilder, x: str, p: str, c_out: int, k: int, stride: int, pad: int | None = None,
                 groups: int = 1, relu: bool = True, conv_name: str = "conv", bn_name: str = "bn") -> str:
    y = b.bn(conv(b, x, f"{p}.{conv_name}", c_out, k, stride, pad, groups), f"{p}.{bn_name}")
    return b.relu(y, f"{p}.{bn_name}.relu") if relu else y


# -- the network --------------------------------------------------------------------------------
def _block(b: B.GraphBuilder, x: str, p: str, op: str, c_in: int, c_out: int, stride: int) -> str:
    kind = block_params(op)
    if kind is None:  # Skip
        if stride == 2 or c_in != c_out:
            return conv_bn_relu(b, x, p, c_out, 1, stride, 0)
        return x
    k, e, g = kind
    mid = c_in * e
    pad = math.ceil((k - stride) / 2)  # ConvBlock: ceil((dilation*(k-1) + 1 - stride) / 2)
    y = b.relu(b.bn(conv(b, x, f"{p}.conv1", mid, 1, 1, 0, g), f"{p}.bn1"), f"{p}.relu1")
    if g > 1:
        y = channel_shuffle(b, y, f"{p}.shuffle", g)
    y = b.relu(b.bn(conv(b, y, f"{p}.conv2", mid, k, stride, pad, mid), f"{p}.bn2"), f"{p}.relu2")
    y = b.bn(conv(b, y, f"{p}.conv3", c_out, 1, 1, 0, g), f"{p}.bn3")
    if c_in == c_out and stride == 1:
        y = b.add(y, x, f"{p}.add")
    return y


def build_builder(arch: str | Sequence[str] | Sequence[int], *, dataset: str = "cifar100",
                  num_classes: int | None = None, input_size: int | None = None,
                  weights: None | str | Mapping[str, Any] = None, seed: int = 0) -> B.GraphBuilder:
    """The populated :class:`~nabench.onnx_build.builder.GraphBuilder`."""
    ops = parse_ops(arch)
    stem_stride, _, header = SETTINGS[_kind(dataset)]
    dflt_classes, dflt_size = DEFAULTS.get(dataset, (100, 32))
    num_classes = dflt_classes if num_classes is None else num_classes
    input_size = dflt_size if input_size is None else input_size
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    b = B.GraphBuilder("fbnet", weights=weights, seed=seed)
    x = b.input("input", (1, 3, input_size, input_size))
    x = conv_bn_relu(b, x, "stem", STEM_CHANNELS, 3, stem_stride, 1)
    for i, (op, (c_in, c_out, s)) in enumerate(zip(ops, layer_plan(dataset))):
        x = _block(b, x, f"cells.{i}", op, c_in, c_out, s)
    x = conv_bn_relu(b, x, "header", header, 1, 1, 0)
    x = b.flatten(b.global_avgpool(x, "avgpool"), "flatten")
    b.output(b.gemm(x, "fc", num_classes))
    return b


def build_fbnet(arch: str | Sequence[str] | Sequence[int], *, dataset: str = "cifar100",
                num_classes: int | None = None, input_size: int | None = None,
                weights: None | str | Mapping[str, Any] = None, metadata: Mapping[str, object] | None = None,
                seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of the HW-NAS-Bench FBNet network for 22 blocks (names or op indices).

    Defaults are HELP's / HW-NAS-Bench's CIFAR-100 network (``dataset="cifar100"``: 100 classes,
    32x32 input); ``dataset="imagenet"`` gives the official ImageNet skeleton (1000 classes, 224).
    ``weights``: None (weightless: typed graph inputs), ``"random"`` or a state dict.
    """
    ops = parse_ops(arch)
    b = build_builder(ops, dataset=dataset, num_classes=num_classes, input_size=input_size,
                      weights=weights, seed=seed)
    meta = metadata if metadata is not None else {"space": "fbnet", "native_id": " ".join(ops)}
    return b.model(meta)


def from_record(record: Mapping[str, Any], corpus: str = "help-fbnet", *,
                weights: None | str | Mapping[str, Any] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one row of a nabench corpus in the FBNet space (``help-fbnet``: spec columns
    ``arch_ops`` and/or ``op_idx_list``; they must agree when both are present)."""
    if corpus != "help-fbnet":
        raise ValueError(f"no FBNet graph recipe for corpus {corpus!r} (known: help-fbnet)")
    names = record.get("arch_ops")
    idx = record.get("op_idx_list")
    if names is None and idx is None:
        raise ValueError("record has neither 'arch_ops' nor 'op_idx_list'")
    ops = None
    if names is not None:
        if not isinstance(names, str):
            raise ValueError(f"arch_ops: expected a space-separated string of block names, got {names!r:.80}")
        try:
            ops = parse_ops(names.split())
        except ValueError as e:
            raise ValueError(f"arch_ops: {e}") from None
        if any(t.isdigit() for t in names.split()):
            raise ValueError(f"arch_ops: expected block names, got op indices {names!r:.80}")
    if idx is not None:
        tokens = idx.split() if isinstance(idx, str) else list(idx)
        try:
            ints = [int(t) for t in tokens]
        except (TypeError, ValueError):
            raise ValueError(f"op_idx_list: not a list of integers: {idx!r:.80}") from None
        try:
            by_idx = parse_ops(ints)
        except ValueError as e:
            raise ValueError(f"op_idx_list: {e}") from None
        if ops is not None and by_idx != ops:
            raise ValueError("op_idx_list: disagrees with arch_ops")
        ops = by_idx
    meta = dict(metadata) if metadata is not None else {"space": "fbnet", "corpus": corpus, "native_id": " ".join(ops)}
    return build_fbnet(ops, dataset="cifar100", weights=weights, metadata=meta)


def fbnet_params(arch, **kw) -> int:
    """Trainable parameters (PyTorch ``parameters()`` convention)."""
    return build_builder(arch, **kw).n_params
