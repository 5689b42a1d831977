"""Graph (PyG) and text (ONNX-Net-style) encoders on real NAS-Bench-201 cells and on unknown ops."""

from __future__ import annotations

import re

import numpy as np
import pytest
from onnx import TensorProto, helper

N_GRAPHS = 12


@pytest.fixture(scope="module")
def nb201_graphs(corpus):
    from nabench.graph import from_onnx
    from nabench.normalize import normalize_record

    records = corpus("nb201").records().sample(N_GRAPHS, random_state=1)
    return [from_onnx(normalize_record(r, "nb201")["onnx"]) for r in records.to_dict("records")]


def custom_op_graph():
    """Conv → an op type nobody knows (custom domain) → Relu: a graph from an unseen 'space'."""
    from nabench.graph import from_onnx

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    w = helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3, 5, 5])
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[5, 5], strides=[2, 2], group=1),
             helper.make_node("Frobnicate", ["y"], ["f"], domain="example.custom"),
             helper.make_node("Relu", ["f"], ["z"])]
    graph = helper.make_graph(nodes, "custom", [x, w], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("example.custom", 1)])
    model.metadata_props.add(key="nabench.weights", value="W")
    return from_onnx(model)


def test_graph_encoder_on_nb201(nb201_graphs):
    from nabench.encoders.graph import GraphEncoder, collate

    from nabench.registry import encoders

    assert encoders.get("graph") is GraphEncoder
    enc = GraphEncoder().fit(nb201_graphs)
    data = enc.transform(nb201_graphs)
    names = enc.feature_names
    assert "op=Conv" in names and "op=<unk>" in names and "kernel_h" in names
    for g, d in zip(nb201_graphs, data):
        n = len(g.nodes) + len(g.inputs) + len(g.outputs)
        assert d.x.shape == (n, len(names)) and np.isfinite(d.x.numpy()).all()
        assert d.edge_index.shape[1] == len(g.edges) + len(g.input_edges) + len(g.output_edges)
        assert int(d.edge_index.max()) < n
        cats = d.x[:, [i for i, f in enumerate(names) if f.startswith("category=")]]
        assert (cats.sum(1) == 1).all()
        conv = d.x[: len(g.nodes)][d.x[: len(g.nodes), names.index("op=Conv")] == 1]
        assert set(conv[:, names.index("kernel_h")].tolist()) <= {1.0, 3.0}
        assert d.u.shape == (1, 4)
    batch = collate(data)
    assert batch.num_graphs == N_GRAPHS and batch.x.shape[0] == sum(d.num_nodes for d in data)
    # different cells give different encodings
    assert len({d.x.numpy().tobytes() for d in data}) > 1


def test_graph_encoder_state_round_trip(nb201_graphs):
    from nabench.encoders.graph import GraphEncoder

    enc = GraphEncoder().fit(nb201_graphs)
    again = GraphEncoder.from_state(enc.state())
    for a, b in zip(enc.transform(nb201_graphs[:3]), again.transform(nb201_graphs[:3])):
        assert np.array_equal(a.x.numpy(), b.x.numpy()) and np.array_equal(a.edge_index.numpy(), b.edge_index.numpy())


def test_graph_encoder_unknown_op_encodes(nb201_graphs):
    from nabench.encoders.graph import GraphEncoder

    enc = GraphEncoder().fit(nb201_graphs)
    g = custom_op_graph()
    (d,) = enc.transform([g])
    names = enc.feature_names
    frob = d.x[1]
    assert frob[names.index("op=<unk>")] == 1 and frob[names.index("category=generic")] == 1
    conv = d.x[0]
    assert conv[names.index("kernel_h")] == 5 and conv[names.index("stride")] == 2
    assert conv[names.index("log2_c_out")] == 2 and conv[names.index("log2_hw_out")] == 2  # 4 channels, 2x2 pixels
    assert np.isfinite(d.x.numpy()).all()


