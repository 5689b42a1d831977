"""nabench's own PyTorch reference module for a NAS-Bench-Graph GNN (plain PyTorch, no PyG).

Written from (read, not copied) the benchmark's model code, THUMNLab/NAS-Bench-Graph
(Qin et al., NeurIPS 2022 D&B; the training code released with the paper, files ``net.py`` /
``worker.py``; the ``nas-bench-graph`` PyPI package ships only ``architecture.py`` /
``readbench.py``):

- ``Net``: ``num_pre`` pre-processing ``LinearConv(in→dim)`` layers, one ``Cell``, ``num_pro``
  post-processing ``LinearConv(dim→classes)`` layers (an ELU only between two of them, never
  used with the published settings); input dropout (identity in eval mode).
- ``Cell(ops, link)``: 4 computing nodes, node k+1 = ``op_k(pre(node[link[k]]))`` where
  ``pre`` = BatchNorm1d(dim) → ReLU → dropout unless the input is still at the raw feature
  dimension (``num_pre = 0`` and the input is node 0 or a chain of ``skip`` from it; such ops
  take ``in_dim`` inputs). One BatchNorm1d per op is created either way (so an unused BN exists
  for raw-dimension inputs). The leaves (nodes no op reads) are concatenated (``torch.cat``
  along features), then ReLU → ``Linear(n_leaves*dim → dim if num_pro else classes)``.
- ``gnn_map``: gat = ``GATConv(in, dim // 4, heads=4, concat=True)``; gcn = ``GCNConv``;
  gin = ``GINConv(Linear(in, dim))``; cheb = ``ChebConv(K=2)``; sage = ``SAGEConv`` (mean);
  arma = ``ARMAConv`` (num_stacks=1, num_layers=1, ReLU); graph = ``GraphConv`` (add);
  fc = ``LinearConv`` (Linear with bias); skip = identity. ``bias=True`` everywhere.

Each conv is written here as its dense-adjacency math with the parameter names and shapes of
PyTorch Geometric 2.0 (the version of the benchmark, mid 2022). Graph inputs: node features
``x`` [N, F] and a dense 0/1 adjacency ``adj`` [N, N] without self-loops, ``adj[i, j] = 1`` iff
there is an edge j → i (PyG's source→target flow: row i aggregates over its in-neighbours).
Degrees are row sums of ``adj`` (PyG's target-side degree; identical for the symmetric graphs of
the benchmark). Per conv (all normalizations computed inside the conv, like PyG with
``cached=False``; ``dinv = deg**-0.5`` with inf → 0 as PyG's ``masked_fill``):

- gcn: ``Â = adj + I``; ``dinv ⊙ (Â @ (dinv ⊙ x Wᵀ)) + b`` (``gcn_norm``, self loops added).
  ogbn-proteins trains GCN on a precomputed normalized adjacency with ``normalize=False``:
  the same matrix, computed in-graph here.
- gat: ``h = x Wᵀ`` viewed [N, H, C]; ``e[h,i,j] = LeakyReLU_0.2(a_dst[i,h] + a_src[j,h])``
  masked to ``adj + I`` (self loops), softmax over j, ``out = α h`` (heads concatenated) + b.
- gin: ``nn(x + adj @ x)`` (``eps`` is a non-trainable buffer fixed at 0: ``(1+0)·x = x``).
- cheb: ``T0 = x``, ``T1 = -(dinv ⊙ (adj @ (dinv ⊙ x)))`` (scaled sym Laplacian, λmax = 2);
  ``T0 W0ᵀ + T1 W1ᵀ + b``.
- sage: ``lin_l(mean_j x_j) + lin_r(x)`` (mean = ``adj @ x / clamp(deg, 1)``).
- graph: ``lin_rel(adj @ x) + lin_root(x)``.
- arma: ``mean_K ReLU(Â_sym (x W_init) + x W_root + b)`` with ``Â_sym`` = dinv adj dinv (no self
  loops); the ``weight`` [1, 1, dim, dim] of PyG 2.0's ARMAConv is created but only used for
  ``num_layers > 1``: it is a parameter of the trained model that never acts on data.

Dropout is inference-mode identity throughout (the module is meant to be exported in eval mode).
``nabench.onnx_build.nasbench_graph`` builds the same graph, op for op.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: Op names in the benchmark's ``gnn_list`` order.
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: The 9 macro ``link`` patterns (input node of each computing node; 0 = the cell input).
LINKS = ((0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3), (0, 1, 1, 1), (0, 1, 1, 2),
         (0, 1, 2, 2), (0, 1, 2, 3))
#: Per dataset: (input features, classes / tasks, hidden dim, num_pre, num_pro). Features and
#: classes of the PyG / OGB datasets; dim / num_pre / num_pro were fitted to the published ``para``
#: (exact on every row except 1,567 Physics rows, which average a seed run built as 128/0/0) and lie
#: in the benchmark's ``hpo.py`` search space; see :mod:`nabench.onnx_build.nasbench_graph`.
DATASETS: dict[str, tuple[int, int, int, int, int]] = {
    "cora": (1433, 7, 256, 0, 1),
    "citeseer": (3703, 6, 256, 0, 1),
    "pubmed": (500, 3, 128, 0, 0),
    "cs": (6805, 15, 128, 1, 0),
    "physics": (8415, 5, 256, 1, 0),
    "photo": (745, 8, 128, 0, 0),
    "computers": (767, 10, 64, 1, 1),
    "arxiv": (128, 40, 128, 0, 1),
    "proteins": (8, 112, 256, 1, 1),
}
HEADS = 4


def parse(link, ops) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Validate (link, ops) given as sequences or as the corpus strings ``"0123"`` / ``"gcn,gat,..."``."""
    if isinstance(link, str):
        if not link.isdigit():
            raise ValueError(f"link: expected 4 digits, got {link!r}")
        link = tuple(int(c) for c in link)
    if isinstance(ops, str):
        ops = tuple(o.strip() for o in ops.split(","))
    try:
        link = tuple(int(v) for v in link)
    except (TypeError, ValueError):
        raise ValueError(f"link: expected 4 node indices, got {link!r}") from None
    ops = tuple(ops)
    if len(link) != 4 or any(not 0 <= v <= k for k, v in enumerate(link)):
        raise ValueError(f"link: expected 4 indices with link[k] <= k, got {link!r}")
    if len(ops) != 4 or any(o not in OPS for o in ops):
        raise ValueError(f"ops: expected 4 ops from {OPS}, got {ops!r}")
    if all(o == "skip" for o in ops):
        raise ValueError("ops: all-skip is not an architecture of the space")
    return link, ops


