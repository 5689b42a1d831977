"""``ArchGraph``: the one normalized view of an architecture that every encoder reads.

``from_onnx(model)`` accepts a path, the serialized bytes, or an ``onnx.ModelProto`` (opset 13+ is
what we test; older opsets are read the same way), sorts the nodes topologically, runs ONNX shape
inference (strict first, then lenient) and returns an immutable :class:`ArchGraph`. A path or bytes
of 1 MiB or more is read without the data of its large float initializers (:func:`_skeleton`: the
file is memory-mapped and only its structure is parsed), so a 100 MB ResNet-50 with weights reads in
~30 ms instead of ~400 ms; the graph is the same.

Nodes
    Every node of the main graph except ``Constant`` nodes (their values become constant tensors)
    and ``Identity`` nodes whose input is a constant (folded into an alias of that constant).
    ``Identity`` on activations stays a node. Nodes are listed in a deterministic topological
    order (Kahn's algorithm, ties broken by position in the file). Attributes are plain Python
    values; tensor attributes are summarized as ``{"tensor": {"dims", "dtype"[, "value"]}}`` and
    subgraph attributes (If/Loop/Scan) as ``{"graph": {"name", "n_nodes", "op_types"}}``, not
    recursed into; tensors captured from the outer scope by a subgraph still give edges.
    Unknown op types (any domain) never fail: their category is ``generic`` and attributes are kept.

Shapes
    From shape inference: static ints, ``None`` for a symbolic or unknown dimension, and ``None`` for
    the whole shape when not even the rank is known. When inference cannot infer (unknown custom
    ops, inconsistent models) the graph is still returned: shapes are ``None`` where unknown,
    ``params`` is exact (it needs only weight shapes), ``flops`` counts what can be computed and
    ``flops_complete`` is ``False``; ``notes`` says what happened.

Weights and weightless graphs
    Constant tensors are initializers (with or without data: nabench reads only the data of small
    non-weight constants, see *Constant values*, so "shape-only" initializers — dims but no data —
    work here, although ``onnx.checker`` rejects them), ``Constant`` node outputs, and graph
    inputs that are weights. nabench's own weightless form (what :func:`strip_weights` writes, and what corpora store) keeps every weight as a typed
    graph input with its full shape and lists those names, comma-separated, in the model's
    ``metadata_props["nabench.weights"]``; it passes ``onnx.checker.check_model(full_check=True)``
    and gives exactly the ``params``, ``flops`` and ``arch_id`` of the original. A graph input is
    a weight if it has an initializer of the same name, is listed under ``nabench.weights``, or is
    used only in unambiguous weight slots (Conv/ConvTranspose W and B, Gemm B and C, normalization
    scale/bias/mean/var, PRelu slope, RNN W/R/B). A graph input feeding MatMul is data unless
    declared (``A @ X`` in a GNN has two data operands).

Constant values
    ``constants[(node, slot)]`` keeps the value of each small constant that is not a weight: at
    most ``CONSTANT_VALUE_MAX`` elements, numeric, with data in the file, not counted in
    ``params`` and not a normalization statistic (a Clip bound, a scalar factor, Slice starts,
    Pad amounts, Gather indices, a Reshape target), as ``(dtype, dims, flat values)``. That is
    what :func:`nabench.zc.convert.graph_to_onnx` needs to rebuild a runnable model from the
    graph. Values are not part of ``arch_id`` (an architecture is its ops, shapes and wiring).

params (trainable convention)
    Matches ``sum(p.numel() for p in module.parameters())`` of the exported torch module. A
    constant tensor (after resolving Identity aliases; shared tensors counted once) counts iff
    one of its uses is

    * a weight slot of a parametric op (``WEIGHT_SLOTS``: Conv W/B, Gemm A/B/C, MatMul operands,
      normalization scale/bias, PRelu slope, Gather data (embeddings), RNN W/R/B, ...) with a
      float dtype (any dtype for the quantized ops), or
    * any other slot with a float dtype and more than one element, except the non-learnable
      slots in ``NON_PARAM_SLOTS`` (BatchNormalization running mean/var, Reshape shape, Resize
      scales, Clip bounds, Pad values, ...).

    So BN running statistics, integer shape tensors and scalar constants (an attention scale,
    a GELU's ``sqrt(2)``, an epsilon) are not params; non-scalar float buffers that take part in
    arithmetic (e.g. a registered attention mask) are, because ONNX cannot tell them from
    parameters. Export torch models in training mode (``training=TrainingMode.TRAINING``, or
    ``PRESERVE`` with ``model.train()``): an eval-mode export folds BatchNorm into the preceding
    conv and merges initializers with equal values, which changes the count.
    Each counted tensor is owned by the first node (in topological order) that uses it in a
    counting slot: ``sum(n.params for n in graph.nodes) == graph.params``.

FLOPs: see :mod:`nabench.graph.flops` (one multiply-accumulate = one FLOP).

Depth is the number of nodes on the longest path.
"""

from __future__ import annotations

import heapq
import math
import os
from itertools import chain
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import onnx
from onnx import AttributeProto, TensorProto

from ..errors import NabenchError
from .flops import node_flops

#: Default limit on the number of nodes (main graph plus subgraphs); larger models raise GraphError.
DEFAULT_MAX_NODES = 200_000
#: ``metadata_props`` key listing the graph inputs that are weights (comma-separated names).
WEIGHTS_METADATA_KEY = "nabench.weights"
#: Largest constant (in elements) whose value an ArchGraph keeps (see ``constants``).
CONSTANT_VALUE_MAX = 64

Shape = tuple  # tuple[int | None, ...]; a whole shape may also be None (rank unknown)


class GraphError(NabenchError):
    """A model that cannot be read as an architecture graph (not ONNX, cyclic, too large, ...)."""


# --------------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------------

#: The fixed category vocabulary (``generic`` = unknown op type).
CATEGORIES = (
    "conv", "depthwise_conv", "group_conv", "conv_transpose", "linear", "matmul", "attention",
    "embedding", "norm", "activation", "softmax", "pool", "global_pool", "reduce", "elementwise",
    "reshape", "shape", "dropout", "recurrent", "control_flow", "quantize", "generic",
)

