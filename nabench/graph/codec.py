"""A compact binary form of an :class:`ArchGraph`, so stored graphs load without re-reading ONNX.

``loads(dumps(g)) == g`` for every graph :func:`~nabench.graph.from_onnx` returns (attribute
values are JSON types: int, float, str, lists, dicts, None). ``nabench normalize`` stores this form
of each record's graph (equal to ``from_onnx`` of the stored ONNX) next to the ONNX, and
:meth:`Corpus.arch_graphs <nabench.corpora.store.Corpus.arch_graphs>` decodes it, many times
faster than shape inference plus ``from_onnx``. Not pickle: decoding builds only ArchGraph's own
dataclasses from JSON values and integers.

Layout (version 2): ``b"NBAG"``, the version byte, the width of the numbers (4 or 8 bytes), the byte
lengths of a JSON header and of a kinds section (4 bytes each, little endian), the UTF-8 JSON
header, the kinds section, then the numbers (little-endian int32, or int64 when one needs it). Nodes that agree in everything but their index, name and sources share
one *kind* (a NB201 graph has ~190 nodes of ~25 kinds, and a corpus few kinds in all: decoding
prepares each distinct kind once per process). The kinds section has one compact JSON line per kind,
``[op_type, domain, category, attrs, input shapes, output shapes, [[slot, shape], ...] of const
inputs, params, flops, number of sources]``. The header lists the node names, the tensor names, the
distinct tensor shapes and dtypes, the graph's scalars and, when there are any, its ``constants``
as ``[node, slot, dtype, dims, values]`` (an optional key: graphs stored without it decode with no
constant values). The numbers are, in order: each node's kind, every node's source codes, the edge, input-edge and output-edge pairs, the output source
codes, and each tensor's (inputs, outputs, weights) shape id and dtype id (``-1`` = None). A source
``("node", j, k)`` is ``2 * (j * 65536 + k)``, ``("input", j, 0)`` is ``2 * j * 65536 + 1``,
``("const", -1, -1)`` is ``-1`` and ``("none", -1, -1)`` is ``-2``.

Decoded graphs share only immutable values (tuples, strings, :class:`TensorInfo`); every node gets
its own ``attrs`` and ``const_inputs``, every graph its own lists and ``metadata``.
"""

from __future__ import annotations

import json
import struct
from itertools import chain
from typing import Any

import numpy as np

from .archgraph import _TENSOR_INFOS, NODE_SETTERS, ArchGraph, GraphError, Node, TensorInfo

#: Bumped whenever the layout changes; part of the encoded form.
CODEC_VERSION = 2
MAGIC = b"NBAG"
_HEAD = struct.Struct("<4sBBII")

_new = object.__new__
_KINDS = {"node": 0, "input": 1}
_SPECIAL = {"const": -1, "none": -2}


def _source_code(src: tuple[str, int, int]) -> int:
    kind, j, k = src
    if kind in _SPECIAL:
        return _SPECIAL[kind]
    if not 0 <= k < 65536:
        raise GraphError(f"cannot encode source {src!r}")
    return 2 * (j * 65536 + k) + _KINDS[kind]


class _Sources(dict):
    """code -> source tuple, shared by every decoded graph (equal sources are one tuple)."""

    def __missing__(self, code: int) -> tuple[str, int, int]:
        if code == -1:
            t = ("const", -1, -1)
        elif code == -2:
            t = ("none", -1, -1)
        elif code < 0:
            raise ValueError(f"bad source code {code}")
        else:
            jk, kind = divmod(code, 2)
            j, k = divmod(jk, 65536)
            t = ("node", j, k) if kind == 0 else ("input", j, k)
        if len(self) < 1 << 20:
            self[code] = t
        return t


_SOURCES = _Sources()


class _Codes(dict):
    """source tuple -> code, shared by every encoded graph."""

    def __missing__(self, src: tuple[str, int, int]) -> int:
        c = _source_code(src)
        if len(self) < 1 << 20:
            self[src] = c
        return c


_CODES = _Codes()


def _kind_line(n: Node) -> bytes:
    return json.dumps([n.op_type, n.domain, n.category, n.attrs, n.input_shapes, n.output_shapes,
                       list(n.const_inputs.items()), n.params, n.flops, len(n.sources)],
                      separators=(",", ":"), ensure_ascii=False).encode()


#: kind key (see dumps) -> its JSON line, shared by every encoded graph
_KIND_LINES: dict[tuple, bytes] = {}


