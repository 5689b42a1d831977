"""from_onnx on real torch exports: params, FLOPs, categories, input forms, weightless graphs."""

from __future__ import annotations

import io
import warnings

import onnx
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

from nabench.errors import NabenchError
from nabench.graph import CATEGORIES, ArchGraph, GraphError, arch_id, from_onnx, strip_weights

# ---------------------------------------------------------------------------------------------
# Models (also used by test_arch_id.py)
# ---------------------------------------------------------------------------------------------


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))


class ResNet(nn.Module):
    def __init__(self, width=8, k=3):
        super().__init__()
        self.stem = nn.Conv2d(3, width, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.b1 = ResBlock(width)
        self.pool = nn.MaxPool2d(2)
        self.b2 = ResBlock(width)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.b2(self.pool(self.b1(x)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SE(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.f1 = nn.Conv2d(c, c // r, 1)
        self.f2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.f2(F.relu(self.f1(F.adaptive_avg_pool2d(x, 1)))))


class MBBlock(nn.Module):
    def __init__(self, cin, cout, e=2):
        super().__init__()
        h = cin * e
        self.pw = nn.Conv2d(cin, h, 1, bias=False)
        self.b1 = nn.BatchNorm2d(h)
        self.dw = nn.Conv2d(h, h, 3, padding=1, groups=h, bias=False)
        self.b2 = nn.BatchNorm2d(h)
        self.se = SE(h)
        self.pj = nn.Conv2d(h, cout, 1, bias=False)
        self.b3 = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu6(self.b1(self.pw(x)))
        y = self.se(F.relu6(self.b2(self.dw(y))))
        return self.b3(self.pj(y))


class MobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.m1 = MBBlock(8, 8)
        self.m2 = MBBlock(8, 16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.hardswish(self.bn(self.stem(x)))
        x = self.m2(x + self.m1(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(16, 32)
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, activation="gelu", batch_first=True)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        return self.head(self.layer(self.emb(x)).mean(1))


class GNN(nn.Module):
    """Dense message passing: A @ (X W1) then A @ (H W2)."""

    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 16)
        self.l2 = nn.Linear(16, 4, bias=False)

    def forward(self, a, x):
        return a @ self.l2(F.relu(a @ self.l1(x)))


IMG = (1, 3, 16, 16)
MODELS = {
    "resnet": (ResNet, lambda: (torch.randn(*IMG),)),
    "mobilenet": (MobileNet, lambda: (torch.randn(*IMG),)),
    "transformer": (Transformer, lambda: (torch.randn(2, 7, 16),)),
    "gnn": (GNN, lambda: (torch.rand(5, 5), torch.randn(5, 6))),
}


def export(model: nn.Module, args: tuple, opset: int = 17) -> bytes:
    """Training-mode TorchScript export: keeps BatchNorm and every parameter distinct."""
    model.train()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, args, buf, dynamo=False, opset_version=opset,
                          training=torch.onnx.TrainingMode.TRAINING)
    return buf.getvalue()


_CACHE: dict[str, tuple[nn.Module, bytes]] = {}


def exported(name: str) -> tuple[nn.Module, bytes]:
    if name not in _CACHE:
        torch.manual_seed(0)
        cls, args = MODELS[name]
        m = cls()
        _CACHE[name] = (m, export(m, args()))
    return _CACHE[name]


def hook_macs(model: nn.Module, args: tuple) -> int:
    """Conv/Linear MACs by forward hooks on the torch modules (independent of ONNX)."""
    total = [0]

    def conv(mod, inp, out):
        total[0] += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]

    def lin(mod, inp, out):
        total[0] += out.numel() * mod.in_features

    hs = []
    for mod in model.modules():
        if isinstance(mod, nn.Conv2d):
            hs.append(mod.register_forward_hook(conv))
        elif isinstance(mod, nn.Linear) and type(mod) is nn.Linear:
            hs.append(mod.register_forward_hook(lin))
    with torch.no_grad():
        model(*args)
    for h in hs:
        h.remove()
    return total[0]


# ---------------------------------------------------------------------------------------------
# Real exports
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_params_match_torch(name):
    model, data = exported(name)
    g = from_onnx(data)
    assert isinstance(g, ArchGraph)
    assert g.params == sum(p.numel() for p in model.parameters())
    assert g.params == sum(n.params for n in g.nodes)
    assert 0 < g.depth <= len(g.nodes) < 200
    assert g.flops_complete and g.flops > 0
    assert all(n.category in CATEGORIES for n in g.nodes)
    assert "generic" not in g.category_counts()
    assert [n.index for n in g.nodes] == list(range(len(g.nodes)))
    assert all(a < b for a, b in g.edges)  # topological order


@pytest.mark.parametrize("name", ["resnet", "mobilenet", "gnn"])
def test_conv_linear_flops_match_hooks(name):
    model, data = exported(name)
    g = from_onnx(data)
    onnx_macs = sum(n.flops for n in g.nodes
                    if n.category in ("conv", "depthwise_conv", "group_conv", "linear"))
    assert onnx_macs == hook_macs(model, MODELS[name][1]())


def test_resnet_flops_by_hand():
    g = from_onnx(exported("resnet")[1])
    hw, hw2, c = 16 * 16, 8 * 8, 8
    conv = c * hw * 3 * 9 + 2 * (c * hw * c * 9) + 2 * (c * hw2 * c * 9)
    fc = 10 * 8
    bn = 3 * c * hw + 2 * c * hw2
    relu = 3 * c * hw + 2 * c * hw2
    add = c * hw + c * hw2
    maxpool = c * hw2 * 4
    gap = c * hw2
    assert g.flops == conv + fc + bn + relu + add + maxpool + gap


def test_transformer_matmul_flops_by_hand():
    g = from_onnx(exported("transformer")[1])
    b, L, d, h, ff = 2, 7, 32, 4, 64
    linear = b * L * (16 * d + d * 3 * d + d * d + d * ff + ff * d) + b * d * 5
    attention = 2 * (b * h * L * L * (d // h))
    assert sum(n.flops for n in g.nodes if n.category == "linear") == linear
    assert sum(n.flops for n in g.nodes if n.category == "matmul") == attention


def test_categories():
    cats = {name: from_onnx(exported(name)[1]).category_counts() for name in MODELS}
    r = cats["resnet"]
    assert r["conv"] == 5 and r["norm"] == 5 and r["pool"] == 1 and r["global_pool"] == 1
    assert r["linear"] == 1 and r["elementwise"] == 2 and r["activation"] == 5
    assert "depthwise_conv" not in r
    m = cats["mobilenet"]
    assert m["depthwise_conv"] == 2 and m["conv"] == 9
    assert m["global_pool"] == 3  # two SE squeezes + the head
    mob = from_onnx(exported("mobilenet")[1])
    ops = {n.op_type for n in mob.nodes}
    assert {"Sigmoid", "Mul", "HardSwish", "Clip", "GlobalAveragePool"} <= ops
    dw = [n for n in mob.nodes if n.category == "depthwise_conv"]
    assert all(n.attrs["group"] == n.input_shapes[0][1] == 16 for n in dw)
    t = cats["transformer"]
    assert t["softmax"] == 1 and t["norm"] == 2 and t["matmul"] == 2 and t["linear"] == 6
    tg = from_onnx(exported("transformer")[1])
    assert "Erf" in {n.op_type for n in tg.nodes}  # GELU left decomposed as elementwise ops
    assert {n.category for n in tg.nodes if n.op_type == "Erf"} == {"elementwise"}
    assert cats["gnn"] == {"linear": 2, "matmul": 2, "activation": 1}


def test_shapes_and_io():
    g = from_onnx(exported("resnet")[1])
    assert [t.shape for t in g.inputs] == [IMG]
    assert [t.shape for t in g.outputs] == [(1, 10)]
    first = g.nodes[0]
    assert first.op_type == "Conv" and first.input_shapes[:2] == (IMG, (8, 3, 3, 3))
    assert first.output_shapes == ((1, 8, 16, 16),)
    assert first.const_inputs == {1: (8, 3, 3, 3)}
    assert first.attrs["kernel_shape"] == [3, 3] and first.attrs["pads"] == [1, 1, 1, 1]
    assert g.input_edges == [(0, 0)] and g.output_edges == [(len(g.nodes) - 1, 0)]
    gnn = from_onnx(exported("gnn")[1])
    assert [t.shape for t in gnn.inputs] == [(5, 5), (5, 6)]  # two data inputs, no weights among them
    nxg = g.to_networkx()
    assert nxg.number_of_nodes() == len(g.nodes) and nxg.number_of_edges() == len(g.edges)


def test_input_forms_equal(tmp_path):
    _, data = exported("mobilenet")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    proto = onnx.load_from_string(data)
    before = proto.SerializeToString()
    graphs = [from_onnx(data), from_onnx(path), from_onnx(str(path)), from_onnx(proto), from_onnx(bytearray(data))]
    assert all(g == graphs[0] for g in graphs)
    assert proto.SerializeToString() == before  # never modified


def test_weightless_forms():
    for name in MODELS:
        model, data = exported(name)
        full = from_onnx(data)
        light = strip_weights(data)
        assert len(light.graph.initializer) == 0
        onnx.checker.check_model(light, full_check=True)
        g = from_onnx(light)
        assert (g.params, g.flops, g.depth, len(g.nodes)) == (full.params, full.flops, full.depth, len(full.nodes))
        assert [t.name for t in g.inputs] == [t.name for t in full.inputs]
        assert arch_id(g) == arch_id(full)
        # shape-only initializers (dims but no data) are read the same way
        proto = onnx.load_from_string(data)
        for t in proto.graph.initializer:
            t.ClearField("raw_data")
            for f in ("float_data", "int64_data", "int32_data", "double_data"):
                t.ClearField(f)
        g2 = from_onnx(proto)
        assert (g2.params, g2.flops) == (full.params, full.flops)


def _conv_model(weight_as_input: bool, declare: bool = False) -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["z"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, 8, 8])
    if weight_as_input:
        inputs = [x, helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3, 3, 3]),
                  helper.make_tensor_value_info("B", TensorProto.FLOAT, [4])]
        g = helper.make_graph(nodes, "g", inputs, [z])
    else:
        g = helper.make_graph(nodes, "g", [x], [z], initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108),
            helper.make_tensor("B", TensorProto.FLOAT, [4], [0.0] * 4)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    if declare:
        helper.set_model_props(m, {"nabench.weights": "W,B", "author": "me"})
    return m


def test_weight_inputs_detected_without_declaration():
    for m in (_conv_model(False), _conv_model(True), _conv_model(True, declare=True)):
        g = from_onnx(m)
        assert g.params == 4 * 27 + 4
        assert [t.name for t in g.inputs] == ["x"]
        assert g.flops == 4 * 64 * 27 + 4 * 64
    assert from_onnx(_conv_model(True, declare=True)).metadata["author"] == "me"


def test_matmul_graph_input_is_data_unless_declared():
    nodes = [helper.make_node("MatMul", ["a", "w"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3]),
                                       helper.make_tensor_value_info("w", TensorProto.FLOAT, [3, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    ag = from_onnx(m)
    assert ag.params == 0 and len(ag.inputs) == 2 and ag.nodes[0].category == "matmul" and ag.flops == 24
    helper.set_model_props(m, {"nabench.weights": "w"})
    ag = from_onnx(m)
    assert ag.params == 12 and len(ag.inputs) == 1 and ag.nodes[0].category == "linear"


def test_constant_and_identity_folding():
    w = helper.make_tensor("wv", TensorProto.FLOAT, [4, 3, 1, 1], [1.0] * 12)
    nodes = [
        helper.make_node("Constant", [], ["W"], value=w),
        helper.make_node("Identity", ["W"], ["W2"]),
        helper.make_node("Conv", ["x", "W2"], ["y"], kernel_shape=[1, 1]),
        helper.make_node("Constant", [], ["s"], value_float=0.5),
        helper.make_node("Mul", ["y", "s"], ["z"]),
        helper.make_node("Identity", ["z"], ["out"]),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 4, 4])])
    ag = from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert [n.op_type for n in ag.nodes] == ["Conv", "Mul", "Identity"]  # Constants and Identity(const) folded
    assert ag.params == 12  # the conv weight, not the scalar 0.5
    assert ag.nodes[1].const_inputs == {1: ()}
    assert ag.edges == [(0, 1), (1, 2)] and ag.depth == 3


def test_unknown_ops_are_generic():
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Hardmax", ["r"], ["h"], axis=1),
        helper.make_node("Frobnicate", ["h", "k"], ["f"], domain="my.ops", mode="fast", level=3,
                         gains=[0.5, 1.5]),
        helper.make_node("Relu", ["f"], ["y"]),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=[helper.make_tensor("k", TensorProto.FLOAT, [5, 5], [0.0] * 25)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)])
    ag = from_onnx(m)
    cats = [(n.op_type, n.category) for n in ag.nodes]
    assert cats == [("Relu", "activation"), ("Hardmax", "generic"), ("Frobnicate", "generic"), ("Relu", "activation")]
    fro = ag.nodes[2]
    assert fro.domain == "my.ops" and fro.attrs == {"mode": "fast", "level": 3, "gains": [0.5, 1.5]}
    assert ag.nodes[1].attrs == {"axis": 1}
    assert fro.output_shapes == (None,) and ag.nodes[3].input_shapes == (None,)
    assert ag.params == 25  # a custom op's non-scalar float constant counts as a weight
    assert ag.edges == [(0, 1), (1, 2), (2, 3)] and ag.depth == 4
    assert not ag.flops_complete and ag.notes