_CATEGORY_LISTS = {
    "conv": ["Conv", "ConvInteger", "QLinearConv", "DeformConv"],
    "conv_transpose": ["ConvTranspose"],
    "linear": ["Gemm"],
    "matmul": ["MatMul", "MatMulInteger", "QLinearMatMul", "Einsum"],
    "attention": ["Attention"],
    "norm": ["BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization",
             "LpNormalization", "RMSNormalization", "MeanVarianceNormalization", "LRN"],
    "activation": ["Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Gelu",
                   "Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Clip",
                   "Shrink"],
    "softmax": ["Softmax", "LogSoftmax"],
    "pool": ["MaxPool", "AveragePool", "LpPool", "MaxRoiPool", "MaxUnpool", "RoiAlign"],
    "global_pool": ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"],
    "reduce": ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "TopK",
               "CumSum"],
    "elementwise": ["Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal",
                    "Erf", "Floor", "Ceil", "Round", "Sign", "Min", "Max", "Mean", "Sum", "Where",
                    "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Not",
                    "Xor", "Mod", "BitShift", "Cos", "Sin", "Tan", "Acos", "Asin", "Atan", "Cosh",
                    "Sinh", "Asinh", "Acosh", "Atanh", "IsNaN", "IsInf", "BitwiseAnd", "BitwiseOr",
                    "BitwiseXor", "BitwiseNot"],
    "reshape": ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Concat", "Split", "Slice",
                "Gather", "GatherElements", "GatherND", "Expand", "Tile", "Pad", "Resize", "Upsample",
                "DepthToSpace", "SpaceToDepth", "Identity", "Cast", "CastLike", "ScatterND",
                "ScatterElements", "Scatter", "Trilu", "Compress", "OneHot", "NonZero", "ReverseSequence",
                "GridSample", "CenterCropPad", "Col2Im", "SplitToSequence", "ConcatFromSequence",
                "SequenceAt", "SequenceConstruct", "SequenceEmpty", "SequenceInsert", "SequenceErase",
                "SequenceLength", "Unique"],
    "shape": ["Shape", "Size", "ConstantOfShape", "Range", "EyeLike", "RandomNormal", "RandomUniform",
              "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"],
    "dropout": ["Dropout"],
    "recurrent": ["LSTM", "GRU", "RNN"],
    "control_flow": ["If", "Loop", "Scan"],
    "quantize": ["QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"],
}
#: op type (default ONNX domain) → category.
OP_CATEGORY: dict[str, str] = {op: cat for cat, ops in _CATEGORY_LISTS.items() for op in ops}
#: op type in the ``com.microsoft`` domain (onnxruntime contrib ops) → category.
MS_OP_CATEGORY: dict[str, str] = {
    "Gelu": "activation", "FastGelu": "activation", "BiasGelu": "activation", "QuickGelu": "activation",
    "Attention": "attention", "MultiHeadAttention": "attention", "GroupQueryAttention": "attention",
    "SkipLayerNormalization": "norm", "SimplifiedLayerNormalization": "norm",
    "SkipSimplifiedLayerNormalization": "norm", "LayerNormalization": "norm",
    "FusedConv": "conv", "FusedMatMul": "matmul", "FusedGemm": "linear",
}
_DEFAULT_DOMAINS = ("", "ai.onnx")

#: Input slots that hold learnable weights (counted whenever fed by a float constant).
WEIGHT_SLOTS: dict[str, frozenset[int]] = {k: frozenset(v) for k, v in {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "DeformConv": (1, 3), "Gemm": (0, 1, 2), "MatMul": (0, 1),
    "Einsum": tuple(range(16)), "BatchNormalization": (1, 2), "InstanceNormalization": (1, 2),
    "LayerNormalization": (1, 2), "GroupNormalization": (1, 2), "RMSNormalization": (1,),
    "SimplifiedLayerNormalization": (1,), "SkipLayerNormalization": (2, 3, 4), "PRelu": (1,),
    "Gather": (0,), "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3),
    # quantized ops: integer weights count too
    "ConvInteger": (1,), "MatMulInteger": (0, 1), "QLinearConv": (3, 8), "QLinearMatMul": (0, 3),
    "DequantizeLinear": (0,),
}.items()}
_QUANT_OPS = frozenset({"ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul", "DequantizeLinear"})
#: Input slots that never hold learnable parameters (statistics, shapes, indices, bounds, scales).
NON_PARAM_SLOTS: dict[str, frozenset[int]] = {k: frozenset(v) for k, v in {
    "BatchNormalization": (3, 4), "Reshape": (1,), "Expand": (1,), "Tile": (1,), "Slice": (1, 2, 3, 4),
    "Pad": (1, 2, 3), "Resize": (1, 2, 3), "Upsample": (1,), "Clip": (1, 2), "Pow": (1,),
    "Dropout": (1, 2), "Squeeze": (1,), "Unsqueeze": (1,), "Split": (1,), "TopK": (1,),
    "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,), "ReduceProd": (1,),
    "ReduceL1": (1,), "ReduceL2": (1,), "ReduceLogSum": (1,), "ReduceLogSumExp": (1,),
    "ReduceSumSquare": (1,), "ConstantOfShape": (0,), "Range": (0, 1, 2), "OneHot": (1, 2),
    "QuantizeLinear": (1, 2), "DequantizeLinear": (1, 2), "QLinearConv": (1, 2, 4, 5, 6, 7),
    "QLinearMatMul": (1, 2, 4, 5, 6, 7), "ScatterND": (1,), "ScatterElements": (1,),
    "GatherElements": (1,), "GatherND": (1,), "Gather": (1,), "CumSum": (1,), "Trilu": (1,),
    "CenterCropPad": (1,), "Shrink": (), "Where": (0,), "LSTM": (4, 5, 6), "GRU": (4, 5), "RNN": (4, 5),
}.items()}
#: Ops whose constant inputs are weights or running statistics (their values are never kept).
_STAT_OPS = frozenset({"BatchNormalization", "InstanceNormalization", "LayerNormalization", "GroupNormalization",
                       "RMSNormalization"})
#: Slots that make a *graph input* a weight without any declaration.
_AUTO_WEIGHT_SLOTS: dict[str, frozenset[int]] = {k: frozenset(v) for k, v in {
    "Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "BatchNormalization": (1, 2, 3, 4),
    "InstanceNormalization": (1, 2), "LayerNormalization": (1, 2), "GroupNormalization": (1, 2),
    "RMSNormalization": (1,), "PRelu": (1,), "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3),
}.items()}

_FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
                         | {getattr(TensorProto, n) for n in ("FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
                                                              "FLOAT8E5M2FNUZ", "FLOAT4E2M1")
                            if hasattr(TensorProto, n)})
_FLOAT_NAMES = frozenset(TensorProto.DataType.Name(t).lower() for t in _FLOAT_TYPES)


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TensorInfo:
    """A named tensor: shape (``None`` dims unknown/symbolic; ``None`` if the rank is unknown) and dtype."""

    name: str
    shape: Shape | None
    dtype: str | None


@dataclass(frozen=True, slots=True)
class Node:
    """One op of the graph (slotted: a corpus holds millions of nodes).

    ``sources[i]`` says where input slot ``i`` comes from: ``("node", j, k)`` (output ``k`` of node
    ``j``), ``("input", j, 0)`` (data input ``j`` of the graph), ``("const", -1, -1)`` (a weight or
    constant) or ``("none", -1, -1)`` (an omitted optional input). ``const_inputs`` maps the slots
    fed by weights/constants to their shapes.
    """

    index: int
    name: str
    op_type: str
    domain: str
    category: str
    attrs: dict[str, Any]
    input_shapes: tuple
    output_shapes: tuple
    sources: tuple
    const_inputs: dict[int, Shape | None]
    params: int
    flops: int


