"""arch_id: invariant to names, node order and isomorphic relabeling; sensitive to structure."""

from __future__ import annotations

import random
import re

import onnx
import torch
from onnx import TensorProto, helper
from test_archgraph import MODELS, ResNet, export, exported

from nabench.graph import arch_id, from_onnx


def _id(model) -> str:
    return arch_id(from_onnx(model))


def test_format_and_determinism():
    a = _id(exported("resnet")[1])
    assert re.fullmatch(r"[0-9a-f]{32}", a)
    assert _id(exported("resnet")[1]) == a


def test_same_network_exported_twice():
    for seed in (1, 2):
        torch.manual_seed(seed)
        cls, args = MODELS["mobilenet"]
        assert _id(export(cls(), args())) == _id(exported("mobilenet")[1])


def test_different_networks_differ():
    ids = {name: _id(exported(name)[1]) for name in MODELS}
    assert len(set(ids.values())) == len(ids)
    torch.manual_seed(0)
    assert _id(export(ResNet(k=5), (torch.randn(1, 3, 16, 16),))) != ids["resnet"]  # one kernel size
    assert _id(export(ResNet(width=12), (torch.randn(1, 3, 16, 16),))) != ids["resnet"]


def _shuffle_and_rename(data: bytes, seed: int) -> onnx.ModelProto:
    m = onnx.load_from_string(data)
    rng = random.Random(seed)
    g = m.graph
    names = {}
    for n in g.node:
        for x in list(n.input) + list(n.output):
            if x and x not in names:
                names[x] = f"t{rng.randrange(10**9)}_{len(names)}"
    for coll in (g.input, g.output, g.value_info):
        for vi in coll:
            names.setdefault(vi.name, f"io{len(names)}")
            vi.name = names[vi.name]
    for t in g.initializer:
        names.setdefault(t.name, f"w{len(names)}")
        t.name = names[t.name]
    nodes = list(g.node)
    rng.shuffle(nodes)
    del g.node[:]
    for i, n in enumerate(nodes):
        new = onnx.NodeProto()
        new.CopyFrom(n)
        new.name = f"n{rng.randrange(10**6)}_{i}"
        new.input[:] = [names.get(x, x) for x in n.input]
        new.output[:] = [names.get(x, x) for x in n.output]
        g.node.append(new)
    return m


def test_shuffled_renamed_proto_same_id():
    for name in MODELS:
        data = exported(name)[1]
        ref = from_onnx(data)
        for seed in (0, 1):
            g = from_onnx(_shuffle_and_rename(data, seed))
            assert (g.params, g.flops, g.depth) == (ref.params, ref.flops, ref.depth)
            assert arch_id(g) == arch_id(ref)


def _two_branch(order: str = "ab", add_inputs=("pa", "pb"), k_b: int = 3, wire_b_to: str = "x", sub=False):
    """x → conv_a (1x1) and conv_b (k_b) → add (or sub) → relu; the branches listed in `order`."""
    branch = {
        "a": [helper.make_node("Conv", ["x", "Wa"], ["pa"], kernel_shape=[1, 1], name="conv_a")],
        "b": [helper.make_node("Relu", ["x"], ["rx"], name="r0"),
              helper.make_node("Conv", [wire_b_to, "Wb"], ["pb"], kernel_shape=[k_b, k_b],
                               pads=[k_b // 2] * 4, name="conv_b")],
    }
    nodes = [n for key in order for n in branch[key]]
    nodes += [helper.make_node("Sub" if sub else "Add", list(add_inputs), ["s"], name="add"),
              helper.make_node("Relu", ["s"], ["y"], name="out")]
    inits = [helper.make_tensor("Wa", TensorProto.FLOAT, [4, 4, 1, 1], [0.0] * 16),
             helper.make_tensor("Wb", TensorProto.FLOAT, [4, 4, k_b, k_b], [0.0] * (16 * k_b * k_b))]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_commutative_and_structural_changes():
    ref = _id(_two_branch())
    assert _id(_two_branch(order="ba")) == ref  # isomorphic relabeling: other node order
    assert _id(_two_branch(add_inputs=("pb", "pa"))) == ref  # Add is commutative
    assert _id(_two_branch(sub=True)) != _id(_two_branch(sub=True, add_inputs=("pb", "pa")))  # Sub is not
    assert _id(_two_branch(k_b=5)) != ref  # one kernel size
    assert _id(_two_branch(wire_b_to="rx")) != ref  # one edge: conv_b reads relu(x) instead of x


def test_names_and_defaults_do_not_matter():
    m1 = _two_branch()
    m2 = _two_branch()
    for n in m2.graph.node:
        n.name = ""
        if n.op_type == "Conv":  # spell out attributes that the first one leaves at their defaults
            n.attribute.extend([helper.make_attribute("strides", [1, 1]), helper.make_attribute("group", 1)])
    m2.graph.name = "other"
    assert _id(m1) == _id(m2)


def test_weightless_and_weighted_same_id():
    from nabench.graph import strip_weights

    m = _two_branch()
    assert _id(strip_weights(m)) == _id(m)