def raw_dim_nodes(link, ops, num_pre: int) -> list[bool]:
    """Which of the 5 nodes still have the raw feature dimension (``Cell.queue_ori_in_dim``)."""
    raw = [num_pre == 0] + [False] * 4
    if num_pre == 0:
        for k, (op, lk) in enumerate(zip(ops, link)):
            if raw[lk] and op == "skip":
                raw[k + 1] = True
    return raw


def check_buildable(link, ops, dataset: str) -> None:
    """Raise ValueError if a leaf of the cell keeps the raw feature dimension (possible only with
    ``num_pre = 0``): the reference ``Cell`` sizes its output Linear for ``dim``-wide leaves, so such
    a model cannot run. The benchmark's canonical forms (``Arch.move_skip_op``) never contain one."""
    raw = raw_dim_nodes(link, ops, DATASETS[dataset][3])
    if any(raw[i] for i in leaves(link)):
        raise ValueError(f"ops: {','.join(ops)} with link {''.join(map(str, link))} leaves a skip of the raw "
                         f"input as a cell output, which the reference model cannot build for {dataset}")


def leaves(link) -> list[int]:
    used = set(link)
    return [i for i in range(5) if i not in used]


def _dinv(deg: torch.Tensor) -> torch.Tensor:
    d = deg.pow(-0.5)
    return d.masked_fill(d == float("inf"), 0.0)


def _eye(adj: torch.Tensor) -> torch.Tensor:
    return torch.eye(adj.shape[0], dtype=adj.dtype)


