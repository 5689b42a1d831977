"""FLOPs of one ONNX node from its attributes and tensor shapes.

Convention (the one NAS benchmarks, fvcore and thop use): **one multiply-accumulate counts as
one FLOP**. ``ArchGraph.flops`` is therefore the MAC count of the linear ops plus a small,
documented per-element cost for everything else; multiply the linear part by 2 for the
"2 FLOPs per MAC" convention. Per op:

====================================  ==========================================================
Conv, ConvInteger, QLinearConv        ``numel(Y) * Cin/group * prod(kernel)`` (bias not counted)
ConvTranspose                         ``numel(X) * Cout/group * prod(kernel)``
Gemm                                  ``M * N * K`` (bias C not counted)
MatMul (batched, broadcast), *Integer ``numel(Y) * K``
Einsum                                product of the sizes of all distinct indices
LSTM / GRU / RNN                      ``seq * batch * (numel(W) + numel(R))``
BatchNormalization                    ``numel(Y)`` (inference: one scale-and-shift per element)
Layer/Group/Instance/RMS norm, MVN    ``5 * numel(Y)``; LRN ``size * numel(Y)``
MaxPool, AveragePool, LpPool          ``numel(Y) * prod(kernel_shape)``
Global*Pool, Reduce*, ArgMax/ArgMin   ``numel(X)``
Softmax, LogSoftmax                   ``3 * numel(Y)`` (exp, sum, divide)
elementwise ops and activations       ``numel(Y)`` (one per output element)
data movement, shape ops, unknown     0
====================================  ==========================================================

Symbolic dimensions (``dim_param``, e.g. a dynamic batch) count as 1, so a graph exported with a
dynamic batch gives FLOPs per sample. When a shape a formula needs is unknown altogether the
node's FLOPs are ``None`` (the caller counts 0 and marks the total incomplete).
"""

from __future__ import annotations

import math
import re
from typing import Any

Shape = tuple  # tuple[int | None, ...]


def numel(shape: Shape | None) -> int | None:
    """Number of elements; unknown (``None``) dims count as 1; ``None`` for an unknown shape."""
    if shape is None:
        return None
    n = 1
    for d in shape:
        if d is not None:
            n *= int(d)
    return n


_CONV = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}
_MATMUL = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3)}
_NORM5 = {"LayerNormalization", "GroupNormalization", "InstanceNormalization", "RMSNormalization",
          "SimplifiedLayerNormalization", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
          "MeanVarianceNormalization", "LpNormalization"}
_POOL = {"MaxPool", "AveragePool", "LpPool"}
_REDUCE = {"GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "ReduceMean", "ReduceSum", "ReduceMax",
           "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
           "ReduceSumSquare", "ArgMax", "ArgMin"}
_SOFTMAX = {"Softmax", "LogSoftmax"}
#: Ops charged one FLOP per output element.
ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal", "Erf", "Floor",
    "Ceil", "Round", "Sign", "Min", "Max", "Mean", "Sum", "Where", "Equal", "Less", "LessOrEqual",
    "Greater", "GreaterOrEqual", "And", "Or", "Not", "Xor", "Mod", "BitShift", "Cos", "Sin", "Tan",
    "Acos", "Asin", "Atan", "Cosh", "Sinh", "Tanh", "Asinh", "Acosh", "Atanh", "IsNaN", "IsInf",
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Gelu", "Elu", "Selu", "Celu",
    "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Clip", "Swish", "FastGelu", "BiasGelu",
    "QuickGelu", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "Shrink",
}


def _get(shapes: tuple, i: int):
    return shapes[i] if i < len(shapes) else None


def _einsum(equation: str, input_shapes: tuple) -> int | None:
    eq = equation.replace(" ", "")
    lhs = eq.split("->")[0]
    terms = lhs.split(",")
    if "..." in eq or len(terms) > len(input_shapes):
        return None
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, input_shapes):
        if shape is None or len(shape) != len(term) or not re.fullmatch(r"[A-Za-z]*", term):
            return None
        for letter, d in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), d if d is not None else 1)
    return math.prod(sizes.values()) if sizes else 0


def node_flops(op_type: str, attrs: dict[str, Any], input_shapes: tuple, output_shapes: tuple) -> int | None:
    """FLOPs (MAC convention, see the module docstring) of one node; ``None`` if a needed shape is unknown."""
    y = _get(output_shapes, 0)
    if op_type in _CONV:
        w = _get(input_shapes, _CONV[op_type])
        ny = numel(y)
        if ny is None:
            return None
        if w is not None and len(w) >= 2 and all(d is not None for d in w[1:]):
            return ny * math.prod(w[1:])
        x = _get(input_shapes, 0)
        k = attrs.get("kernel_shape")
        if x is None or len(x) < 2 or x[1] is None or not k:
            return None
        return ny * (x[1] // max(int(attrs.get("group", 1)), 1)) * math.prod(k)
    if op_type == "ConvTranspose":
        x, w = _get(input_shapes, 0), _get(input_shapes, 1)
        if x is None or w is None or len(w) < 2 or any(d is None for d in w[1:]):
            return None
        return numel(x) * math.prod(w[1:])
    if op_type == "Gemm":
        a = _get(input_shapes, 0)
        ny = numel(y)
        if a is None or len(a) != 2 or ny is None:
            return None
        k = a[0] if attrs.get("transA", 0) else a[1]
        return ny * (k if k is not None else 1)
    if op_type in _MATMUL:
        a = _get(input_shapes, _MATMUL[op_type][0])
        ny = numel(y)
        if a is None or len(a) == 0 or ny is None:
            return None
        k = a[-1]
        return ny * (k if k is not None else 1)
    if op_type == "Einsum":
        return _einsum(str(attrs.get("equation", "")), input_shapes)
    if op_type in ("LSTM", "GRU", "RNN"):
        x, w, r = _get(input_shapes, 0), _get(input_shapes, 1), _get(input_shapes, 2)
        if x is None or w is None or r is None or len(x) != 3:
            return None
        return numel(x[:2]) * (numel(w) + numel(r))
    ny = numel(y)
    if op_type == "BatchNormalization":
        return ny
    if op_type in _NORM5:
        return None if ny is None else 5 * ny
    if op_type == "LRN":
        return None if ny is None else int(attrs.get("size", 1)) * ny
    if op_type in _POOL:
        k = attrs.get("kernel_shape")
        return None if ny is None or not k else ny * math.prod(k)
    if op_type in _REDUCE:
        return numel(_get(input_shapes, 0))
    if op_type in _SOFTMAX:
        return None if ny is None else 3 * ny
    if op_type in ELEMENTWISE:
        return ny
    return 0