#: The slot setters of Node's fields, in field order: building a node with them skips the frozen
#: dataclass ``__init__`` (12 ``object.__setattr__`` calls), which matters at millions of nodes.
NODE_SETTERS = tuple(getattr(Node, f.name).__set__ for f in fields(Node))


@dataclass(frozen=True)
class ArchGraph:
    """The normalized architecture graph (see the module docstring for every convention).

    ``edges`` are (producer node, consumer node) pairs, deduplicated and sorted; ``input_edges``
    are (data input index, consumer node); ``output_edges`` are (producer node, output index);
    ``output_sources[k]`` says where output ``k`` comes from, like ``Node.sources``. ``inputs`` are
    the data inputs only; ``weights`` the tensors counted in ``params``; ``constants`` the values of
    small non-weight constants by ``(node index, input slot)``.
    """

    nodes: list[Node]
    edges: list[tuple[int, int]]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    input_edges: list[tuple[int, int]]
    output_edges: list[tuple[int, int]]
    output_sources: list[tuple[str, int, int]]
    weights: list[TensorInfo]
    params: int
    flops: int
    depth: int
    metadata: dict[str, str] = field(default_factory=dict)
    opset: dict[str, int] = field(default_factory=dict)
    flops_complete: bool = True
    notes: tuple[str, ...] = ()
    constants: dict[tuple[int, int], tuple[str, tuple[int, ...], tuple]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def arch_id(self) -> str | None:
        """The arch id recorded in ``metadata["arch_id"]`` (every graph a corpus stores has one);
        ``None`` for other models (compute it with :func:`nabench.graph.arch_id`)."""
        return self.metadata.get("arch_id")

    def category_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.category] = counts.get(n.category, 0) + 1
        return counts

    def to_networkx(self):
        """A ``networkx.DiGraph`` with one vertex per node (its fields as attributes) and the edges."""
        import networkx as nx

        g = nx.DiGraph()
        for n in self.nodes:
            g.add_node(n.index, name=n.name, op_type=n.op_type, domain=n.domain, category=n.category,
                       attrs=n.attrs, input_shapes=n.input_shapes, output_shapes=n.output_shapes,
                       params=n.params, flops=n.flops)
        g.add_edges_from(self.edges)
        return g


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _dtype_name(elem_type: int) -> str | None:
    name = _DTYPE_NAMES.get(elem_type, _MISSING)
    if name is _MISSING:
        if not elem_type:
            name = None
        else:
            try:
                name = TensorProto.DataType.Name(elem_type).lower()
            except ValueError:
                name = f"type{elem_type}"
        if len(_DTYPE_NAMES) < 4096:
            _DTYPE_NAMES[elem_type] = name
    return name


_DTYPE_NAMES: dict[int, str | None] = {}
_MISSING = object()
_GRAPH_TYPES = (AttributeProto.GRAPH, AttributeProto.GRAPHS)


def _tensor_summary(t: TensorProto) -> dict[str, Any]:
    out: dict[str, Any] = {"dims": [int(d) for d in t.dims], "dtype": _dtype_name(t.data_type)}
    if math.prod(t.dims) == 1 and t.data_type in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64,
                                                    TensorProto.INT32):
        try:
            import onnx.numpy_helper as nh

            out["value"] = nh.to_array(t).reshape(-1)[0].item()
        except Exception:  # noqa: BLE001 -- a malformed tensor keeps its shape-only summary
            pass
    return out


def _graph_summary(g: onnx.GraphProto) -> dict[str, Any]:
    return {"name": g.name, "n_nodes": len(g.node), "op_types": sorted({n.op_type for n in g.node})}


def _decode(b: bytes) -> str:
    return b.decode("utf-8", errors="replace") if isinstance(b, bytes) else str(b)


def _attr_value(a: AttributeProto) -> Any:
    if a.ref_attr_name:
        return {"ref": a.ref_attr_name}
    t = a.type
    if t == AttributeProto.FLOAT:
        return float(a.f)
    if t == AttributeProto.INT:
        return int(a.i)
    if t == AttributeProto.STRING:
        return _decode(a.s)
    if t == AttributeProto.FLOATS:
        return [float(x) for x in a.floats]
    if t == AttributeProto.INTS:
        return [int(x) for x in a.ints]
    if t == AttributeProto.STRINGS:
        return [_decode(x) for x in a.strings]
    if t == AttributeProto.TENSOR:
        return {"tensor": _tensor_summary(a.t)}
    if t == AttributeProto.TENSORS:
        return [{"tensor": _tensor_summary(x)} for x in a.tensors]
    if t == AttributeProto.GRAPH:
        return {"graph": _graph_summary(a.g)}
    if t == AttributeProto.GRAPHS:
        return [{"graph": _graph_summary(x)} for x in a.graphs]
    if t == AttributeProto.SPARSE_TENSOR:
        return {"sparse_tensor": {"dims": [int(d) for d in a.sparse_tensor.dims],
                                  "dtype": _dtype_name(a.sparse_tensor.values.data_type)}}
    if t in (AttributeProto.TYPE_PROTO, AttributeProto.TYPE_PROTOS):
        return {"type_proto": str(a.tp if t == AttributeProto.TYPE_PROTO else list(a.type_protos))}
    return None


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: _attr_value(a) for a in node.attribute}


def _attrs_of(atts: tuple) -> dict[str, Any]:
    """``_attrs`` of a node's attribute list; plain values are memoized by the attribute's bytes."""
    out: dict[str, Any] = {}
    for a in atts:
        key = a.SerializeToString()
        hit = _ATTR_CACHE.get(key)
        if hit is None:
            name, v = a.name, _attr_value(a)
            out[name] = v
            tv = type(v)
            if tv in _PLAIN or (tv is list and all(type(x) in _PLAIN for x in v)):
                if len(_ATTR_CACHE) >= 65536:
                    _ATTR_CACHE.clear()
                _ATTR_CACHE[key] = (name, tuple(v) if tv is list else v, tv is list)
        else:
            name, v, is_list = hit
            out[name] = list(v) if is_list else v  # a fresh list per node: attrs stay independent
    return out


_ATTR_CACHE: dict[bytes, tuple[str, Any, bool]] = {}
#: (name, shape, dtype) -> the TensorInfo (immutable, so shared by every graph that has that weight)
_TENSOR_INFOS: dict[tuple, TensorInfo] = {}
#: node bytes -> (name, inputs, outputs, op_type, domain, attribute bytes, has a subgraph attribute)
_NODE_FIELDS: dict[bytes, tuple] = {}
_PLAIN = (int, float, str)
#: (op, domain, attribute bytes, input shapes, output shapes, constant slots) -> (attribute items,
#: category, FLOPs) of nodes whose attributes are plain values (see from_onnx).
_NODE_MEMO: dict[tuple, tuple] = {}


