"""The NAS-Bench-101 cell space: validation, pruning and the official module hash.

A cell is a DAG on at most 7 vertices given by an upper-triangular 0/1 adjacency matrix
and one label per vertex: ``input`` first, ``output`` last, and in between one of
``conv3x3-bn-relu``, ``conv1x1-bn-relu``, ``maxpool3x3``; at most 9 edges
(Ying et al., ICML 2019; ``google-research/nasbench`` ``lib/model_spec.py``).

The benchmark keys every cell by a 32-hex *module hash* (``lib/graph_util.py``
``hash_module``), an iterated Weisfeiler-Lehman-style MD5 over the *pruned* graph, so
isomorphic cells share a key. Pruning (``ModelSpec._prune``) removes every vertex that is
not on some input→output path. :func:`module_hash` reproduces the upstream hash; the tests
check it against every key of two published hash→graph tables.

NASLib (and NAS-Bench-Suite-Zero files derived from it) writes a cell as one flat tuple:
the full ``n x n`` matrix row-major followed by ``n`` op indices into
``("input", "output", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")``
(``naslib/search_spaces/nasbench101/conversions.py``: ``convert_spec_to_tuple``). NASLib pads
cells with fewer than 7 vertices to 7 with isolated vertices; pruning removes them again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: Op labels allowed on inner vertices, in the order the module hash indexes them.
CANONICAL_OPS = (CONV3X3, CONV1X1, MAXPOOL3X3)
#: NASLib's op index order for its flat tuple encoding.
NASLIB_OPS = (INPUT, OUTPUT, MAXPOOL3X3, CONV1X1, CONV3X3)
MAX_VERTICES = 7
MAX_EDGES = 9


@dataclass(frozen=True)
class Cell:
    """A validated (and, from :func:`prune`, pruned) NB101 cell."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def n_vertices(self) -> int:
        return len(self.ops)

    @property
    def n_edges(self) -> int:
        return int(sum(map(sum, self.matrix)))

    def adjacency_str(self) -> str:
        """The upstream ``raw_adjacency`` form: row-major '0'/'1' string of length V*V."""
        return "".join(str(v) for row in self.matrix for v in row)

    def ops_str(self) -> str:
        """The upstream ``raw_operations`` form: comma-joined labels."""
        return ",".join(self.ops)


def _rows(matrix) -> list[list[int]]:
    """The matrix as a list of int rows; square and 0/1 or ValueError."""
    if isinstance(matrix, np.ndarray):
        matrix = matrix.tolist()
    try:
        rows = [[int(x) for x in row] for row in matrix]
    except (TypeError, ValueError):
        raise ValueError("adjacency matrix must be a square array of 0/1") from None
    n = len(rows)
    if any(len(row) != n for row in rows):
        raise ValueError(f"adjacency matrix must be square, got {n} rows of lengths {sorted({len(r) for r in rows})}")
    if any(x not in (0, 1) for row in rows for x in row):
        raise ValueError("adjacency matrix must contain only 0 and 1")
    return rows


def check(matrix, ops) -> None:
    """Raise ValueError unless (matrix, ops) is a well-formed NB101 cell (before pruning)."""
    _check(_rows(matrix), list(ops))


def _check(rows: list[list[int]], ops: list[str]) -> None:
    n = len(rows)
    if not 2 <= n <= MAX_VERTICES:
        raise ValueError(f"a cell has 2..{MAX_VERTICES} vertices, got {n}")
    if len(ops) != n:
        raise ValueError(f"{n} vertices but {len(ops)} op labels")
    if any(rows[i][j] for i in range(n) for j in range(i + 1)):
        raise ValueError("adjacency matrix must be strictly upper triangular")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"first op must be {INPUT!r} and last {OUTPUT!r}, got {ops[0]!r} ... {ops[-1]!r}")
    bad = [op for op in ops[1:-1] if op not in CANONICAL_OPS]
    if bad:
        raise ValueError(f"unknown op label(s) {bad}; expected one of {CANONICAL_OPS}")


