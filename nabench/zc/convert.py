"""ONNX graph → runnable ``torch.nn.Module`` with freshly initialized weights.

The one graph→module path zero-cost proxies use, for every corpus and for user ONNX files
(weightless nabench graphs, whose weights are typed graph inputs, and ordinary models with
initializers alike). Trained values are never kept: every weight is re-initialized.

- Parametric ops become the PyTorch modules proxies look for, with PyTorch's default init:
  ``Conv`` → ``nn.Conv1d/2d/3d``, ``ConvTranspose`` → ``nn.ConvTranspose2d``, ``Gemm`` and
  ``MatMul`` by a weight → :class:`Linear` (an ``nn.Linear``), ``BatchNormalization`` →
  :class:`BatchNorm` (an ``nn.BatchNorm2d`` accepting any rank; PyTorch's momentum 0.1 and the
  file's epsilon), ``Gather`` of a weight table → ``nn.Embedding``.
- Activations are modules too (``nn.ReLU``, ``nn.LeakyReLU``, ``nn.ELU``, ``nn.Tanh``,
  ``nn.Sigmoid``, ``nn.Hardswish``), so activation hooks (NASWOT) find them.
- Other float weights with more than one element (e.g. a learnable ``Mul`` scale) are
  parameters initialized ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (2-D and up) or zeros (1-D);
  scalar initializers are constants (as :mod:`nabench.graph` counts parameters).
- Everything else is interpreted op by op on tensors. Constants (``Constant`` nodes, integer
  initializers such as Reshape shapes, BN statistics) keep their values.

The tensor feeding the last global average pooling (``GlobalAveragePool`` or a ``ReduceMean``
over the spatial axes) is kept as ``module.features`` after each forward: Zen-NAS scores it.
An op outside the supported set raises :class:`ConversionError` naming it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from nabench.errors import NabenchError
from nabench.zc.proxies import InputSpec

WEIGHTS_METADATA_KEY = "nabench.weights"
#: (op, input slot) pairs that make an undeclared graph input a weight.
_WEIGHT_SLOTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "BatchNormalization": (1, 2, 3, 4)}


class ConversionError(NabenchError):
    """An ONNX model that cannot be turned into a torch module (unsupported op, bad file)."""


class Linear(nn.Linear):
    """``nn.Linear`` for ONNX ``Gemm`` (``alpha``/``beta``/``transA``) and ``MatMul`` by a weight."""

    def __init__(self, in_f: int, out_f: int, bias: bool, alpha: float = 1.0, beta: float = 1.0, trans_a: bool = False):
        super().__init__(in_f, out_f, bias=bias)
        self.alpha, self.beta, self.trans_a = alpha, beta, trans_a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.trans_a:
            x = x.transpose(0, 1)
        y = F.linear(x, self.weight)
        if self.alpha != 1.0:
            y = y * self.alpha
        if self.bias is not None:
            y = y + self.beta * self.bias
        return y


class BatchNorm(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that accepts inputs of any rank ≥ 2 (channels on axis 1)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"BatchNormalization needs rank >= 2, got {input.dim()}")


class Step:
    """One ONNX node: a callable over its input tensors, the names it reads and writes."""

    __slots__ = ("fn", "inputs", "outputs", "op")

    def __init__(self, fn: Callable, inputs: list[str], outputs: list[str], op: str):
        self.fn, self.inputs, self.outputs, self.op = fn, inputs, outputs, op


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _load(model: Any) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    try:
        if isinstance(model, (bytes, bytearray, memoryview)):
            return onnx.load_from_string(bytes(model))
        path = Path(model)
        if not path.is_file():
            raise ConversionError(f"{path}: no such ONNX file")
        return onnx.load(str(path))
    except ConversionError:
        raise
    except Exception as e:  # noqa: BLE001 -- protobuf raises DecodeError and friends
        raise ConversionError(f"not a readable ONNX model: {e}") from None


def _pads(attrs: dict, rank: int) -> tuple[list[int] | None, tuple[int, ...]]:
    """(explicit F.pad list or None, symmetric padding) from ONNX ``pads``."""
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise ConversionError(f"auto_pad={attrs['auto_pad']!r} is not supported; export with explicit pads")
    pads = list(attrs.get("pads", [0] * (2 * rank)))
    begin, end = pads[:rank], pads[rank:]
    if begin == end:
        return None, tuple(begin)
    fpad: list[int] = []
    for b, e in zip(reversed(begin), reversed(end)):
        fpad += [b, e]
    return fpad, (0,) * rank


def _param(shape: tuple[int, ...]) -> nn.Parameter:
    if len(shape) >= 2:
        bound = 1.0 / math.sqrt(max(1, int(np.prod(shape[1:]))))
        return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
    return nn.Parameter(torch.zeros(shape))


def _axes(node_inputs: list, attrs: dict, env_get) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(node_inputs) > 1 and node_inputs[1]:
        return [int(a) for a in env_get(node_inputs[1]).tolist()]
    return None


_ACTIVATIONS: dict[str, Callable[[dict], nn.Module]] = {
    "Relu": lambda a: nn.ReLU(),
    "LeakyRelu": lambda a: nn.LeakyReLU(a.get("alpha", 0.01)),
    "Elu": lambda a: nn.ELU(a.get("alpha", 1.0)),
    "Tanh": lambda a: nn.Tanh(),
    "Sigmoid": lambda a: nn.Sigmoid(),
    "HardSwish": lambda a: nn.Hardswish(),
}
_DTYPES = {onnx.TensorProto.FLOAT: torch.float32, onnx.TensorProto.DOUBLE: torch.float64,
           onnx.TensorProto.INT64: torch.int64, onnx.TensorProto.INT32: torch.int32,
           onnx.TensorProto.BOOL: torch.bool, onnx.TensorProto.FLOAT16: torch.float16}


class _BoxSum(torch.autograd.Function):
    """Window sums: a depthwise convolution with a constant ones kernel whose backward is the
    transposed convolution written as an ordinary (differentiable) op, so that a second
    derivative (grasp) costs one depthwise convolution instead of PyTorch's per-group
    convolution double backward."""

    @staticmethod
    def forward(ctx, x, ones, stride, padding):
        ctx.save_for_backward(ones)
        ctx.stride, ctx.padding, ctx.in_hw = stride, padding, tuple(x.shape[2:])
        return F.conv2d(x, ones, stride=stride, padding=padding, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad):
        ones, = ctx.saved_tensors
        k = ones.shape[2:]
        extra = tuple(ctx.in_hw[i] - ((grad.shape[2 + i] - 1) * ctx.stride[i] - 2 * ctx.padding[i] + k[i])
                      for i in range(2))
        return F.conv_transpose2d(grad, ones, stride=ctx.stride, padding=ctx.padding, output_padding=extra,
                                  groups=grad.shape[1]), None, None, None


class BoxAverage:
    """2-D average pooling as a depthwise convolution with a ones kernel (the window sums)
    divided by the number of counted elements per window.

    Same values as ``F.avg_pool2d`` (up to float rounding), several times faster on CPU for
    ``count_include_pad=0`` and for every NCHW input, with cheap first and second derivatives
    (:class:`_BoxSum`). Kernels and count maps are cached per channels/dtype/size.
    """

    def __init__(self, kernel: tuple, strides: tuple, fpad: list[int] | None, pad: tuple, count_include_pad: bool):
        self.kernel, self.strides, self.fpad, self.pad, self.cip = kernel, strides, fpad, pad, count_include_pad
        self._ones: dict[tuple, torch.Tensor] = {}
        self._counts: dict[tuple, torch.Tensor] = {}

    def _sum(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.shape[1], x.dtype, x.device)
        if key not in self._ones:
            with torch.inference_mode(False):  # a cached tensor must stay usable outside inference mode
                self._ones[key] = torch.ones((x.shape[1], 1, *self.kernel), dtype=x.dtype, device=x.device)
        if self.fpad is not None:
            x = F.pad(x, self.fpad)
        return _BoxSum.apply(x, self._ones[key], self.strides, self.pad)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ConversionError(f"AveragePool over a rank-{x.dim()} tensor is not supported")
        total = self._sum(x)
        if self.cip or (self.fpad is None and not any(self.pad)):
            return total / float(np.prod(self.kernel))
        key = (tuple(x.shape[2:]), x.dtype, x.device)
        if key not in self._counts:
            with torch.inference_mode(False), torch.no_grad():
                ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
                self._counts[key] = self._sum(ones)
        return total / self._counts[key]


def _tensor_op(op: str, a: dict, floating: dict) -> Callable | None:
    """Parameter-free ops as functions of their input tensors (``None`` inputs for omitted slots).

    ``floating["dtype"]`` and ``floating["device"]`` are the module's float dtype (float32, or
    float64 after ``.double()``) and device at call time: tensors created from nothing
    (ConstantOfShape, Expand's ones, Cast to float) follow them."""
    if op in ("Identity", "Dropout"):
        return lambda x, *rest: x
    if op == "Add":
        return lambda x, y: x + y
    if op == "Sub":
        return lambda x, y: x - y
    if op == "Mul":
        return lambda x, y: x * y
    if op == "Div":
        return lambda x, y: x / y
    if op == "Pow":
        return lambda x, y: torch.pow(x, y)
    if op == "Neg":
        return lambda x: -x
    if op == "Sqrt":
        return torch.sqrt
    if op == "Exp":
        return torch.exp
    if op == "Equal":
        return lambda x, y: x == y
    if op == "Where":
        return lambda c, x, y: torch.where(c.bool(), x, y)
    if op == "Cast":
        dtype = _DTYPES.get(a["to"])
        if dtype is None:
            raise ConversionError(f"Cast to ONNX type {a['to']} is not supported")
        if dtype.is_floating_point:
            return lambda x: x.to(floating["dtype"])
        return lambda x: x.to(dtype)
    if op == "HardSigmoid":
        alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
        return lambda x: torch.clamp(alpha * x + beta, 0.0, 1.0)
    if op == "Clip":
        return lambda x, lo=None, hi=None: torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))
    if op == "Softmax":
        axis = a.get("axis", -1)
        return lambda x: torch.softmax(x, dim=axis)
    if op in ("AveragePool", "MaxPool"):
        k = tuple(a["kernel_shape"])
        fpad, pad = _pads(a, len(k))
        strides = tuple(a.get("strides", [1] * len(k)))
        ceil = bool(a.get("ceil_mode", 0))
        if len(k) != 2:
            raise ConversionError(f"{op} over {len(k)} spatial dims is not supported")
        if op == "AveragePool":
            cip = bool(a.get("count_include_pad", 0))
            if not ceil:
                return BoxAverage(k, strides, fpad, pad, cip)
            def pool(x):
                if fpad is not None:
                    x = F.pad(x, fpad)
                return F.avg_pool2d(x, k, strides, pad, ceil_mode=ceil, count_include_pad=cip)
        else:
            dil = tuple(a.get("dilations", [1, 1]))
            def pool(x):
                if fpad is not None:
                    x = F.pad(x, fpad, value=float("-inf"))
                return F.max_pool2d(x, k, strides, pad, dilation=dil, ceil_mode=ceil)
        return pool
    if op == "GlobalAveragePool":
        return lambda x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
    if op == "GlobalMaxPool":
        return lambda x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True)
    if op == "Flatten":
        axis = a.get("axis", 1)
        return lambda x: x.reshape(int(np.prod(x.shape[:axis])), -1)
    if op == "Reshape":
        allowzero = a.get("allowzero", 0)
        def reshape(x, shape):
            dims = [int(d) for d in shape.tolist()]
            if not allowzero:
                dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
            return x.reshape(dims)
        return reshape
    if op == "Transpose":
        perm = a.get("perm")
        return lambda x: x.permute(*(perm if perm is not None else reversed(range(x.dim()))))
    if op == "Concat":
        axis = a["axis"]
        return lambda *xs: torch.cat(xs, dim=axis)
    if op == "Shape":
        return lambda x: torch.tensor(x.shape, dtype=torch.int64)
    if op == "Gather":
        axis = a.get("axis", 0)
        return lambda x, idx: torch.index_select(x, axis, idx.reshape(-1).long() % x.shape[axis]).reshape(
            x.shape[:axis % x.dim()] + idx.shape + x.shape[axis % x.dim() + 1:])
    if op == "Expand":
        return lambda x, shape: x * torch.ones([int(d) for d in shape.tolist()], dtype=x.dtype, device=x.device)
    if op == "ConstantOfShape":
        value = a.get("value")
        fill = numpy_helper.to_array(value).reshape(-1) if value is not None else np.zeros(1, np.float32)
        dtype = torch.from_numpy(np.array(fill)).dtype
        return lambda shape: torch.full([int(d) for d in shape.tolist()], fill[0].item(), device=floating["device"],
                                        dtype=floating["dtype"] if dtype.is_floating_point else dtype)
    if op == "EyeLike":
        return lambda x: torch.eye(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    if op == "Slice":
        def slice_(x, starts, ends, axes=None, steps=None):
            idx = [slice(None)] * x.dim()
            axes_l = axes.tolist() if axes is not None else list(range(len(starts)))
            steps_l = steps.tolist() if steps is not None else [1] * len(axes_l)
            for s, e, ax, st in zip(starts.tolist(), ends.tolist(), axes_l, steps_l):
                if st <= 0:
                    raise ConversionError("Slice with a non-positive step is not supported")
                n = x.shape[ax]
                idx[ax] = slice(max(-n, min(int(s), n)), max(-n, min(int(e), n)), int(st))
            return x[tuple(idx)]
        return slice_
    if op == "Pad":
        if a.get("mode", b"constant") not in (b"constant", "constant"):
            raise ConversionError(f"Pad mode {a['mode']!r} is not supported")
        def pad(x, pads, value=None, axes=None):
            p = [int(v) for v in pads.tolist()]
            r = len(p) // 2
            fpad: list[int] = []
            for b, e in zip(reversed(p[:r]), reversed(p[r:])):
                fpad += [b, e]
            return F.pad(x, fpad, value=0.0 if value is None else float(value))
        return pad
    if op in ("Unsqueeze", "Squeeze"):
        def squeeze(x, axes_t=None, axes_attr=a.get("axes")):
            axes = list(axes_attr) if axes_attr is not None else (None if axes_t is None else axes_t.tolist())
            if op == "Squeeze":
                return x.squeeze() if axes is None else x.squeeze(tuple(int(v) for v in axes))
            for ax in sorted(int(v) % (x.dim() + len(axes)) for v in axes):
                x = x.unsqueeze(ax)
            return x
        return squeeze
    if op in ("ReduceMean", "ReduceSum"):
        keep = bool(a.get("keepdims", 1))
        red = torch.mean if op == "ReduceMean" else torch.sum
        def reduce(x, axes_t=None, axes_attr=a.get("axes")):
            axes = list(axes_attr) if axes_attr is not None else (None if axes_t is None else axes_t.tolist())
            if not axes:
                return red(x)
            return red(x, dim=tuple(int(v) for v in axes), keepdim=keep)
        return reduce
    if op == "MatMul":
        return torch.matmul
    return None


class OnnxModule(nn.Module):
    """An ONNX graph interpreted op by op, with torch modules for every parametric op.

    ``forward(*inputs)`` takes the data inputs in file order and returns the first graph
    output (a tuple when there are several). ``features`` holds the pre-global-pooling tensor
    of the last call (``None`` if the graph has no global pooling).
    """

    def __init__(self, model: Any):
        super().__init__()
        m = _load(model)
        g = m.graph
        meta = {p.key: p.value for p in m.metadata_props}
        declared = set(filter(None, meta.get(WEIGHTS_METADATA_KEY, "").split(",")))
        inits = {t.name: t for t in g.initializer}
        slot_use: dict[str, set[tuple[str, int]]] = {}
        for node in g.node:
            for k, name in enumerate(node.input):
                slot_use.setdefault(name, set()).add((node.op_type, k))
        shapes: dict[str, tuple[int, ...]] = {n: tuple(t.dims) for n, t in inits.items()}
        self._shape_of = shapes
        weight_names = set(inits) | declared
        self.input_names: list[str] = []
        #: data input shapes as declared in the file (``None`` for symbolic dims)
        self.input_shapes: list[tuple] = []
        #: data inputs as :class:`~nabench.zc.proxies.InputSpec` (symbolic dims by name), for synflow/zen
        self.input_specs: list[InputSpec] = []
        for vi in g.input:
            if vi.name in inits:
                continue
            dims = tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)
            uses = slot_use.get(vi.name, set())
            if vi.name in declared or (uses and all(k in _WEIGHT_SLOTS.get(op, ()) for op, k in uses)):
                weight_names.add(vi.name)
                shapes[vi.name] = dims
            else:
                self.input_names.append(vi.name)
                tdims = vi.type.tensor_type.shape.dim
                self.input_shapes.append(tuple(d.dim_value or None for d in tdims))
                self.input_specs.append(InputSpec(vi.name, tuple(d.dim_value or d.dim_param or None for d in tdims),
                                                  _DTYPES.get(vi.type.tensor_type.elem_type, torch.float32)))
        if not self.input_names:
            raise ConversionError("the model has no data input")
        self.output_names = [o.name for o in g.output]
        self.layers = nn.ModuleDict()
        self.weights = nn.ParameterDict()
        self._const_keys: dict[str, str] = {}
        self.steps: list[Step] = []
        self.feature_name: str | None = None
        self.features: torch.Tensor | None = None
        used_as_module: set[str] = set()
        self._floating = {"dtype": torch.float32, "device": torch.device("cpu")}
        self.register_buffer("_dtype_probe", torch.zeros(0), persistent=False)
        self._owner: dict[str, nn.Parameter] = {}
        self._sources: dict[str, list[str]] = {}
        self._trans_b: dict[str, bool] = {}
        for i, node in enumerate(g.node):
            self.steps.append(self._step(i, node, shapes, weight_names, used_as_module))
        first_use = {}
        for node in g.node:
            for name in node.input:
                first_use.setdefault(name, len(first_use))
        # graph order, so the seeded initialization is the same in every process
        for name in sorted(weight_names - used_as_module, key=lambda n: (first_use.get(n, len(first_use)), n)):
            if name not in slot_use:
                continue
            if name in inits and (inits[name].data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)
                                  or int(np.prod(shapes[name])) <= 1):
                self._add_const(name, numpy_helper.to_array(inits[name]))
            elif all(op == "BatchNormalization" for op, _ in slot_use[name]):
                continue
            else:
                self.weights[self._key(name)] = _param(shapes[name])
        for name, t in inits.items():
            if self._key(name) not in self.weights and name not in self._const_keys and name not in used_as_module:
                self._add_const(name, numpy_helper.to_array(t))

    def _register(self, key: str, mod: nn.Module, ins: list[str]) -> None:
        """Add a layer; a weight tensor used by several layers in the same layout stays one parameter."""
        self.layers[key] = mod
        self._sources[key] = ins
        w = getattr(mod, "weight", None)
        if isinstance(w, nn.Parameter):
            src = next((n for n in ins if n in self._shape_of and tuple(self._shape_of[n]) == tuple(w.shape)), None)
            src = src or next((n for n in ins if n in self._shape_of and int(np.prod(self._shape_of[n])) == w.numel()), None)
            if src is not None:
                if src in self._owner and self._owner[src].shape == w.shape:
                    mod.weight = self._owner[src]
                else:
                    self._owner.setdefault(src, w)

    @staticmethod
    def _key(name: str) -> str:
        return "t_" + "".join(c if c.isalnum() else "_" for c in name) + f"_{zlib.crc32(name.encode()) % 10**6}"

    def _add_const(self, name: str, arr: np.ndarray) -> None:
        key = self._key(name)
        self.register_buffer(key, torch.from_numpy(np.array(arr)), persistent=False)
        self._const_keys[name] = key

    def _step(self, i: int, node: onnx.NodeProto, shapes: dict, weight_names: set, used: set) -> Step:
        op, a = node.op_type, _attrs(node)
        ins, outs = list(node.input), list(node.output)
        key = f"n{i}"
        if node.domain not in ("", "ai.onnx"):
            raise ConversionError(f"node {node.name or i}: op {node.domain}.{op} is not supported")
        if op == "Constant":
            if "value" in a:
                value = numpy_helper.to_array(a["value"])
            elif {"value_float", "value_floats"} & set(a):
                value = np.array(a.get("value_float", a.get("value_floats")), np.float32)
            elif {"value_int", "value_ints"} & set(a):
                value = np.array(a.get("value_int", a.get("value_ints")), np.int64)
            else:
                raise ConversionError(f"node {node.name or i}: Constant with {', '.join(a) or 'no value'} is not "
                                      "supported (a tensor, float(s) or int(s) value is)")
            self._add_const(outs[0], value)
            return Step(lambda: None, [], [], op)
        if op in ("Conv", "ConvTranspose"):
            if ins[1] not in weight_names:
                raise ConversionError(f"node {node.name or i}: {op} with a computed weight is not supported")
            w = shapes[ins[1]]
            rank = len(w) - 2
            fpad, pad = _pads(a, rank)
            kw = dict(stride=tuple(a.get("strides", [1] * rank)), padding=pad,
                      dilation=tuple(a.get("dilations", [1] * rank)), groups=a.get("group", 1),
                      bias=len(ins) > 2 and bool(ins[2]))
            if op == "Conv":
                cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}.get(rank)
                if cls is None:
                    raise ConversionError(f"node {node.name or i}: Conv over {rank} spatial dims")
                mod = cls(w[1] * kw["groups"], w[0], tuple(w[2:]), **kw)
            else:
                if rank != 2:
                    raise ConversionError(f"node {node.name or i}: ConvTranspose over {rank} spatial dims")
                if fpad is not None or a.get("output_padding"):
                    raise ConversionError(f"node {node.name or i}: ConvTranspose with asymmetric/output padding")
                mod = nn.ConvTranspose2d(w[0], w[1] * kw["groups"], tuple(w[2:]), **kw)
            used.update(n for n in ins[1:] if n)
            self._register(key, mod, ins)
            if fpad is not None:
                return Step(lambda x, *_w, m=mod, p=fpad: m(F.pad(x, p)), ins[:1], outs, op)
            return Step(lambda x, *_w, m=mod: m(x), ins[:1], outs, op)
        if op == "BatchNormalization":
            c = shapes[ins[1]][0] if ins[1] in shapes else None
            if c is None:
                raise ConversionError(f"node {node.name or i}: BatchNormalization with computed scale")
            mod = BatchNorm(c, eps=a.get("epsilon", 1e-5))
            used.update(ins[1:])
            self._register(key, mod, ins)
            return Step(lambda x, m=mod: m(x), ins[:1], outs[:1], op)
        if op == "Gemm" and ins[1] in weight_names:
            w = shapes[ins[1]]
            out_f, in_f = (w[0], w[1]) if a.get("transB", 0) else (w[1], w[0])
            has_bias = len(ins) > 2 and bool(ins[2]) and ins[2] in weight_names
            mod = Linear(in_f, out_f, has_bias, a.get("alpha", 1.0), a.get("beta", 1.0), bool(a.get("transA", 0)))
            self._trans_b[key] = bool(a.get("transB", 0))
            used.update(n for n in ins[1:] if n in weight_names)
            self._register(key, mod, ins)
            if len(ins) > 2 and ins[2] and not has_bias:
                return Step(lambda x, c, m=mod: m(x) + m.beta * c, [ins[0], ins[2]], outs, op)
            return Step(lambda x, m=mod: m(x), ins[:1], outs, op)
        if op == "MatMul" and ins[1] in weight_names and len(shapes.get(ins[1], ())) == 2:
            in_f, out_f = shapes[ins[1]]
            mod = Linear(in_f, out_f, bias=False)
            used.add(ins[1])
            self._register(key, mod, ins)
            return Step(lambda x, m=mod: m(x), ins[:1], outs, op)
        if op == "Gather" and ins[0] in weight_names and len(shapes.get(ins[0], ())) == 2 and a.get("axis", 0) == 0:
            mod = nn.Embedding(*shapes[ins[0]])
            used.add(ins[0])
            self._register(key, mod, ins)
            return Step(lambda idx, m=mod: m(idx.long()), ins[1:2], outs, op)
        if op in _ACTIVATIONS:
            mod = _ACTIVATIONS[op](a)
            self._register(key, mod, ins)
            return Step(lambda x, m=mod: m(x), ins[:1], outs, op)
        fn = _tensor_op(op, a, self._floating)
        if fn is None:
            raise ConversionError(f"node {node.name or i}: ONNX op {op} is not supported by the zc converter")
        if op == "GlobalAveragePool" or (op == "ReduceMean" and sorted(a.get("axes", [])) in ([2, 3], [-2, -1])):
            self.feature_name = ins[0]
        return Step(fn, ins, outs, op)

    @torch.no_grad()
    def load_initializers(self, model: Any) -> "OnnxModule":
        """Copy the model's initializer values into the layers (for checking the conversion
        against onnxruntime; proxies never use this)."""
        m = _load(model)
        data = {t.name: torch.from_numpy(np.array(numpy_helper.to_array(t))) for t in m.graph.initializer}
        for key, mod in self.layers.items():
            ins = self._sources.get(key, [])
            if isinstance(mod, BatchNorm):
                for attr, n in zip(("weight", "bias", "running_mean", "running_var"), ins[1:5]):
                    getattr(mod, attr).copy_(data[n])
            elif isinstance(mod, nn.Embedding):
                mod.weight.copy_(data[ins[0]])
            elif isinstance(mod, Linear):
                w = data[ins[1]]
                mod.weight.copy_(w.t() if w.shape != mod.weight.shape or not self._trans_b.get(key, False) else w)
                if mod.bias is not None:
                    mod.bias.copy_(data[ins[2]].reshape(-1))
            elif hasattr(mod, "weight") and len(ins) > 1:
                mod.weight.copy_(data[ins[1]])
                if getattr(mod, "bias", None) is not None:
                    mod.bias.copy_(data[ins[2]])
        for name, t in data.items():
            k = self._key(name)
            if k in self.weights:
                self.weights[k].copy_(t)
        return self

    def _value(self, env: dict, name: str) -> Any:
        if not name:
            return None
        if name in env:
            return env[name]
        if name in self._const_keys:
            return getattr(self, self._const_keys[name])
        key = self._key(name)
        if key in self.weights:
            return self.weights[key]
        raise ConversionError(f"tensor {name!r} is used before it is computed")

    def _run(self, xs: tuple, env: dict[str, Any]) -> Iterator[tuple[Any, str, Any]]:
        """Execute the steps on inputs ``xs``, storing every output in ``env``; yields (step, output
        name, value) as each output is computed."""
        self._floating["dtype"] = self._dtype_probe.dtype
        self._floating["device"] = self._dtype_probe.device
        env.update(zip(self.input_names, xs))
        for step in self.steps:
            if not step.outputs:
                continue
            out = step.fn(*(self._value(env, n) for n in step.inputs))
            outs = (out,) if len(step.outputs) == 1 else out if isinstance(out, (tuple, list)) else (out,)
            for name, o in zip(step.outputs, outs):
                env[name] = o
                yield step, name, o

    @torch.no_grad()
    def first_nonfinite(self, *xs: torch.Tensor) -> str | None:
        """The first node whose float output has a NaN/inf on ``xs`` ("op 'output'"), or ``None``."""
        for step, name, o in self._run(xs, {}):
            if torch.is_tensor(o) and o.is_floating_point() and not torch.isfinite(o).all():
                return f"{step.op} {name!r}"
        return None

    def forward(self, *xs: torch.Tensor):
        if len(xs) != len(self.input_names):
            raise ConversionError(f"the model takes {len(self.input_names)} input(s) ({', '.join(self.input_names)}), got {len(xs)}")
        env: dict[str, Any] = {}
        for _ in self._run(xs, env):
            pass
        self.features = env.get(self.feature_name) if self.feature_name else None
        outs = tuple(self._value(env, n) for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs


#: Weight initializations: ``pytorch`` (each layer's default), and those of benchmarks whose
#: reference implementations re-initialize (see :func:`to_torch`).
INITS = ("pytorch", "kaiming-fan-out", "nasbench101")
#: The initialization of each space's reference implementation, which its published proxy scores
#: used: NASLib's NB101 ``Network._initialize_weights`` and TransNAS-Bench-101's
#: ``_kaiming_init``. Other spaces (NB201, NB301/DARTS, ...) keep PyTorch's defaults.
SPACE_INIT = {"nb101": "nasbench101", "transnas-micro": "kaiming-fan-out", "transnas-macro": "kaiming-fan-out"}


def init_for(space: Any) -> str:
    """The weight initialization of ``space``'s reference implementation (``pytorch`` if none)."""
    return SPACE_INIT.get(str(space), "pytorch")


def to_torch(model: Any, *, seed: int | None = None, init: str = "pytorch") -> OnnxModule:
    """An ONNX model (path, bytes, ``ModelProto``) as a torch module with fresh weights.

    ``seed`` seeds the initialization (``torch.manual_seed``); ``None`` uses the current RNG.
    ``init``: ``pytorch`` keeps every layer's default initialization; ``kaiming-fan-out`` then
    draws conv weights from N(0, 2 / fan_out) (fan_out = out channels × kernel size, as
    ``nn.init.kaiming_normal_(mode="fan_out")``), as TransNAS-Bench-101 and torchvision's ResNet
    do; ``nasbench101`` also zeroes conv biases and draws linear weights from N(0, 0.01²) with
    zero bias, as NASLib's NB101 network does. BatchNorm keeps PyTorch's γ = 1, β = 0, which is
    what both set.
    """
    if init not in INITS:
        raise ConversionError(f"unknown init {init!r} ({', '.join(INITS)})")
    if seed is not None:
        torch.manual_seed(seed)
    module = OnnxModule(model)
    if init != "pytorch":
        with torch.no_grad():
            for m in module.modules():
                if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None and init == "nasbench101":
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear) and init == "nasbench101":
                    nn.init.normal_(m.weight, 0.0, 0.01)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
    return module


