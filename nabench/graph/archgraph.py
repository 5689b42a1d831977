"""``ArchGraph``: the one normalized view of an architecture that every encoder reads.

``from_onnx(model)`` accepts a path, the serialized bytes, or an ``onnx.ModelProto`` (opset 13+ is
what we test; older opsets are read the same way), sorts the nodes topologically, runs ONNX shape
inference (strict first, then lenient) and returns an immutable :class:`ArchGraph`.

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
    Constant tensors are initializers (with or without data: nabench never reads tensor data, so
    "shape-only" initializers — dims but no data — work here, although ``onnx.checker`` rejects
    them), ``Constant`` node outputs, and graph inputs that are weights. nabench's own weightless
    form (what :func:`strip_weights` writes, and what corpora store) keeps every weight as a typed
    graph input with its full shape and lists those names, comma-separated, in the model's
    ``metadata_props["nabench.weights"]``; it passes ``onnx.checker.check_model(full_check=True)``
    and gives exactly the ``params``, ``flops`` and ``arch_id`` of the original. A graph input is
    a weight if it has an initializer of the same name, is listed under ``nabench.weights``, or is
    used only in unambiguous weight slots (Conv/ConvTranspose W and B, Gemm B and C, normalization
    scale/bias/mean/var, PRelu slope, RNN W/R/B). A graph input feeding MatMul is data unless
    declared (``A @ X`` in a GNN has two data operands).

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
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Node:
    """One op of the graph.

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