def _type_info(tp: onnx.TypeProto) -> tuple[Shape | None, str | None]:
    # Reading dims through protobuf wrappers is slow and few distinct types recur across tensors and
    # models, so results (immutable tuples) are memoized by the type's serialized bytes.
    key = tp.SerializeToString()
    info = _TYPE_INFO_CACHE.get(key)
    if info is None:
        info = _type_info_uncached(tp)
        if len(_TYPE_INFO_CACHE) >= 65536:
            _TYPE_INFO_CACHE.clear()
        _TYPE_INFO_CACHE[key] = info
    return info


_TYPE_INFO_CACHE: dict[bytes, tuple[Shape | None, str | None]] = {}


def _type_info_uncached(tp: onnx.TypeProto) -> tuple[Shape | None, str | None]:
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        tt = tp.tensor_type
    elif kind == "sparse_tensor_type":
        tt = tp.sparse_tensor_type
    else:
        return None, kind  # sequence/map/optional: no tensor shape
    dtype = _dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return None, dtype
    dims = []
    for d in tt.shape.dim:
        v = d.dim_value
        if v > 0:  # a nonzero dim_value is set; 0 may be the default of an unset (symbolic) dim
            dims.append(v)
        elif v == 0 and d.HasField("dim_value"):
            dims.append(0)
        else:
            dims.append(None)
    return tuple(dims), dtype


_VI_CACHE: dict[bytes, tuple[str, tuple[Shape | None, str | None]]] = {}


def _vi_records(vis) -> list[tuple[str, tuple[Shape | None, str | None]]]:
    """(name, (shape, dtype)) of each ``ValueInfoProto``, memoized by its serialized bytes (the same
    declarations recur across the models of a corpus, and protobuf field access is slow)."""
    cache = _VI_CACHE
    out = []
    append = out.append
    for vi in vis:
        key = vi.SerializeToString()
        rec = cache.get(key)
        if rec is None:
            rec = (vi.name, _type_info(vi.type))
            if len(key) <= 1024:
                if len(cache) >= 65536:
                    cache.clear()
                cache[key] = rec
        append(rec)
    return out


def _known_shapes(vi_recs: list, in_recs: list, out_recs: list, outs_l: list[tuple[str, ...]],
                  init_names: set[str]) -> dict[str, tuple[Shape | None, str | None]] | None:
    """Fast path that skips shape inference: the shapes the model already declares, if complete.

    When every node output has a ``value_info`` (or graph output) entry with a tensor dtype and a
    fully static shape (every dim a non-negative ``dim_value``), as in models already passed
    through ``onnx.shape_inference.infer_shapes``, inference could only confirm those shapes, so
    they are used as they are. Returns ``None`` (run inference) otherwise. A model whose declared
    shapes contradict its ops is then not diagnosed: shape inference would have added a note.
    ``*_recs`` are :func:`_vi_records` of the graph's value_info, inputs and outputs.
    """
    shapes = dict(chain(vi_recs, in_recs, out_recs))
    if len(shapes) < len(vi_recs) + len(in_recs) + len(out_recs):  # a name declared twice: the first known shape
        shapes = {}
        for name, info in chain(vi_recs, in_recs, out_recs):
            cur = shapes.get(name)
            if cur is None or cur[0] is None:
                shapes[name] = info
    for name in init_names:  # initializers: their own shapes are used
        shapes.pop(name, None)
    get = shapes.get
    for outs in outs_l:
        for o in outs:
            si = get(o)
            if si is None:
                if not o:
                    continue
                return None
            if si[0] is None or si[1] is None or None in si[0]:
                return None
    return shapes


def _raise_bad_producers(raw: list, outs_l: list[tuple[str, ...]], available: set[str]) -> None:
    """Raise the :class:`GraphError` for the first tensor written twice or over an input/initializer."""
    producer: dict[str, int] = {}
    for i, outs in enumerate(outs_l):
        for o in outs:
            if not o:
                continue
            if o in producer:
                j = producer[o]
                raise GraphError(f"tensor {o!r} is produced twice: by node {_node_label(raw[j], j)}"
                                 f" and by node {_node_label(raw[i], i)}")
            if o in available:
                raise GraphError(f"node {_node_label(raw[i], i)} writes {o!r}, which is already a graph input or initializer")
            producer[o] = i


def _constant_info(node: onnx.NodeProto) -> tuple[Shape | None, str | None]:
    for a in node.attribute:
        if a.name == "value":
            return tuple(int(d) for d in a.t.dims), _dtype_name(a.t.data_type)
        if a.name == "sparse_value":
            return tuple(int(d) for d in a.sparse_tensor.dims), _dtype_name(a.sparse_tensor.values.data_type)
        if a.name == "value_float":
            return (), "float"
        if a.name == "value_int":
            return (), "int64"
        if a.name == "value_string":
            return (), "string"
        if a.name == "value_floats":
            return (len(a.floats),), "float"
        if a.name == "value_ints":
            return (len(a.ints),), "int64"
        if a.name == "value_strings":
            return (len(a.strings),), "string"
    return None, None


def _constant_value(src: Any) -> tuple[str, tuple[int, ...], tuple] | None:
    """``(dtype, dims, flat values)`` of an initializer or ``Constant`` node with numeric data of at
    most ``CONSTANT_VALUE_MAX`` elements, else ``None``."""
    if isinstance(src, onnx.NodeProto):
        for a in src.attribute:
            if a.name == "value":
                return _constant_value(a.t)
            if a.name in ("value_float", "value_int"):
                return ("float" if a.name == "value_float" else "int64"), (), (a.f if a.name == "value_float" else a.i,)
            if a.name in ("value_floats", "value_ints"):
                vals = tuple(a.floats) if a.name == "value_floats" else tuple(a.ints)
                if len(vals) <= CONSTANT_VALUE_MAX:
                    return ("float" if a.name == "value_floats" else "int64"), (len(vals),), vals
        return None
    dims = tuple(int(d) for d in src.dims)
    dtype = _dtype_name(src.data_type)
    if math.prod(dims) > CONSTANT_VALUE_MAX or dtype in (None, "string") or src.data_location == TensorProto.EXTERNAL:
        return None
    from onnx import numpy_helper

    try:
        arr = numpy_helper.to_array(src)
    except Exception:  # noqa: BLE001 -- a shape-only initializer (dims without data) has no value
        return None
    if arr.size != math.prod(dims):
        return None
    return dtype, dims, tuple(arr.ravel().tolist())