# ---------------------------------------------------------------------------------------------
# ArchGraph → ONNX (so that any ArchGraph, e.g. of a user's ONNX file, can become a module)
# ---------------------------------------------------------------------------------------------

#: Symbolic size given to every unknown dimension of a rebuilt graph's data inputs.
SYMBOLIC_DIM = "N"


class _Unknown(ConversionError):
    pass


def _dims_match(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x == y for x, y in zip(a, b))


def _unsqueeze_axes(src: tuple, dst: tuple) -> list[int]:
    from itertools import combinations

    for axes in combinations(range(len(dst)), len(dst) - len(src)):
        it = iter(src)
        cand = tuple(1 if k in axes else next(it) for k in range(len(dst)))
        if _dims_match(cand, dst):
            return list(axes)  # any consistent choice inserts the same size-1 axes: same tensor
    raise _Unknown(f"no axes turn {src} into {dst}")


def _squeeze_axes(src: tuple, dst: tuple) -> list[int]:
    return _unsqueeze_axes(dst, src)


def _reduce_axes(src: tuple, dst: tuple, keep: bool) -> list[int]:
    from itertools import combinations

    found = []
    for k in range(len(src) + 1):
        for axes in combinations(range(len(src)), k):
            cand = tuple(1 if i in axes else d for i, d in enumerate(src)) if keep else \
                tuple(d for i, d in enumerate(src) if i not in axes)
            if _dims_match(cand, dst):
                found.append(axes)
    effective = {tuple(a for a in axes if src[a] != 1) for axes in found}
    if len(effective) != 1:
        raise _Unknown(f"{'no' if not found else 'several'} reductions turn {src} into {dst}")
    return list(found[0])


