"""``TabularEncoder``: ArchGraph list → 2-D float array with named features, for any search space.

Everything is computed from the ONNX-derived :class:`~nabench.graph.ArchGraph` (never a space's
native encoding), so the same columns mean the same thing in every corpus. Feature groups
(``groups=``; column names start with the group):

``global``
    nodes, edges, depth, width (most nodes on one longest-path level), log params, log FLOPs, and
    the same params/FLOPs/node counts restricted to *live* nodes.
``category``
    node counts per op category (the fixed :data:`~nabench.graph.CATEGORIES` vocabulary), over all
    nodes and over live nodes.
``op``
    node counts per op token over live nodes; a token is the op type plus its shape-relevant
    attributes (``Conv.k3x3.s1``, ``AveragePool.k3x3.s1``, ``Mul.scalar`` for an elementwise op
    with a one-element constant operand). Vocabulary learned in ``fit``.
``shape``
    statistics of the weighted ops (conv, linear, matmul, attention, recurrent): log2 output
    channels (mean/min/max), log2 output spatial size (mean/min), strided ops, largest channel
    expansion, kernel size mean/max, params and FLOPs share of the largest layer.
``path``
    statistics of the data-input → output paths, by dynamic programming over the DAG (path counts
    in log space, so they never overflow): the number of paths, and the mean / std / min / max
    over paths of (a) the number of weighted ops on the path and (b) the summed kernel extent
    (``k - 1`` per conv or pool, a receptive-field proxy). Computed twice: over all paths and
    over *clean* paths, which avoid elementwise ops with a scalar constant operand (``x * c``:
    a scaled or zeroed branch, e.g. NAS-Bench-201's ``none`` edge, is not a signal path).
``ngram``
    counts of op-token chains of length 2..``max_ngram`` along the live graph with activations,
    norms, dropout and shape-only ops contracted away (``Conv.k3x3.s1>Add``). Vocabulary learned
    in ``fit``: chains found in at least ``min_df`` fitted graphs, the ``max_ngrams`` most common.

*Live* nodes lie on some path from a data input to a graph output (dead branches — results no
output depends on — are excluded); *clean-live* nodes lie on a clean path.

``extra``: an optional DataFrame indexed by arch id (zero-cost proxy scores, learning-curve
points, ...); its numeric columns are appended as ``extra__<column>``, looked up by
``graph.metadata["arch_id"]`` (or :func:`~nabench.graph.arch_id` of the graph); a graph without a
row gets NaN there (tree models handle it).

How it is computed: graphs are encoded in batches of up to :data:`BATCH_GRAPHS`. One Python pass
reads each node's facts (category, token, kernel extent, weighted-op shape statistics), memoized
by the node fields they depend on, so repeated layers cost a dictionary lookup; everything else is
numpy over the batch's disjoint union of graphs: liveness by breadth-first search
(:mod:`scipy.sparse.csgraph`), the path dynamic programs one topological level at a time for all
graphs of the batch together, n-grams by joining edge lists, per-graph statistics by grouped
reductions.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain, pairwise
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from nabench.errors import NabenchError
from nabench.graph import CATEGORIES, ArchGraph

GROUPS = ("global", "category", "op", "shape", "path", "ngram")
#: categories whose nodes carry the architecture's learned computation
WEIGHTED = frozenset({"conv", "depthwise_conv", "group_conv", "conv_transpose", "linear", "matmul",
                      "attention", "recurrent", "embedding"})
#: categories contracted away in n-gram chains (they follow or precede the op they belong to)
TRANSPARENT = frozenset({"activation", "norm", "dropout", "reshape", "shape", "quantize"})
_SPATIAL = frozenset({"conv", "depthwise_conv", "group_conv", "conv_transpose", "pool"})
_PATH_STATS = ("log_paths", "mean", "std", "min", "max")
_GLOBAL = ("nodes", "edges", "depth", "width", "log_params", "log_flops", "live_nodes", "dead_nodes",
           "clean_nodes", "log_live_params", "log_clean_params", "log_clean_flops")
_SHAPE = ("weighted_ops", "log2_channels_mean", "log2_channels_min", "log2_channels_max", "log2_spatial_mean",
          "log2_spatial_min", "strided_ops", "max_expansion", "kernel_mean", "kernel_max", "max_params_share",
          "max_flops_share")
#: graphs encoded together (the numpy work is vectorized over a batch) and the batch's node cap
BATCH_GRAPHS = 1024
BATCH_NODES = 400_000


_CACHE: dict | None = None


@contextmanager
def feature_cache() -> Iterator[dict]:
    """Within the block, per-graph features are memoized by ``graph.metadata["arch_id"]``.

    For benchmarks that encode the same graphs many times (many seeds and predictors). Graphs
    without an ``arch_id`` in their metadata are always recomputed. Nested blocks share one cache.
    """
    global _CACHE
    outer = _CACHE
    if outer is None:
        _CACHE = {}
    try:
        yield _CACHE
    finally:
        if outer is None:
            _CACHE = None


class EncoderError(NabenchError):
    """Bad input to an encoder (not ArchGraphs, unknown group, transform before fit, ...)."""


# --------------------------------------------------------------------------------------------
# Per-node facts
# --------------------------------------------------------------------------------------------

def _is_scalar_shape(shape) -> bool:
    return shape is not None and all(d == 1 for d in shape if d is not None) and None not in shape


def _kernel(node) -> list[int] | None:
    """Kernel size of a spatial op: ``kernel_shape``, or the conv weight's spatial dims."""
    k = node.attrs.get("kernel_shape")
    if k is None and node.category != "pool" and 1 in node.const_inputs:
        w = node.const_inputs[1]
        k = list(w[2:]) if w is not None and len(w) > 2 else None
    return k