@dataclass(frozen=True)
class ArchGraph:
    """The normalized architecture graph (see the module docstring for every convention).

    ``edges`` are (producer node, consumer node) pairs, deduplicated and sorted; ``input_edges``
    are (data input index, consumer node); ``output_edges`` are (producer node, output index);
    ``output_sources[k]`` says where output ``k`` comes from, like ``Node.sources``. ``inputs`` are
    the data inputs only; ``weights`` the tensors counted in ``params``.
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

    def __len__(self) -> int:
        return len(self.nodes)

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
    if not elem_type:
        return None
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"type{elem_type}"


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


def _type_info(tp: onnx.TypeProto) -> tuple[Shape | None, str | None]:
    kind = tp.WhichOneof("value")
    if kind not in ("tensor_type", "sparse_tensor_type"):
        return None, kind  # sequence/map/optional: no tensor shape
    tt = getattr(tp, kind)
    dtype = _dtype_name(tt.elem_type)
    if not tt.HasField("shape"):
        return None, dtype
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value >= 0 else None for d in tt.shape.dim)
    return dims, dtype


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


def _load(model: Any) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        m = model
    else:
        if isinstance(model, (bytes, bytearray, memoryview)):
            data, where = bytes(model), "<bytes>"
        elif isinstance(model, (str, os.PathLike)):
            path = Path(model)
            where = str(path)
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

def _infer(m: onnx.ModelProto, order: list[int], notes: list[str]) -> onnx.GraphProto:
    """Shape inference on a light copy: nodes in topological order, big weights as typed inputs."""
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
                vi = lg.input.add()
                vi.name = t.name
                vi.type.tensor_type.elem_type = t.data_type
                shape = vi.type.tensor_type.shape
                for d in t.dims:
                    shape.dim.add().dim_value = d
                input_names.add(t.name)
        else:
            lg.initializer.append(t)
    for strict in (True, False):
        try:
            return onnx.shape_inference.infer_shapes(light, check_type=False, strict_mode=strict,
                                                     data_prop=True).graph
        except Exception as e:  # noqa: BLE001 -- onnx raises InferenceError, ValidationError, RuntimeError...
            msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            notes.append(f"{'strict' if strict else 'lenient'} shape inference failed: {msg}")
    return lg


# --------------------------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------------------------

def from_onnx(model: str | Path | bytes | onnx.ModelProto, *, max_nodes: int = DEFAULT_MAX_NODES) -> ArchGraph:
    """Read any ONNX model (path, serialized bytes or ``ModelProto``) into an :class:`ArchGraph`.

    Raises :class:`GraphError` for input that is not ONNX, a graph with a cycle (naming a node on
    it), a tensor produced twice or read without a producer, and graphs with more than
    ``max_nodes`` nodes (default 200,000, subgraph nodes included). The model is never modified.
    """
    m = _load(model)
    g = m.graph
    n_total = _count_nodes(g, max_nodes)
    if n_total > max_nodes:
        raise GraphError(f"model has more than max_nodes={max_nodes:,} nodes; raise max_nodes to read it")
    notes: list[str] = []
    opset = {(o.domain or ""): int(o.version) for o in m.opset_import}
    metadata = {p.key: p.value for p in m.metadata_props}

    raw = list(g.node)
    init_names = {t.name for t in g.initializer} | {t.values.name for t in g.sparse_initializer}
    input_names = [i.name for i in g.input]
    available = set(init_names) | set(input_names)

    # ---- producers and topological order ------------------------------------------------
    producer: dict[str, tuple[int, int]] = {}
    for i, n in enumerate(raw):
        for k, o in enumerate(n.output):
            if not o:
                continue
            if o in producer:
                raise GraphError(f"tensor {o!r} is produced twice: by node {_node_label(raw[producer[o][0]], producer[o][0])}"
                                 f" and by node {_node_label(n, i)}")
            if o in available:
                raise GraphError(f"node {_node_label(n, i)} writes {o!r}, which is already a graph input or initializer")
            producer[o] = (i, k)
    budget = [max_nodes]
    reads: list[list[str]] = []
    captured: list[set[str]] = []
    for i, n in enumerate(raw):
        cap = _subgraph_names(n, budget) if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS)
                                                 for a in n.attribute) else set()
        cap -= set(n.input)
        captured.append(cap)
        names = [x for x in n.input if x] + sorted(cap)
        for x in names:
            if x not in producer and x not in available:
                raise GraphError(f"node {_node_label(n, i)} reads tensor {x!r}, which no node, input or initializer provides")
        reads.append(names)
    deps = [sorted({producer[x][0] for x in names if x in producer}) for names in reads]
    users: list[list[int]] = [[] for _ in raw]
    indeg = [0] * len(raw)
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
            indeg[i] += 1
    heap = [i for i in range(len(raw)) if indeg[i] == 0]
    heapq.heapify(heap)
    order: list[int] = []
    while heap:
        i = heapq.heappop(heap)
        order.append(i)
        for u in users[i]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, u)
    if len(order) < len(raw):
        left = set(range(len(raw))) - set(order)
        v = min(left)
        seen: set[int] = set()
        while v not in seen:  # walk backwards along unresolved dependencies until a vertex repeats
            seen.add(v)
            v = next(d for d in deps[v] if d in left)
        raise GraphError(f"the graph has a cycle through node {_node_label(raw[v], v)}")

    # ---- shapes -----------------------------------------------------------------------------
    inferred = _infer(m, order, notes)
    shapes: dict[str, tuple[Shape | None, str | None]] = {}
    for vi in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        s, dt = _type_info(vi.type)
        if vi.name not in shapes or shapes[vi.name][0] is None:
            shapes[vi.name] = (s, dt)
    for t in g.initializer:
        shapes[t.name] = (tuple(int(d) for d in t.dims), _dtype_name(t.data_type))
    for t in g.sparse_initializer:
        shapes[t.values.name] = (tuple(int(d) for d in t.dims), _dtype_name(t.values.data_type))

    # ---- constants, aliases, weight inputs ---------------------------------------------------
    const: dict[str, tuple[Shape | None, str | None]] = {}
    for t in g.initializer:
        const[t.name] = shapes[t.name]
    for t in g.sparse_initializer:
        const[t.values.name] = shapes[t.values.name]
    declared = {x.strip() for x in metadata.get(WEIGHTS_METADATA_KEY, "").split(",") if x.strip()}
    uses: dict[str, list[tuple[str, int]]] = {}
    for n in raw:
        for s, x in enumerate(n.input):
            if x:
                uses.setdefault(x, []).append((n.op_type if _is_default(n) else f"{n.domain}::{n.op_type}", s))
    for vi in g.input:
        if vi.name in const:
            continue
        us = uses.get(vi.name, [])
        auto = bool(us) and all(s in _AUTO_WEIGHT_SLOTS.get(op, ()) for op, s in us)
        if vi.name in declared or auto:
            const[vi.name] = shapes.get(vi.name) or _type_info(vi.type)
    alias: dict[str, str] = {}
    folded: set[int] = set()
    for i in order:
        n = raw[i]
        if not _is_default(n):
            continue
        if n.op_type == "Constant" and len(n.output) >= 1:
            folded.add(i)
            s, dt = _constant_info(n)
            for o in n.output:
                if o:
                    const[o] = (s, dt) if s is not None else shapes.get(o, (None, None))
        elif n.op_type == "Identity" and len(n.input) == 1 and len(n.output) == 1:
            src = alias.get(n.input[0], n.input[0])
            if src in const:
                folded.add(i)
                alias[n.output[0]] = src

    def resolve(x: str) -> str:
        return alias.get(x, x)

    # ---- nodes ----------------------------------------------------------------------------------
    kept = [i for i in order if i not in folded]
    new_index = {old: new for new, old in enumerate(kept)}
    data_inputs = [vi for vi in g.input if vi.name not in const]
    data_input_index = {vi.name: j for j, vi in enumerate(data_inputs)}
    counted: set[str] = set()
    weights: list[TensorInfo] = []
    nodes: list[Node] = []
    edges: set[tuple[int, int]] = set()
    input_edges: set[tuple[int, int]] = set()
    flops_complete = True
    for new, old in enumerate(kept):
        n = raw[old]
        default = _is_default(n)
        op = n.op_type
        attrs = _attrs(n)
        in_shapes, sources, const_inputs = [], [], {}
        node_params = 0
        for s, x in enumerate(n.input):
            if not x:
                in_shapes.append(None)
                sources.append(("none", -1, -1))
                continue
            r = resolve(x)
            if r in const:
                shp, dt = const[r]
                in_shapes.append(shp)
                sources.append(("const", -1, -1))
                const_inputs[s] = shp
                if r not in counted and default and shp is not None and None not in shp:
                    size = math.prod(shp)
                    is_float = dt in _FLOAT_NAMES
                    in_weight_slot = s in WEIGHT_SLOTS.get(op, ()) and (is_float or (op in _QUANT_OPS and dt))
                    other = is_float and size > 1 and s not in NON_PARAM_SLOTS.get(op, ()) \
                        and s not in WEIGHT_SLOTS.get(op, ())
                    if in_weight_slot or other:
                        counted.add(r)
                        node_params += size
                        weights.append(TensorInfo(r, shp, dt))
                elif r not in counted and not default and shp is not None and None not in shp:
                    if dt in _FLOAT_NAMES and math.prod(shp) > 1:  # custom ops: non-scalar float constants
                        counted.add(r)
                        node_params += math.prod(shp)
                        weights.append(TensorInfo(r, shp, dt))
                continue
            in_shapes.append(shapes.get(r, (None, None))[0])
            if r in producer:
                p, k = producer[r]
                sources.append(("node", new_index[p], k))
                edges.add((new_index[p], new))
            elif r in data_input_index:
                sources.append(("input", data_input_index[r], 0))
                input_edges.add((data_input_index[r], new))
            else:  # pragma: no cover -- validated above
                sources.append(("none", -1, -1))
        for x in sorted(captured[old]):
            r = resolve(x)
            if r in producer and producer[r][0] in new_index:
                edges.add((new_index[producer[r][0]], new))
            elif r in data_input_index:
                input_edges.add((data_input_index[r], new))
        out_shapes = tuple(shapes.get(o, (None, None))[0] if o else None for o in n.output)
        category = _category(n, attrs, in_shapes, const_inputs)
        f = node_flops(op, attrs, tuple(in_shapes), out_shapes) if default else 0
        if f is None:
            flops_complete = False
            f = 0
        nodes.append(Node(index=new, name=n.name, op_type=op, domain=n.domain, category=category, attrs=attrs,
                          input_shapes=tuple(in_shapes), output_shapes=out_shapes, sources=tuple(sources),
                          const_inputs=const_inputs, params=node_params, flops=int(f)))
    if not flops_complete:
        notes.append("some FLOPs are unknown (missing shapes) and counted as 0")

    # ---- graph inputs / outputs, depth --------------------------------------------------------
    inputs = [TensorInfo(vi.name, *(shapes.get(vi.name) or _type_info(vi.type))) for vi in data_inputs]
    outputs, output_edges, output_sources = [], [], []
    for k, vi in enumerate(g.output):
        s, dt = shapes.get(vi.name) or _type_info(vi.type)
        outputs.append(TensorInfo(vi.name, s, dt))
        r = resolve(vi.name)
        if r in producer and producer[r][0] in new_index:
            output_edges.append((new_index[producer[r][0]], k))
            output_sources.append(("node", new_index[producer[r][0]], producer[r][1]))
        elif r in data_input_index:
            output_sources.append(("input", data_input_index[r], 0))
        else:
            output_sources.append(("const", -1, -1))
    edge_list = sorted(edges)
    depth = [1] * len(nodes)
    preds: list[list[int]] = [[] for _ in nodes]
    for a, b in edge_list:
        preds[b].append(a)
    for v in range(len(nodes)):
        if preds[v]:
            depth[v] = 1 + max(depth[u] for u in preds[v])
    return ArchGraph(
        nodes=nodes, edges=edge_list, inputs=inputs, outputs=outputs, input_edges=sorted(input_edges),
        output_edges=output_edges, output_sources=output_sources, weights=weights, params=sum(w.params for w in nodes),
        flops=sum(x.flops for x in nodes), depth=max(depth, default=0), metadata=metadata, opset=opset,
        flops_complete=flops_complete, notes=tuple(notes),
    )


def _category(n: onnx.NodeProto, attrs: dict, in_shapes: list, const_inputs: dict) -> str:
    op = n.op_type
    if not _is_default(n):
        return MS_OP_CATEGORY.get(op, "generic") if n.domain == "com.microsoft" else "generic"
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
        if t.name in existing:
            continue
        vi = g.input.add()
        vi.name = t.name
        vi.type.tensor_type.elem_type = t.data_type
        shape = vi.type.tensor_type.shape
        for d in t.dims:
            shape.dim.add().dim_value = d
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