def _reshape_target(src: tuple, dst: tuple) -> list[int]:
    target = []
    for i, d in enumerate(dst):
        if d is not None:
            target.append(d)
        elif i < len(src) and src[i] is None:
            target.append(0)  # copy the (symbolic) input dim
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise _Unknown(f"the target shape {dst} has several unknown sizes")
    return target


def _const_value(node, slot: int) -> np.ndarray | None:
    """The value of a constant input that follows from the node's static shapes, else ``None``."""
    op, ins, outs = node.op_type, node.input_shapes, node.output_shapes
    src, dst = (ins[0] if ins else None), (outs[0] if outs else None)
    if dst is None or (src is None and op != "ConstantOfShape"):
        return None
    if op == "Reshape" and slot == 1:
        return np.array(_reshape_target(src, dst), np.int64)
    if op == "Expand" and slot == 1:
        if any(d is None and (i < len(dst) - len(src) or src[i - len(dst) + len(src)] is not None)
               for i, d in enumerate(dst)):
            raise _Unknown(f"the expanded shape {dst} has unknown sizes")
        return np.array([1 if d is None else d for d in dst], np.int64)
    if op == "ConstantOfShape" and slot == 0:
        if None in dst:
            raise _Unknown(f"the output shape {dst} has unknown sizes")
        return np.array(dst, np.int64)
    if op == "Unsqueeze" and slot == 1:
        return np.array(_unsqueeze_axes(src, dst), np.int64)
    if op == "Squeeze" and slot == 1:
        return np.array(_squeeze_axes(src, dst), np.int64)
    if op.startswith("Reduce") and slot == 1:
        return np.array(_reduce_axes(src, dst, bool(node.attrs.get("keepdims", 1))), np.int64)
    return None