def dumps(graph: ArchGraph) -> bytes:
    """The encoded form of ``graph`` (bytes)."""
    kinds: dict[tuple, int] = {}
    lines: list[bytes] = []
    node_kind: list[int] = []
    sources: list[int] = []
    code = _CODES.__getitem__
    for n in graph.nodes:
        attrs, consts = n.attrs, n.const_inputs
        key = (n.op_type, n.domain, n.category, repr(attrs) if attrs else "", n.input_shapes, n.output_shapes,
               tuple(consts.items()) if consts else (), n.params, n.flops, len(n.sources))
        k = kinds.get(key)
        if k is None:
            k = kinds[key] = len(lines)
            line = _KIND_LINES.get(key)
            if line is None:
                line = _kind_line(n)
                if len(_KIND_LINES) >= 65536:
                    _KIND_LINES.clear()
                _KIND_LINES[key] = line
            lines.append(line)
        node_kind.append(k)
        sources.extend(map(code, n.sources))
    tensors = (*graph.inputs, *graph.outputs, *graph.weights)
    shape_list = list(dict.fromkeys(t.shape for t in tensors if t.shape is not None))
    ids: dict[Any, int] = {s: i for i, s in enumerate(shape_list)}
    ids[None] = -1
    dtype_list = list(dict.fromkeys(t.dtype for t in tensors if t.dtype is not None))
    dids: dict[Any, int] = {d: i for i, d in enumerate(dtype_list)}
    dids[None] = -1
    counts = [len(graph.nodes), len(sources), len(graph.edges), len(graph.input_edges), len(graph.output_edges),
              len(graph.output_sources), len(graph.inputs), len(graph.outputs), len(graph.weights)]
    header = {"names": [n.name for n in graph.nodes], "tensors": [t.name for t in tensors],
              "shapes": shape_list, "dtypes": dtype_list, "counts": counts, "params": graph.params,
              "flops": graph.flops, "depth": graph.depth, "metadata": graph.metadata, "opset": graph.opset,
              "flops_complete": graph.flops_complete, "notes": list(graph.notes)}
    if graph.constants:
        header["constants"] = [[node, slot, dtype, list(dims), list(values)]
                               for (node, slot), (dtype, dims, values) in graph.constants.items()]
    head = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    kind_section = b"\n".join(lines)
    numbers = np.fromiter(chain(node_kind, sources, chain.from_iterable(graph.edges),
                                chain.from_iterable(graph.input_edges), chain.from_iterable(graph.output_edges),
                                map(code, graph.output_sources), map(ids.__getitem__, (t.shape for t in tensors)),
                                map(dids.__getitem__, (t.dtype for t in tensors))), dtype="<i8")
    if len(numbers) and (numbers.max() >= 1 << 31 or numbers.min() < -(1 << 31)):
        width = 8
    else:
        width, numbers = 4, numbers.astype("<i4")
    return (_HEAD.pack(MAGIC, CODEC_VERSION, width, len(head), len(kind_section)) + head + kind_section
            + numbers.tobytes())


def loads(data: bytes) -> ArchGraph:
    """The :class:`ArchGraph` of :func:`dumps`'s output; :class:`GraphError` for anything else."""
    try:
        data = bytes(data)
        magic, version, width, n_head, n_kinds = _HEAD.unpack_from(data)
        if magic != MAGIC:
            raise ValueError("no NBAG header")
        if version != CODEC_VERSION:
            raise ValueError(f"codec version {version}, expected {CODEC_VERSION}")
        if width not in (4, 8):
            raise ValueError(f"number width {width}")
        start = _HEAD.size + n_head
        header = json.loads(data[_HEAD.size:start])
        kind_lines = data[start:start + n_kinds].split(b"\n")
        numbers = np.frombuffer(data, dtype=f"<i{width}", offset=start + n_kinds).tolist()
        return _build(header, kind_lines, numbers)
    except GraphError:
        raise
    except Exception as e:  # noqa: BLE001 -- truncated data, JSON errors, wrong layout: one clear error
        raise GraphError(f"not an encoded ArchGraph ({type(e).__name__}: {e})") from None


def _copy_json(v: Any) -> Any:
    """A deep copy of a JSON value (fresh lists and dicts)."""
    t = type(v)
    if t is list:
        return [_copy_json(x) for x in v]
    if t is dict:
        return {k: _copy_json(x) for k, x in v.items()}
    return v


_PLAIN = (int, float, str, bool, type(None))


def _attrs_copier(attrs: dict) -> Any:
    """The cheapest way to give each node of a kind its own copy of ``attrs``."""
    if not attrs:
        return dict
    if all(type(v) in _PLAIN for v in attrs.values()):
        return attrs.copy
    if all(type(v) in _PLAIN or (type(v) is list and all(type(x) in _PLAIN for x in v)) for v in attrs.values()):
        items = tuple((k, type(v) is list, v) for k, v in attrs.items())
        return lambda: {k: v[:] if lst else v for k, lst, v in items}
    return lambda: _copy_json(attrs)


#: Equal shapes of all decoded graphs share one tuple (a corpus has few distinct shapes).
_SHAPES: dict[tuple, tuple] = {}


def _shape(s: list | None) -> tuple | None:
    if s is None:
        return None
    t = tuple(s)
    if len(_SHAPES) > 1 << 16:
        _SHAPES.clear()
    return _SHAPES.setdefault(t, t)