def _is_default(node: onnx.NodeProto) -> bool:
    return node.domain in _DEFAULT_DOMAINS


def _subgraph_names(node: onnx.NodeProto, budget: list[int]) -> set[str]:
    """Names read inside the node's subgraphs (recursively); the caller drops those defined inside."""
    names: set[str] = set()
    stack = [a for a in node.attribute if a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS)]
    while stack:
        a = stack.pop()
        graphs = [a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            budget[0] -= len(g.node)
            if budget[0] < 0:
                return names
            defined = {i.name for i in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                defined.update(n.output)
            for n in g.node:
                names.update(x for x in n.input if x and x not in defined)
                stack.extend(b for b in n.attribute if b.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS))
            names.update(o.name for o in g.output if o.name not in defined)
    return names


def _count_nodes(graph: onnx.GraphProto, limit: int) -> int:
    total = 0
    stack = [graph]
    while stack:
        g = stack.pop()
        total += len(g.node)
        if total > limit:
            return total
        for n in g.node:
            for a in n.attribute:
                if a.type == AttributeProto.GRAPH:
                    stack.append(a.g)
                elif a.type == AttributeProto.GRAPHS:
                    stack.extend(a.graphs)
    return total


def _node_label(node: onnx.NodeProto, i: int) -> str:
    return f"{node.name!r} ({node.op_type}, node #{i})" if node.name else f"#{i} ({node.op_type})"


# --------------------------------------------------------------------------------------------
# Reading large models without their weights
# --------------------------------------------------------------------------------------------

#: Models at least this large (bytes) are read through :func:`_skeleton`.
SKELETON_MIN_BYTES = 1 << 20
_TENSOR_DATA_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11})  # TensorProto float/int32/string/int64/raw/double/uint64 data


def _varint(buf, i: int) -> tuple[int, int]:
    b = buf[i]
    if b < 0x80:
        return b, i + 1
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf, start: int, end: int):
    """(field number, wire type, field start, value start, value end) of each field in ``buf[start:end]``
    (for a varint field the value span is its encoding)."""
    i = start
    while i < end:
        tag_at = i
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            _, j = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            j = i + n
        elif wire == 1:
            j = i + 8
        elif wire == 5:
            j = i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if j > end:
            raise ValueError("truncated field")
        yield num, wire, tag_at, i, j
        i = j


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _length_delimited(num: int, payload: bytes) -> bytes:
    return _varint_bytes(num << 3 | 2) + _varint_bytes(len(payload)) + payload


def _tensor_skeleton(buf, start: int, end: int) -> bytes | None:
    """A TensorProto (``buf[start:end]``) without its data when it is a float tensor of more than 64
    elements (the initializers :func:`_light_copy` turns into typed inputs); ``None``: keep it as is."""
    dims: list[int] = []
    dtype = 0
    data: list[tuple[int, int]] = []
    for num, wire, at, a, b in _fields(buf, start, end):
        if num == 1:
            if wire == 0:
                dims.append(_varint(buf, a)[0])
            elif wire == 2:
                while a < b:
                    d, a = _varint(buf, a)
                    dims.append(d)
        elif num == 2 and wire == 0:
            dtype = _varint(buf, a)[0]
        elif num in _TENSOR_DATA_FIELDS:
            data.append((at, b))
    if not data or dtype not in _FLOAT_TYPES or any(d >= 1 << 62 for d in dims) or math.prod(dims) <= 64:
        return None
    keep, i = [], start
    for at, b in data:
        keep.append(buf[i:at])
        i = b
    keep.append(buf[i:end])
    return b"".join(keep)


def _skeleton(buf) -> bytes:
    """The serialized model in ``buf`` with the data of its large float initializers left out.

    Everything from_onnx reads is kept (initializer names, dims and types, small and integer
    initializers whole, nodes, value infos, metadata), so ``from_onnx`` gives the same graph while
    a 100 MB model is never parsed or even read whole. Raises ValueError on malformed input.
    """
    out: list[bytes] = []
    n_graphs = 0
    for num, wire, at, a, b in _fields(buf, 0, len(buf)):
        if num == 7 and wire == 2:  # ModelProto.graph
            n_graphs += 1
            parts: list[bytes] = []
            for gnum, gwire, gat, ga, gb in _fields(buf, a, b):
                lean = _tensor_skeleton(buf, ga, gb) if gnum == 5 and gwire == 2 else None  # initializer
                parts.append(buf[gat:gb] if lean is None else _length_delimited(5, lean))
            out.append(_length_delimited(7, b"".join(parts)))
        else:
            out.append(buf[at:b])
    if n_graphs != 1:
        raise ValueError(f"{n_graphs} graph fields")
    return b"".join(out)


def _read_skeleton(path: Path) -> bytes | None:
    """:func:`_skeleton` of a large model file, read through mmap (only the pages it needs are
    touched); ``None`` when the file is small or cannot be read this way."""
    import mmap

    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size < SKELETON_MIN_BYTES:
                return None
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _skeleton(mm)
    except (OSError, ValueError, IndexError):
        return None


def _load(model: Any, skeleton: bool = False) -> onnx.ModelProto:
    """The ModelProto of a path, bytes or ModelProto. ``skeleton``: large models given as a path or
    bytes are read without the data of their large float initializers (see :func:`_skeleton`)."""
    if isinstance(model, onnx.ModelProto):
        m = model
    else:
        data = None
        if isinstance(model, (bytes, bytearray, memoryview)):
            where = "<bytes>"
            if skeleton and len(model) >= SKELETON_MIN_BYTES:
                try:
                    data = _skeleton(model if isinstance(model, bytes) else bytes(model))
                except (ValueError, IndexError):
                    data = None  # malformed: parsed whole below, which names the problem
            if data is None:
                data = bytes(model)
        elif isinstance(model, (str, os.PathLike)):
            path = Path(model)
            where = str(path)
            if skeleton:
                data = _read_skeleton(path)
            if data is None:
                try:
                    data = path.read_bytes()
                except OSError as e:
                    raise GraphError(f"{path}: cannot read the model ({e.strerror or e})") from None
        else:
            raise GraphError(f"expected a path, bytes or onnx.ModelProto, got {type(model).__name__}")
        m = onnx.ModelProto()
        try:
            m.ParseFromString(data)
        except Exception as e:  # noqa: BLE001 -- protobuf raises DecodeError and others
            raise GraphError(f"{where}: not an ONNX model (protobuf decoding failed: {e})") from None
        if not data:
            raise GraphError(f"{where}: not an ONNX model (empty)")
        model = where
    where = model if isinstance(model, str) else "<model>"
    if not m.HasField("graph"):
        raise GraphError(f"{where}: not an ONNX model (no graph)")
    if m.ir_version <= 0:
        raise GraphError(f"{where}: not an ONNX model (no ir_version)")
    return m


