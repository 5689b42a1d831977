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
    counts of op-token chains of length 1..``max_ngram`` along the live graph with activations,
    norms, dropout and shape-only ops contracted away (``Conv.k3x3.s1>Add``). Vocabulary learned
    in ``fit``: chains found in at least ``min_df`` fitted graphs, the ``max_ngrams`` most common.

*Live* nodes lie on some path from a data input to a graph output (dead branches — results no
output depends on — are excluded); *clean-live* nodes lie on a clean path.

``extra``: an optional DataFrame indexed by arch id (zero-cost proxy scores, learning-curve
points, ...); its numeric columns are appended as ``extra__<column>``, looked up by
``graph.metadata["arch_id"]`` (or :func:`~nabench.graph.arch_id` of the graph); a graph without a
row gets NaN there (tree models handle it).
"""

from __future__ import annotations

import math
from collections import Counter
from contextlib import contextmanager
from typing import Iterator, Sequence

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


def _graph_id(graph: ArchGraph) -> str:
    aid = graph.metadata.get("arch_id")
    if aid:
        return aid
    from nabench.graph import arch_id

    return arch_id(graph)


class _Structure:
    """Adjacency, liveness and clean-path masks of one graph (computed once per graph)."""

    def __init__(self, g: ArchGraph):
        n = len(g.nodes)
        self.n = n
        self.succ: list[list[int]] = [[] for _ in range(n)]
        self.pred: list[list[int]] = [[] for _ in range(n)]
        for a, b in g.edges:
            self.succ[a].append(b)
            self.pred[b].append(a)
        self.sources = frozenset(c for _, c in g.input_edges)
        self.sinks = sorted({p for p, _ in g.output_edges})
        self.sink_set = frozenset(self.sinks)
        self.tokens = [node_token(nd) for nd in g.nodes]
        self.blocked = [t.endswith(".scalar") for t in self.tokens]
        self.live = self._between(blocked=None)
        self.clean = self._between(blocked=self.blocked)

    def _between(self, blocked) -> list[bool]:
        """Nodes on some input→output path (avoiding ``blocked`` nodes when given)."""
        n = self.n
        ok = [True] * n if blocked is None else [not b for b in blocked]
        fwd = [False] * n
        for i in range(n):  # nodes are in topological order
            fwd[i] = ok[i] and (i in self.sources or any(fwd[p] for p in self.pred[i]))
        bwd = [False] * n
        for i in range(n - 1, -1, -1):
            bwd[i] = ok[i] and (i in self.sink_set or any(bwd[c] for c in self.succ[i]))
        return [a and b for a, b in zip(fwd, bwd)]


def _path_stats(s: _Structure, costs: list[list[float]], mask) -> list[list[float]]:
    """For each cost vector: log(#paths) and mean/std/min/max of the summed cost over the
    input→output paths through ``mask`` nodes.

    Dynamic programming over the topological order with per-node path moments (count in log
    space, mean and mean square of the cost), so path counts never overflow.
    """
    k = len(costs)
    log_n: list[float | None] = [None] * s.n
    mean = [[0.0] * k for _ in range(s.n)]
    sq = [[0.0] * k for _ in range(s.n)]
    lo = [[0.0] * k for _ in range(s.n)]
    hi = [[0.0] * k for _ in range(s.n)]
    for i in range(s.n):
        if not mask[i]:
            continue
        parts = [p for p in s.pred[i] if log_n[p] is not None]
        start = i in s.sources
        if not parts and not start:
            continue
        top = max([log_n[p] for p in parts] + ([0.0] if start else []))
        w = [math.exp(log_n[p] - top) for p in parts]
        w0 = math.exp(-top) if start else 0.0
        total = sum(w) + w0
        log_n[i] = top + math.log(total)
        for j in range(k):
            c = costs[j][i]
            m1 = (sum(wi * mean[p][j] for wi, p in zip(w, parts))) / total
            m2 = (sum(wi * sq[p][j] for wi, p in zip(w, parts))) / total
            mean[i][j] = m1 + c
            sq[i][j] = m2 + 2 * c * m1 + c * c
            lo[i][j] = min([lo[p][j] for p in parts] + ([0.0] if start else [])) + c
            hi[i][j] = max([hi[p][j] for p in parts] + ([0.0] if start else [])) + c
    ends = [i for i in s.sinks if log_n[i] is not None]
    if not ends:
        return [[0.0] * 5 for _ in range(k)]
    top = max(log_n[i] for i in ends)
    w = [math.exp(log_n[i] - top) for i in ends]
    total = sum(w)
    out = []
    for j in range(k):
        m1 = sum(wi * mean[i][j] for wi, i in zip(w, ends)) / total
        m2 = sum(wi * sq[i][j] for wi, i in zip(w, ends)) / total
        out.append([top + math.log(total), m1, math.sqrt(max(m2 - m1 * m1, 0.0)),
                    min(lo[i][j] for i in ends), max(hi[i][j] for i in ends)])
    return out


def _ngrams(s: _Structure, mask: np.ndarray, categories: list[str], n_max: int) -> Counter:
    """Token chains of length 1..n_max along ``mask`` nodes, transparent categories contracted."""
    keep = [mask[i] and categories[i] not in TRANSPARENT for i in range(s.n)]
    # successors in the contracted graph: follow transparent nodes
    nxt: list[set[int]] = [set() for _ in range(s.n)]
    for i in range(s.n - 1, -1, -1):
        for j in s.succ[i]:
            if not mask[j]:
                continue
            if keep[j]:
                nxt[i].add(j)
            else:
                nxt[i] |= nxt[j]
    counts: Counter = Counter()
    chains: list[dict[str, int]] = [Counter() for _ in range(s.n)]  # chains starting at i, by string
    for i in range(s.n - 1, -1, -1):
        if not keep[i]:
            continue
        own = Counter({s.tokens[i]: 1})
        for j in nxt[i]:
            for chain, c in chains[j].items():
                if chain.count(">") + 2 <= n_max:
                    own[f"{s.tokens[i]}>{chain}"] += c
        chains[i] = own
        counts.update(own)
    return counts


def _raw_features(g: ArchGraph, max_ngram: int, want: frozenset) -> tuple[dict[str, float], Counter, Counter]:
    """Fixed-name features, op-token counts and n-gram counts of one graph."""
    s = _Structure(g)
    nodes = g.nodes
    cats = [nd.category for nd in nodes]
    f: dict[str, float] = {}
    if "global" in want:
        level = np.zeros(s.n, int)
        for i in range(s.n):
            level[i] = 1 + max((level[p] for p in s.pred[i]), default=0)
        live_params = sum(nd.params for nd, m in zip(nodes, s.live) if m)
        clean_params = sum(nd.params for nd, m in zip(nodes, s.clean) if m)
        clean_flops = sum(nd.flops for nd, m in zip(nodes, s.clean) if m)
        f.update({
            "global__nodes": s.n, "global__edges": len(g.edges), "global__depth": g.depth,
            "global__width": int(np.bincount(level).max()) if s.n else 0,
            "global__log_params": math.log1p(g.params), "global__log_flops": math.log1p(g.flops),
            "global__live_nodes": sum(s.live), "global__dead_nodes": s.n - sum(s.live),
            "global__clean_nodes": sum(s.clean),
            "global__log_live_params": math.log1p(live_params),
            "global__log_clean_params": math.log1p(clean_params),
            "global__log_clean_flops": math.log1p(clean_flops),
        })
    if "category" in want:
        all_c, live_c = Counter(cats), Counter(c for c, m in zip(cats, s.clean) if m)
        for c in CATEGORIES:
            f[f"category__{c}"] = all_c.get(c, 0)
            f[f"category__clean_{c}"] = live_c.get(c, 0)
    if "shape" in want:
        f.update(_shape_stats(g, s))
    if "path" in want:
        costs = [[float(c in WEIGHTED) for c in cats], [float(_kernel_extent(nd)) for nd in nodes]]
        for tag, mask in (("all", s.live), ("clean", s.clean)):
            for what, vals in zip(("weighted", "extent"), _path_stats(s, costs, mask)):
                f.update({f"path__{tag}_{what}_{k}": v for k, v in zip(_PATH_STATS, vals)})
    tokens = Counter(t for t, m in zip(s.tokens, s.clean) if m) if "op" in want else Counter()
    grams = _ngrams(s, s.clean, cats, max_ngram) if "ngram" in want else Counter()
    return f, tokens, grams


def _shape_stats(g: ArchGraph, s: _Structure) -> dict[str, float]:
    ch, sp, kern, params, flops, expand, strided = [], [], [], [], [], [], 0
    for nd, m in zip(g.nodes, s.clean):
        if not m or nd.category not in WEIGHTED:
            continue
        out = nd.output_shapes[0] if nd.output_shapes else None
        inp = nd.input_shapes[0] if nd.input_shapes else None
        if out is not None and len(out) >= 2 and out[1]:
            ch.append(math.log2(out[-1] if nd.category in ("linear", "matmul") else out[1]))
            if len(out) > 2 and all(out[2:]):
                sp.append(math.log2(math.prod(out[2:])))
        if inp is not None and out is not None and len(inp) >= 2 and len(out) >= 2 and inp[1] and out[1]:
            expand.append(out[1] / inp[1])
        strides = nd.attrs.get("strides") or []
        strided += any(v > 1 for v in strides)
        kern.append(_kernel_extent(nd) + 1)
        params.append(nd.params)
        flops.append(nd.flops)

    def stat(v, fn):
        return float(fn(v)) if v else 0.0

    return {
        "shape__weighted_ops": len(params),
        "shape__log2_channels_mean": stat(ch, np.mean), "shape__log2_channels_min": stat(ch, np.min),
        "shape__log2_channels_max": stat(ch, np.max),
        "shape__log2_spatial_mean": stat(sp, np.mean), "shape__log2_spatial_min": stat(sp, np.min),
        "shape__strided_ops": strided, "shape__max_expansion": stat(expand, np.max),
        "shape__kernel_mean": stat(kern, np.mean), "shape__kernel_max": stat(kern, np.max),
        "shape__max_params_share": max(params) / sum(params) if params and sum(params) else 0.0,
        "shape__max_flops_share": max(flops) / sum(flops) if flops and sum(flops) else 0.0,
    }


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

    def _raw(self, graphs: Sequence[ArchGraph]) -> list[tuple[dict, Counter, Counter]]:
        if isinstance(graphs, ArchGraph):
            raise EncoderError("pass a list of ArchGraph, not a single graph")
        want = self._want()
        out = []
        for i, g in enumerate(graphs):
            if not isinstance(g, ArchGraph):
                raise EncoderError(f"item {i} is a {type(g).__name__}, not an ArchGraph (use nabench.graph.from_onnx)")
            aid = g.metadata.get("arch_id") if _CACHE is not None else None
            key = (aid, self.max_ngram, want)
            if aid and key in _CACHE:
                out.append(_CACHE[key])
                continue
            feats = _raw_features(g, self.max_ngram, want)
            if aid:
                _CACHE[key] = feats
            out.append(feats)
        return out

    def _extra_columns(self) -> list[str]:
        if self.extra is None:
            return []
        if not isinstance(self.extra, pd.DataFrame):
            raise EncoderError(f"extra must be a pandas DataFrame indexed by arch id, got {type(self.extra).__name__}")
        return [str(c) for c in self.extra.select_dtypes("number").columns]

    # -- scikit-learn API -----------------------------------------------------------------
    def fit(self, graphs: Sequence[ArchGraph], y=None) -> "TabularEncoder":
        return self._fit_raw(self._raw(graphs))

    def _fit_raw(self, raw) -> "TabularEncoder":
        if not raw:
            raise EncoderError("cannot fit the encoder on zero graphs")
        self.fixed_names_ = list(raw[0][0])
        tok_df = Counter(t for _, toks, _ in raw for t in toks)
        self.tokens_ = sorted(t for t, _ in sorted(tok_df.items(), key=lambda kv: (-kv[1], kv[0]))[: self.max_tokens])
        gram_df = Counter(gm for _, _, grams in raw for gm in grams if gm.count(">") >= 1)
        common = [gm for gm, c in sorted(gram_df.items(), key=lambda kv: (-kv[1], kv[0])) if c >= self.min_df]
        self.ngrams_ = sorted(common[: self.max_ngrams])
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

    def _assemble(self, raw, graphs) -> np.ndarray:
        n_fixed, n_tok, n_gram = len(self.fixed_names_), len(self.tokens_), len(self.ngrams_)
        X = np.zeros((len(raw), self.n_features_out_), dtype=np.float64)
        tok_idx = {t: i for i, t in enumerate(self.tokens_)}
        gram_idx = {gm: i for i, gm in enumerate(self.ngrams_)}
        for r, (fixed, toks, grams) in enumerate(raw):
            X[r, :n_fixed] = [fixed[k] for k in self.fixed_names_]
            for t, c in toks.items():
                if t in tok_idx:
                    X[r, n_fixed + tok_idx[t]] = c
            for gm, c in grams.items():
                if gm in gram_idx:
                    X[r, n_fixed + n_tok + gram_idx[gm]] = c
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

    def set_state(self, state: dict) -> "TabularEncoder":
        """Restore what :meth:`state` returned (no refit)."""
        self.fixed_names_ = list(state["fixed_names"])
        self.tokens_ = list(state["tokens"])
        self.ngrams_ = list(state["ngrams"])
        self.extra_columns_ = list(state["extra_columns"])
        self.n_features_out_ = len(self.get_feature_names_out())
        return self