def _prepare_kind(line: bytes) -> tuple:
    """(op_type, domain, category, input shapes, output shapes, params, flops, attrs copier,
    const_inputs copier, number of sources) of one kind line."""
    op, domain, category, attrs, ins, outs, consts, params, flops, n_src = json.loads(line)
    if not isinstance(attrs, dict):
        raise ValueError("attrs must be an object")
    const_inputs = {int(slot): _shape(s) for slot, s in consts}
    return (str(op), str(domain), str(category), tuple(map(_shape, ins)), tuple(map(_shape, outs)), int(params),
            int(flops), _attrs_copier(attrs), const_inputs.copy if const_inputs else dict, int(n_src))


#: kind line -> _prepare_kind of it, shared by every decoded graph
_KINDS_READY: dict[bytes, tuple] = {}


def _take(numbers: list[int], pos: int, n: int) -> tuple[list[int], int]:
    if n < 0 or pos + n > len(numbers):
        raise ValueError("truncated numbers")
    return numbers[pos:pos + n], pos + n


def _build(h: dict[str, Any], kind_lines: list[bytes], numbers: list[int]) -> ArchGraph:
    n_nodes, n_sources, n_edges, n_in_edges, n_out_edges, n_out_sources, n_inputs, n_outputs, n_weights = h["counts"]
    n_tensors = n_inputs + n_outputs + n_weights
    node_kind, pos = _take(numbers, 0, n_nodes)
    codes, pos = _take(numbers, pos, n_sources)
    edges, pos = _take(numbers, pos, 2 * n_edges)
    in_edges, pos = _take(numbers, pos, 2 * n_in_edges)
    out_edges, pos = _take(numbers, pos, 2 * n_out_edges)
    out_sources, pos = _take(numbers, pos, n_out_sources)
    tensor_shapes, pos = _take(numbers, pos, n_tensors)
    tensor_dtypes, pos = _take(numbers, pos, n_tensors)
    names = h["names"]
    if pos != len(numbers) or len(names) != n_nodes or len(h["tensors"]) != n_tensors:
        raise ValueError("inconsistent counts")

    ready = _KINDS_READY
    kinds = []
    for line in kind_lines if n_nodes else ():
        k = ready.get(line)
        if k is None:
            k = _prepare_kind(line)
            if len(ready) >= 65536:
                ready.clear()
            ready[line] = k
        kinds.append(k)
    srcs = list(map(_SOURCES.__getitem__, codes))
    nodes = []
    append = nodes.append
    new = _new
    s_index, s_name, s_op, s_domain, s_category, s_attrs, s_ins, s_outs, s_sources, s_consts, s_params, s_flops = \
        NODE_SETTERS
    p = 0
    for i, name, kind in zip(range(n_nodes), names, map(kinds.__getitem__, node_kind)):
        op, domain, category, ins, outs, params, flops, attrs, const_inputs, n_src = kind
        nd = new(Node)
        s_index(nd, i), s_name(nd, name), s_op(nd, op), s_domain(nd, domain), s_category(nd, category)
        s_attrs(nd, attrs()), s_ins(nd, ins), s_outs(nd, outs), s_sources(nd, tuple(srcs[p:p + n_src]))
        s_consts(nd, const_inputs()), s_params(nd, params), s_flops(nd, flops)
        append(nd)
        p += n_src
    if p != n_sources:
        raise ValueError("inconsistent source counts")

    shape = [_shape(s) for s in h["shapes"]]
    shape.append(None)  # index -1
    dtypes = h["dtypes"]
    dtypes.append(None)  # index -1
    infos = _TENSOR_INFOS
    keys = list(zip(h["tensors"], map(shape.__getitem__, tensor_shapes), map(dtypes.__getitem__, tensor_dtypes)))
    tensors = list(map(infos.get, keys))
    for i in [i for i, t in enumerate(tensors) if t is None]:
        name, s, dt = key = keys[i]
        t = tensors[i] = _new(TensorInfo)
        t.__dict__.update(name=name, shape=s, dtype=dt)
        if len(infos) >= 65536:
            infos.clear()
        infos[key] = t
    return ArchGraph(
        nodes=nodes, edges=list(zip(edges[::2], edges[1::2])), inputs=tensors[:n_inputs],
        outputs=tensors[n_inputs:n_inputs + n_outputs], input_edges=list(zip(in_edges[::2], in_edges[1::2])),
        output_edges=list(zip(out_edges[::2], out_edges[1::2])), output_sources=list(map(_SOURCES.__getitem__, out_sources)),
        weights=tensors[n_inputs + n_outputs:], params=h["params"], flops=h["flops"], depth=h["depth"],
        metadata=h["metadata"], opset=h["opset"], flops_complete=h["flops_complete"], notes=tuple(h["notes"]),
        constants={(node, slot): (dtype, tuple(dims), tuple(values))
                   for node, slot, dtype, dims, values in h.get("constants", ())})
