"""nabench.graph.codec: the stored form of an ArchGraph decodes to exactly what from_onnx gives."""

from __future__ import annotations

import json
import struct

import onnx
import pytest
from onnx import TensorProto, helper

from nabench.graph import GraphError, arch_id, from_onnx
from nabench.graph.codec import CODEC_VERSION, MAGIC, dumps, loads
from nabench.onnx_build.nb201 import build_nb201_bytes

from test_archgraph import MODELS, exported


def _odd_model() -> onnx.ModelProto:
    """Custom op, tensor/float/string attributes, a subgraph, symbolic and unknown shapes, an omitted input."""
    then_g = helper.make_graph([helper.make_node("Relu", ["h"], ["t"])], "then", [],
                               [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["h"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("Clip", ["x", "", "hi"], ["h"]),
        helper.make_node("Frobnicate", ["h", "k"], ["f"], domain="my.ops", mode="fäst", gains=[0.5, 1e-30],
                         t=helper.make_tensor("tv", TensorProto.FLOAT, [1], [2.5])),
        helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g),
        helper.make_node("Split", ["f"], ["s0", "s1"], axis=1, num_outputs=2),
    ]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]),
                                       helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "s0", "s1")],
                          initializer=[helper.make_tensor("k", TensorProto.FLOAT, [4, 4], [0.0] * 16),
                                       helper.make_tensor("hi", TensorProto.FLOAT, [], [6.0])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("my.ops", 1)])


CELLS = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|skip_connect~2|"]


@pytest.mark.parametrize("name", [*MODELS, "odd", *CELLS])
def test_roundtrip_is_exact(name):
    if name == "odd":
        g = from_onnx(_odd_model())
        # the unusual forms are really there: an omitted input, unknown and symbolic shapes, a tensor attribute
        assert g.nodes[0].sources[1] == ("none", -1, -1) and g.nodes[0].input_shapes[0] == (None, 4)
        assert g.nodes[1].output_shapes == (None,) and g.nodes[1].attrs["t"]["tensor"]["value"] == 2.5
    elif name in MODELS:
        g = from_onnx(exported(name)[1])
    else:
        g = from_onnx(build_nb201_bytes(name))
    back = loads(dumps(g))
    assert back == g
    assert [n.sources for n in back.nodes] == [n.sources for n in g.nodes]  # tuples, not lists
    assert type(back.edges[0]) is tuple and type(back.nodes[0].input_shapes) is tuple
    assert arch_id(back) == arch_id(g)
    assert dumps(back) == dumps(g)  # deterministic


def test_layout():
    g = from_onnx(build_nb201_bytes(CELLS[0]))
    assert GOOD.startswith(MAGIC + bytes([CODEC_VERSION, 4]))  # small graphs: 32-bit numbers
    b = dumps(g)
    n_head, n_kinds = struct.unpack_from("<II", b, 6)
    kinds = b[14 + n_head:14 + n_head + n_kinds].split(b"\n")
    assert len(g.nodes) == 340 and len(kinds) == 22  # nodes of one kind share a line


def test_decoded_graphs_do_not_share_mutable_state():
    b = dumps(from_onnx(build_nb201_bytes(CELLS[0])))
    one, two = loads(b), loads(b)
    one.nodes[0].attrs["pads"].append(7)
    one.metadata["x"] = "y"
    assert "x" not in two.metadata and two.nodes[0].attrs["pads"] == [1, 1, 1, 1]


GOOD = dumps(from_onnx(build_nb201_bytes(CELLS[2])))


@pytest.mark.parametrize("bad", [
    b"", b"not json", b"[]", json.dumps({"v": 99}).encode(), json.dumps({"v": 1, "nodes": [[1]]}).encode(),
    GOOD[:7], GOOD[:len(GOOD) // 2], GOOD[:-4], GOOD[:-1], GOOD + b"\0" * 4,
    GOOD[:4] + bytes([CODEC_VERSION + 1]) + GOOD[5:],  # another version
    GOOD[:5] + b"\x03" + GOOD[6:],  # bad number width
    b"XBAG" + GOOD[4:],  # bad magic
    GOOD.replace(b'"counts":[', b'"counts":[1,', 1),  # counts that do not add up
])
def test_bad_input_is_a_graph_error(bad):
    with pytest.raises(GraphError, match="not an encoded ArchGraph"):
        loads(bad)
