"""Weightless ONNX graph of the network NAS-Bench-101 trained for a cell (also EC-NAS-Bench's).

Faithful to the reference implementation, google-research/nasbench (sources per choice; the
details are in :mod:`nabench.spaces.nb101_torch`, which this module mirrors op for op):

- ``nasbench/lib/config.py``: ``stem_filter_size=128``, ``num_stacks=3``,
  ``num_modules_per_stack=3``, ``num_labels=10``; CIFAR-10 input 32x32x3.
- ``nasbench/lib/model_builder.py`` ``build_model_fn``: stem Conv3x3(3→128, no bias) →
  BatchNormalization → Relu; per stack 3 modules; before stacks 1, 2 MaxPool(2, stride 2, 'same'
  = ceil mode) and channels x2 (128, 256, 512); GlobalAveragePool → Flatten → Gemm(512→10, bias).
- ``build_module`` / ``compute_vertex_channels`` / ``projection`` / ``truncate``: vertex
  channels split the module's output channels among the vertices feeding the output; vertex
  input = chain of ``Add`` over interior predecessors (a channel ``Slice`` when a predecessor has
  one channel more) then the input's projection (Conv1x1 → BN → Relu); output = ``Concat`` of the
  vertices feeding the output, ``Add`` the input's projection when input → output is an edge.
- ``nasbench/lib/base_ops.py``: ``conv3x3-bn-relu`` / ``conv1x1-bn-relu`` = Conv(k, pad k//2, no
  bias) → BatchNormalization(epsilon 1e-5) → Relu; ``maxpool3x3`` = MaxPool(3, stride 1, pad 1).
- EC-NAS-Bench (PedramBakh/EC-NAS-Bench, ``ecnas/vendors/ec_nasbench/nasbench/lib/config.py`` and
  ``model_builder.py``) trains NB101's own builder with the same defaults (128 stem filters,
  3 stacks x 3 modules); only its cells are smaller (at most 4 or 5 vertices).

Parameter convention: trainable parameters = conv weights + BN gamma and beta + dense weight and
bias (PyTorch ``parameters()``; TF ``trainable_variables`` of ``tf.layers.batch_normalization``
with its default ``center=True, scale=True``). With it, every one of the 2,623 EC-NAS rows
(``trainable_params``) and the 292 NB101 rows carrying NAS-Bench-Suite-Zero's ``params`` proxy
(millions, 6 decimals; same number as NB101's ``trainable_parameters``) match exactly.

FLOPs (:func:`nb101_flops`): multiply-accumulates of convolutions and the dense layer
(+1 per dense output for its bias), batch 1; pooling, BN, ReLU, adds not counted. NB101
publishes no FLOPs; Suite-Zero's ``flops`` proxy is a different count (see the tests).

Weight names are the PyTorch ``state_dict`` keys of :class:`~nabench.spaces.nb101_torch.NB101Network`
(``cells.4.proj1.conv.weight``), so a state dict can be dropped in (``weights=net.state_dict()``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache, lru_cache
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nabench.onnx_build import builder as B
from nabench.spaces import nb101
from nabench.spaces.nb101_torch import (
    BN_EPS,
    MODULES_PER_STACK,
    NUM_LABELS,
    NUM_STACKS,
    STEM_FILTERS,
    vertex_channels,
)

CORPORA = ("nb101", "ec-nas")
#: EC-NAS / NB101 graph-generator labels: -1 input, -2 output, 0/1/2 = ``config['available_ops']``.
_INT_LABELS = {-1: nb101.INPUT, -2: nb101.OUTPUT, 0: nb101.CONV3X3, 1: nb101.CONV1X1, 2: nb101.MAXPOOL3X3}
_KERNEL = {nb101.CONV3X3: 3, nb101.CONV1X1: 1}


@cache
def _const_attr(values: tuple[int, ...]) -> onnx.AttributeProto:
    return helper.make_attribute("value", numpy_helper.from_array(np.array(values, np.int64)))


class _Graph:
    """GraphBuilder plus the few layers it lacks (max pool, concat, channel slice)."""

    def __init__(self, b: B.GraphBuilder):
        self.b = b
        self.consts: dict[tuple[int, ...], str] = {}

    def const(self, values: tuple[int, ...]) -> str:
        name = self.consts.get(values)
        if name is None:
            name = self.consts[values] = "const." + "_".join(map(str, values))
            self.b.node("Constant", [], name, (len(values),), (_const_attr(values),))
        return name

    def maxpool(self, x: str, name: str, k: int, stride: int, pad: int, ceil: bool = False) -> str:
        b = self.b
        n, c, h, w = b.shapes[x]
        if ceil:
            ho, wo = -(-(h + 2 * pad - k) // stride) + 1, -(-(w + 2 * pad - k) // stride) + 1
        else:
            ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        attrs = [B._attr("kernel_shape", [k, k]), B._attr("strides", [stride, stride])]
        if pad:
            attrs.append(B._attr("pads", [pad] * 4))
        if ceil:
            attrs.append(B._attr("ceil_mode", 1))
        out = (n, c, ho, wo)
        b.layers.append(B.Layer("pool", name, (n, c, h, w), out, k))
        return b.node("MaxPool", [x], name, out, tuple(attrs))

    def conv_bn_relu(self, x: str, name: str, c_out: int, k: int) -> str:
        b = self.b
        y = b.bn(b.conv(x, f"{name}.conv", c_out, k, 1, k // 2), f"{name}.bn", eps=BN_EPS)
        return b.relu(y, f"{name}.relu")

    def slice_channels(self, x: str, name: str, c: int) -> str:
        n, _, h, w = self.b.shapes[x]
        ins = [x, self.const((0,)), self.const((c,)), self.const((1,))]
        return self.b.node("Slice", ins, name, (n, c, h, w))

    def concat(self, xs: list[str], name: str) -> str:
        n, _, h, w = self.b.shapes[xs[0]]
        c = sum(self.b.shapes[x][1] for x in xs)
        return self.b.node("Concat", xs, name, (n, c, h, w), (B._attr("axis", 1),))


# -- fast path: a GraphBuilder that writes protobuf bytes directly --------------------------------
_ld = B.length_delimited


@lru_cache(maxsize=1 << 16)
def _str(tag: int, text: str) -> bytes:
    """A string field, cached (names recur from graph to graph)."""
    return _ld(tag, text.encode())


_ATTR_BYTES: dict[int, bytes] = {}


def _attr_bytes(a: onnx.AttributeProto) -> bytes:
    got = _ATTR_BYTES.get(id(a))
    if got is None:  # attributes are interned (builder._attr, _const_attr), so ids are stable
        got = _ATTR_BYTES[id(a)] = _ld(5, a.SerializeToString())
    return got


@lru_cache(maxsize=4096)
def _type_bytes(shape: tuple[int, ...]) -> bytes:
    return _ld(2, B._value_info("", shape).type.SerializeToString())


@cache
def _model_parts() -> tuple[bytes, bytes]:
    header = B.make_model(onnx.GraphProto(), None)
    post = onnx.ModelProto()
    post.opset_import.extend(header.opset_import)
    header.ClearField("graph")
    header.ClearField("opset_import")  # serialized in field order: graph (7) < opset_import (8)
    return header.SerializeToString(), post.SerializeToString()


class _BytesBuilder(B.GraphBuilder):
    """Weightless only: nodes and graph inputs are kept as serialized protobuf fields; the
    result is byte-identical to :meth:`GraphBuilder.model` of the same calls."""

    def __init__(self, name: str):
        super().__init__(name)
        self.node_bytes: list[bytes] = []
        self.input_bytes: list[bytes] = []
        self.output_bytes: list[bytes] = []

    def node(self, op, inputs, name, shape, attrs=()):
        parts = [_str(1, i) for i in inputs]
        parts.append(_str(2, name))
        parts.append(_str(3, name))
        parts.append(_str(4, op))
        parts.extend(_attr_bytes(a) for a in attrs)
        self.node_bytes.append(_ld(1, b"".join(parts)))
        self.shapes[name] = shape
        return name

    def input(self, name, shape):
        self.input_bytes.append(_ld(11, _str(1, name) + _type_bytes(tuple(shape))))
        self.shapes[name] = tuple(shape)
        return name

    def weight(self, name, shape, *, buffer=False, init="normal"):
        size = math.prod(shape)
        if buffer:
            self.n_buffers += size
        else:
            self.n_params += size
        self.input_bytes.append(_ld(11, _str(1, name) + _type_bytes(tuple(shape))))
        self.shapes[name] = tuple(shape)
        return name

    def output(self, x):
        self.output_bytes.append(_ld(12, _ld(1, x.encode()) + _type_bytes(self.shapes[x])))
        return x

    def model_bytes(self, metadata: Mapping[str, object] | None) -> bytes:
        header, post = _model_parts()
        graph = (b"".join(self.node_bytes) + _ld(2, self.name.encode()) + b"".join(self.input_bytes)
                 + b"".join(self.output_bytes))
        meta = b"".join(_ld(14, _ld(1, str(k).encode()) + _ld(2, str(metadata[k]).encode()))
                        for k in sorted(metadata or {}))
        return header + _ld(7, graph) + post + meta


def _module(g: _Graph, x: str, p: str, cell: nb101.Cell, c_out: int) -> str:
    b = g.b
    m, n = cell.matrix, cell.n_vertices
    ch = vertex_channels(b.shapes[x][1], c_out, m)
    tensors = [x]
    concat = []
    for t in range(1, n - 1):
        terms = [g.slice_channels(tensors[s], f"{p}.v{t}.slice{s}", ch[t]) if ch[s] > ch[t] else tensors[s]
                 for s in range(1, t) if m[s][t]]
        if m[0][t]:
            terms.append(g.conv_bn_relu(x, f"{p}.proj{t}", ch[t], 1))
        acc = terms[0]
        for i, y in enumerate(terms[1:], start=1):
            acc = b.add(acc, y, f"{p}.v{t}.add{i}")
        op = cell.ops[t]
        if op == nb101.MAXPOOL3X3:
            v = g.maxpool(acc, f"{p}.op{t}", 3, 1, 1)
        else:
            v = g.conv_bn_relu(acc, f"{p}.op{t}", ch[t], _KERNEL[op])
        tensors.append(v)
        if m[t][n - 1]:
            concat.append(v)
    if not concat:
        return g.conv_bn_relu(x, f"{p}.proj{n - 1}", c_out, 1)
    out = concat[0] if len(concat) == 1 else g.concat(concat, f"{p}.concat")
    if m[0][n - 1]:
        out = b.add(out, g.conv_bn_relu(x, f"{p}.proj{n - 1}", c_out, 1), f"{p}.out")
    return out


def build_builder(matrix, ops, *, num_labels: int = NUM_LABELS, input_size: int = 32,
                  stem_filters: int = STEM_FILTERS, num_stacks: int = NUM_STACKS,
                  modules_per_stack: int = MODULES_PER_STACK,
                  weights: None | str | Mapping[str, np.ndarray] = None, seed: int = 0,
                  fast: bool = False) -> B.GraphBuilder:
    """The populated :class:`~nabench.onnx_build.builder.GraphBuilder` (layers, shapes, counts);
    ``fast=True`` (weightless only): a builder that holds serialized bytes (``model_bytes``)."""
    cell = nb101.prune(matrix, ops)
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    b = _BytesBuilder("nb101") if weights is None and fast else B.GraphBuilder("nb101", weights=weights, seed=seed)
    g = _Graph(b)
    x = b.input("input", (1, 3, input_size, input_size))
    x = g.conv_bn_relu(x, "stem", stem_filters, 3)
    c, k = stem_filters, 0
    for s in range(num_stacks):
        if s:
            x = g.maxpool(x, f"downsample{s}", 2, 2, 0, ceil=True)
            c *= 2
        for _ in range(modules_per_stack):
            x = _module(g, x, f"cells.{k}", cell, c)
            k += 1
    x = b.flatten(b.global_avgpool(x, "global_pooling"), "flatten")
    b.output(b.gemm(x, "classifier", num_labels))
    return b


def _default_metadata(matrix, ops) -> dict[str, str]:
    return {"space": "nb101", "native_id": nb101.module_hash(matrix, ops)}


def build_nb101(matrix, ops, *, num_labels: int = NUM_LABELS, input_size: int = 32,
                stem_filters: int = STEM_FILTERS, num_stacks: int = NUM_STACKS,
                modules_per_stack: int = MODULES_PER_STACK,
                weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of the NB101 network for the cell (``matrix``: square 0/1 upper-triangular,
    ``ops``: labels ``input``, ``conv3x3-bn-relu`` / ``conv1x1-bn-relu`` / ``maxpool3x3``,
    ``output``; pruned as upstream does). ``weights=None``: weightless (weights are typed graph
    inputs); ``"random"``: seeded random initializers; a mapping (e.g.
    ``NB101Network.state_dict()``): those values. ``metadata`` → ``metadata_props`` (default:
    space and the NB101 module hash as native id)."""
    kw = {"num_labels": num_labels, "input_size": input_size, "stem_filters": stem_filters, "num_stacks": num_stacks,
              "modules_per_stack": modules_per_stack}
    if weights is None:
        m = onnx.ModelProto()
        m.ParseFromString(build_nb101_bytes(matrix, ops, metadata=metadata, **kw))
        return m
    b = build_builder(matrix, ops, weights=weights, seed=seed, **kw)
    return b.model(metadata if metadata is not None else _default_metadata(matrix, ops))


