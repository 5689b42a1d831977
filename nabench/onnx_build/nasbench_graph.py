"""Weightless ONNX graph of the GNN that NAS-Bench-Graph trained for an architecture (link, ops).

Faithful to the benchmark's model code (THUMNLab/NAS-Bench-Graph, Qin et al., NeurIPS 2022 D&B:
the released training code ``net.py`` — ``Net`` / ``Cell`` / ``gnn_map`` — and ``worker.py``,
which reports ``para`` = ``sum(p.numel() for p in model.named_parameters()) / 1e6``; the
``nas-bench-graph`` PyPI package's ``architecture.py`` for ``link_list`` / ``gnn_list``); see
:mod:`nabench.spaces.nasbench_graph_torch` for every choice and the dense formulation of each conv.

Macro skeleton (per dataset, :data:`~nabench.spaces.nasbench_graph_torch.DATASETS`):
``num_pre`` × Gemm(in→dim) → cell → ``num_pro`` × Gemm(dim→classes). The cell: node k+1 =
op_k(node[link[k]]), preceded by BatchNormalization → Relu unless that input is still at the raw
feature dimension; the leaves are concatenated (``Concat`` axis 1 when there are several) →
Relu → Gemm. hidden dim / num_pre / num_pro: cora, citeseer 256/0/1; pubmed 128/0/0; cs
128/1/0; physics 256/1/0; photo 128/0/0; computers 64/1/1; arxiv 128/0/1; proteins 256/1/1
(classes: proteins has 112 binary tasks). These were found by fitting the published ``para``: they
reproduce it exactly for every row of every dataset but Physics. Checked against the released code:
every value lies in the benchmark's hyper-parameter search space (``hpo.py`` ``random_hp``: dim in
{64, 128, 256}, ``num_pro`` in {0, 1}; ``num_pre`` is fixed to 0 there with ``randint(0, 1)``
commented out, so the 1s of cs/physics/computers/proteins come from the range it was searched in).
The per-dataset table of the paper (arXiv 2206.09166, appendix) is not in the code and could not be
consulted here. Physics: 1,567 of 26,206 ``para`` values are not one model's count but the mean over
the three seed runs (the light bench averages the seed files) with one run built as dim 128, no
pre/post layer and two as 256/1/0; every such row sampled in the tests is exactly that mean, so one
Physics seed was trained with a different setting for those architectures. The graph describes
the 256/1/0 model.

Graph inputs: ``x`` [num_nodes, F] and ``adj`` [num_nodes, num_nodes] (``num_nodes`` symbolic, a
``dim_param``): a dense 0/1 adjacency without self-loops, ``adj[i, j] = 1`` for an edge j → i. Each
conv is its dense math in standard ONNX ops (MatMul with ``adj``, ReduceSum degrees, Pow/Equal/
Cast/Where for ``deg^-1/2`` with inf → 0 (the no-op Cast to bool is the exporter's), EyeLike for self loops, a masked Softmax for GAT), written op
for op like ``torch.onnx.export`` of :class:`~nabench.spaces.nasbench_graph_torch.NASBenchGraphNet`
(a Linear without bias is Transpose + MatMul, with bias Gemm(transB=1)). The degree
normalization ``deg^-1/2`` and ``adj + I`` are computed once per graph and shared by the convs
that use them (the exporter's common-subexpression elimination does the same). A dense adjacency keeps
every conv in plain ONNX (no scatter with reduction, no custom ops); its cost is O(N²) memory.

Parameter convention: the graph's parameters are the weights that act on data (what
``nabench.graph.from_onnx(model).params`` counts). The published ``para`` is the model's
``parameters()``, which also holds weights the forward never uses: the BatchNorm1d (2·dim) that
``Cell`` creates for an op whose input is at the raw feature dimension, and ARMAConv's
``weight`` [1, 1, dim, dim] (PyG 2.0 creates it, but it acts only for ``num_layers > 1``).
:func:`unused_params` gives that number, so ``published = graph params + unused_params`` exactly.

Weightless graphs declare weights as typed graph inputs listed in
``metadata_props["nabench.weights"]`` (weights feed MatMul and Mul, which do not mark an input
as a weight by themselves). Weight names are the torch module's ``state_dict`` keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import NodeProto, TensorProto, helper, numpy_helper

from nabench.onnx_build import builder as B
from nabench.spaces import nasbench_graph_torch as T

DEFAULT_DATASET = "cora"
NUM_NODES = "num_nodes"
CORPUS = "nasbench-graph"


class _G:
    """A GraphBuilder plus cached scalar/array constants (one ``Constant`` node per value)."""

    def __init__(self, weights, seed):
        self.b = B.GraphBuilder("nasbench_graph", weights=weights, seed=seed)
        self.consts: dict[tuple, str] = {}
        self.shared: dict[tuple, str] = {}  # dinv / adj+I per adjacency, computed once (as TorchScript's CSE does)

    def const(self, arr: np.ndarray) -> str:
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        name = self.consts.get(key)
        if name is None:
            name = self.consts[key] = f"const.{len(self.consts)}"
            n = NodeProto()
            n.op_type, n.name = "Constant", name
            n.output.append(name)
            n.attribute.append(helper.make_attribute("value", numpy_helper.from_array(arr)))
            self.b.nodes.append(n)
            self.b.shapes[name] = arr.shape
        return name

    def op(self, op: str, ins: list[str], name: str, shape, **attrs) -> str:
        return self.b.node(op, ins, name, tuple(shape), tuple(helper.make_attribute(k, v) for k, v in attrs.items()))

    def f32(self, v) -> str:
        return self.const(np.array(v, np.float32))

    def i64(self, v) -> str:
        return self.const(np.array(v, np.int64))

    # -- layers ------------------------------------------------------------------------------
    def linear(self, x: str, p: str, n_out: int, bias: bool = True) -> str:
        n_in = self.b.shapes[x][-1]
        if bias:
            return self.b.gemm(x, p, n_out)
        w = self.b.weight(f"{p}.weight", (n_out, n_in))
        wt = self.op("Transpose", [w], f"{p}.transpose", (n_in, n_out), perm=[1, 0])
        return self.op("MatMul", [x, wt], p, (*self.b.shapes[x][:-1], n_out))

    def dinv(self, a: str, p: str) -> str:
        if ("dinv", a) in self.shared:
            return self.shared["dinv", a]
        deg = self.op("ReduceSum", [a, self.i64([1])], f"{p}.deg", ("N", 1), keepdims=1)
        d = self.op("Pow", [deg, self.f32(-0.5)], f"{p}.deg_pow", ("N", 1))
        inf = self.op("Equal", [d, self.f32(np.inf)], f"{p}.deg_inf", ("N", 1))
        inf = self.op("Cast", [inf], f"{p}.deg_inf.bool", ("N", 1), to=TensorProto.BOOL)
        out = self.shared["dinv", a] = self.op("Where", [inf, self.f32(0.0), d], f"{p}.dinv", ("N", 1))
        return out

    def eye_plus(self, adj: str, p: str) -> str:
        if ("eye", adj) in self.shared:
            return self.shared["eye", adj]
        s = self.op("Shape", [adj], f"{p}.shape", (2,))
        z = self.b.node("ConstantOfShape", [s], f"{p}.zeros", ("N", "N"),
                        (helper.make_attribute("value", numpy_helper.from_array(np.zeros(1, np.float32))),))
        eye = self.op("EyeLike", [z], f"{p}.eye", ("N", "N"))
        out = self.shared["eye", adj] = self.op("Add", [adj, eye], f"{p}.adj_loop", ("N", "N"))
        return out

    def matmul(self, a: str, x: str, name: str) -> str:
        return self.op("MatMul", [a, x], name, self.b.shapes[x])

    def mul(self, a: str, x: str, name: str) -> str:
        return self.op("Mul", [a, x], name, self.b.shapes[x])

    def add(self, a: str, x: str, name: str) -> str:
        return self.op("Add", [a, x], name, self.b.shapes[a] if len(self.b.shapes[a]) >= len(self.b.shapes[x])
                       else self.b.shapes[x])

    # -- convs (see nabench.spaces.nasbench_graph_torch) ----------------------------------------
    def gcn(self, x, adj, p, o):
        a = self.eye_plus(adj, p)
        d = self.dinv(a, p)
        h = self.linear(x, f"{p}.lin", o, bias=False)
        h = self.mul(d, self.matmul(a, self.mul(d, h, f"{p}.norm_src"), f"{p}.prop"), f"{p}.norm_dst")
        return self.add(h, self.b.weight(f"{p}.bias", (o,)), p)

    def gat(self, x, adj, p, o):
        H, C = T.HEADS, o // T.HEADS
        h = self.linear(x, f"{p}.lin_src", H * C, bias=False)
        h3 = self.op("Reshape", [h, self.i64([-1, H, C])], f"{p}.heads", ("N", H, C))
        al = []
        for side in ("src", "dst"):
            m = self.mul(h3, self.b.weight(f"{p}.att_{side}", (1, H, C)), f"{p}.att_{side}.mul")
            al.append(self.op("ReduceSum", [m, self.i64([-1])], f"{p}.alpha_{side}", ("N", H), keepdims=0))
        d = self.op("Transpose", [al[1]], f"{p}.alpha_dst.t", (H, "N"), perm=[1, 0])
        d = self.op("Unsqueeze", [d, self.i64([2])], f"{p}.alpha_dst.u", (H, "N", 1))
        s = self.op("Transpose", [al[0]], f"{p}.alpha_src.t", (H, "N"), perm=[1, 0])
        s = self.op("Unsqueeze", [s, self.i64([1])], f"{p}.alpha_src.u", (H, 1, "N"))
        e = self.op("Add", [d, s], f"{p}.logits", (H, "N", "N"))
        e = self.op("LeakyRelu", [e], f"{p}.leaky_relu", (H, "N", "N"), alpha=0.2)
        no_edge = self.op("Equal", [self.eye_plus(adj, p), self.f32(0.0)], f"{p}.no_edge", ("N", "N"))
        no_edge = self.op("Cast", [no_edge], f"{p}.no_edge.bool", ("N", "N"), to=TensorProto.BOOL)
        e = self.op("Where", [no_edge, self.f32(-np.inf), e], f"{p}.masked", (H, "N", "N"))
        att = self.op("Softmax", [e], f"{p}.softmax", (H, "N", "N"), axis=-1)
        hh = self.op("Transpose", [h3], f"{p}.heads.t", (H, "N", C), perm=[1, 0, 2])
        out = self.op("MatMul", [att, hh], f"{p}.aggregate", (H, "N", C))
        out = self.op("Transpose", [out], f"{p}.aggregate.t", ("N", H, C), perm=[1, 0, 2])
        out = self.op("Reshape", [out, self.i64([-1, H * C])], f"{p}.concat", ("N", H * C))
        return self.add(out, self.b.weight(f"{p}.bias", (H * C,)), p)

    def gin(self, x, adj, p, o):
        s = self.add(self.matmul(adj, x, f"{p}.aggregate"), x, f"{p}.sum")
        return self.linear(s, f"{p}.nn", o)

    def cheb(self, x, adj, p, o):
        d = self.dinv(adj, p)
        t1 = self.mul(d, self.matmul(adj, self.mul(d, x, f"{p}.norm_src"), f"{p}.prop"), f"{p}.norm_dst")
        t1 = self.op("Neg", [t1], f"{p}.tx1", self.b.shapes[t1])
        y = self.add(self.linear(x, f"{p}.lins.0", o, bias=False), self.linear(t1, f"{p}.lins.1", o, bias=False),
                     f"{p}.sum")
        return self.add(y, self.b.weight(f"{p}.bias", (o,)), p)

    def sage(self, x, adj, p, o):
        agg = self.matmul(adj, x, f"{p}.aggregate")
        deg = self.op("ReduceSum", [adj, self.i64([1])], f"{p}.deg", ("N", 1), keepdims=1)
        deg = self.op("Clip", [deg, self.f32(1.0)], f"{p}.deg_clamp", ("N", 1))
        mean = self.op("Div", [agg, deg], f"{p}.mean", self.b.shapes[agg])
        return self.add(self.linear(mean, f"{p}.lin_l", o), self.linear(x, f"{p}.lin_r", o, bias=False), p)

    def graph(self, x, adj, p, o):
        agg = self.matmul(adj, x, f"{p}.aggregate")
        return self.add(self.linear(agg, f"{p}.lin_rel", o), self.linear(x, f"{p}.lin_root", o, bias=False), p)

    def arma(self, x, adj, p, o):
        i = self.b.shapes[x][1]
        d = self.dinv(adj, p)
        x3 = self.op("Unsqueeze", [x, self.i64([0])], f"{p}.stack", (1, "N", i))
        h = self.op("MatMul", [x3, self.b.weight(f"{p}.init_weight", (1, i, o))], f"{p}.init", (1, "N", o))
        h = self.mul(d, self.matmul(adj, self.mul(d, h, f"{p}.norm_src"), f"{p}.prop"), f"{p}.norm_dst")
        r = self.op("MatMul", [x3, self.b.weight(f"{p}.root_weight", (1, 1, i, o))], f"{p}.root", (1, 1, "N", o))
        h = self.op("Add", [h, r], f"{p}.sum", (1, 1, "N", o))
        h = self.op("Add", [h, self.b.weight(f"{p}.bias", (1, 1, 1, o))], f"{p}.biased", (1, 1, "N", o))
        h = self.op("Relu", [h], f"{p}.relu", (1, 1, "N", o))
        h = self.op("ReduceMean", [h], f"{p}.stack_mean", (1, "N", o), axes=[-3], keepdims=0)
        return self.op("Squeeze", [h, self.i64([0])], p, ("N", o))

    def fc(self, x, adj, p, o):
        return self.linear(x, f"{p}.linear", o)


def _spec(link, ops, dataset: str):
    link, ops = T.parse(link, ops)
    if dataset not in T.DATASETS:
        raise ValueError(f"dataset: expected one of {sorted(T.DATASETS)}, got {dataset!r}")
    T.check_buildable(link, ops, dataset)
    return link, ops


def build_builder(link, ops, *, dataset: str = DEFAULT_DATASET,
                  weights: None | str | Mapping[str, np.ndarray] = None, seed: int = 0) -> B.GraphBuilder:
    """The populated GraphBuilder of the network (inputs ``x``, ``adj``; output ``logits``)."""
    link, ops = _spec(link, ops, dataset)
    in_dim, out_dim, dim, num_pre, num_pro = T.DATASETS[dataset]
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    g = _G(weights, seed)
    b = g.b
    b.inputs.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [NUM_NODES, in_dim]))
    b.inputs.append(helper.make_tensor_value_info("adj", TensorProto.FLOAT, [NUM_NODES, NUM_NODES]))
    b.shapes.update(x=("N", in_dim), adj=("N", "N"))
    h = "x"
    for i in range(num_pre):  # an ELU follows pre layer i only if i == num_pre - 2 (never with num_pre <= 1)
        h = g.linear(h, f"prep.{i}.linear", dim)
        if i == num_pre - 2:
            h = g.op("Elu", [h], f"prep.{i}.elu", b.shapes[h])
    raw = T.raw_dim_nodes(link, ops, num_pre)
    nodes = [h]
    for k, (op, lk) in enumerate(zip(ops, link)):
        inp = nodes[lk]
        if not raw[lk]:
            inp = b.relu(b.bn(inp, f"cells.0.bns.{k}"), f"cells.0.bns.{k}.relu")
        nodes.append(inp if op == "skip" else getattr(g, op)(inp, "adj", f"cells.0.ops.{k}", dim))
    outs = [nodes[i] for i in T.leaves(link)]
    if len(outs) > 1:
        cat = g.op("Concat", outs, "cells.0.concat", ("N", dim * len(outs)), axis=1)
    else:
        cat = outs[0]
    h = b.gemm(b.relu(cat, "cells.0.relu"), "cells.0.fc", dim if num_pro else out_dim)
    for i in range(num_pro):
        h = g.linear(h, f"prop.{i}.linear", out_dim if i == num_pro - 1 else dim)
        if i == num_pro - 2:
            h = g.op("Elu", [h], f"prop.{i}.elu", b.shapes[h])
    b.outputs.append(helper.make_tensor_value_info(h, TensorProto.FLOAT, [NUM_NODES, out_dim]))
    return b


def native_id(link, ops) -> str:
    link, ops = T.parse(link, ops)
    return f"link={''.join(map(str, link))};ops={','.join(ops)}"


def build_nasbench_graph(link, ops, *, dataset: str = DEFAULT_DATASET,
                         weights: None | str | Mapping[str, np.ndarray] = None,
                         metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of the NAS-Bench-Graph GNN for ``link`` (4 input-node indices, or ``"0123"``)
    and ``ops`` (4 names from ``gnn_list``, or ``"gcn,gat,sage,fc"``) as trained on ``dataset``
    (default Cora). ``weights=None``: weightless (weights are typed graph inputs, listed in
    ``metadata_props["nabench.weights"]``); ``"random"``: seeded random initializers; a mapping
    (e.g. ``NASBenchGraphNet.state_dict()``): those values. ``metadata`` (default: space, native id,
    dataset) is written to ``metadata_props``."""
    b = build_builder(link, ops, dataset=dataset, weights=weights, seed=seed)
    meta = dict(metadata) if metadata is not None else {"space": CORPUS, "native_id": native_id(link, ops),
                                                        "dataset": dataset}
    if weights is None:
        meta["nabench.weights"] = ",".join(i.name for i in b.inputs[2:])
    return b.model(meta)