# --------------------------------------------------------------------------------------------
# Shape inference
# --------------------------------------------------------------------------------------------

def _add_typed_input(graph: onnx.GraphProto, tensor: onnx.TensorProto) -> None:
    """Declare ``tensor`` as a graph input with its full type and shape (no data)."""
    vi = graph.input.add()
    vi.name = tensor.name
    vi.type.tensor_type.elem_type = tensor.data_type
    shape = vi.type.tensor_type.shape
    for d in tensor.dims:
        shape.dim.add().dim_value = d


def _infer(m: onnx.ModelProto, order: list[int], notes: list[str]) -> onnx.GraphProto:
    """Shape inference on a light copy: nodes in topological order, big weights as typed inputs."""
    g = m.graph
    if (m.ir_version >= 4 and not len(m.training_info) and all(i == k for k, i in enumerate(order))
            and not any(t.data_type in _FLOAT_TYPES and math.prod(t.dims) > 64 for t in g.initializer)):
        light = m  # the light copy would equal the model in all that inference reads: skip the copy
        lg = g
    else:
        light, lg = _light_copy(m, order)
    for strict in (True, False):
        try:
            return onnx.shape_inference.infer_shapes(light, check_type=False, strict_mode=strict,
                                                     data_prop=True).graph
        except Exception as e:  # noqa: BLE001 -- onnx raises InferenceError, ValidationError, RuntimeError...
            msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            notes.append(f"{'strict' if strict else 'lenient'} shape inference failed: {msg}")
    return lg


def _light_copy(m: onnx.ModelProto, order: list[int]) -> tuple[onnx.ModelProto, onnx.GraphProto]:
    g = m.graph
    light = onnx.ModelProto()
    light.ir_version = max(m.ir_version, 4) if m.ir_version < 4 else m.ir_version
    light.opset_import.extend(m.opset_import)
    light.functions.extend(m.functions)
    lg = light.graph
    lg.name = g.name
    lg.node.extend(g.node[i] for i in order)
    lg.input.extend(g.input)
    lg.output.extend(g.output)
    lg.value_info.extend(g.value_info)
    lg.sparse_initializer.extend(g.sparse_initializer)
    input_names = {i.name for i in g.input}
    for t in g.initializer:
        if t.data_type in _FLOAT_TYPES and math.prod(t.dims) > 64:
            if t.name not in input_names:
                _add_typed_input(lg, t)
                input_names.add(t.name)
        else:
            lg.initializer.append(t)
    return light, lg


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------

