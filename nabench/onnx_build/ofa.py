"""Weightless ONNX graph of a Once-for-All MobileNetV3 subnet (the HELP ``help-ofa`` space).

Which supernet: HELP evaluates its OFA architectures with
``ofa_net('ofa_mbv3_d234_e346_k357_w1.2')`` (HayeonLee/HELP ``validate_imagenet.py``), i.e.
``OFAMobileNetV3(dropout_rate=0, width_mult=1.2, ks_list=[3,5,7], expand_ratio_list=[3,4,6],
depth_list=[2,3,4])`` (mit-han-lab/once-for-all ``ofa/model_zoo.py``); a subnet is
``set_active_subnet(ks, e, d)`` then ``get_active_subnet()``, a static ``MobileNetV3``
(``ofa/imagenet_classification/networks/mobilenet_v3.py``), run at resolution ``r``.

Skeleton, from mit-han-lab/once-for-all ``ofa/imagenet_classification/elastic_nn/networks/ofa_mbv3.py``
(``OFAMobileNetV3.__init__`` / ``get_active_subnet``) unless noted:

- widths: ``base_stage_width = [16, 16, 24, 40, 80, 112, 160, 960, 1280]``, each
  ``make_divisible(w * width_mult, 8)`` (``ofa/utils/pytorch_modules.py``); at w1.2:
  first conv 24, first block 24, stages 32/48/96/136/192, final expand 1152, feature mix 1536.
- ``stride_stages = [1, 2, 2, 2, 1, 2]``, ``act_stages = [relu, relu, relu, h_swish, h_swish,
  h_swish]``, ``se_stages = [False, False, True, False, True, True]`` (entry 0: the first block).
- ``first_conv = ConvLayer(3, 24, kernel_size=3, stride=2, act_func="h_swish")``: Conv(pad 1,
  no bias) → BN → h_swish (``ofa/utils/layers.py`` ``ConvLayer``, ``ops_order="weight_bn_act"``).
- first block: ``MBConvLayer(24, 24, k=3, stride 1, expand_ratio=1, relu, no SE)`` with an
  identity shortcut (``input_channel == first_block_dim``): no inverted bottleneck (expand 1);
  depthwise 3x3 → BN → ReLU → pointwise 1x1 → BN, plus the input.
- 5 stages, stage s keeps its first ``d[s]`` blocks (``runtime_depth``; ks/e entries of
  inactive layers are ignored); block j of stage s uses ``ks[4s+j]``, ``e[4s+j]``; stride = stage
  stride for j = 0 else 1; shortcut = identity iff stride 1 and in width == out width.
- ``MBConvLayer`` (``ofa/utils/layers.py``), from ``DynamicMBConvLayer.get_active_subnet_config``
  (``ofa/imagenet_classification/elastic_nn/modules/dynamic_layers.py``): mid =
  ``make_divisible(round(in * e), 8)``; ``inverted_bottleneck`` 1x1 → BN → act; ``depth_conv``
  kxk depthwise (pad k//2, ``get_same_padding``) → BN → act [→ SE]; ``point_linear`` 1x1 → BN.
- SE (``SEModule``, ``ofa/utils/pytorch_modules.py``): mean over H, W → ``reduce`` Conv1x1(bias)
  to ``make_divisible(mid // 4, 8)`` → ReLU → ``expand`` Conv1x1(bias) → h_sigmoid; ``x * y``.
- ``final_expand_layer = ConvLayer(192, 1152, 1, act h_swish)`` (BN); global average pool
  (``MyGlobalAvgPool2d``, keep dims); ``feature_mix_layer = ConvLayer(1152, 1536, 1, bias=False,
  use_bn=False, act h_swish)``; flatten; ``classifier = LinearLayer(1536, 1000)`` (bias, dropout 0).
- BN eps 1e-5 (``bn_param=(0.1, 1e-5)``).

ONNX op choices (numerically equivalent): OFA's ``Hswish`` ``x * relu6(x + 3) / 6`` is
``HardSwish`` and ``Hsigmoid`` ``relu6(x + 3) / 6`` is ``HardSigmoid(alpha=1/6, beta=0.5)``
(equal up to float rounding, ~1e-7 relative); ``x.mean(3, keepdim=True).mean(2, keepdim=True)``
is ``GlobalAveragePool``. The torch module (:mod:`nabench.spaces.ofa_torch`) uses
``nn.Hardswish`` / ``nn.Hardsigmoid`` / adaptive average pooling, which export to these ops.

Weight names are the static ``MobileNetV3`` ``state_dict`` keys (``first_conv.conv.weight``,
``blocks.3.conv.depth_conv.se.fc.reduce.bias``, ``classifier.linear.weight``), also those of
:class:`nabench.spaces.ofa_torch.OFAMobileNetV3Subnet`. Parameter convention: PyTorch
``parameters()``. HELP publishes no parameter or FLOP counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx

from nabench.onnx_build import builder as B
from nabench.onnx_build.fbnet import conv

KS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)
N_STAGES, MAX_DEPTH = 5, 4
N_LAYERS = N_STAGES * MAX_DEPTH
BASE_STAGE_WIDTH = (16, 16, 24, 40, 80, 112, 160, 960, 1280)
STRIDE_STAGES = (1, 2, 2, 2, 1, 2)
ACT_STAGES = ("relu", "relu", "relu", "h_swish", "h_swish", "h_swish")
SE_STAGES = (False, False, True, False, True, True)
WIDTH_MULT = 1.2  # HELP: ofa_mbv3_d234_e346_k357_w1.2


def make_divisible(v: float, divisor: int = 8, min_val: int | None = None) -> int:
    """``ofa.utils.make_divisible`` (the TF MobileNet rounding rule)."""
    min_val = divisor if min_val is None else min_val
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def widths(width_mult: float = WIDTH_MULT) -> tuple[list[int], int, int]:
    """(stage widths incl. first conv and first block, final expand width, last channel)."""
    w = [make_divisible(x * width_mult) for x in BASE_STAGE_WIDTH[:-2]]
    return w, make_divisible(BASE_STAGE_WIDTH[-2] * width_mult), make_divisible(BASE_STAGE_WIDTH[-1] * width_mult)


def _int_list(value: Any, field: str, n: int, allowed: Sequence[int]) -> list[int]:
    if isinstance(value, str):
        tokens = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple, np.ndarray)):
        tokens = list(value)
    else:
        raise ValueError(f"{field}: expected {n} integers, got {value!r:.80}")  # noqa: TRY004 (contract: ValueError)
    try:
        ints = [int(t) for t in tokens]
        if any(float(t) != int(t) for t in tokens):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"{field}: not a list of integers: {value!r:.80}") from None
    if len(ints) != n:
        raise ValueError(f"{field}: expected {n} values, got {len(ints)}")
    bad = [v for v in ints if v not in allowed]
    if bad:
        raise ValueError(f"{field}: value {bad[0]} not in {tuple(allowed)}")
    return ints


def parse(ks, e, d, r) -> tuple[list[int], list[int], list[int], int]:
    """Validated (ks, e, d, r); raises ValueError naming the bad field."""
    ks_ = _int_list(ks, "ks", N_LAYERS, KS)
    e_ = _int_list(e, "e", N_LAYERS, EXPANDS)
    d_ = _int_list(d, "d", N_STAGES, DEPTHS)
    try:
        r_ = int(r)
        if isinstance(r, bool) or float(r) != r_:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"r: not an integer resolution: {r!r:.80}") from None
    if not 32 <= r_ <= 1024:
        raise ValueError(f"r: resolution {r_} out of range 32..1024 (HELP: 128..224)")
    return ks_, e_, d_, r_


def active_blocks(ks: Sequence[int], e: Sequence[int], d: Sequence[int], width_mult: float = WIDTH_MULT):
    """(c_in, c_out, k, e, stride, act, se, shortcut) of each active MBConv block after the first."""
    w, _, _ = widths(width_mult)
    out, c_in = [], w[1]
    for s in range(N_STAGES):
        c_out = w[s + 2]
        for j in range(d[s]):
            stride = STRIDE_STAGES[s + 1] if j == 0 else 1
            out.append((c_in, c_out, ks[4 * s + j], e[4 * s + j], stride, ACT_STAGES[s + 1], SE_STAGES[s + 1],
                        stride == 1 and c_in == c_out))
            c_in = c_out
    return out


# -- layers ------------------------------------------------------------------------------------
def _act(b: B.GraphBuilder, x: str, name: str, act: str) -> str:
    if act == "relu":
        return b.relu(x, name)
    return b.node("HardSwish", [x], name, b.shapes[x])


def _se(b: B.GraphBuilder, x: str, p: str) -> str:
    c = b.shapes[x][1]
    mid = make_divisible(c // 4)
    y = b.global_avgpool(x, f"{p}.pool")
    y = b.relu(conv(b, y, f"{p}.fc.reduce", mid, 1, 1, 0, bias=True), f"{p}.fc.relu")
    y = conv(b, y, f"{p}.fc.expand", c, 1, 1, 0, bias=True)
    y = b.node("HardSigmoid", [y], f"{p}.fc.h_sigmoid", b.shapes[y],
               (B._attr("alpha", 1.0 / 6.0), B._attr("beta", 0.5)))
    return b.node("Mul", [x, y], p, b.shapes[x])


def _mbconv(b: B.GraphBuilder, x: str, p: str, c_out: int, k: int, e: int, stride: int, act: str, se: bool,
            mid: int | None = None) -> str:
    c_in = b.shapes[x][1]
    mid = make_divisible(round(c_in * e)) if mid is None else mid
    y = x
    if e != 1:
        y = _act(b, b.bn(conv(b, y, f"{p}.inverted_bottleneck.conv", mid, 1, 1, 0), f"{p}.inverted_bottleneck.bn"),
                 f"{p}.inverted_bottleneck.act", act)
    y = _act(b, b.bn(conv(b, y, f"{p}.depth_conv.conv", mid, k, stride, k // 2, groups=mid), f"{p}.depth_conv.bn"),
             f"{p}.depth_conv.act", act)
    if se:
        y = _se(b, y, f"{p}.depth_conv.se")
    return b.bn(conv(b, y, f"{p}.point_linear.conv", c_out, 1, 1, 0), f"{p}.point_linear.bn")


def build_builder(ks, e, d, r, *, width_mult: float = WIDTH_MULT, num_classes: int = 1000,
                  weights: None | str | Mapping[str, Any] = None, seed: int = 0) -> B.GraphBuilder:
    ks, e, d, r = parse(ks, e, d, r)
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    w, final_expand, last = widths(width_mult)
    b = B.GraphBuilder("ofa_mbv3", weights=weights, seed=seed)
    x = b.input("input", (1, 3, r, r))
    x = _act(b, b.bn(conv(b, x, "first_conv.conv", w[0], 3, 2, 1), "first_conv.bn"), "first_conv.act", "h_swish")
    # first block: MBConv expand 1, k3, stride 1, relu, no SE; identity shortcut iff widths match
    y = _mbconv(b, x, "blocks.0.conv", w[1], 3, 1, STRIDE_STAGES[0], ACT_STAGES[0], SE_STAGES[0], mid=w[0])
    x = b.add(y, x, "blocks.0") if w[0] == w[1] else y
    for i, (_c_in, c_out, k, ee, s, act, se, short) in enumerate(active_blocks(ks, e, d, width_mult), start=1):
        y = _mbconv(b, x, f"blocks.{i}.conv", c_out, k, ee, s, act, se)
        x = b.add(y, x, f"blocks.{i}") if short else y
    x = _act(b, b.bn(conv(b, x, "final_expand_layer.conv", final_expand, 1, 1, 0), "final_expand_layer.bn"),
             "final_expand_layer.act", "h_swish")
    x = b.global_avgpool(x, "global_avg_pool")
    x = _act(b, conv(b, x, "feature_mix_layer.conv", last, 1, 1, 0), "feature_mix_layer.act", "h_swish")
    x = b.flatten(x, "flatten")
    b.output(b.gemm(x, "classifier.linear", num_classes))
    return b


def native_id(ks, e, d, r) -> str:
    """HELP-corpus native id: ``ks=..;e=..;d=..;r=..`` (comma-separated, inactive entries kept)."""
    return f"ks={','.join(map(str, ks))};e={','.join(map(str, e))};d={','.join(map(str, d))};r={r}"


def build_ofa(ks, e, d, r, *, width_mult: float = WIDTH_MULT, num_classes: int = 1000,
              weights: None | str | Mapping[str, Any] = None, metadata: Mapping[str, object] | None = None,
              seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of the OFA MobileNetV3 subnet ``(ks, e, d)`` at input resolution ``r``.

    ``ks``/``e``: 20 per-layer values (lists or space/comma separated strings; entries beyond a
    stage's depth are ignored), ``d``: 5 stage depths, ``r``: input size. Defaults: HELP's
    supernet ``ofa_mbv3_d234_e346_k357_w1.2`` (width 1.2), ImageNet's 1000 classes.
    """
    ks, e, d, r = parse(ks, e, d, r)
    b = build_builder(ks, e, d, r, width_mult=width_mult, num_classes=num_classes, weights=weights, seed=seed)
    return b.model(metadata if metadata is not None else {"space": "ofa-mbv3", "native_id": native_id(ks, e, d, r)})


def from_record(record: Mapping[str, Any], corpus: str = "help-ofa", *,
                weights: None | str | Mapping[str, Any] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one ``help-ofa`` row (spec columns ``ks``, ``e``, ``d``, ``r``)."""
    if corpus != "help-ofa":
        raise ValueError(f"no OFA MobileNetV3 graph recipe for corpus {corpus!r} (known: help-ofa)")
    for field in ("ks", "e", "d", "r"):
        if field not in record or record[field] is None:
            raise ValueError(f"{field}: missing from the record")
    ks, e, d, r = parse(record["ks"], record["e"], record["d"], record["r"])
    meta = dict(metadata) if metadata is not None else {"space": "ofa-mbv3", "corpus": corpus,
                                                         "native_id": native_id(ks, e, d, r)}
    return build_ofa(ks, e, d, r, weights=weights, metadata=meta)


def ofa_params(ks, e, d, r=224, **kw) -> int:
    """Trainable parameters (PyTorch ``parameters()`` convention); independent of ``r``."""
    return build_builder(ks, e, d, r, **kw).n_params
