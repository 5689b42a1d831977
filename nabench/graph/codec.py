"""A compact JSON form of an :class:`ArchGraph`, so stored graphs load without re-reading ONNX.

``loads(dumps(g)) == g`` for every graph :func:`~nabench.graph.from_onnx` returns (attribute
values are JSON types: int, float, str, lists, dicts, None). ``nabench normalize`` stores this form
of each record's graph (equal to ``from_onnx`` of the stored ONNX) next to the ONNX, and
:meth:`Corpus.arch_graphs <nabench.corpora.store.Corpus.arch_graphs>` decodes it, several times
faster than shape inference plus ``from_onnx``. Not pickle: decoding builds only ArchGraph's own
dataclasses from JSON.

Layout (version 1): one JSON object; ``shapes`` lists the distinct shapes (a node refers to a shape
by index, ``-1`` = unknown); a node is ``[name, op_type, domain, category, attrs, input shape ids,
output shape ids, source codes, [slot, shape id, ...] of const inputs, params, flops]``; a source
``("node", j, k)`` is ``2 * (j * 65536 + k)``, ``("input", j, 0)`` is ``2 * j * 65536 + 1``,
``("const", -1, -1)`` is ``-1`` and ``("none", -1, -1)`` is ``-2``; edge lists are flattened.
"""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

from .archgraph import ArchGraph, GraphError, Node, TensorInfo

#: Bumped whenever the layout changes; part of the encoded form.
CODEC_VERSION = 1

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


def dumps(graph: ArchGraph) -> bytes:
    """The JSON form of ``graph`` (UTF-8 bytes)."""
    nodes = graph.nodes
    tensors_all = (*graph.inputs, *graph.outputs, *graph.weights)
    shapes = list(dict.fromkeys(chain(chain.from_iterable(chain(n.input_shapes, n.output_shapes) for n in nodes),
                                      (t.shape for t in tensors_all))))
    if None in shapes:
        shapes.remove(None)
    ids: dict[Any, int] = {s: i for i, s in enumerate(shapes)}
    ids[None] = -1
    sid = ids.__getitem__
    code = _CODES.__getitem__
    rows = [[n.name, n.op_type, n.domain, n.category, n.attrs, list(map(sid, n.input_shapes)),
             list(map(sid, n.output_shapes)), list(map(code, n.sources)),
             [x for k, v in n.const_inputs.items() for x in (k, ids[v])] if n.const_inputs else [], n.params, n.flops]
            for n in nodes]

    def tensors(ts):
        return [[t.name, ids[t.shape], t.dtype] for t in ts]

    doc = {"v": CODEC_VERSION, "nodes": rows, "inputs": tensors(graph.inputs), "outputs": tensors(graph.outputs),
           "weights": tensors(graph.weights), "edges": list(chain.from_iterable(graph.edges)),
           "input_edges": list(chain.from_iterable(graph.input_edges)),
           "output_edges": list(chain.from_iterable(graph.output_edges)),
           "output_sources": list(map(code, graph.output_sources)),
           "params": graph.params, "flops": graph.flops, "depth": graph.depth, "metadata": graph.metadata,
           "opset": graph.opset, "flops_complete": graph.flops_complete, "notes": list(graph.notes),
           "shapes": shapes}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> ArchGraph:
    """The :class:`ArchGraph` of :func:`dumps`'s output; :class:`GraphError` for anything else."""
    try:
        doc = json.loads(data)
        if doc.get("v") != CODEC_VERSION:
            raise ValueError(f"codec version {doc.get('v')!r}, expected {CODEC_VERSION}")
        return _build(doc)
    except GraphError:
        raise
    except Exception as e:  # noqa: BLE001 -- JSON errors, wrong layout: one clear error
        raise GraphError(f"not an encoded ArchGraph ({type(e).__name__}: {e})") from None


def _pairs(flat: list[int]) -> list[tuple[int, int]]:
    return list(zip(flat[::2], flat[1::2]))


#: Equal shapes of all decoded graphs share one tuple (a corpus has few distinct shapes).
_SHAPES: dict[tuple, tuple] = {}


def _build(doc: dict[str, Any]) -> ArchGraph:
    if len(_SHAPES) > 1 << 16:
        _SHAPES.clear()
    shape = [_SHAPES.setdefault(t, t) for t in map(tuple, doc["shapes"])]
    shape.append(None)  # index -1
    sget = shape.__getitem__
    src = _SOURCES.__getitem__

    def tensors(rows) -> list[TensorInfo]:
        out = []
        for name, s, dtype in rows:
            t = _new(TensorInfo)
            t.__dict__.update(name=name, shape=shape[s], dtype=dtype)
            out.append(t)
        return out

    nodes = []
    append = nodes.append
    for i, (name, op, domain, category, attrs, ins, outs, sources, consts, params, flops) in enumerate(doc["nodes"]):
        nd = _new(Node)
        nd.__dict__.update(index=i, name=name, op_type=op, domain=domain, category=category, attrs=attrs,
                           input_shapes=tuple(map(sget, ins)), output_shapes=tuple(map(sget, outs)),
                           sources=tuple(map(src, sources)),
                           const_inputs=dict(zip(consts[::2], map(sget, consts[1::2]))) if consts else {},
                           params=params, flops=flops)
        append(nd)
    return ArchGraph(
        nodes=nodes, edges=_pairs(doc["edges"]), inputs=tensors(doc["inputs"]), outputs=tensors(doc["outputs"]),
        input_edges=_pairs(doc["input_edges"]), output_edges=_pairs(doc["output_edges"]),
        output_sources=list(map(src, doc["output_sources"])), weights=tensors(doc["weights"]),
        params=doc["params"], flops=doc["flops"], depth=doc["depth"], metadata=doc["metadata"], opset=doc["opset"],
        flops_complete=doc["flops_complete"], notes=tuple(doc["notes"]))