def from_onnx(model: str | Path | bytes | onnx.ModelProto, *, max_nodes: int = DEFAULT_MAX_NODES) -> ArchGraph:
    """Read any ONNX model (path, serialized bytes or ``ModelProto``) into an :class:`ArchGraph`.

    Raises :class:`GraphError` for input that is not ONNX, a graph with a cycle (naming a node on
    it), a tensor produced twice or read without a producer, and graphs with more than
    ``max_nodes`` nodes (default 200,000, subgraph nodes included). The model is never modified.

    Shape inference is skipped when the model already carries a complete, static shape for every
    node output (see :func:`_known_shapes`), e.g. after ``onnx.shape_inference.infer_shapes``.
    """
    m = _load(model, skeleton=True)
    g = m.graph
    gnodes = g.node
    if len(gnodes) > max_nodes:
        raise GraphError(f"model has more than max_nodes={max_nodes:,} nodes; raise max_nodes to read it")
    # Read every node's fields once (each protobuf access builds a new wrapper object), memoized
    # by the node's bytes: (name, inputs, outputs, op_type, domain, attribute bytes, has subgraph).
    raw = list(gnodes)
    n_raw = len(raw)
    fields = []
    cache = _NODE_FIELDS
    for n in raw:
        key = n.SerializeToString()
        rec = cache.get(key)
        if rec is None:
            atts = tuple(n.attribute)
            rec = (n.name, tuple(n.input), tuple(n.output), n.op_type, n.domain,
                   tuple(a.SerializeToString() for a in atts) if atts else (),
                   bool(atts) and any(a.type in _GRAPH_TYPES for a in atts))
            if len(key) <= 4096:
                if len(cache) >= 65536:
                    cache.clear()
                cache[key] = rec
        fields.append(rec)
    names, ins_l, outs_l, ops, doms, attkeys_l, sub_l = zip(*fields) if fields else ((),) * 7
    if any(sub_l) and _count_nodes(g, max_nodes) > max_nodes:
        raise GraphError(f"model has more than max_nodes={max_nodes:,} nodes; raise max_nodes to read it")
    defaults = [d in _DEFAULT_DOMAINS for d in doms]
    notes: list[str] = []
    opset = {(o.domain or ""): int(o.version) for o in m.opset_import}
    metadata = {p.key: p.value for p in m.metadata_props}

    inits = list(g.initializer)
    sparse_inits = list(g.sparse_initializer)
    init_names = {t.name for t in inits} | {t.values.name for t in sparse_inits}
    in_recs = _vi_records(g.input)
    out_recs = _vi_records(g.output)
    input_names = [name for name, _ in in_recs]
    available = set(init_names) | set(input_names)

    # ---- producers and topological order ------------------------------------------------
    producer: dict[str, tuple[int, int]] = {}
    n_written = 0
    for i, outs in enumerate(outs_l):
        for k, o in enumerate(outs):
            if o:
                producer[o] = (i, k)
                n_written += 1
    if len(producer) != n_written or not available.isdisjoint(producer):
        _raise_bad_producers(raw, outs_l, available)
    budget = [max_nodes]
    captured: list[tuple[str, ...]] = [()] * n_raw
    if any(sub_l):
        for i in range(n_raw):
            if sub_l[i]:
                cap = _subgraph_names(raw[i], budget)
                cap -= set(ins_l[i])
                captured[i] = tuple(sorted(cap))
    # Common case first: every node reads only tensors defined before it, so the topological order
    # is the file order (one set test per node).
    in_order = True
    known = set(available)
    known.add("")
    for i in range(n_raw):
        if not known.issuperset(ins_l[i]) or (captured[i] and not known.issuperset(captured[i])):
            in_order = False
            break
        known.update(outs_l[i])
    if in_order:
        order = list(range(n_raw))
    else:
        deps: list[list[int]] = []
        for i in range(n_raw):
            dset = set()
            for x in (*ins_l[i], *captured[i]):
                if not x:
                    continue
                pk = producer.get(x)
                if pk is not None:
                    dset.add(pk[0])
                elif x not in available:
                    raise GraphError(f"node {_node_label(raw[i], i)} reads tensor {x!r}, which no node, input or initializer provides")
            deps.append(sorted(dset))
        users: list[list[int]] = [[] for _ in raw]
        indeg = [0] * n_raw
        for i, ds in enumerate(deps):
            for d in ds:
                users[d].append(i)
                indeg[i] += 1
        heap = [i for i in range(n_raw) if indeg[i] == 0]
        heapq.heapify(heap)
        order = []
        while heap:
            i = heapq.heappop(heap)
            order.append(i)
            for u in users[i]:
                indeg[u] -= 1
                if indeg[u] == 0:
                    heapq.heappush(heap, u)
        if len(order) < n_raw:
            left = set(range(n_raw)) - set(order)
            v = min(left)
            seen: set[int] = set()
            while v not in seen:  # walk backwards along unresolved dependencies until a vertex repeats
                seen.add(v)
                v = next(d for d in deps[v] if d in left)
            raise GraphError(f"the graph has a cycle through node {_node_label(raw[v], v)}")

    # ---- shapes -----------------------------------------------------------------------------
    shapes: dict[str, tuple[Shape | None, str | None]] = {}
    # Skip inference when the model declares every shape already (see _known_shapes). Only for
    # plain ONNX ops without subgraphs or functions, where inference could not fail and add a note.
    known = (_known_shapes(_vi_records(g.value_info), in_recs, out_recs, outs_l, init_names)
             if all(defaults) and not any(sub_l) and not len(m.functions)
             and len(g.value_info) + len(g.output) >= sum(map(len, outs_l)) - sum(o.count("") for o in outs_l)
             else None)
    if known is not None:
        shapes.update(known)
    else:
        inferred = _infer(m, order, notes)
        for name, info in (*_vi_records(inferred.value_info), *_vi_records(inferred.input),
                           *_vi_records(inferred.output)):
            if name in init_names:  # overwritten by the initializer's own shape below
                continue
            cur = shapes.get(name)
            if cur is None or cur[0] is None:
                shapes[name] = info
    const: dict[str, tuple[Shape | None, str | None]] = {}
    for t in inits:
        const[t.name] = shapes[t.name] = (tuple(t.dims), _dtype_name(t.data_type))
    for t in sparse_inits:
        const[t.values.name] = shapes[t.values.name] = (tuple(t.dims), _dtype_name(t.values.data_type))

    # ---- constants, aliases, weight inputs ---------------------------------------------------
    declared = {x.strip() for x in metadata.get(WEIGHTS_METADATA_KEY, "").split(",") if x.strip()}
    cand = {x for x in input_names if x not in const}
    used: set[str] = set()  # candidates read by some node
    other: set[str] = set()  # candidates read in a slot that is not an unambiguous weight slot
    if cand:
        no_slots = frozenset()
        for i in range(n_raw):
            ins = ins_l[i]
            if cand.isdisjoint(ins):
                continue
            slots = _AUTO_WEIGHT_SLOTS.get(ops[i], no_slots) if defaults[i] else no_slots
            for s, x in enumerate(ins):
                if x in cand:
                    used.add(x)
                    if s not in slots:
                        other.add(x)
    for name, info in in_recs:
        if name in const:
            continue
        if name in declared or (name in used and name not in other):
            const[name] = shapes.get(name) or info
    alias: dict[str, str] = {}
    folded: set[int] = set()
    for i in order:
        if not defaults[i]:
            continue
        op = ops[i]
        if op == "Constant" and len(outs_l[i]) >= 1:
            folded.add(i)
            s, dt = _constant_info(raw[i])
            for o in outs_l[i]:
                if o:
                    const[o] = (s, dt) if s is not None else shapes.get(o, (None, None))
        elif op == "Identity" and len(ins_l[i]) == 1 and len(outs_l[i]) == 1:
            src = alias.get(ins_l[i][0], ins_l[i][0])
            if src in const:
                folded.add(i)
                alias[outs_l[i][0]] = src

    # ---- nodes ----------------------------------------------------------------------------------
    kept = [i for i in order if i not in folded] if folded else order
    new_index = {old: new for new, old in enumerate(kept)}
    data_inputs = [(name, info) for name, info in in_recs if name not in const]
    data_input_index = {name: j for j, (name, _) in enumerate(data_inputs)}
    counted: set[str] = set()
    weights: list[TensorInfo] = []
    nodes: list[Node] = []
    edges: set[tuple[int, int]] = set()
    input_edges: set[tuple[int, int]] = set()
    flops_complete = True
    float_names = _FLOAT_NAMES
    alias_get = alias.get
    shapes_get = shapes.get
    new_obj = object.__new__
    none_src = ("none", -1, -1)
    const_src = ("const", -1, -1)
    unknown = (None, None)
    node_memo = _NODE_MEMO
    tensor_infos = _TENSOR_INFOS
    s_index, s_name, s_op, s_domain, s_category, s_attrs, s_ins, s_outs, s_sources, s_consts, s_params, s_flops = \
        NODE_SETTERS
    constants: dict[tuple[int, int], tuple] = {}
    const_values: dict[str, tuple | None] = {}
    value_src: dict[str, Any] | None = None
    # what reading a tensor means: (shape, source, producer index or None), for node outputs and data inputs
    reads: dict[str, tuple] = {}
    out_shapes_l: list[tuple] = []
    for new, old in enumerate(kept):
        outs = outs_l[old]
        if len(outs) == 1 and outs[0]:
            o = outs[0]
            shp = shapes_get(o, unknown)[0]
            out_shapes_l.append((shp,))
            reads[o] = (shp, ("node", new, 0), new)
        else:
            out_shapes_l.append(tuple(shapes_get(o, unknown)[0] if o else None for o in outs))
            for k, o in enumerate(outs):
                if o:
                    reads[o] = (shapes_get(o, unknown)[0], ("node", new, k), new)
    for name, j in data_input_index.items():
        reads[name] = (shapes_get(name, unknown)[0], ("input", j, 0), None)
    reads_get = reads.get
    for new, old in enumerate(kept):
        default = defaults[old]
        op = ops[old]
        attkeys = attkeys_l[old]
        in_shapes: list = []
        sources: list = []
        const_inputs: dict[int, Shape | None] = {}
        node_params = 0
        for s, x in enumerate(ins_l[old]):
            if not x:
                in_shapes.append(None)
                sources.append(none_src)
                continue
            r = alias_get(x, x) if alias else x
            c = const.get(r)
            if c is not None:
                shp, dt = c
                in_shapes.append(shp)
                sources.append(const_src)
                const_inputs[s] = shp
                if r not in counted and shp is not None and None not in shp:
                    size = math.prod(shp)
                    if default:
                        is_float = dt in float_names
                        wslots = WEIGHT_SLOTS.get(op, ())
                        counts = (s in wslots and (is_float or (op in _QUANT_OPS and dt))) or (
                            is_float and size > 1 and s not in wslots and s not in NON_PARAM_SLOTS.get(op, ()))
                    else:  # custom ops: non-scalar float constants
                        counts = dt in float_names and size > 1
                    if not counts and size <= CONSTANT_VALUE_MAX and (op not in _STAT_OPS or not default) \
                            and s not in WEIGHT_SLOTS.get(op, ()):
                        if value_src is None:
                            value_src = {t.name: t for t in inits}
                            value_src.update((o, raw[i]) for i in folded if ops[i] == "Constant" for o in outs_l[i] if o)
                        v = value_src.get(r)
                        if v is not None and r not in const_values:
                            const_values[r] = _constant_value(v)
                        if v is not None and const_values[r] is not None:
                            constants[(new, s)] = const_values[r]
                    if counts:
                        counted.add(r)
                        node_params += size
                        tkey = (r, shp, dt)
                        t = tensor_infos.get(tkey)
                        if t is None:
                            t = new_obj(TensorInfo)
                            t.__dict__.update(name=r, shape=shp, dtype=dt)
                            if len(tensor_infos) >= 65536:
                                tensor_infos.clear()
                            tensor_infos[tkey] = t
                        weights.append(t)
                continue
            rd = reads_get(r)
            if rd is None:  # pragma: no cover -- validated above
                in_shapes.append(shapes_get(r, unknown)[0])
                sources.append(none_src)
                continue
            shp, src, p = rd
            in_shapes.append(shp)
            sources.append(src)
            if p is None:
                input_edges.add((src[1], new))
            else:
                edges.add((p, new))
        for x in captured[old]:
            r = alias_get(x, x)
            if r in producer and producer[r][0] in new_index:
                edges.add((new_index[producer[r][0]], new))
            elif r in data_input_index:
                input_edges.add((data_input_index[r], new))
        out_shapes = out_shapes_l[new]
        in_t = tuple(in_shapes)
        # attributes, category and FLOPs depend only on this key: memoized across nodes and models
        key = (op, doms[old], attkeys, in_t, out_shapes, tuple(const_inputs))
        hit = node_memo.get(key)
        if hit is None:
            attrs = _attrs_of(tuple(raw[old].attribute)) if attkeys else {}
            category = _category(op, doms[old], default, attrs, in_t, const_inputs)
            f = node_flops(op, attrs, in_t, out_shapes) if default else 0
            items = tuple((k, tuple(v) if type(v) is list else v, type(v) is list) for k, v in attrs.items())
            if all(type(v) in _PLAIN or (lst and all(type(x) in _PLAIN for x in v)) for _, v, lst in items):
                if len(node_memo) >= 65536:
                    node_memo.clear()
                node_memo[key] = (items, category, f)
        else:
            items, category, f = hit
            attrs = {k: list(v) if lst else v for k, v, lst in items} if items else {}  # fresh per node
        if f is None:
            flops_complete = False
            f = 0
        nd = new_obj(Node)
        s_index(nd, new), s_name(nd, names[old]), s_op(nd, op), s_domain(nd, doms[old]), s_category(nd, category)
        s_attrs(nd, attrs), s_ins(nd, in_t), s_outs(nd, out_shapes), s_sources(nd, tuple(sources))
        s_consts(nd, const_inputs), s_params(nd, node_params), s_flops(nd, int(f))
        nodes.append(nd)
    if not flops_complete:
        notes.append("some FLOPs are unknown (missing shapes) and counted as 0")

    # ---- graph inputs / outputs, depth --------------------------------------------------------
    inputs = [TensorInfo(name, *(shapes.get(name) or info)) for name, info in data_inputs]
    outputs, output_edges, output_sources = [], [], []
    for k, (name, info) in enumerate(out_recs):
        s, dt = shapes.get(name) or info
        outputs.append(TensorInfo(name, s, dt))
        r = alias_get(name, name)
        if r in producer and producer[r][0] in new_index:
            output_edges.append((new_index[producer[r][0]], k))
            output_sources.append(("node", new_index[producer[r][0]], producer[r][1]))
        elif r in data_input_index:
            output_sources.append(("input", data_input_index[r], 0))
        else:
            output_sources.append(("const", -1, -1))
    edge_list = sorted(edges)
    depth = [1] * len(nodes)
    for a, b in edge_list:  # a < b (topological order), so depth[a] is final when an edge leaves it
        if depth[a] >= depth[b]:
            depth[b] = depth[a] + 1
    return ArchGraph(
        nodes=nodes, edges=edge_list, inputs=inputs, outputs=outputs, input_edges=sorted(input_edges),
        output_edges=output_edges, output_sources=output_sources, weights=weights, params=sum(w.params for w in nodes),
        flops=sum(x.flops for x in nodes), depth=max(depth, default=0), metadata=metadata, opset=opset,
        flops_complete=flops_complete, notes=tuple(notes), constants=constants,
    )