def _kept_value(kept: tuple) -> np.ndarray:
    """The array of an ``ArchGraph.constants`` entry ``(dtype, dims, flat values)``."""
    dtype, dims, values = kept
    try:
        np_dtype = onnx.helper.tensor_dtype_to_np_dtype(onnx.TensorProto.DataType.Value(str(dtype).upper()))
    except ValueError:
        raise _Unknown(f"data type {dtype!r} is not supported") from None
    return np.array(values, dtype=np_dtype).reshape(dims)


def _attr(name: str, value: Any) -> onnx.AttributeProto:
    if isinstance(value, dict) and "tensor" in value:
        t = value["tensor"]
        if "value" not in t:
            raise _Unknown(f"attribute {name!r} is a tensor whose values the ArchGraph does not keep")
        dtype = onnx.TensorProto.DataType.Value(str(t["dtype"]).upper())
        return onnx.helper.make_attribute(name, onnx.helper.make_tensor(name, dtype, t["dims"], [t["value"]]))
    if isinstance(value, dict):
        raise _Unknown(f"attribute {name!r} ({', '.join(value)}) cannot be rebuilt")
    return onnx.helper.make_attribute(name, value)


def graph_to_onnx(graph: Any) -> onnx.ModelProto:
    """A weightless ONNX model with the structure of an :class:`~nabench.graph.ArchGraph`.

    Every weight becomes a typed graph input (listed under ``nabench.weights``), so
    :func:`to_torch` gives it fresh weights as for any model. Unknown data-input sizes become the
    symbolic size ``N``. Constants take the values the graph kept (``ArchGraph.constants``: small
    non-weight constants such as scalar factors, Clip bounds, Slice starts, Pad amounts, Gather
    indices); otherwise values that follow from a node's static shapes (Reshape/Expand/
    ConstantOfShape targets, Unsqueeze/Squeeze/Reduce axes) are rebuilt, and any other constant (a
    large one, or one of a graph decoded from a store written before values were kept) raises
    :class:`ConversionError` naming the node.
    Weight tying is not recorded either: a rebuilt model whose parameter count differs from
    ``graph.params`` raises. The rebuilt model has the graph's ``arch_id``.
    """
    from onnx import TensorProto, helper

    from nabench.graph.archgraph import CONSTANT_VALUE_MAX, NON_PARAM_SLOTS, WEIGHT_SLOTS

    out_name: dict[tuple[int, int], str] = {}
    for t, (kind, j, k) in zip(graph.outputs, graph.output_sources):
        if kind != "node":
            raise ConversionError(f"graph output {t.name!r} is not computed by a node")
        out_name.setdefault((j, k), t.name)

    def tname(src: tuple, i: int, slot: int) -> str:
        kind, j, k = src
        if kind == "input":
            return graph.inputs[j].name
        if kind == "node":
            return out_name.get((j, k), f"n{j}_{k}")
        if kind == "none":
            return ""
        return f"n{i}_c{slot}"

    def dtype_of(name: str | None) -> int:
        try:
            return TensorProto.DataType.Value(str(name).upper())
        except ValueError:
            raise ConversionError(f"data type {name!r} is not supported") from None

    inputs = []
    for t in graph.inputs:
        shape = None if t.shape is None else [SYMBOLIC_DIM if d is None else d for d in t.shape]
        inputs.append(helper.make_tensor_value_info(t.name, dtype_of(t.dtype), shape))
    weights, inits, nodes = [], [], []
    constants = getattr(graph, "constants", None) or {}
    for node in graph.nodes:
        i = node.index
        where = f"node {i} ({node.op_type} {node.name!r})"
        if node.domain not in ("", "ai.onnx"):
            raise ConversionError(f"{where}: op domain {node.domain!r} cannot be rebuilt")
        names = [tname(src, i, s) for s, src in enumerate(node.sources)]
        for slot, shape in node.const_inputs.items():
            if shape is None or None in shape:
                raise ConversionError(f"{where}: constant input {slot} has an unknown shape")
            kept = constants.get((i, slot))
            try:
                value = _kept_value(kept) if kept is not None else _const_value(node, slot)
            except _Unknown as e:
                raise ConversionError(f"{where}: constant input {slot}: {e}") from None
            if value is not None:
                inits.append(numpy_helper.from_array(value, names[slot]))
            elif slot in WEIGHT_SLOTS.get(node.op_type, ()) or node.op_type == "BatchNormalization" or (
                    int(np.prod(shape)) > 1 and slot not in NON_PARAM_SLOTS.get(node.op_type, ())):
                weights.append(helper.make_tensor_value_info(names[slot], TensorProto.FLOAT, list(shape)))
            else:
                raise ConversionError(f"{where}: constant input {slot} (shape {tuple(shape)}) has a value the "
                                      f"ArchGraph does not keep (more than {CONSTANT_VALUE_MAX} elements, or no data "
                                      "in the file); score the ONNX file itself (nabench.zc.compute.score_cell)")
        try:
            attrs = [_attr(k, v) for k, v in node.attrs.items()]
        except _Unknown as e:
            raise ConversionError(f"{where}: {e}") from None
        n = helper.make_node(node.op_type, names, [tname(("node", i, k), i, -1) for k in range(len(node.output_shapes))],
                             name=node.name or f"n{i}")
        n.attribute.extend(attrs)
        nodes.append(n)
    outputs = []
    for k, (t, src) in enumerate(zip(graph.outputs, graph.output_sources)):
        if out_name[src[1:]] != t.name:  # one tensor listed as several outputs
            nodes.append(helper.make_node("Identity", [out_name[src[1:]]], [t.name], name=f"output{k}"))
        shape = None if t.shape is None else [SYMBOLIC_DIM if d is None else d for d in t.shape]
        outputs.append(helper.make_tensor_value_info(t.name, dtype_of(t.dtype or "float"), shape))
    opsets = [helper.make_opsetid(dom, v) for dom, v in (graph.opset or {"": 17}).items()]
    model = helper.make_model(helper.make_graph(nodes, "archgraph", inputs + weights, outputs, initializer=inits),
                              opset_imports=opsets)
    model.ir_version = min(model.ir_version, 10)
    model.metadata_props.add(key=WEIGHTS_METADATA_KEY, value=",".join(w.name for w in weights))
    from nabench.graph import arch_id, from_onnx

    rebuilt = from_onnx(model)
    if rebuilt.params != graph.params:
        raise ConversionError(f"the rebuilt model has {rebuilt.params:,} parameters, the graph {graph.params:,}: "
                              "it ties weights (one tensor used by several nodes), which the ArchGraph does not "
                              "record; score the ONNX file itself (nabench.zc.compute.score_cell)")
    if arch_id(rebuilt) != arch_id(graph):
        raise ConversionError("the rebuilt model is not the same architecture as the graph (arch_id differs)")
    return model
