"""A small ONNX graph builder over ``onnx`` protobufs, for weightless architecture graphs.

- Layers (conv, batch norm, relu, pools, add, gemm, ...) are added with deterministic names:
  a layer called ``p`` has node name ``p`` and output tensor ``p``; its weights are
  ``p.weight``, ``p.bias``, ``p.running_mean``, ``p.running_var`` (PyTorch ``state_dict`` keys
  when ``p`` is the module's path).
- Shapes are tracked as layers are added (batch 1, NCHW, float32); the builder writes them as
  ``value_info`` only on request (``value_info=True``); ``onnx.shape_inference`` recomputes them.
- Weights: ``weights=None`` (weightless) declares every weight as a typed graph *input* without
  data, so the model is small and passes ``onnx.checker.check_model(full_check=True)``;
  ``weights="random"`` emits initializers with seeded random data (runnable in onnxruntime);
  a mapping ``name → array`` emits initializers with exactly those values (e.g. a PyTorch
  ``state_dict``), missing names falling back to random data.
- Cost bookkeeping: every conv / gemm / pool / bn / elementwise layer is recorded in ``layers``
  with its shapes, from which :func:`flops` and the parameter count are derived.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import AttributeProto, NodeProto, TensorProto, ValueInfoProto, helper, numpy_helper

#: Default opset; ONNX IR version pinned so the files are readable by older runtimes too.
OPSET = 17
IR_VERSION = 8
FLOAT = TensorProto.FLOAT

#: Inputs of these (op_type, position) are buffers, not trainable parameters.
BUFFER_SLOTS = {("BatchNormalization", 3), ("BatchNormalization", 4)}

_ATTR_CACHE: dict[tuple, AttributeProto] = {}


def _attr(key: str, value) -> AttributeProto:
    k = (key, tuple(value) if isinstance(value, list) else value)
    a = _ATTR_CACHE.get(k)
    if a is None:
        a = _ATTR_CACHE[k] = helper.make_attribute(key, value)
    return a


def _value_info(name: str, shape: tuple[int, ...], elem: int = FLOAT) -> ValueInfoProto:
    vi = ValueInfoProto()
    vi.name = name
    tt = vi.type.tensor_type
    tt.elem_type = elem
    dims = tt.shape.dim
    for d in shape:
        dims.add().dim_value = d
    return vi


@dataclass
class Layer:
    """One costed layer: kind in {conv, gemm, pool, bn, relu, add, mul}."""

    kind: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int = 1
    bias: bool = False
    extra: dict = field(default_factory=dict)


class GraphBuilder:
    """Accumulates nodes, weights and shapes; :meth:`model` returns the ``ModelProto``."""

    def __init__(self, name: str = "graph", *, weights: None | str | Mapping[str, np.ndarray] = None,
                 seed: int = 0, opset: int = OPSET):
        if weights is not None and weights != "random" and not isinstance(weights, Mapping):
            raise ValueError(f"weights must be None, 'random' or a mapping, got {weights!r}")
        self.name = name
        self.weights = weights
        self.opset = opset
        self.seed = seed
        self._rng: np.random.Generator | None = None
        self.nodes: list[NodeProto] = []
        self.inputs: list[ValueInfoProto] = []
        self.initializers: list[TensorProto] = []
        self.outputs: list[ValueInfoProto] = []
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.layers: list[Layer] = []
        self.n_params = 0
        self.n_buffers = 0
        self._zero: str | None = None

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    # -- low level -----------------------------------------------------------------------
    def node(self, op: str, inputs: list[str], name: str, shape: tuple[int, ...],
             attrs: tuple[AttributeProto, ...] = ()) -> str:
        n = NodeProto()
        n.op_type = op
        n.name = name
        n.input.extend(inputs)
        n.output.append(name)
        if attrs:
            n.attribute.extend(attrs)
        self.nodes.append(n)
        self.shapes[name] = shape
        return name

    def input(self, name: str, shape: tuple[int, ...]) -> str:
        self.inputs.append(_value_info(name, shape))
        self.shapes[name] = tuple(shape)
        return name

    def weight(self, name: str, shape: tuple[int, ...], *, buffer: bool = False, init: str = "normal") -> str:
        """Declare a weight: a data-less graph input, or an initializer (random / given)."""
        size = math.prod(shape)
        if buffer:
            self.n_buffers += size
        else:
            self.n_params += size
        if self.weights is None:
            self.inputs.append(_value_info(name, shape))
        else:
            arr = None
            if isinstance(self.weights, Mapping) and name in self.weights:
                arr = np.asarray(self.weights[name], dtype=np.float32)
                if arr.shape != tuple(shape):
                    raise ValueError(f"weight {name}: shape {arr.shape} != expected {tuple(shape)}")
            elif init == "ones":
                arr = np.ones(shape, np.float32)
            elif init == "var":
                arr = self.rng.uniform(0.5, 1.5, shape).astype(np.float32)
            else:
                arr = (self.rng.standard_normal(shape) * 0.1).astype(np.float32)
            self.initializers.append(numpy_helper.from_array(arr, name))
        self.shapes[name] = tuple(shape)
        return name

    # -- layers ----------------------------------------------------------------------------
    def conv(self, x: str, name: str, c_out: int, k: int, stride: int = 1, pad: int | None = None,
             bias: bool = False) -> str:
        n, c_in, h, w = self.shapes[x]
        pad = k // 2 if pad is None else pad
        ho, wo = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        ins = [x, self.weight(f"{name}.weight", (c_out, c_in, k, k))]
        if bias:
            ins.append(self.weight(f"{name}.bias", (c_out,)))
        attrs = (_attr("kernel_shape", [k, k]), _attr("pads", [pad] * 4), _attr("strides", [stride, stride]))
        out = (n, c_out, ho, wo)
        self.layers.append(Layer("conv", name, (n, c_in, h, w), out, k, bias))
        return self.node("Conv", ins, name, out, attrs)

    def bn(self, x: str, name: str, eps: float = 1e-5) -> str:
        c = self.shapes[x][1]
        ins = [x, self.weight(f"{name}.weight", (c,), init="ones"), self.weight(f"{name}.bias", (c,)),
               self.weight(f"{name}.running_mean", (c,), buffer=True),
               self.weight(f"{name}.running_var", (c,), buffer=True, init="var")]
        self.layers.append(Layer("bn", name, self.shapes[x], self.shapes[x]))
        return self.node("BatchNormalization", ins, name, self.shapes[x], (_attr("epsilon", eps),))

    def relu(self, x: str, name: str) -> str:
        self.layers.append(Layer("relu", name, self.shapes[x], self.shapes[x]))
        return self.node("Relu", [x], name, self.shapes[x])

    def avgpool(self, x: str, name: str, k: int, stride: int, pad: int = 0,
                count_include_pad: bool = False) -> str:
        n, c, h, w = self.shapes[x]
        out = (n, c, (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1)
        attrs = [_attr("kernel_shape", [k, k]), _attr("strides", [stride, stride])]
        if pad:
            attrs.append(_attr("pads", [pad] * 4))
        if count_include_pad:
            attrs.append(_attr("count_include_pad", 1))
        self.layers.append(Layer("pool", name, self.shapes[x], out, k))
        return self.node("AveragePool", [x], name, out, tuple(attrs))

    def global_avgpool(self, x: str, name: str) -> str:
        n, c, h, w = self.shapes[x]
        self.layers.append(Layer("gap", name, self.shapes[x], (n, c, 1, 1), extra={"hw": h * w}))
        return self.node("GlobalAveragePool", [x], name, (n, c, 1, 1))

    def flatten(self, x: str, name: str) -> str:
        s = self.shapes[x]
        return self.node("Flatten", [x], name, (s[0], int(np.prod(s[1:]))), (_attr("axis", 1),))

    def gemm(self, x: str, name: str, n_out: int, bias: bool = True) -> str:
        n, n_in = self.shapes[x]
        ins = [x, self.weight(f"{name}.weight", (n_out, n_in))]
        if bias:
            ins.append(self.weight(f"{name}.bias", (n_out,)))
        self.layers.append(Layer("gemm", name, (n, n_in), (n, n_out), bias=bias))
        return self.node("Gemm", ins, name, (n, n_out), (_attr("transB", 1),))

    def add(self, a: str, b: str, name: str) -> str:
        self.layers.append(Layer("add", name, self.shapes[a], self.shapes[a]))
        return self.node("Add", [a, b], name, self.shapes[a])

    def zero_const(self) -> str:
        """The scalar constant 0.0 (one ``Constant`` node named ``zero``, emitted on first use)."""
        if self._zero is None:
            self._zero = "zero"
            n = NodeProto()
            n.op_type, n.name = "Constant", "zero"
            n.output.append("zero")
            n.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.zeros((), np.float32))))
            self.nodes.append(n)
        self.shapes["zero"] = ()
        return self._zero

    def mul_zero(self, x: str, name: str) -> str:
        """``x * 0``: the zero tensor shaped like ``x`` (NB201's ``Zero`` op: ``x.mul(0.0)``)."""
        self.zero_const()
        self.layers.append(Layer("mul", name, self.shapes[x], self.shapes[x]))
        return self.node("Mul", [x, self._zero], name, self.shapes[x])

    def output(self, x: str) -> str:
        self.outputs.append(_value_info(x, self.shapes[x]))
        return x

    # -- result ------------------------------------------------------------------------------
    def model(self, metadata: Mapping[str, object] | None = None, *, value_info: bool = False,
              doc: str = "") -> onnx.ModelProto:
        g = onnx.GraphProto()
        g.name = self.name
        g.node.extend(self.nodes)
        g.input.extend(self.inputs)
        g.initializer.extend(self.initializers)
        g.output.extend(self.outputs)
        if value_info:
            out_names = {o.name for o in self.outputs}
            g.value_info.extend(_value_info(n.output[0], self.shapes[n.output[0]])
                                for n in self.nodes if n.output[0] not in out_names)
        return make_model(g, metadata, opset=self.opset, doc=doc)


def make_model(graph: onnx.GraphProto, metadata: Mapping[str, object] | None = None, *,
               opset: int = OPSET, doc: str = "") -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.ir_version = IR_VERSION
    m.producer_name = "nabench"
    op = m.opset_import.add()
    op.domain, op.version = "", opset
    if doc:
        m.doc_string = doc
    m.graph.CopyFrom(graph)
    set_metadata(m, metadata)
    return m


def set_metadata(model: onnx.ModelProto, metadata: Mapping[str, object] | None) -> onnx.ModelProto:
    """Write ``metadata`` into ``metadata_props`` (values as strings, keys sorted), replacing them."""
    del model.metadata_props[:]
    for k in sorted(metadata or {}):
        p = model.metadata_props.add()
        p.key, p.value = str(k), str(metadata[k])
    return model


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


# -- counting from an ONNX graph -------------------------------------------------------------
def weight_names(model: onnx.ModelProto) -> tuple[set[str], set[str]]:
    """(parameter names, buffer names): weights are initializers, and graph inputs other than the
    first (data) input; buffers are those in a :data:`BUFFER_SLOTS` position (BN mean / var)."""
    g = model.graph
    inits = {t.name for t in g.initializer}
    data_inputs = [i.name for i in g.input if i.name not in inits][:1]
    weights = inits | {i.name for i in g.input if i.name not in inits and i.name not in data_inputs}
    buffers = {n.input[k] for n in g.node for k in range(len(n.input)) if (n.op_type, k) in BUFFER_SLOTS}
    return weights - buffers, weights & buffers


def _sizes(model: onnx.ModelProto) -> dict[str, int]:
    sizes = {t.name: int(np.prod(t.dims)) for t in model.graph.initializer}
    for i in model.graph.input:
        if i.name not in sizes:
            sizes[i.name] = int(np.prod([d.dim_value for d in i.type.tensor_type.shape.dim]))
    return sizes


def count_params(model: onnx.ModelProto) -> int:
    """Trainable parameters (PyTorch ``parameters()`` convention: BN running stats excluded)."""
    params, _ = weight_names(model)
    sizes = _sizes(model)
    return sum(sizes[n] for n in params)


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in model.graph.node:
        out[n.op_type] = out.get(n.op_type, 0) + 1
    return out


def flops(layers: list[Layer], *, pool: bool = True, bn: bool = False, gap: bool = False,
          elementwise: bool = False) -> int:
    """Multiply-accumulates of conv and gemm layers (bias adds one per output), optionally
    plus pooling (k*k per output element), BN (one per element), global pooling and
    elementwise ops. The default is ``xautodl/utils/flop_benchmark.py``'s convention."""
    total = 0
    for L in layers:
        if L.kind == "conv":
            _, c_in, _, _ = L.in_shape
            n, c_out, ho, wo = L.out_shape
            total += n * ho * wo * c_out * c_in * L.kernel * L.kernel + (n * ho * wo * c_out if L.bias else 0)
        elif L.kind == "gemm":
            n, n_in = L.in_shape
            total += n * n_in * L.out_shape[1] + (n * L.out_shape[1] if L.bias else 0)
        elif L.kind == "pool" and pool:
            total += int(np.prod(L.out_shape)) * L.kernel * L.kernel
        elif L.kind == "bn" and bn:
            total += int(np.prod(L.out_shape))
        elif L.kind == "gap" and gap:
            total += int(np.prod(L.in_shape))
        elif L.kind in ("add", "mul", "relu") and elementwise:
            total += int(np.prod(L.out_shape))
    return total


def tensorwatch_flops(layers: list[Layer]) -> int:
    """FLOPs as ``tensorwatch.ModelStats`` counts them (its ``model_graph/torchstat/compute_flops.py``
    forward hooks), the tool behind NAS-Bench-Suite-Zero's ``flops`` (NASLib
    ``predictors/utils/pruners/predictive.py``: ``ModelStats(net, [1, C, H, W]).Flops / 1e6``):
    conv MACs + bias adds; BatchNorm2d 2 per element (affine); ReLU 1 per input element;
    Avg/MaxPool k*k per output element; AdaptiveAvgPool2d summed over each output cell's window
    *plus one* in each direction, so a global pool of C x H x W costs C*(H+1)*(W+1); Linear
    in*out (no bias); adds, muls and identity 0."""
    total = 0
    for L in layers:
        if L.kind == "conv":
            n, c_out, ho, wo = L.out_shape
            total += n * ho * wo * c_out * (L.in_shape[1] * L.kernel * L.kernel + (1 if L.bias else 0))
        elif L.kind == "gemm":
            total += L.in_shape[0] * L.in_shape[1] * L.out_shape[1]
        elif L.kind == "pool":
            total += int(np.prod(L.out_shape)) * L.kernel * L.kernel
        elif L.kind == "bn":
            total += 2 * int(np.prod(L.in_shape))
        elif L.kind == "relu":
            total += int(np.prod(L.in_shape))
        elif L.kind == "gap":
            n, c, h, w = L.in_shape
            total += n * c * (h + 1) * (w + 1)
    return total


# -- protobuf wire helpers for the builders' fast paths (pre-serialized graph pieces) ----------
_SMALL_VARINTS = tuple(bytes((i,)) for i in range(0x80))


def varint(n: int) -> bytes:
    """A non-negative integer in protobuf's base-128 varint encoding."""
    if n < 0x80:
        return _SMALL_VARINTS[n]
    out = bytearray()
    while True:
        b7 = n & 0x7F
        n >>= 7
        if n:
            out.append(b7 | 0x80)
        else:
            out.append(b7)
            return bytes(out)


def length_delimited(tag: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2): key, length, payload."""
    return varint(tag << 3 | 2) + varint(len(payload)) + payload
