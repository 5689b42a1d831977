"""Bad input: every failure is a GraphError with a clear message, never another exception or a hang."""

from __future__ import annotations

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from nabench.graph import ArchGraph, GraphError, from_onnx


def _valid_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn"),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node("Add", ["r", "x2"], ["a"], name="add"),
        helper.make_node("GlobalAveragePool", ["a"], ["p"], name="gap"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "Wf", "Bf"], ["y"], transB=1, name="fc"),
    ]
    inits = [helper.make_tensor("W", TensorProto.FLOAT, [4, 4, 3, 3], [0.1] * 144),
             helper.make_tensor("B", TensorProto.FLOAT, [4], [0.0] * 4)]
    inits += [helper.make_tensor(n, TensorProto.FLOAT, [4], [1.0] * 4) for n in "sbmv"]
    inits += [helper.make_tensor("Wf", TensorProto.FLOAT, [2, 4], [0.0] * 8),
              helper.make_tensor("Bf", TensorProto.FLOAT, [2], [0.0] * 2)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6]),
                                       helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


VALID = _valid_model().SerializeToString()


def test_valid_model_reads():
    g = from_onnx(VALID)
    assert g.params == 4 * 36 + 4 + 8 + 10  # BN running mean/var not counted
    assert g.flops == 4 * 36 * 36 + 3 * 144 + 144 + 8  # conv, bn+relu+add, gap, gemm


@pytest.mark.parametrize("data", [b"", b"hello world, not onnx", b"\x00\x01\x02\xff" * 10, VALID[: len(VALID) // 2],
                                  VALID[:7], b"\x08\x07"])
def test_garbage_bytes(data):
    with pytest.raises(GraphError, match="not an ONNX model"):
        from_onnx(data)


def test_missing_file(tmp_path):
    with pytest.raises(GraphError, match="cannot read"):
        from_onnx(tmp_path / "nope.onnx")


def test_cycle_names_a_node():
    nodes = [helper.make_node("Relu", ["x", ], ["a"], name="first"),
             helper.make_node("Add", ["a", "c"], ["b"], name="loop_add"),
             helper.make_node("Relu", ["b"], ["c"], name="loop_relu"),
             helper.make_node("Relu", ["b"], ["y"], name="last")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    with pytest.raises(GraphError, match=r"cycle through node '(loop_add|loop_relu)'"):
        from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_dangling_and_duplicate_tensors():
    def model(nodes):
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    with pytest.raises(GraphError, match="reads tensor 'ghost'"):
        from_onnx(model([helper.make_node("Add", ["x", "ghost"], ["y"])]))
    with pytest.raises(GraphError, match="produced twice"):
        from_onnx(model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])]))


def test_missing_shapes_still_counts():
    """A custom op blocks shape inference downstream: shapes None, params exact, FLOPs partial."""
    nodes = [helper.make_node("Conv", ["x", "W1"], ["c1"], kernel_shape=[1, 1]),
             helper.make_node("Mystery", ["c1"], ["m"], domain="custom"),
             helper.make_node("Conv", ["m", "W2"], ["y"], kernel_shape=[3, 3])]
    inits = [helper.make_tensor("W1", TensorProto.FLOAT, [4, 3, 1, 1], [0.0] * 12),
             helper.make_tensor("W2", TensorProto.FLOAT, [5, 4, 3, 3], [0.0] * 180)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    ag = from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom", 1)]))
    assert ag.params == 12 + 180
    assert ag.nodes[0].flops == 4 * 64 * 3 and ag.nodes[2].flops == 0
    assert ag.nodes[2].input_shapes[0] is None and ag.nodes[2].output_shapes == (None,)
    assert ag.flops == 4 * 64 * 3 and not ag.flops_complete


def test_max_nodes():
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(50)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("t50", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert from_onnx(m).depth == 50
    with pytest.raises(GraphError, match="max_nodes=49"):
        from_onnx(m, max_nodes=49)


# ---------------------------------------------------------------------------------------------
# Fuzzing
# ---------------------------------------------------------------------------------------------

def _check(model) -> None:
    try:
        g = from_onnx(model)
    except GraphError as e:
        assert str(e)
        return
    assert isinstance(g, ArchGraph)
    assert g.params >= 0 and g.flops >= 0 and g.depth <= len(g.nodes)


@settings(max_examples=120, deadline=2000, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(VALID)))
def test_fuzz_byte_mutations(edits, cut):
    data = bytearray(VALID[:max(cut, 1)] if cut % 3 == 0 else VALID)
    for pos, val in edits:
        if pos < len(data):
            data[pos] = val
    _check(bytes(data))


_OPS = [("Relu", 1), ("Add", 2), ("Mul", 2), ("Sub", 2), ("MatMul", 2), ("Conv", 2), ("Concat", 2),
        ("Softmax", 1), ("Sigmoid", 1), ("MaxPool", 1), ("GlobalAveragePool", 1), ("Transpose", 1),
        ("Reshape", 2), ("BatchNormalization", 5), ("Gemm", 3), ("Hardmax", 1), ("Frob", 2), ("If", 1),
        ("Split", 1), ("Identity", 1)]


@st.composite
def random_graphs(draw):
    n = draw(st.integers(1, 12))
    tensors = ["x", "w0", "w1"]
    nodes = []
    for i in range(n):
        op, arity = draw(st.sampled_from(_OPS))
        ins = [draw(st.sampled_from(tensors + ["", "late"])) for _ in range(arity)]
        out = f"t{i}" if not draw(st.integers(0, 30)) == 0 else draw(st.sampled_from(tensors))  # rare SSA break
        kw = {}
        if op == "Conv":
            kw = {"kernel_shape": [draw(st.integers(1, 3))] * 2, "group": draw(st.integers(1, 2))}
        elif op == "MaxPool":
            kw = {"kernel_shape": [2, 2]}
        elif op == "Concat":
            kw = {"axis": draw(st.integers(-2, 3))}
        domain = "weird" if op == "Frob" else ""
        nodes.append(helper.make_node(op, ins, [out], domain=domain, **kw))
        tensors.append(out)
    if draw(st.booleans()):
        nodes.append(helper.make_node("Relu", [tensors[-1]], ["late"]))  # may close a cycle
    order = draw(st.permutations(range(len(nodes))))
    dims = draw(st.lists(st.one_of(st.integers(0, 6), st.none()), min_size=0, max_size=4))
    g = helper.make_graph([nodes[i] for i in order], "fuzz",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
                          [helper.make_tensor_value_info(tensors[-1], TensorProto.FLOAT, None)],
                          initializer=[helper.make_tensor("w0", TensorProto.FLOAT, [2, 2], [1.0] * 4),
                                       helper.make_tensor("w1", TensorProto.INT64, [2], [1, -1])])
    opset = draw(st.sampled_from([13, 17, 21, 99]))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("weird", 1)])


@settings(max_examples=100, deadline=2000, suppress_health_check=list(HealthCheck), derandomize=True)
@given(random_graphs(), st.booleans())
def test_fuzz_random_graphs(model, as_bytes):
    _check(model.SerializeToString() if as_bytes else model)
