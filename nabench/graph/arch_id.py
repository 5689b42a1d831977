"""``arch_id``: a canonical, isomorphism-invariant hash of an :class:`ArchGraph`.

Method
    1. Vertices are the nodes plus one pseudo-vertex per data input and per output (labelled by
       position, shape and dtype). A node's initial label is its op type and domain, its attributes
       normalized (schema defaults filled in, so an exporter that writes ``strides=[1, 1]`` and one
       that omits it agree; floats to 6 significant digits), its output shapes and the shapes of its
       constant/weight operands. Names (of nodes and tensors) and node order never enter.
    2. Edges are labelled by (producer output index, consumer input slot); the slot is ``*`` for
       commutative ops (Add, Mul, Sum, Max, Min, Mean, And, Or, Xor, Equal, ...), so swapping their
       operands does not change the id, while ``a - b`` and ``b - a`` differ.
    3. Weisfeiler-Lehman refinement on the directed graph: each round a vertex's new label hashes
       its label, the sorted multiset of (edge label, label) of its in-neighbours and, separately,
       of its out-neighbours. Rounds stop when the partition into label classes stops refining.
    4. The id is the BLAKE2b-128 hex digest of the sorted final labels and the sorted multiset of
       (label(u), label(v), edge label) over all edges.

WL refinement is not a complete canonical form: two non-isomorphic graphs can share an id only if
1-WL cannot tell them apart (e.g. certain regular graphs). With op/shape labels and directed,
slot-labelled edges on DAGs this does not arise in practice; isomorphic graphs always share an id.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

import onnx

from .archgraph import ArchGraph, _attr_value

#: Bumped whenever the normalization changes (it is part of every hash).
ARCH_ID_VERSION = 1

COMMUTATIVE = frozenset({"Add", "Mul", "Sum", "Max", "Min", "Mean", "And", "Or", "Xor", "Equal",
                         "BitwiseAnd", "BitwiseOr", "BitwiseXor"})


def _h(s: str) -> str:
    return hashlib.blake2b(s.encode(), digest_size=16).hexdigest()


@functools.lru_cache(maxsize=4096)
def _defaults(op_type: str, domain: str, version: int) -> tuple[tuple[str, Any], ...]:
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except Exception:  # noqa: BLE001 -- unknown op or domain: no defaults
        return ()
    out = []
    for name, attr in schema.attributes.items():
        dv = attr.default_value
        if dv is not None and dv.type != 0:
            out.append((name, _attr_value(dv)))
    return tuple(sorted(out, key=lambda kv: kv[0]))


_SPATIAL = frozenset({"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MaxPool", "AveragePool", "LpPool"})


def _spatial_defaults(n, attrs: dict) -> None:
    """Fill the defaults the schema only describes in prose (strides, dilations, pads, kernel_shape)."""
    rank = None
    for s in (n.output_shapes[0] if n.output_shapes else None, n.input_shapes[0] if n.input_shapes else None):
        if s is not None and len(s) > 2:
            rank = len(s) - 2
            break
    w_slot = 3 if n.op_type == "QLinearConv" else 1
    w = n.input_shapes[w_slot] if "Conv" in n.op_type and len(n.input_shapes) > w_slot else None
    if "kernel_shape" not in attrs and w is not None and len(w) > 2 and None not in w[2:]:
        attrs["kernel_shape"] = [int(d) for d in w[2:]]
    if rank is None and isinstance(attrs.get("kernel_shape"), list):
        rank = len(attrs["kernel_shape"])
    if rank is None:
        return
    attrs.setdefault("strides", [1] * rank)
    attrs.setdefault("dilations", [1] * rank)
    if attrs.get("auto_pad", "NOTSET") in ("NOTSET", "VALID"):
        attrs.setdefault("pads", [0] * (2 * rank))


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _norm(x) for k, x in v.items() if k != "name"}
    return v


def _shape(s) -> Any:
    return None if s is None else ["?" if d is None else int(d) for d in s]


def arch_id(graph: ArchGraph) -> str:
    """Canonical hash of the graph (hex, 32 chars); see the module docstring."""
    n_nodes = len(graph.nodes)
    labels: list[str] = []
    for n in graph.nodes:
        domain = "" if n.domain in ("", "ai.onnx") else n.domain
        version = graph.opset.get(domain, graph.opset.get("ai.onnx" if domain == "" else domain, 0)) \
            or onnx.defs.onnx_opset_version()
        attrs = dict(_defaults(n.op_type, domain, int(version)))
        attrs.update(n.attrs)
        if domain == "" and n.op_type in _SPATIAL:
            _spatial_defaults(n, attrs)
        if n.op_type in COMMUTATIVE:
            consts: Any = sorted(json.dumps(_shape(s)) for s in n.const_inputs.values())
        else:
            consts = sorted([s, _shape(v)] for s, v in n.const_inputs.items())
        labels.append(json.dumps(["node", domain, n.op_type, _norm(attrs), [_shape(s) for s in n.output_shapes],
                                  consts], sort_keys=True, default=str))
    for k, t in enumerate(graph.inputs):
        labels.append(json.dumps(["input", k, _shape(t.shape), t.dtype]))
    for k, t in enumerate(graph.outputs):
        labels.append(json.dumps(["output", k, _shape(t.shape), t.dtype]))
    labels = [_h(x) for x in labels]

    # labelled edges (u, v, label) over vertex ids: nodes, then inputs, then outputs
    edges: list[tuple[int, int, str]] = []
    covered: set[tuple[int, int]] = set()
    for n in graph.nodes:
        comm = n.op_type in COMMUTATIVE
        for slot, (kind, j, port) in enumerate(n.sources):
            dst_slot = "*" if comm else str(slot)
            if kind == "node":
                edges.append((j, n.index, f"{port}:{dst_slot}"))
                covered.add((j, n.index))
            elif kind == "input":
                edges.append((n_nodes + j, n.index, f"0:{dst_slot}"))
                covered.add((n_nodes + j, n.index))
    for u, v in graph.edges:  # subgraph captures (If/Loop/Scan bodies reading outer tensors)
        if (u, v) not in covered:
            edges.append((u, v, "capture"))
    for j, v in graph.input_edges:
        if (n_nodes + j, v) not in covered:
            edges.append((n_nodes + j, v, "capture"))
    out0 = n_nodes + len(graph.inputs)
    for k, (kind, j, port) in enumerate(graph.output_sources):
        if kind == "node":
            edges.append((j, out0 + k, f"{port}:0"))
        elif kind == "input":
            edges.append((n_nodes + j, out0 + k, "0:0"))

    ins: list[list[tuple[str, int]]] = [[] for _ in labels]
    outs: list[list[tuple[str, int]]] = [[] for _ in labels]
    for u, v, el in edges:
        ins[v].append((el, u))
        outs[u].append((el, v))
    n_classes = len(set(labels))
    for _ in range(len(labels)):
        new = [
            _h(labels[v] + "|" + ",".join(sorted(el + ":" + labels[u] for el, u in ins[v]))
               + "|" + ",".join(sorted(el + ":" + labels[w] for el, w in outs[v])))
            for v in range(len(labels))
        ]
        k = len(set(new))
        labels = new
        if k == n_classes:
            break
        n_classes = k
    final = json.dumps([ARCH_ID_VERSION, sorted(labels),
                        sorted([labels[u], labels[v], el] for u, v, el in edges)])
    return _h(final)