def node_token(node) -> str:
    """The op token of a node: op type plus kernel/stride for spatial ops, ``.scalar`` for ``x * c``."""
    if node.category in _SPATIAL:
        k = _kernel(node)
        s = node.attrs.get("strides") or [1] * len(k or [])
        ks = "x".join(str(int(v)) for v in k) if k else "?"
        return f"{node.op_type}.k{ks}.s{max(s) if s else 1}"
    if node.category == "elementwise" and any(_is_scalar_shape(s) for s in node.const_inputs.values()):
        return f"{node.op_type}.scalar"
    return node.op_type


def _kernel_extent(node) -> int:
    """``k - 1`` for a spatial op of kernel size ``k`` (its receptive-field growth), else 0."""
    k = _kernel(node) if node.category in _SPATIAL else None
    return int(max(k) - 1) if k else 0


def _weighted_shape(node) -> tuple[float, float, float, float]:
    """log2 output channels, log2 output spatial size, channel expansion (NaN where a shape is
    unknown) and 1.0 if the op is strided, for a weighted op."""
    out = node.output_shapes[0] if node.output_shapes else None
    inp = node.input_shapes[0] if node.input_shapes else None
    ch = sp = expand = math.nan
    if out is not None and len(out) >= 2 and out[1]:
        ch = math.log2(out[-1] if node.category in ("linear", "matmul") else out[1])
        if len(out) > 2 and all(out[2:]):
            sp = math.log2(math.prod(out[2:]))
    if inp is not None and out is not None and len(inp) >= 2 and len(out) >= 2 and inp[1] and out[1]:
        expand = out[1] / inp[1]
    return ch, sp, expand, float(any(v > 1 for v in node.attrs.get("strides") or []))


class _Interner:
    """Process-wide string ↔ integer id table (op tokens, n-gram strings); ids never change."""

    def __init__(self):
        self.items: list[str] = []
        self.index: dict[str, int] = {}
        self._lock = threading.Lock()

    def id(self, item: str) -> int:
        i = self.index.get(item)
        if i is None:
            with self._lock:
                i = self.index.get(item)
                if i is None:
                    i = self.index[item] = len(self.items)
                    self.items.append(item)
        return i


_TOKENS = _Interner()
_GRAMS = _Interner()
_CATEGORY_CODE = {c: i for i, c in enumerate(CATEGORIES)}  # unknown categories: len(CATEGORIES)
_N_CODES = len(CATEGORIES) + 1
_IS_WEIGHTED = np.array([c in WEIGHTED for c in CATEGORIES] + [False])
_IS_TRANSPARENT = np.array([c in TRANSPARENT for c in CATEGORIES] + [False])
_SHAPED = _SPATIAL | WEIGHTED