def build_nb101_bytes(matrix, ops, *, metadata: Mapping[str, object] | None = None, **kw) -> bytes:
    """Serialized weightless ModelProto (the fast path, protobuf fields written directly);
    byte-identical to ``build_builder(matrix, ops, **kw).model(metadata)``."""
    b = build_builder(matrix, ops, fast=True, **kw)
    return b.model_bytes(metadata if metadata is not None else _default_metadata(matrix, ops))


def nb101_params(matrix, ops, **kw) -> int:
    """Trainable parameters (conv + BN gamma/beta + dense weight/bias; see the module docstring)."""
    return build_builder(matrix, ops, **kw).n_params


def nb101_flops(matrix, ops, **kw) -> int:
    """Conv and dense multiply-accumulates (+ dense bias adds), batch 1."""
    return B.flops(build_builder(matrix, ops, **kw).layers, pool=False)


# -- corpus rows ------------------------------------------------------------------------------
def _field(record: Mapping[str, Any], name: str) -> Any:
    if name not in record or record[name] is None:
        raise ValueError(f"record has no {name!r} field")
    return record[name]


def spec_from_record(record: Mapping[str, Any], corpus: str) -> tuple[np.ndarray, list[str]]:
    """(matrix, ops) of one row of a nabench corpus (``nb101`` or ``ec-nas``), validated."""
    if corpus == "nb101":
        adj, ops = _field(record, "module_adjacency"), _field(record, "module_operations")
        if not isinstance(adj, str):
            raise ValueError(f"module_adjacency must be a '0'/'1' string, got {type(adj).__name__}")
        if not isinstance(ops, str):
            raise ValueError(f"module_operations must be a comma-joined string, got {type(ops).__name__}")
        try:
            matrix, labels = nb101.from_adjacency_str(adj, ops)
        except ValueError as e:
            raise ValueError(f"module_adjacency: {e}") from None
        try:
            nb101.check(matrix, labels)
        except ValueError as e:
            raise ValueError(f"module_adjacency/module_operations: {e}") from None
        return matrix, labels
    if corpus == "ec-nas":
        raw_m, raw_o = _field(record, "matrix"), _field(record, "ops")
        try:
            mat = json.loads(raw_m) if isinstance(raw_m, str) else raw_m
            matrix = np.asarray(mat, dtype=np.int64)
        except (TypeError, ValueError, json.JSONDecodeError):
            raise ValueError(f"matrix: not a JSON list of 0/1 rows: {str(raw_m)[:60]!r}") from None
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix: must be square, got shape {matrix.shape}")
        try:
            o = json.loads(raw_o) if isinstance(raw_o, str) else raw_o
            labels = [_INT_LABELS[int(v)] for v in o]
        except (TypeError, ValueError, KeyError, json.JSONDecodeError):
            raise ValueError(f"ops: expected a JSON list of labels -1/-2/0/1/2, got {str(raw_o)[:60]!r}") from None
        try:
            nb101.check(matrix, labels)
        except ValueError as e:
            raise ValueError(f"matrix/ops: {e}") from None
        return matrix, labels
    raise ValueError(f"corpus: expected one of {CORPORA}, got {corpus!r}")


def from_record(record: Mapping[str, Any], corpus: str, *,
                weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one row of the ``nb101`` or ``ec-nas`` corpus (both: NB101's skeleton with its
    default settings). Malformed spec fields raise ValueError naming the field."""
    matrix, labels = spec_from_record(record, corpus)
    try:
        cell = nb101.prune(matrix, labels)
    except ValueError as e:
        raise ValueError(f"{'module_adjacency' if corpus == 'nb101' else 'matrix'}: {e}") from None
    if metadata is None:
        metadata = {"space": "nb101", "corpus": corpus, "native_id": str(record.get("native_id") or nb101.cell_hash(cell))}
    return build_nb101(cell.matrix, cell.ops, weights=weights, metadata=metadata)