class GCN(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lin = nn.Linear(i, o, bias=False)
        self.bias = nn.Parameter(torch.zeros(o))

    def forward(self, x, adj):
        a = adj + _eye(adj)
        d = _dinv(a.sum(1, keepdim=True))
        return d * (a @ (d * self.lin(x))) + self.bias


class GAT(nn.Module):
    def __init__(self, i, o, heads=HEADS):
        super().__init__()
        self.h, self.c = heads, o // heads
        self.lin_src = nn.Linear(i, heads * self.c, bias=False)
        self.att_src = nn.Parameter(torch.zeros(1, heads, self.c))
        self.att_dst = nn.Parameter(torch.zeros(1, heads, self.c))
        self.bias = nn.Parameter(torch.zeros(heads * self.c))

    def forward(self, x, adj):
        h = self.lin_src(x).reshape(-1, self.h, self.c)
        a_s = (h * self.att_src).sum(-1)
        a_d = (h * self.att_dst).sum(-1)
        e = F.leaky_relu(a_d.t().unsqueeze(2) + a_s.t().unsqueeze(1), 0.2)
        e = e.masked_fill((adj + _eye(adj)) == 0, float("-inf")).softmax(-1)
        out = (e @ h.transpose(0, 1)).transpose(0, 1).reshape(-1, self.h * self.c)
        return out + self.bias


class GIN(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.nn = nn.Linear(i, o)

    def forward(self, x, adj):
        return self.nn(adj @ x + x)


class Cheb(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lins = nn.ModuleList([nn.Linear(i, o, bias=False) for _ in range(2)])
        self.bias = nn.Parameter(torch.zeros(o))

    def forward(self, x, adj):
        d = _dinv(adj.sum(1, keepdim=True))
        tx1 = -(d * (adj @ (d * x)))
        return self.lins[0](x) + self.lins[1](tx1) + self.bias


class SAGE(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lin_l = nn.Linear(i, o)
        self.lin_r = nn.Linear(i, o, bias=False)

    def forward(self, x, adj):
        mean = (adj @ x) / adj.sum(1, keepdim=True).clamp(min=1.0)
        return self.lin_l(mean) + self.lin_r(x)


class GraphConv(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.lin_rel = nn.Linear(i, o)
        self.lin_root = nn.Linear(i, o, bias=False)

    def forward(self, x, adj):
        return self.lin_rel(adj @ x) + self.lin_root(x)


class ARMA(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.init_weight = nn.Parameter(torch.zeros(1, i, o))   # [K, F_in, F_out]
        self.weight = nn.Parameter(torch.zeros(1, 1, o, o))     # [max(1, T-1), K, F_out, F_out]; unused at T=1
        self.root_weight = nn.Parameter(torch.zeros(1, 1, i, o))  # [T, K, F_in, F_out]
        self.bias = nn.Parameter(torch.zeros(1, 1, 1, o))       # [T, K, 1, F_out]

    def forward(self, x, adj):
        d = _dinv(adj.sum(1, keepdim=True))
        x3 = x.unsqueeze(0)
        out = d * (adj @ (d * (x3 @ self.init_weight)))
        out = F.relu(out + x3 @ self.root_weight + self.bias)
        return out.mean(dim=-3).squeeze(0)


class LinearConv(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear = nn.Linear(i, o)

    def forward(self, x, adj):
        return self.linear(x)


class Skip(nn.Module):
    def forward(self, x, adj):
        return x


_CONVS = {"gat": GAT, "gcn": GCN, "gin": GIN, "cheb": Cheb, "sage": SAGE, "arma": ARMA, "graph": GraphConv,
          "fc": LinearConv}


class Cell(nn.Module):
    def __init__(self, link, ops, in_dim, out_dim, dim, num_pre, num_pro):
        super().__init__()
        self.link, self.op_names = link, ops
        self.raw = raw_dim_nodes(link, ops, num_pre)
        self.leaves = leaves(link)
        self.ops = nn.ModuleList([Skip() if op == "skip" else _CONVS[op](in_dim if self.raw[lk] else dim, dim)
                                  for op, lk in zip(ops, link)])
        self.bns = nn.ModuleList([nn.BatchNorm1d(dim) for _ in ops])
        self.fc = nn.Linear(len(self.leaves) * dim, dim if num_pro else out_dim)

    def forward(self, x, adj):
        res = [x]
        for op, lk, bn in zip(self.ops, self.link, self.bns):
            inp = res[lk]
            if not self.raw[lk]:
                inp = F.relu(bn(inp))
            res.append(op(inp, adj))
        outs = [res[i] for i in self.leaves]
        fin = torch.cat(outs, 1) if len(outs) > 1 else outs[0]
        return self.fc(F.relu(fin))


class NASBenchGraphNet(nn.Module):
    """The NAS-Bench-Graph GNN for (link, ops) on ``dataset``; ``forward(x, adj)``."""

    def __init__(self, link, ops, dataset: str = "cora"):
        super().__init__()
        link, ops = parse(link, ops)
        if dataset not in DATASETS:
            raise ValueError(f"dataset: expected one of {sorted(DATASETS)}, got {dataset!r}")
        check_buildable(link, ops, dataset)
        in_dim, out_dim, dim, num_pre, num_pro = DATASETS[dataset]
        self.prep = nn.ModuleList([LinearConv(in_dim if i == 0 else dim, dim) for i in range(num_pre)])
        self.prop = nn.ModuleList([LinearConv(dim, out_dim if i == num_pro - 1 else dim) for i in range(num_pro)])
        self.cells = nn.ModuleList([Cell(link, ops, in_dim, out_dim, dim, num_pre, num_pro)])
        self.num_pre, self.num_pro = num_pre, num_pro

    def forward(self, x, adj):
        for i, p in enumerate(self.prep):
            x = p(x, adj)
            if i == self.num_pre - 2:
                x = F.elu(x)
        for c in self.cells:
            x = c(x, adj)
        for i, p in enumerate(self.prop):
            x = p(x, adj)
            if i == self.num_pro - 2:
                x = F.elu(x)
        return x


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