def cnn_graph(batch):
    """Conv → Relu → GlobalAveragePool → Flatten → Gemm with a static or symbolic (``"N"``) batch dim."""
    from nabench.graph import from_onnx

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])
    out = helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 10])
    weights = [helper.make_tensor("W", TensorProto.FLOAT, [4, 3, 3, 3], np.zeros(108)),
               helper.make_tensor("F", TensorProto.FLOAT, [10, 4], np.zeros(40))]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]), helper.make_node("Gemm", ["f", "F"], ["z"], transB=1)]
    graph = helper.make_graph(nodes, "cnn", [x], [out], initializer=weights)
    return from_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_graph_encoder_symbolic_leading_dim(nb201_graphs):
    """A dynamic batch dim (user ONNX files) or node count (NAS-Bench-Graph GNNs) encodes like a
    static one: the leading dim is never a feature."""
    from nabench.encoders.graph import GraphEncoder
    from nabench.graph import from_onnx
    from nabench.onnx_build import nasbench_graph

    enc = GraphEncoder().fit(nb201_graphs)
    (static,), (dynamic,) = enc.transform([cnn_graph(1)]), enc.transform([cnn_graph("N")])
    assert dynamic.x.shape == static.x.shape
    assert np.array_equal(dynamic.x.numpy(), static.x.numpy())
    names = enc.feature_names
    gemm = dynamic.x[4]
    assert gemm[names.index("log2_c_in")] == 2 and gemm[names.index("log2_c_out")] == np.log2(10)
    assert gemm[names.index("shape_unknown")] == 0
    gnn = from_onnx(nasbench_graph.build_nasbench_graph("0123", "gat,gcn,gin,cheb", dataset="cora"))
    assert any(s and s[0] is None for n in gnn.nodes for s in n.output_shapes)
    (d,) = GraphEncoder().fit([gnn]).transform([gnn])
    assert d.x.shape[0] == len(gnn.nodes) + len(gnn.inputs) + len(gnn.outputs) and np.isfinite(d.x.numpy()).all()


def test_graph_encoder_errors(nb201_graphs):
    from nabench.encoders.graph import GraphEncoder, GraphEncoderError

    with pytest.raises(GraphEncoderError, match="not fitted"):
        GraphEncoder().transform(nb201_graphs)
    with pytest.raises(GraphEncoderError, match="ArchGraph"):
        GraphEncoder().fit(["not a graph"])


LINE = re.compile(r"^(n\d+ [A-Za-z_][\w.]*( k\d+(x\d+)?)?( s\d+)?( d\d+)?( dw| g\d+)?"
                  r"( c\?| c[\d?]+->[\d?]+( hw[\d?]+(x[\d?]+)?| l[\d?]+)?) <- (-|((n|in)\d+)(,(n|in)\d+)*)"
                  r"|out\d+ <- (-|(n|in)\d+))$")


def test_text_encoder_grammar_and_determinism(nb201_graphs):
    from nabench.encoders.text import TextEncoder

    from nabench.registry import encoders

    assert encoders.get("text") is TextEncoder
    texts = TextEncoder().fit_transform(nb201_graphs)
    assert texts == TextEncoder().fit_transform(nb201_graphs)
    for g, t in zip(nb201_graphs, texts):
        lines = t.split("\n")
        assert len(lines) == len(g.nodes) + len(g.outputs)
        bad = [line for line in lines if not LINE.match(line)]
        assert not bad, bad[:3]
    # the NB201 stem: a 3x3 convolution from the image to 16 channels at 32x32
    assert texts[0].split("\n")[0] == "n0 Conv k3 c3->16 hw32 <- in0"
    assert any(" s2 " in t for t in texts)  # the reduction blocks


def test_text_encoder_unknown_op_and_tokenize():
    from nabench.encoders.text import TextEncoder, TextEncoderError, tokenize

    (text,) = TextEncoder().fit_transform([custom_op_graph()])
    assert text.split("\n") == ["n0 Conv k5 s2 c3->4 hw2 <- in0", "n1 Frobnicate c? <- n0", "n2 Relu c? <- n1",
                                "out0 <- n2"]
    toks = tokenize(text)
    assert toks[0] == ["node", "Conv", "k", "5", "s", "2", "c", "3", "->", "4", "hw", "2", "<-", "in0"]
    assert toks[2][-1] == "@1" and toks[3] == ["out", "<-", "@1"]
    with pytest.raises(TextEncoderError, match="ArchGraph"):
        TextEncoder().fit_transform([text])