class _NodeFacts:
    """Memo of what the features read from one node: a row (category code, token id, kernel
    extent, log2 channels, log2 spatial size, expansion, strided) per distinct node key."""

    COLUMNS = 7

    def __init__(self):
        self.index: dict = {}
        self.rows: list[tuple] = []
        self._table = np.zeros((0, self.COLUMNS))
        self._lock = threading.Lock()

    @staticmethod
    def describe(node) -> tuple:
        cat = node.category
        shape = _weighted_shape(node) if cat in WEIGHTED else (math.nan, math.nan, math.nan, 0.0)
        return (_CATEGORY_CODE.get(cat, len(CATEGORIES)), _TOKENS.id(node_token(node)), _kernel_extent(node), *shape)

    def add(self, key, node) -> int:
        row = self.describe(node)
        with self._lock:
            i = self.index.get(key) if key is not None else None
            if i is None:
                i = len(self.rows)
                self.rows.append(row)
                if key is not None:
                    self.index[key] = i
        return i

    def read(self, nodes: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row id, params and FLOPs of every node, in one pass (reading the nodes is most of the
        cost). The memo key holds exactly the fields :meth:`describe` reads."""
        get, ids, params, flops = self.index.get, [], [], []
        add_id, add_params, add_flops = ids.append, params.append, flops.append
        for nd in nodes:
            c = nd.category
            add_params(nd.params)
            add_flops(nd.flops)
            try:
                if c in _SHAPED:
                    a = nd.attrs
                    k, s = a.get("kernel_shape"), a.get("strides")
                    key = (nd.op_type, c, tuple(k) if k is not None else ("w", tuple(nd.const_inputs.items())),
                           tuple(s) if s is not None else None, nd.input_shapes[0] if nd.input_shapes else None,
                           nd.output_shapes[0] if nd.output_shapes else None)
                elif c == "elementwise":
                    key = (nd.op_type, c, tuple(nd.const_inputs.values()))
                else:
                    key = (nd.op_type, c)
                i = get(key)
            except TypeError:  # an unhashable attribute value: described, not memoized
                key = i = None
            add_id(self.add(key, nd) if i is None else i)
        return np.array(ids, dtype=np.intp), np.array(params, dtype=np.float64), np.array(flops, dtype=np.float64)

    def table(self) -> np.ndarray:
        with self._lock:
            if len(self._table) != len(self.rows):
                self._table = np.array(self.rows, dtype=np.float64).reshape(-1, self.COLUMNS)
            return self._table


_FACTS = _NodeFacts()


def fixed_feature_names(want: frozenset) -> list[str]:
    """Names of the fixed (not learned) features of the groups in ``want``, in column order."""
    names = []
    if "global" in want:
        names += [f"global__{k}" for k in _GLOBAL]
    if "category" in want:
        names += [n for c in CATEGORIES for n in (f"category__{c}", f"category__clean_{c}")]
    if "shape" in want:
        names += [f"shape__{k}" for k in _SHAPE]
    if "path" in want:
        names += [f"path__{tag}_{what}_{k}" for tag in ("all", "clean") for what in ("weighted", "extent")
                  for k in _PATH_STATS]
    return names


class _Raw(NamedTuple):
    """One graph's features before the learned vocabularies: fixed features (in
    :func:`fixed_feature_names` order), live op-token counts and n-gram counts (interned ids)."""

    fixed: np.ndarray
    token_ids: np.ndarray
    token_counts: np.ndarray
    gram_ids: np.ndarray
    gram_counts: np.ndarray


# --------------------------------------------------------------------------------------------
# A batch of graphs as one disjoint union
# --------------------------------------------------------------------------------------------

def _unique(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct ``keys``, the count (or summed ``weights``) of each, and each key's index
    into them. By sorting: numpy's hash-based ``np.unique`` is far slower on these keys."""
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    first = np.ones(len(ks), bool)
    np.not_equal(ks[1:], ks[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    inverse = np.empty(len(ks), np.intp)
    inverse[order] = np.cumsum(first) - 1
    if weights is None:
        sums = np.diff(np.append(starts, len(ks)))
    else:
        sums = np.add.reduceat(weights[order], starts) if len(ks) else np.zeros(0)
    return ks[starts], sums, inverse


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct ``keys``."""
    ks = np.sort(keys)
    return ks[np.append(True, ks[1:] != ks[:-1])] if len(ks) else ks


def _csr(keys: np.ndarray, n: int) -> np.ndarray:
    """Row pointers of sorted ``keys`` in ``range(n)``."""
    ptr = np.zeros(n + 1, np.intp)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr


def _expand(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For CSR row pointers ``ptr``: (index into ``rows``, entry position) of every entry of the
    listed rows."""
    counts = ptr[rows + 1] - ptr[rows]
    rep = np.repeat(np.arange(len(rows)), counts)
    ends = np.cumsum(counts)
    return rep, ptr[rows][rep] + np.arange(int(ends[-1]) if len(ends) else 0) - (ends - counts)[rep]


class _Batch:
    """Node and edge arrays of several graphs (node ``i`` of graph ``k`` is ``offsets[k] + i``)."""

    def __init__(self, graphs: Sequence[ArchGraph]):
        self.G = G = len(graphs)
        self.sizes = sizes = np.fromiter((len(g.nodes) for g in graphs), np.intp, G)
        self.offsets = off = np.zeros(G + 1, np.intp)
        np.cumsum(sizes, out=off[1:])
        self.T = T = int(off[-1])
        self.graph = np.repeat(np.arange(G), sizes)
        ids, self.params, self.flops = _FACTS.read(list(chain.from_iterable(g.nodes for g in graphs)))
        facts = _FACTS.table()[ids]  # after read(): it adds the rows of new kinds of node
        self.category = facts[:, 0].astype(np.intp)
        self.token = facts[:, 1].astype(np.intp)
        self.extent = facts[:, 2]
        self.shape_facts = facts[:, 3:]
        self.weighted = _IS_WEIGHTED[self.category]
        self.blocked = np.array([t.endswith(".scalar") for t in _TOKENS.items], bool)[self.token]

        self.n_edges = np.fromiter((len(g.edges) for g in graphs), np.intp, G)
        src, dst = self._pairs([g.edges for g in graphs], self.n_edges)
        if np.any(src >= dst):
            g = graphs[int(self.graph[src[np.argmax(src >= dst)]])]
            name = g.metadata.get("native_id") or g.metadata.get("arch_id") or "without an id"
            raise EncoderError(f"graph {name}: an edge goes from a node to an earlier one (nodes must be in "
                               "topological order, as from_onnx lists them)")
        if np.any(src[1:] < src[:-1]):
            o = np.lexsort((dst, src))
            src, dst = src[o], dst[o]
        self.src, self.dst = src, dst
        n_in = np.fromiter((len(g.input_edges) for g in graphs), np.intp, G)
        n_out = np.fromiter((len(g.output_edges) for g in graphs), np.intp, G)
        self.sources = _distinct(self._pairs([g.input_edges for g in graphs], n_in, (False, True))[1])
        self.sinks = _distinct(self._pairs([g.output_edges for g in graphs], n_out, (True, False))[0])
        self.is_source = np.zeros(T, bool)
        self.is_source[self.sources] = True
        self.level = self._levels()

    def _pairs(self, lists, counts, with_offset=(True, True)) -> tuple[np.ndarray, np.ndarray]:
        """The two columns of per-graph lists of pairs, each shifted to batch node ids if asked."""
        columns = [[], []]
        for pairs in lists:
            if pairs:
                for column, values in zip(columns, zip(*pairs)):  # zip(*) is the fast way to read tuples
                    column.append(values)
        n, shift = int(counts.sum()), np.repeat(self.offsets[:-1], counts)
        return tuple(np.fromiter(chain.from_iterable(column), np.intp, n) + (shift if offset else 0)
                     for column, offset in zip(columns, with_offset))

    def _levels(self) -> np.ndarray:
        """Longest-path level of each node (1: no predecessors). A plain loop over the edges, sorted
        by tail: for whole batches it costs about what a vectorized peel would, for one graph far less."""
        level = [1] * self.T
        for a, b in zip(self.src.tolist(), self.dst.tolist()):
            if level[a] >= level[b]:
                level[b] = level[a] + 1
        return np.array(level, dtype=np.intp)

    def liveness(self) -> tuple[np.ndarray, np.ndarray]:
        """(live, clean-live): the nodes on some data-input → output path, and on some such path
        through non-blocked nodes. One breadth-first search over four copies of the batch's graph
        (forward and backward, over all nodes and over non-blocked ones), from an extra node linked
        to each copy's start nodes (inputs' consumers forward, outputs' producers backward)."""
        from scipy.sparse import csr_array
        from scipy.sparse.csgraph import breadth_first_order

        T, ok = self.T, ~self.blocked
        rows, cols = [], []
        for k, (a, b, starts, mask) in enumerate(((self.src, self.dst, self.sources, None),
                                                   (self.src, self.dst, self.sources, ok),
                                                   (self.dst, self.src, self.sinks, None),
                                                   (self.dst, self.src, self.sinks, ok))):
            if mask is not None:
                a, b, starts = a[mask[a] & mask[b]], b[mask[a] & mask[b]], starts[mask[starts]]
            rows += [a + k * T, np.full(len(starts), 4 * T)]
            cols += [b + k * T, starts + k * T]
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        graph = csr_array((np.ones(len(rows)), (rows, cols)), shape=(4 * T + 1, 4 * T + 1))
        seen = np.zeros(4 * T + 1, bool)
        seen[breadth_first_order(graph, 4 * T, directed=True, return_predecessors=False)] = True
        forward, forward_ok, backward, backward_ok = seen[:-1].reshape(4, T)
        return forward & backward, forward_ok & backward_ok

    def per_graph(self, mask: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
        """Per-graph count of ``mask`` nodes (or sum of ``values`` over them)."""
        return np.bincount(self.graph[mask], None if values is None else values[mask], minlength=self.G)


def _grouped(group: np.ndarray, values: np.ndarray, n: int, fn: np.ufunc, empty: float) -> np.ndarray:
    """``fn``-reduction (``np.minimum`` / ``np.maximum``) of ``values`` per group, ``empty`` where none."""
    out = np.full(n, np.inf if fn is np.minimum else -np.inf)
    fn.at(out, group, values)
    out[np.isinf(out)] = empty
    return out


# Rows of the path dynamic program's state (masks: all, clean; costs: weighted ops, kernel extent):
# log #paths per mask; per mask (min, -max) per cost; per mask (mean, mean square) per cost.
_LN, _MM, _MS, _ROWS = slice(0, 2), slice(2, 10), slice(10, 18), 18


def _path_stats(b: _Batch) -> np.ndarray:
    """``[G, 2, 2, 5]``: per graph, mask (all, clean), cost (weighted ops, kernel extent): log(#paths)
    and the mean / std / min / max of the summed cost over the input→output paths.

    The dynamic program of the definition: per node, the log number of paths from a data input to
    it (over nodes the mask allows), the mean and mean square of their cost (weighted by relative
    path counts, so nothing overflows) and the min / max cost (kept as min and -max, so one
    ``minimum`` serves both). It runs one longest-path level at a time for all graphs of the batch,
    on a state whose columns are the nodes in level order, so a level is one contiguous slice: first
    its nodes with a single predecessor (not data inputs: the state of the predecessor plus the
    node's cost, exactly what the general update gives), then the others, whose predecessors are
    gathered through a padded ``[in-degree, nodes]`` index (padding points at an extra, unreachable
    column). A path may start at a data input's consumer and end at any graph output.
    """
    T, G = b.T, b.G
    indegree = np.bincount(b.dst, minlength=T)
    single = (indegree == 1) & ~b.is_source
    order = np.lexsort((~single, b.level))
    rank = np.empty(T, np.intp)
    rank[order] = np.arange(T)
    ok = np.stack([np.ones(T, bool), ~b.blocked[order]])  # [mask, node]
    start = b.is_source[order] & ok
    start_ln = np.where(start, 0.0, -np.inf)
    penalty = np.where(ok, 0.0, np.inf)  # [mask, node]
    cost = np.stack([b.weighted[order].astype(np.float64), b.extent[order]])  # [cost, node]
    twice, squared = 2 * cost, cost * cost
    mm_start = np.repeat(np.where(start, 0.0, np.inf), 4, axis=0)  # [(mask, 4), node]
    # what a node adds to the min / -max of its predecessors, and to the log #paths (-inf if masked)
    shift = np.concatenate([-penalty, (np.concatenate([cost, -cost])[None] + penalty[:, None]).reshape(8, T)])
    state = np.empty((_ROWS, T + 1))
    state[_LN], state[_MM], state[_MS] = -np.inf, np.inf, 0.0
    ms = state[_MS].reshape(2, 4, T + 1)  # a view: [mask, (mean, mean square) x cost, node]

    by_head = np.argsort(rank[b.dst], kind="stable")  # edges grouped by head in level order,
    head, tail = rank[b.dst[by_head]], rank[b.src[by_head]]  # tails ascending within a head
    first_edge = np.zeros(T + 1, np.intp)
    np.cumsum(indegree[order], out=first_edge[1:])
    slot = np.arange(len(head)) - first_edge[head]  # position among the head's predecessors
    n_levels = int(b.level.max(initial=0)) + 1
    level_start = np.zeros(n_levels + 1, np.intp)
    np.cumsum(np.bincount(b.level, minlength=n_levels), out=level_start[1:])
    level_mid = level_start[:-1] + np.bincount(b.level[single], minlength=n_levels)

    with np.errstate(divide="ignore"):
        if T:
            n = slice(level_start[1], level_start[2])  # no predecessors
            state[_LN, n] = start_ln[:, n]
            state[_MM, n] = mm_start[:, n] + shift[_MM, n]
            ms[:, :, n] = np.concatenate([cost[:, n], squared[:, n]])
        for lo, mid, hi in zip(level_start[2:-1].tolist(), level_mid[2:].tolist(), level_start[3:].tolist()):
            if mid > lo:
                n = slice(lo, mid)
                prev = state.take(tail[first_edge[lo:mid]], axis=1)
                state[:10, n] = prev[:10] + shift[:, n]
                m = prev[_MS].reshape(2, 4, -1)
                ms[:, :2, n] = m[:, :2] + cost[:, n]
                ms[:, 2:, n] = m[:, 2:] + twice[:, n] * m[:, :2] + squared[:, n]
            if hi > mid:
                n, e = slice(mid, hi), slice(first_edge[mid], first_edge[hi])
                preds = np.full((int(slot[e].max()) + 1, hi - mid), T)
                preds[slot[e], head[e] - mid] = tail[e]
                rows = [state.take(p, axis=1) for p in preds]
                top, low = start_ln[:, n].copy(), mm_start[:, n].copy()
                for r in rows:
                    np.maximum(top, r[_LN], out=top)
                    np.minimum(low, r[_MM], out=low)
                top[top == -np.inf] = 0.0
                total = acc = 0.0
                for r in rows:
                    w = np.exp(r[_LN] - top)
                    total = total + w
                    acc = acc + w[:, None] * r[_MS].reshape(2, 4, -1)
                total = (total + np.where(start[:, n], np.exp(-top), 0.0)) * ok[:, n]
                m = acc / np.where(total > 0, total, 1.0)[:, None]
                state[_LN, n] = top + np.log(total)
                state[_MM, n] = low + shift[_MM, n]
                ms[:, :2, n] = m[:, :2] + cost[:, n]
                ms[:, 2:, n] = m[:, 2:] + twice[:, n] * m[:, :2] + squared[:, n]

        # over the graph outputs
        at, g = rank[b.sinks], b.graph[b.sinks]
        ln, mm = state[_LN, at].T, state[_MM, at].T.reshape(-1, 2, 4)
        top = np.full((G, 2), -np.inf)
        np.maximum.at(top, g, ln)
        reached = top > -np.inf
        top[~reached] = 0.0
        w = np.exp(ln - top[g])
        total = np.zeros((G, 2))
        np.add.at(total, g, w)
        m = np.zeros((G, 2, 4))
        np.add.at(m, g, w[:, :, None] * ms[:, :, at].transpose(2, 0, 1))
        m /= np.where(total > 0, total, 1.0)[:, :, None]
        ends = np.full((G, 2, 4), np.inf)
        np.minimum.at(ends, g, mm)
        out = np.stack([np.broadcast_to((top + np.log(total))[:, :, None], (G, 2, 2)), m[:, :, :2],
                        np.sqrt(np.maximum(m[:, :, 2:] - m[:, :, :2] * m[:, :, :2], 0.0)), ends[:, :, :2],
                        -ends[:, :, 2:]], axis=3)
    out[~reached] = 0.0
    return out


def _shape_stats(b: _Batch, clean: np.ndarray) -> np.ndarray:
    """``[G, 12]``: the ``shape`` group (see :data:`_SHAPE`) over clean-live weighted ops."""
    sel = clean & b.weighted
    g, G = b.graph[sel], b.G
    ch, sp, expand, strided = b.shape_facts[sel].T
    kern, params, flops = b.extent[sel] + 1.0, b.params[sel], b.flops[sel]
    n = np.bincount(g, minlength=G).astype(np.float64)

    def mean(v):
        have = ~np.isnan(v)
        k = np.bincount(g[have], minlength=G)
        return np.where(k > 0, np.bincount(g[have], v[have], minlength=G) / np.maximum(k, 1), 0.0)

    def extreme(v, fn):
        have = ~np.isnan(v)
        return _grouped(g[have], v[have], G, fn, 0.0)

    def share(v):
        total = np.bincount(g, v, minlength=G)
        return np.where(total != 0, extreme(v, np.maximum) / np.where(total != 0, total, 1.0), 0.0)

    return np.stack([n, mean(ch), extreme(ch, np.minimum), extreme(ch, np.maximum), mean(sp),
                     extreme(sp, np.minimum), np.bincount(g, strided, minlength=G), extreme(expand, np.maximum),
                     mean(kern), extreme(kern, np.maximum), share(params), share(flops)], axis=1)


def _contracted_edges(b: _Batch, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``i → j`` between clean-live non-transparent nodes joined by a path whose inner
    nodes are all clean-live transparent ones (distinct)."""
    keep = clean & ~_IS_TRANSPARENT[b.category]
    e = clean[b.src] & clean[b.dst]
    succ, ptr = b.dst[e], _csr(b.src[e], b.T)
    e &= keep[b.src]
    i, j = b.src[e], b.dst[e]
    done = []
    while len(i):
        last = keep[j]
        done.append(i[last] * b.T + j[last])
        i, j = i[~last], j[~last]  # j is transparent: continue along its edges
        rep, at = _expand(ptr, j)
        pairs = _distinct(i[rep] * b.T + succ[at])
        i, j = pairs // b.T, pairs % b.T
    pairs = _distinct(np.concatenate(done)) if done else np.zeros(0, np.intp)
    return pairs // max(b.T, 1), pairs % max(b.T, 1)


def _ngrams(b: _Batch, clean: np.ndarray, n_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(graph, interned n-gram id, count) of every token chain of length 2..``n_max`` along the
    contracted clean-live graph.

    Chains are grown backwards from their last node: a state is (first node, chain id, number of
    node paths spelling it); prefixing the token of each contracted predecessor of the first node
    gives the chains one longer. From length 3 on, states are merged per (first node, chain), so
    long chains cost at most the distinct chains per node, never the number of paths.
    """
    src, dst = _contracted_edges(b, clean)
    first = np.flatnonzero(clean & ~_IS_TRANSPARENT[b.category])
    chain_id, count = b.token[first], np.ones(len(first))
    names, n_ids = _TOKENS.items, len(_TOKENS.items)
    out = []
    for length in range(2, n_max + 1):
        if not len(first) or not len(src):
            break
        rep, at = _expand(_csr(first, b.T), dst)  # the states starting at each edge's head
        first = src[rep]
        pairs, _, chain_id = _unique(b.token[first] * n_ids + chain_id[at])
        count = count[at]
        names = [f"{_TOKENS.items[t]}>{names[c]}" for t, c in zip((pairs // n_ids).tolist(), (pairs % n_ids).tolist())]
        n_ids = len(pairs)
        keys, n, _ = _unique(b.graph[first] * n_ids + chain_id, count)
        global_ids = np.array([_GRAMS.id(name) for name in names], dtype=np.intp)
        out.append((keys // n_ids, global_ids[keys % n_ids], n))
        if 3 <= length < n_max:
            states, count, _ = _unique(first * n_ids + chain_id, count)
            first, chain_id = states // n_ids, states % n_ids
        elif length < n_max:
            o = np.argsort(first, kind="stable")
            first, chain_id, count = first[o], chain_id[o], count[o]
    if not out:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    return tuple(np.concatenate(parts) for parts in zip(*out))


def _split(graph: np.ndarray, G: int, *arrays: np.ndarray) -> list[list[np.ndarray]]:
    """Per graph, the entries of ``arrays`` whose ``graph`` is that graph (stable order)."""
    o = np.argsort(graph, kind="stable")
    bounds = np.searchsorted(graph[o], np.arange(G + 1)).tolist()
    sorted_arrays = [a[o] for a in arrays]
    return [[a[lo:hi] for a in sorted_arrays] for lo, hi in pairwise(bounds)]


def _encode_batch(graphs: Sequence[ArchGraph], max_ngram: int, want: frozenset) -> list[_Raw]:
    """The :class:`_Raw` features of each graph (one batch)."""
    b = _Batch(graphs)
    G = b.G
    everything = np.ones(b.T, bool)
    live, clean = b.liveness()
    fixed = []
    if "global" in want:
        n_levels = int(b.level.max(initial=0)) + 1
        width = np.bincount(b.graph * n_levels + b.level, minlength=G * n_levels).reshape(G, -1).max(axis=1, initial=0)
        n_live, n_clean = b.per_graph(live), b.per_graph(clean)
        cols = [b.sizes, b.n_edges, [g.depth for g in graphs], width,
                np.log1p([float(g.params) for g in graphs]), np.log1p([float(g.flops) for g in graphs]),
                n_live, b.sizes - n_live, n_clean, np.log1p(b.per_graph(live, b.params)),
                np.log1p(b.per_graph(clean, b.params)), np.log1p(b.per_graph(clean, b.flops))]
        fixed.append(np.array(cols, dtype=np.float64).T)
    if "category" in want:
        counts = [np.bincount(b.graph[m] * _N_CODES + b.category[m], minlength=G * _N_CODES).reshape(G, _N_CODES)
                  for m in (everything, clean)]
        fixed.append(np.stack(counts, axis=2)[:, :-1].reshape(G, -1))
    if "shape" in want:
        fixed.append(_shape_stats(b, clean))
    if "path" in want:
        fixed.append(_path_stats(b).reshape(G, -1))
    fixed = np.concatenate(fixed, axis=1) if fixed else np.zeros((G, 0))
    nothing = [np.zeros(0, np.intp), np.zeros(0)]
    tokens = grams = [nothing] * G
    if "op" in want:
        V = len(_TOKENS.items)
        keys, n, _ = _unique(b.graph[clean] * V + b.token[clean])
        tokens = _split(keys // V, G, keys % V, n.astype(np.float64))
    if "ngram" in want:
        g, ids, n = _ngrams(b, clean, max_ngram)
        grams = _split(g, G, ids, n)
    return [_Raw(fixed[k], *tokens[k], *grams[k]) for k in range(G)]


def _graph_id(graph: ArchGraph) -> str:
    aid = graph.metadata.get("arch_id")
    if aid:
        return aid
    from nabench.graph import arch_id

    return arch_id(graph)


def _top(items: dict[str, int], n: int | None, min_count: int = 1) -> list[str]:
    """The (at most ``n``) items with the highest counts (ties: alphabetical), sorted by name."""
    ranked = [k for k, c in sorted(items.items(), key=lambda kv: (-kv[1], kv[0])) if c >= min_count]
    return sorted(ranked[:n])


def _doc_freq(ids: list[np.ndarray], table: _Interner) -> dict[str, int]:
    """Number of graphs each interned id occurs in (each graph lists an id at most once)."""
    u, n, _ = _unique(np.concatenate(ids))
    return {table.items[i]: c for i, c in zip(u.tolist(), n.tolist())}


class TabularEncoder(TransformerMixin, BaseEstimator):
    """Named, space-independent tabular features of ArchGraphs (see the module docstring).

    ``groups``: which feature groups to compute; ``max_ngram``, ``min_df``, ``max_ngrams``: the
    learned n-gram vocabulary; ``max_tokens``: cap on the learned op-token vocabulary; ``extra``:
    a DataFrame indexed by arch id whose numeric columns are appended.
    """

    def __init__(self, groups: Sequence[str] = GROUPS, max_ngram: int = 3, min_df: int = 2,
                 max_ngrams: int = 200, max_tokens: int = 100, extra: pd.DataFrame | None = None):
        self.groups = groups
        self.max_ngram = max_ngram
        self.min_df = min_df
        self.max_ngrams = max_ngrams
        self.max_tokens = max_tokens
        self.extra = extra

    # -- helpers ---------------------------------------------------------------------------
    def _want(self) -> frozenset:
        bad = sorted(set(self.groups) - set(GROUPS))
        if bad:
            raise EncoderError(f"unknown feature group(s) {bad}; choose from {list(GROUPS)}")
        if not self.groups:
            raise EncoderError("groups is empty: choose at least one of " + ", ".join(GROUPS))
        return frozenset(self.groups)

    def _raw(self, graphs: Sequence[ArchGraph]) -> list[_Raw]:
        if isinstance(graphs, ArchGraph):
            raise EncoderError("pass a list of ArchGraph, not a single graph")
        want = self._want()
        out: list[_Raw | None] = []
        todo: list[int] = []
        for i, g in enumerate(graphs):
            if not isinstance(g, ArchGraph):
                raise EncoderError(f"item {i} is a {type(g).__name__}, not an ArchGraph (use nabench.graph.from_onnx)")
            aid = g.metadata.get("arch_id") if _CACHE is not None else None
            hit = _CACHE.get((aid, self.max_ngram, want)) if aid else None
            out.append(hit)
            if hit is None:
                todo.append(i)
        start = 0
        while start < len(todo):
            stop, nodes = start, 0
            while stop < len(todo) and stop - start < BATCH_GRAPHS and (stop == start or nodes < BATCH_NODES):
                nodes += len(graphs[todo[stop]].nodes)
                stop += 1
            batch = [graphs[i] for i in todo[start:stop]]
            for i, raw in zip(todo[start:stop], _encode_batch(batch, self.max_ngram, want)):
                out[i] = raw
                aid = graphs[i].metadata.get("arch_id") if _CACHE is not None else None
                if aid:
                    _CACHE[(aid, self.max_ngram, want)] = raw
            start = stop
        return out

    def _extra_columns(self) -> list[str]:
        if self.extra is None:
            return []
        if not isinstance(self.extra, pd.DataFrame):
            raise EncoderError(f"extra must be a pandas DataFrame indexed by arch id, got {type(self.extra).__name__}")
        return [str(c) for c in self.extra.select_dtypes("number").columns]

    # -- scikit-learn API -----------------------------------------------------------------
    def fit(self, graphs: Sequence[ArchGraph], y=None) -> TabularEncoder:
        return self._fit_raw(self._raw(graphs))

    def _fit_raw(self, raw: list[_Raw]) -> TabularEncoder:
        if not raw:
            raise EncoderError("cannot fit the encoder on zero graphs")
        self.fixed_names_ = fixed_feature_names(self._want())
        self.tokens_ = _top(_doc_freq([r.token_ids for r in raw], _TOKENS), self.max_tokens)
        self.ngrams_ = _top(_doc_freq([r.gram_ids for r in raw], _GRAMS), self.max_ngrams, self.min_df)
        self.extra_columns_ = self._extra_columns()
        self.n_features_out_ = len(self.get_feature_names_out())
        return self

    def transform(self, graphs: Sequence[ArchGraph]) -> np.ndarray:
        if not hasattr(self, "fixed_names_"):
            raise EncoderError("TabularEncoder is not fitted: call fit(graphs) first")
        raw = self._raw(graphs)
        return self._assemble(raw, graphs)

    def fit_transform(self, graphs, y=None, **fit_params) -> np.ndarray:
        raw = self._raw(graphs)
        return self._fit_raw(raw)._assemble(raw, graphs)

    def _assemble(self, raw: list[_Raw], graphs) -> np.ndarray:
        """The feature matrix of graphs already encoded to ``raw`` (vectorized: a few microseconds
        a graph, so predicting from cached features is not slowed down by this step)."""
        n_fixed, n_tok, n_gram = len(self.fixed_names_), len(self.tokens_), len(self.ngrams_)
        X = np.zeros((len(raw), self.n_features_out_), dtype=np.float64)
        if not raw:
            return X
        computed = fixed_feature_names(self._want())
        if computed == self.fixed_names_:
            np.stack([r.fixed for r in raw], out=X[:, :n_fixed])
        else:  # a state saved with the names in another order, or a subset
            where = {n: i for i, n in enumerate(computed)}
            missing = [n for n in self.fixed_names_ if n not in where]
            if missing:
                raise EncoderError(f"fitted feature(s) {missing[:3]} not computed by groups {sorted(self._want())}")
            X[:, :n_fixed] = np.stack([r.fixed for r in raw])[:, [where[n] for n in self.fixed_names_]]
        flat = X.reshape(-1)
        for table, vocab, first, field in ((_TOKENS, self.tokens_, n_fixed, 1), (_GRAMS, self.ngrams_, n_fixed + n_tok, 3)):
            column = np.full(len(table.items), -1, np.intp)
            for j, name in enumerate(vocab):
                if name in table.index:
                    column[table.index[name]] = first + j
            lens = np.fromiter((len(r[field]) for r in raw), np.intp, len(raw))
            if not lens.any():
                continue
            cols = column[np.concatenate([r[field] for r in raw])]
            at = np.repeat(np.arange(len(raw)) * X.shape[1], lens) + cols
            hit = cols >= 0
            flat[at[hit]] = np.concatenate([r[field + 1] for r in raw])[hit]
        if self.extra_columns_:
            table = self.extra[self.extra_columns_]
            table = table[~table.index.duplicated()]
            ids = [_graph_id(g) for g in graphs]
            X[:, n_fixed + n_tok + n_gram:] = table.reindex(ids).to_numpy(dtype=np.float64)
        return X

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        if not hasattr(self, "fixed_names_"):
            raise EncoderError("TabularEncoder is not fitted: call fit(graphs) first")
        return np.array([*self.fixed_names_, *(f"op__{t}" for t in self.tokens_),
                         *(f"ngram__{g}" for g in self.ngrams_),
                         *(f"extra__{c}" for c in self.extra_columns_)], dtype=object)

    # -- fitted state as plain JSON (for predictors that save their encoder) ----------------
    def state(self) -> dict:
        """The fitted vocabulary as JSON-serializable data (see :meth:`from_state`)."""
        return {"fixed_names": self.fixed_names_, "tokens": self.tokens_, "ngrams": self.ngrams_,
                "extra_columns": self.extra_columns_}

    def set_state(self, state: dict) -> TabularEncoder:
        """Restore what :meth:`state` returned (no refit)."""
        self.fixed_names_ = list(state["fixed_names"])
        self.tokens_ = list(state["tokens"])
        self.ngrams_ = list(state["ngrams"])
        self.extra_columns_ = list(state["extra_columns"])
        self.n_features_out_ = len(self.get_feature_names_out())
        return self
