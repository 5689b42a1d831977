"""Text encoder: an ONNX-Net-style, deterministic textual description of an ArchGraph.

Grammar (one line per op node in the graph's topological order, then one per output)::

    text     := node_line* output_line*                  (lines joined by "\\n")
    node_line:= "n" INDEX " " OP_TYPE attr* shape " <- " sources
    attr     := " k" KH ["x" KW]       kernel, when the op has one (attribute or weight shape)
              | " s" STRIDE            largest stride, when not 1
              | " d" DILATION          largest dilation, when not 1
              | " g" GROUPS | " dw"    grouped / depthwise convolution
    shape    := " c" CIN "->" COUT [" hw" H ["x" W]] [" l" LEN]
                  channels (dim 1 of NCHW, last dim of 2-D and 3-D tensors) of the first data input
                  and the first output; spatial size of 4-D outputs, sequence length of 3-D ones;
                  "?" for an unknown dimension; the whole shape is " c?" when the rank is unknown
    sources  := source ("," source)* | "-"
    source   := "n" INDEX              output of an earlier node
              | "in" K                 data input K of the graph
                  (weights and constants are not listed; "-" when a node reads only constants)
    output_line := "out" K " <- " source

Example (the first three nodes of an NB201 network)::

    n0 Conv k3 c3->16 hw32 <- in0
    n1 BatchNormalization c16->16 hw32 <- n0
    n2 Relu c16->16 hw32 <- n1

The text depends only on the graph (names and metadata never appear), so it is deterministic;
:meth:`TextEncoder.transform` returns one ``str`` per graph. :func:`tokenize` splits a text into
lines of tokens for the text surrogate (``nabench.predictors.text``).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin

from nabench.errors import NabenchError
from nabench.graph import ArchGraph

_CONV_CATEGORIES = ("conv", "depthwise_conv", "group_conv", "conv_transpose")
_SUBTOKEN = re.compile(r"->|[a-zA-Z?]+|[0-9]+|x|,|<-|-")


class TextEncoderError(NabenchError):
    """Input the text encoder cannot use."""


def _dim(d) -> str:
    return "?" if d is None else str(int(d))


def _channels(shape) -> str:
    if shape is None or len(shape) < 2:
        return "?"
    return _dim(shape[1] if len(shape) >= 4 else shape[-1])


def _shape_text(in_shape, out_shape) -> str:
    if out_shape is None:
        return " c?"
    text = f" c{_channels(in_shape) if in_shape is not None else _channels(out_shape)}->{_channels(out_shape)}"
    if len(out_shape) >= 4:
        h, w = out_shape[2], out_shape[3]
        text += f" hw{_dim(h)}" + ("" if h == w else f"x{_dim(w)}")
    elif len(out_shape) == 3:
        text += f" l{_dim(out_shape[1])}"
    return text


def _attr_text(node) -> str:
    a = node.attrs
    kernel = a.get("kernel_shape")
    if not (isinstance(kernel, list) and kernel) and node.category in _CONV_CATEGORIES:
        w = node.const_inputs.get(1)
        kernel = list(w[2:]) if w and len(w) > 2 and None not in w else None
    parts = []
    if isinstance(kernel, list) and kernel:
        kh, kw = int(kernel[0]), int(kernel[-1])
        parts.append(f" k{kh}" + ("" if kh == kw else f"x{kw}"))
    for key, tag in (("strides", "s"), ("dilations", "d")):
        v = a.get(key)
        if isinstance(v, list) and v and max(v) != 1:
            parts.append(f" {tag}{int(max(v))}")
    if node.category == "depthwise_conv":
        parts.append(" dw")
    elif isinstance(a.get("group"), int) and a["group"] > 1:
        parts.append(f" g{a['group']}")
    return "".join(parts)


def _source_text(src) -> str | None:
    kind, j, _ = src
    if kind == "node":
        return f"n{j}"
    if kind == "input":
        return f"in{j}"
    return None


def graph_text(g: ArchGraph) -> str:
    """The text of one graph (see the module docstring for the grammar)."""
    lines = []
    for n in g.nodes:
        srcs = [s for s in (_source_text(src) for src in n.sources) if s is not None]
        in_shape = next((s for s, src in zip(n.input_shapes, n.sources) if src[0] in ("node", "input")), None)
        out_shape = n.output_shapes[0] if n.output_shapes else None
        lines.append(f"n{n.index} {n.op_type}{_attr_text(n)}{_shape_text(in_shape, out_shape)} <- "
                     + (",".join(srcs) or "-"))
    for k, src in enumerate(g.output_sources):
        lines.append(f"out{k} <- {_source_text(src) or '-'}")
    return "\n".join(lines)


def tokenize(text: str, max_offset: int = 64) -> list[list[str]]:
    """Lines of tokens: the leading line id is dropped, ``n<j>`` sources become relative offsets.

    ``n8`` read on line ``n12`` becomes ``@4`` (``@far`` beyond ``max_offset``); shape fields are
    split into sub-tokens (``c16->32`` → ``c``, ``16``, ``->``, ``32``); op types stay whole.
    """
    out = []
    for i, line in enumerate(text.split("\n")):
        head, _, sources = line.partition(" <- ")
        fields = head.split(" ")
        toks = ["out"] if fields[0].startswith("out") else ["node", fields[1]]
        for f in fields[2:]:
            toks.extend(_SUBTOKEN.findall(f))
        toks.append("<-")
        for s in sources.split(","):
            if s.startswith("n") and s[1:].isdigit():
                off = i - int(s[1:])
                toks.append(f"@{off}" if 0 < off <= max_offset else "@far")
            else:
                toks.append(s)
        out.append(toks)
    return out


#: token lines per live ArchGraph (keyed by id, dropped with the graph)
_TOKENS: dict[tuple[int, int], tuple] = {}


def graph_tokens(g: ArchGraph, max_offset: int = 64) -> list[list[str]]:
    """``tokenize(graph_text(g), max_offset)``, computed once per graph object while it lives
    (benchmarks encode the same graphs for many fits); treat the result as read-only."""
    key = (id(g), max_offset)
    hit = _TOKENS.get(key)
    if hit is not None and hit[0]() is g:
        return hit[1]
    lines = tokenize(graph_text(g), max_offset)
    _TOKENS[key] = (weakref.ref(g, lambda _, k=key: _TOKENS.pop(k, None)), lines)
    return lines


class TextEncoder(TransformerMixin, BaseEstimator):
    """ArchGraphs → their textual descriptions (stateless; ``fit`` only checks its input)."""

    def fit(self, graphs: Sequence, y: Any = None) -> TextEncoder:
        _check(graphs)
        self.fitted_ = True
        return self

    def transform(self, graphs: Sequence) -> list[str]:
        return [graph_text(g) for g in _check(graphs)]


def _check(graphs: Sequence) -> list[ArchGraph]:
    if isinstance(graphs, ArchGraph):
        raise TextEncoderError("pass a list of ArchGraph, not a single graph")
    graphs = list(graphs)
    for i, g in enumerate(graphs):
        if not isinstance(g, ArchGraph):
            raise TextEncoderError(f"item {i} is a {type(g).__name__}, not an ArchGraph")
    return graphs
