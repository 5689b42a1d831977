"""Weightless ONNX graph of the network NAS-Bench-201 trained for a cell.

Faithful to the reference implementation, D-X-Y/AutoDL-Projects (sources per choice):

- ``xautodl/models/cell_infers/tiny_network.py`` (``TinyNetwork``): stem Conv3x3(3→C, no bias)
  + BN; N cells at C; ResNetBasicblock(C→2C, stride 2); N cells at 2C; ResNetBasicblock(2C→4C,
  stride 2); N cells at 4C; lastact BN + ReLU; global average pool; Linear(4C → classes, bias).
- ``xautodl/models/cell_infers/cells.py`` (``InferCell``): node j = sum of op(node_i) over its
  incoming edges (here a chain of ``Add`` in edge order); the cell outputs node 3.
- ``xautodl/models/cell_operations.py``: ``nor_conv_kxk`` = ``ReLUConvBN`` = Relu → Conv(k,
  pad k//2, no bias since affine) → BatchNormalization; ``avg_pool_3x3`` = ``POOLING`` =
  AveragePool(3, stride 1, pad 1, count_include_pad=0), no preprocessing conv (C_in == C_out in
  cells); ``skip_connect`` = ``Identity`` (no node: the consumer reads the source tensor);
  ``none`` = ``Zero`` = ``x.mul(0)``; ``ResNetBasicblock`` = ReLUConvBN(3x3, s2) → ReLUConvBN(3x3)
  + shortcut AveragePool(2, s2) → Conv1x1(no bias), added.

Zero representation: a ``none`` edge adds ``x*0`` to a sum, so it is dropped (exact for finite
x). A node with no non-``none`` incoming edge is the zero tensor, written as one
``Mul(cell_input, 0)`` node named ``cells.k.n{j}.zero``; its outgoing edges are kept (a
ReLUConvBN of zeros is BN's shift, not zero, and its weights exist in the trained network and in
the published parameter counts). If node 3 is zero the cell outputs that zero tensor.

Published counts: the parameter count equals NAS-Bench-Suite-Zero's ``params`` and NATS' own
(PyTorch ``parameters()``: BN running statistics excluded). FLOPs have two published conventions,
both reproduced exactly: NATS-Bench's (:func:`nb201_flops`, ``xautodl/utils/flop_benchmark.py``)
and Suite-Zero's ``flops`` column, which NASLib computed with ``tensorwatch.ModelStats``
(:func:`nabench.onnx_build.builder.tensorwatch_flops`). The two differ by 2 per BN element, 1 per
ReLU input element, the global pool (tensorwatch: C*(H+1)*(W+1)) and the classifier bias, i.e.
by ``3 * BN elements + C*(2H+1) - classes`` plus the ReLU/BN imbalance (stem BN without ReLU,
``conv_a`` ReLUs before a stride-2 conv): +1078 on CIFAR-10 and +456 on ImageNet16-120 for every
cell, the constants an earlier version of the tests had fitted.

Names: layers are laid out under the module paths of :mod:`nabench.spaces.nb201_torch`, and
every name in the file is the compact form :func:`compact_name` of that path (part by part:
``cells.3.e01.conv.weight`` → ``c.3.e01.k.w``; ``running_mean`` → ``m``; see
:data:`COMPACT`), which keeps weightless graphs small (see Size below). :func:`state_dict_key` is the
inverse (compact name → PyTorch ``state_dict`` key). A state dict is still dropped in as is
(``weights=model.state_dict()``): weights are looked up by their ``state_dict`` key while
building and renamed after. Weightless graphs declare weights as typed graph inputs.

Size: a stored weightless graph is 5-41 KB (mean 19.8 KB over the 15,625 cells, metadata
included). The size grows with the number of ``nor_conv`` edges: each is Relu, Conv and
BatchNormalization nodes plus five typed weight inputs (conv weight, BN scale, bias, running mean, running var), so the all-``nor_conv_3x3``
cell (90 ReLUConvBN, 484 weight inputs, 340 nodes) is the largest, 40.5 KB. It cannot reach 20 KB
while every weight stays a distinct typed graph input with its shape (data-less initializers fail
``onnx.checker``): with every name cut to two characters, node names dropped and ``kernel_shape``
omitted it would still be 21.5 KB (the 484 inputs alone take 10.3 KB, the BN and Conv nodes 8.7 KB).
Sharing tensors between layers (e.g. one running-statistics input per width) would get there but
describes a different network, so the readable module-path names are kept. What is *stored* is far
smaller: the zstd-compressed graphs table of ``nabench normalize`` takes ~3.5 KB per cell on disk, and
the largest cell's ONNX (40.6 KB) compressed on its own with zstd is ~4 KB (see
``benchmarks/results/normalize.md``).

Speed: a graph is assembled from cached, pre-serialized pieces (stem, the two reduction blocks
and the classifier are the same for every cell; each cell is a concatenation of the cached blocks
of its three nodes, one per combination of incoming-edge ops), see :func:`build_nb201_bytes`:
~0.2 ms per graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import onnx

from nabench.onnx_build import builder as B
from nabench.spaces import nb201

_OP_LAYERS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}

#: Part-by-part abbreviations of the PyTorch module paths (injective; other parts, e.g. the cell
#: index ``3``, edge ``e01``, node ``n2``, ``zero``, are kept).
COMPACT = {"cells": "c", "stem": "s", "lastact": "l", "classifier": "f", "global_pooling": "g",
           "flatten": "x", "conv_a": "A", "conv_b": "B", "downsample": "D", "conv": "k", "relu": "r",
           "bn": "n", "weight": "w", "bias": "b", "running_mean": "m", "running_var": "v"}
_EXPAND = {v: k for k, v in COMPACT.items()}
assert len(_EXPAND) == len(COMPACT) and not set(_EXPAND) & set(COMPACT)


@lru_cache(maxsize=65536)
def compact_name(key: str) -> str:
    """The name used in the ONNX file for a PyTorch module path / ``state_dict`` key."""
    return ".".join(COMPACT.get(p, p) for p in key.split("."))


def state_dict_key(name: str) -> str:
    """Inverse of :func:`compact_name`: the PyTorch ``state_dict`` key of an ONNX tensor name."""
    return ".".join(_EXPAND.get(p, p) for p in name.split("."))


#: Attribute values equal to the operator schema's default (written out by the generic builder;
#: dropped here to keep files small, which changes neither the semantics nor the ``arch_id``).
_DEFAULT_ATTRS = {"strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1), "axis": 1, "group": 1,
                  "count_include_pad": 0}


def _is_default_attr(op: str, a) -> bool:
    if op == "BatchNormalization":
        return a.name == "epsilon" and abs(a.f - 1e-5) < 1e-12
    d = _DEFAULT_ATTRS.get(a.name)
    if d is None or op not in ("Conv", "AveragePool", "Flatten"):
        return False
    return (tuple(a.ints) if isinstance(d, tuple) else a.i) == d


def _compact_protos(nodes, inputs=(), initializers=(), outputs=()) -> None:
    """In place: rename every node and tensor name to its :func:`compact_name`, and drop attributes
    that repeat the schema default (``strides=1``, ``pads=0``, BN ``epsilon=1e-5``, ...)."""
    for n in nodes:
        n.name = compact_name(n.name)
        n.input[:] = [compact_name(x) for x in n.input]
        n.output[:] = [compact_name(x) for x in n.output]
        if any(_is_default_attr(n.op_type, a) for a in n.attribute):
            keep = [a for a in n.attribute if not _is_default_attr(n.op_type, a)]
            del n.attribute[:]
            n.attribute.extend(keep)
    for v in (*inputs, *initializers, *outputs):
        v.name = compact_name(v.name)


def _has_zero_node(ops: tuple[str, ...]) -> bool:
    """Whether some node of the cell has only ``none`` incoming edges."""
    by_edge = dict(zip(nb201.EDGES, ops))
    return any(all(by_edge[(i, j)] == "none" for i in range(j)) for j in (1, 2, 3))


def _cell_node(b: B.GraphBuilder, prefix: str, j: int, nodes: list[str], ops_in: tuple[str, ...]) -> str:
    """Add cell node ``j`` (the sum over its incoming edges ``(i, j)``, ops ``ops_in[i]``, reading
    ``nodes[i]``); returns its tensor."""
    terms = []
    for i, op in enumerate(ops_in):
        src, p = nodes[i], f"{prefix}.e{i}{j}"
        if op == "none":
            continue
        if op == "skip_connect":
            terms.append(src)
        elif op == "avg_pool_3x3":
            terms.append(b.avgpool(src, p, 3, 1, 1, count_include_pad=False))
        else:
            kk = _OP_LAYERS[op]
            y = b.conv(b.relu(src, f"{p}.relu"), f"{p}.conv", b.shapes[src][1], kk, 1, kk // 2)
            terms.append(b.bn(y, f"{p}.bn"))
    if not terms:
        return b.mul_zero(nodes[0], f"{prefix}.n{j}.zero")
    acc = terms[0]
    for m, t in enumerate(terms[1:], start=1):
        acc = b.add(acc, t, f"{prefix}.n{j}" if m == len(terms) - 1 else f"{prefix}.n{j}.{m}")
    return acc


def _ops_into(ops: tuple[str, ...], j: int) -> tuple[str, ...]:
    """The ops of the edges ``(0, j) ... (j-1, j)``."""
    by_edge = dict(zip(nb201.EDGES, ops))
    return tuple(by_edge[(i, j)] for i in range(j))


def _cell(b: B.GraphBuilder, x: str, k: int | str, ops: tuple[str, ...]) -> str:
    prefix = f"cells.{k}"
    if _has_zero_node(ops):
        b.zero_const()
    nodes = [x]
    for j in (1, 2, 3):
        nodes.append(_cell_node(b, prefix, j, nodes, _ops_into(ops, j)))
    return nodes[3]


def _resblock(b: B.GraphBuilder, x: str, k: int, c_out: int) -> str:
    p = f"cells.{k}"
    a = b.bn(b.conv(b.relu(x, f"{p}.conv_a.relu"), f"{p}.conv_a.conv", c_out, 3, 2, 1), f"{p}.conv_a.bn")
    a = b.bn(b.conv(b.relu(a, f"{p}.conv_b.relu"), f"{p}.conv_b.conv", c_out, 3, 1, 1), f"{p}.conv_b.bn")
    r = b.conv(b.avgpool(x, f"{p}.downsample.0", 2, 2, 0), f"{p}.downsample.1", c_out, 1, 1, 0)
    return b.add(r, a, p)


def build_builder(arch_str: str, *, num_classes: int = 10, input_size: int = 32, C: int = 16, N: int = 5,
                  weights: None | str | Mapping[str, np.ndarray] = None, seed: int = 0) -> B.GraphBuilder:
    """The populated :class:`~nabench.onnx_build.builder.GraphBuilder` (layers, shapes, counts)."""
    ops = nb201.parse(arch_str)
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    b = B.GraphBuilder("nb201", weights=weights, seed=seed)
    x = b.input("input", (1, 3, input_size, input_size))
    x = b.bn(b.conv(x, "stem.0", C, 3, 1, 1), "stem.1")
    k = 0
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage:
            x = _resblock(b, x, k, c)
            k += 1
        for _ in range(N):
            x = _cell(b, x, k, ops)
            k += 1
    x = b.relu(b.bn(x, "lastact.0"), "lastact.1")
    x = b.flatten(b.global_avgpool(x, "global_pooling"), "flatten")
    b.output(b.gemm(x, "classifier", num_classes))
    _compact_protos(b.nodes, b.inputs, b.initializers, b.outputs)
    return b


def _default_metadata(arch_str: str) -> dict[str, str]:
    return {"space": "nb201", "native_id": arch_str}


# -- fast path: pre-serialized pieces ---------------------------------------------------------
_field = B.length_delimited


_G_NODE, _G_NAME, _G_INPUT, _G_OUTPUT = 1, 2, 11, 12
_M_GRAPH, _M_META = 7, 14
#: Placeholder name of a piece's input tensor; renamed when the piece is placed.
_PH = "@in@"
_PH_FIELD = _field(1, _PH.encode())  # NodeProto.input entry naming the placeholder


def _piece(b: B.GraphBuilder, skip_inputs: int = 0, placeholders: tuple[str, ...] = (_PH,)) -> tuple[tuple, bytes]:
    """Pre-serialized (node segments, weight-input fields) of a builder's content. Segments are
    ready bytes, or 1-tuples holding a NodeProto that reads one of the ``placeholders``."""
    segs: list = []
    static: list[bytes] = []
    _compact_protos(b.nodes, b.inputs[skip_inputs:])
    for n in b.nodes:
        s = n.SerializeToString()
        if any(x in placeholders for x in n.input):
            if static:
                segs.append(b"".join(static))
                static = []
            segs.append((s,))
        else:
            static.append(_field(_G_NODE, s))
    if static:
        segs.append(b"".join(static))
    inputs = b"".join(_field(_G_INPUT, i.SerializeToString()) for i in b.inputs[skip_inputs:])
    return tuple(segs), inputs


def _place(piece: tuple[tuple, bytes], src: str, nodes: list[bytes], inputs: list[bytes]) -> None:
    sub = _field(1, src.encode())
    for seg in piece[0]:
        nodes.append(seg if type(seg) is bytes else _field(_G_NODE, seg[0].replace(_PH_FIELD, sub)))
    inputs.append(piece[1])


def _piece_builder(shape: tuple[int, ...]) -> B.GraphBuilder:
    b = B.GraphBuilder()
    b.shapes[_PH] = shape
    b._zero = "zero"  # the shared zero constant is emitted once per graph by the assembler
    return b


#: Placeholder names of cell nodes 1 and 2 inside a node block (node 0 is the cell input, ``_PH``).
_NODE_PH = ("@1@", "@2@")


@lru_cache(maxsize=4096)
def _node_block(j: int, ops_in: tuple[str, ...], c: int, hw: int, width: int) -> tuple[tuple, bytes, str]:
    """Cell node ``j`` as a piece (names prefixed ``c.###.``, see :func:`_cell_template`) reading the
    placeholders ``_PH`` (node 0) and ``_NODE_PH`` (nodes 1, 2), and its output tensor (compact
    name, or the placeholder it passes through)."""
    b = _piece_builder((1, c, hw, hw))
    srcs = [_PH, *_NODE_PH[:j - 1]]
    for x in srcs[1:]:
        b.shapes[x] = b.shapes[_PH]
    out = _cell_node(b, "cells." + "#" * width, j, srcs, ops_in)
    return (*_piece(b, placeholders=(_PH, *_NODE_PH)), out if out in srcs else compact_name(out))


_NODE_PH_FIELDS = tuple(_field(1, x.encode()) for x in _NODE_PH)


@lru_cache(maxsize=64)
def _cell_template(ops: tuple[str, ...], c: int, hw: int, width: int) -> tuple[tuple, bytes, str | None]:
    """A cell piece whose names use the prefix ``c.###.`` (``width`` characters ``#``), so that
    placing it at cell k is one length-preserving ``bytes.replace`` (wrapped lengths stay valid).
    Assembled from the cached blocks of its three nodes (:func:`_node_block`)."""
    segs: list = []
    static: list[bytes] = []
    inputs: list[bytes] = []
    nodes = [_PH]
    for j in (1, 2, 3):
        block_segs, block_inputs, out = _node_block(j, _ops_into(ops, j), c, hw, width)
        for seg in block_segs:
            if type(seg) is bytes:
                static.append(seg)
                continue
            s = seg[0]
            for field, name in zip(_NODE_PH_FIELDS, nodes[1:]):
                s = s.replace(field, _field(1, name.encode()))
            if _PH_FIELD in s:  # still reads the cell input
                if static:
                    segs.append(b"".join(static))
                    static = []
                segs.append((s,))
            else:
                static.append(_field(_G_NODE, s))
        inputs.append(block_inputs)
        nodes.append(nodes[1 + _NODE_PH.index(out)] if out in _NODE_PH else out)
    if static:
        segs.append(b"".join(static))
    return tuple(segs), b"".join(inputs), None if nodes[3] == _PH else nodes[3]


def _cell_piece(k: int, ops: tuple[str, ...], c: int, hw: int) -> tuple[tuple, bytes, str | None]:
    """Cell ``k`` as a piece, and its output tensor (None: the output is its input)."""
    ks = str(k)
    segs, inputs, out = _cell_template(ops, c, hw, len(ks))
    old, new = f"c.{'#' * len(ks)}.".encode(), f"c.{ks}.".encode()
    segs = tuple(s.replace(old, new) if type(s) is bytes else (s[0].replace(old, new),) for s in segs)
    return segs, inputs.replace(old, new), out and out.replace(old.decode(), new.decode())


@lru_cache(maxsize=8)
def _fixed_pieces(num_classes: int, input_size: int, C: int, N: int) -> dict:
    """The parts that do not depend on the cell: stem, reductions, head, model header."""
    b = B.GraphBuilder()
    b.input("input", (1, 3, input_size, input_size))
    b.bn(b.conv("input", "stem.0", C, 3, 1, 1), "stem.1")
    stem = _piece(b, skip_inputs=1)
    data_input = _field(_G_INPUT, b.inputs[0].SerializeToString())
    reductions = {}
    hw = input_size
    for stage, c in enumerate((2 * C, 4 * C), start=1):
        k = stage * (N + 1) - 1
        rb = _piece_builder((1, c // 2, hw, hw))
        _resblock(rb, _PH, k, c)
        hw = rb.shapes[f"cells.{k}"][2]
        reductions[k] = _piece(rb)
    hb = _piece_builder((1, 4 * C, hw, hw))
    y = hb.relu(hb.bn(_PH, "lastact.0"), "lastact.1")
    y = hb.gemm(hb.flatten(hb.global_avgpool(y, "global_pooling"), "flatten"), "classifier", num_classes)
    hb.output(y)
    _compact_protos((), (), (), hb.outputs)
    zb = B.GraphBuilder()
    zb.zero_const()
    header = B.make_model(onnx.GraphProto(), None)
    header.ClearField("graph")
    post = onnx.ModelProto()
    post.opset_import.extend(header.opset_import)
    header.ClearField("opset_import")  # fields are serialized in field-number order: graph (7) < opset (8)
    return {"data_input": data_input, "stem": stem, "reductions": reductions, "head": _piece(hb),
            "output": _field(_G_OUTPUT, hb.outputs[0].SerializeToString()),
            "zero": _field(_G_NODE, zb.nodes[0].SerializeToString()),
            "name": _field(_G_NAME, b"nb201"), "header": header.SerializeToString(),
            "post": post.SerializeToString()}


def build_nb201_bytes(arch_str: str, *, num_classes: int = 10, input_size: int = 32, C: int = 16, N: int = 5,
                      metadata: Mapping[str, object] | None = None) -> bytes:
    """Serialized weightless ModelProto, assembled from cached pieces (the fast path).
    Byte-identical to ``build_builder(...).model(metadata)``."""
    ops = nb201.parse(arch_str)
    fx = _fixed_pieces(num_classes, input_size, C, N)
    nodes: list[bytes] = list(fx["stem"][0])
    inputs: list[bytes] = [fx["data_input"], fx["stem"][1]]
    cur = compact_name("stem.1")
    k, hw = 0, input_size
    if _has_zero_node(ops):
        nodes.append(fx["zero"])
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage:
            _place(fx["reductions"][k], cur, nodes, inputs)
            cur, hw, k = compact_name(f"cells.{k}"), (hw - 1) // 2 + 1, k + 1
        for _ in range(N):
            piece = _cell_piece(k, ops, c, hw)
            _place(piece, cur, nodes, inputs)
            cur = piece[2] or cur
            k += 1
    _place(fx["head"], cur, nodes, inputs)
    graph = b"".join(nodes) + fx["name"] + b"".join(inputs) + fx["output"]
    meta = b"".join(_field(_M_META, _field(1, str(key).encode()) + _field(2, str(val).encode()))
                    for key, val in sorted((metadata if metadata is not None else _default_metadata(arch_str)).items()))
    return fx["header"] + _field(_M_GRAPH, graph) + fx["post"] + meta


def build_nb201(arch_str: str, *, num_classes: int = 10, input_size: int = 32, C: int = 16, N: int = 5,
                weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of the NB201 network for ``arch_str``.

    ``weights=None``: weightless (weights are typed graph inputs; fast cached path);
    ``"random"``: seeded random initializers; a mapping (e.g. ``NB201Network.state_dict()``):
    those values as initializers. ``metadata`` is written to ``metadata_props`` (default:
    space and native id).
    """
    if weights is None:
        m = onnx.ModelProto()
        m.ParseFromString(build_nb201_bytes(arch_str, num_classes=num_classes, input_size=input_size,
                                            C=C, N=N, metadata=metadata))
        return m
    b = build_builder(arch_str, num_classes=num_classes, input_size=input_size, C=C, N=N,
                      weights=weights, seed=seed)
    return b.model(metadata if metadata is not None else _default_metadata(arch_str))


def nb201_params(arch_str: str, **kw) -> int:
    """Trainable parameters of the NB201 network (PyTorch ``parameters()`` convention)."""
    return _counts(nb201.parse(arch_str) and arch_str, tuple(sorted(kw.items())))[0]


def nb201_flops(arch_str: str, **kw) -> int:
    """FLOPs, NB201's convention (``xautodl/utils/flop_benchmark.py``: conv and linear MACs, bias
    adds, avg-pool k*k per output element; BN, ReLU, adds not counted), batch 1."""
    return _counts(nb201.parse(arch_str) and arch_str, tuple(sorted(kw.items())))[1]


@lru_cache(maxsize=32768)
def _counts(arch_str: str, kw: tuple) -> tuple[int, int]:
    b = build_builder(arch_str, **dict(kw))
    return b.n_params, B.flops(b.layers)


#: Corpora whose records are NB201 cells (``native_id`` is the NB201 string), and the network
#: built for them: the CIFAR-10 network (10 classes, 32x32 input, C=16, N=5), the network the
#: corpora's main labels (``cifar10__*``, AnalogNAS's CIFAR-10 accuracies) were measured on.
#: Labels of other datasets (CIFAR-100, ImageNet16-120) were measured on the same cell with a
#: different head / input size; the graph is a descriptor of the architecture, not of each run.
CORPORA = {"nb201": {}, "analognas": {}}


def from_record(record: Mapping[str, object], corpus: str, *, weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one record of an NB201-space corpus (``nb201``, ``analognas``): the CIFAR-10
    network of the cell ``record["native_id"]`` (see :data:`CORPORA`)."""
    arch = record.get("native_id")
    if not isinstance(arch, str):
        raise ValueError(f"{corpus}: record field 'native_id' must be an NB201 string, got {arch!r}")  # noqa: TRY004
    try:
        nb201.parse(arch)
    except Exception as e:  # noqa: BLE001 -- the parser's own error names the problem
        raise ValueError(f"{corpus}: record field 'native_id' is not an NB201 cell string: {e}") from None
    return build_nb201(arch, weights=weights, metadata=metadata, **CORPORA.get(corpus, {}))


def from_record_bytes(record: Mapping[str, object], corpus: str, *,
                      metadata: Mapping[str, object] | None = None) -> bytes:
    """Serialized weightless :func:`from_record` (the fast path used by ``nabench normalize``)."""
    arch = record.get("native_id")
    if not isinstance(arch, str):
        raise ValueError(f"{corpus}: record field 'native_id' must be an NB201 string, got {arch!r}")  # noqa: TRY004
    try:
        nb201.parse(arch)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{corpus}: record field 'native_id' is not an NB201 cell string: {e}") from None
    return build_nb201_bytes(arch, metadata=metadata, **CORPORA.get(corpus, {}))