def from_record(record: Mapping[str, Any], corpus: str, *, dataset: str = DEFAULT_DATASET,
                weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one row of the ``nasbench-graph`` corpus (spec columns ``link``, ``ops``)."""
    if corpus != CORPUS:
        raise ValueError(f"corpus: expected {CORPUS!r}, got {corpus!r}")
    for field in ("link", "ops"):
        if field not in record or not isinstance(record[field], str):
            raise ValueError(f"{field}: missing or not a string in the record")
    return build_nasbench_graph(record["link"], record["ops"], dataset=dataset, weights=weights, metadata=metadata)


def graph_params(link, ops, *, dataset: str = DEFAULT_DATASET) -> int:
    """Parameters of the graph (weights that act on data)."""
    return build_builder(link, ops, dataset=dataset).n_params


def unused_params(link, ops, *, dataset: str = DEFAULT_DATASET) -> int:
    """Parameters of the trained model that never act on data (see the module docstring)."""
    link, ops = _spec(link, ops, dataset)
    _, _, dim, num_pre, _ = T.DATASETS[dataset]
    raw = T.raw_dim_nodes(link, ops, num_pre)
    return sum(2 * dim for lk in link if raw[lk]) + dim * dim * ops.count("arma")


def published_params(link, ops, *, dataset: str = DEFAULT_DATASET) -> int:
    """The benchmark's ``para`` (× 1e6): ``parameters()`` of the trained model."""
    return graph_params(link, ops, dataset=dataset) + unused_params(link, ops, dataset=dataset)