def test_subgraph_attrs_summarized():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    nodes = [helper.make_node("Abs", ["x0"], ["x"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [2]),
                                       helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    ag = from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    node = ag.nodes[1]
    assert node.category == "control_flow"
    assert node.attrs["then_branch"] == {"graph": {"name": "then", "n_nodes": 1, "op_types": ["Relu"]}}
    assert (0, 1) in ag.edges  # the captured outer tensor x gives an edge


def test_graph_error_is_nabench_error():
    assert issubclass(GraphError, NabenchError)
    with pytest.raises(GraphError, match="expected a path"):
        from_onnx(12345)


def test_declared_shapes_fast_path_and_caches_match():
    """A model already through infer_shapes (inference skipped) reads exactly like the raw model."""
    for name in MODELS:
        _, b = exported(name)
        raw = from_onnx(b)
        inferred = from_onnx(onnx.shape_inference.infer_shapes(onnx.load_from_string(b)))
        assert repr(inferred) == repr(raw)
        assert arch_id(inferred) == arch_id(raw)
    g = from_onnx(_conv_model(False))
    g2 = from_onnx(_conv_model(False))
    g.nodes[0].attrs["kernel_shape"].append(99)  # memoized attributes never alias between graphs
    assert g2.nodes[0].attrs["kernel_shape"] == [3, 3]
    assert from_onnx(_conv_model(False)).nodes[0].attrs["kernel_shape"] == [3, 3]