def _category(op: str, domain: str, default: bool, attrs: dict, in_shapes: tuple, const_inputs: dict) -> str:
    if not default:
        return MS_OP_CATEGORY.get(op, "generic") if domain == "com.microsoft" else "generic"
    cat = OP_CATEGORY.get(op, "generic")
    if cat == "conv":
        group = attrs.get("group", 1)
        if isinstance(group, int) and group > 1:
            w = in_shapes[1] if len(in_shapes) > 1 else None
            x = in_shapes[0] if in_shapes else None
            if w is not None and len(w) >= 2 and w[1] is not None:
                return "depthwise_conv" if w[1] == 1 else "group_conv"
            if x is not None and len(x) >= 2 and x[1] is not None:
                return "depthwise_conv" if x[1] == group else "group_conv"
            return "group_conv"
        return "conv"
    if op in ("MatMul", "MatMulInteger", "QLinearMatMul", "Einsum", "Gemm"):
        return "linear" if const_inputs else "matmul"
    if op == "Gather" and 0 in const_inputs:
        return "embedding"
    return cat


# --------------------------------------------------------------------------------------------
# Weightless form
# --------------------------------------------------------------------------------------------

def strip_weights(model: str | Path | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """nabench's weightless form of a model: every initializer becomes a typed graph input with its
    full shape, listed in ``metadata_props["nabench.weights"]``. Passes ``onnx.checker`` full check
    (when the original does) and gives the same ``params``, ``flops`` and ``arch_id``.
    """
    m = _load(model)
    out = onnx.ModelProto()
    out.CopyFrom(m)
    g = out.graph
    names = [t.name for t in g.initializer]
    existing = {i.name for i in g.input}
    for t in g.initializer:
        if t.name not in existing:
            _add_typed_input(g, t)
    del g.initializer[:]
    if out.ir_version < 4:
        out.ir_version = 4
    props = {p.key: p.value for p in out.metadata_props}
    before = [x for x in props.get(WEIGHTS_METADATA_KEY, "").split(",") if x]
    props[WEIGHTS_METADATA_KEY] = ",".join(before + [x for x in names if x not in before])
    del out.metadata_props[:]
    for k in sorted(props):
        p = out.metadata_props.add()
        p.key, p.value = k, props[k]
    return out