def prune(matrix, ops) -> Cell:
    """Drop vertices not on an input→output path (upstream ``ModelSpec._prune``).

    Raises ValueError when the input is not connected to the output, or when the pruned
    cell has more than 9 edges (such cells are not in the benchmark).
    """
    m = _rows(matrix)
    ops = list(ops)
    _check(m, ops)
    n = len(m)
    from_input = {0}
    frontier = [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if m[top][v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    to_output = {n - 1}
    frontier = [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(top):
            if m[v][top] and v not in to_output:
                to_output.add(v)
                frontier.append(v)
    keep = sorted(from_input & to_output)
    if 0 not in keep or n - 1 not in keep:
        raise ValueError("the input vertex is not connected to the output vertex")
    cell = Cell(tuple(tuple(m[i][j] for j in keep) for i in keep), tuple(ops[i] for i in keep))
    if cell.n_edges > MAX_EDGES:
        raise ValueError(f"{cell.n_edges} edges after pruning; NAS-Bench-101 allows at most {MAX_EDGES}")
    return cell


def labeling(ops) -> list[int]:
    """Integer labels used by the hash: input -1, output -2, inner ops index ``CANONICAL_OPS``."""
    ops = list(ops)
    return [-1] + [CANONICAL_OPS.index(op) for op in ops[1:-1]] + [-2]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def hash_graph(matrix, labels) -> str:
    """The upstream ``graph_util.hash_module`` of a (pruned) matrix and integer labels."""
    rows = _rows(matrix)
    n = len(rows)
    labels = [int(x) for x in labels]
    if len(labels) != n:
        raise ValueError(f"{n} vertices but {len(labels)} labels")
    ins = [[w for w in range(n) if rows[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if rows[v][w]] for v in range(n)]
    md5 = hashlib.md5
    hashes = [md5(str((len(outs[v]), len(ins[v]), labels[v])).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        hashes = [
            md5(("".join(sorted([hashes[w] for w in ins[v]])) + "|"
                 + "".join(sorted([hashes[w] for w in outs[v]])) + "|" + hashes[v]).encode()).hexdigest()
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def module_hash(matrix, ops) -> str:
    """The NB101 module hash of a cell: prune, then hash (``ModelSpec.hash_spec``)."""
    cell = prune(matrix, ops)
    return hash_graph(cell.matrix, labeling(cell.ops))


def cell_hash(cell: Cell) -> str:
    """Module hash of an already pruned :class:`Cell`."""
    return hash_graph(cell.matrix, labeling(cell.ops))


def from_naslib_tuple(values) -> tuple[np.ndarray, list[str]]:
    """(matrix, ops) of a NASLib flat tuple (``n*n`` matrix entries then ``n`` op indices)."""
    values = [int(v) for v in values]
    length = len(values)
    n = round((-1 + (1 + 4 * length) ** 0.5) / 2)
    if n * n + n != length or n < 2:
        raise ValueError(f"a NASLib NB101 tuple has n*n + n entries, got {length}")
    matrix = np.array(values[: n * n], dtype=np.int64).reshape(n, n)
    idx = values[n * n:]
    if any(not 0 <= i < len(NASLIB_OPS) for i in idx):
        raise ValueError(f"op indices must be in 0..{len(NASLIB_OPS) - 1}, got {idx}")
    return matrix, [NASLIB_OPS[i] for i in idx]


def parse_tuple_text(text: str) -> tuple[int, ...]:
    """``"(0, 1, ...)"`` → a tuple of ints."""
    body = text.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"not a tuple: {text[:40]!r}")
    inner = body[1:-1].strip().rstrip(",")
    try:
        return tuple(map(int, inner.split(","))) if inner else ()
    except ValueError:
        raise ValueError(f"not a tuple of integers: {text[:40]!r}") from None


def from_adjacency_str(raw_adjacency: str, raw_operations: str) -> tuple[np.ndarray, list[str]]:
    """(matrix, ops) from the upstream tfrecord fields (row-major '0'/'1' string, comma-joined labels)."""
    n = round(len(raw_adjacency) ** 0.5)
    if n * n != len(raw_adjacency) or set(raw_adjacency) - {"0", "1"}:
        raise ValueError(f"raw adjacency must be a '0'/'1' string of square length, got {raw_adjacency[:60]!r}")
    matrix = np.array([int(c) for c in raw_adjacency], dtype=np.int64).reshape(n, n)
    return matrix, raw_operations.split(",")
