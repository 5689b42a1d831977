"""Weightless ONNX graph of the NAS-Bench-NLP language model for a recurrent cell (one time step).

Faithful to the benchmark's release code, fmsnew/nas-bench-nlp-release (sources per choice; the
same choices, in PyTorch, are :mod:`nabench.spaces.nasbench_nlp_torch`):

- ``model.py`` (``AWDRNNModel``) with the arguments of ``main_one_model_train.py`` (``emsize``
  400, ``nhid`` 600, ``nlayers`` 3, ``tied=True``): embedding ``Gather(encoder.weight [33278,
  400], token)``; three ``CustomRNN`` layers 400→600, 600→600, 600→400 (the last hidden size is
  ``emsize`` because the weights are tied); decoder ``Gemm(h, encoder.weight, decoder.bias,
  transB=1)`` → logits [1, 33278] (the tied weight is one tensor; WikiText-2 vocabulary 33,278).
- ``custom_rnn.py`` (``CustomRNNCell``): the cell recipe ``{node: {op, input}}`` over leaves
  ``x`` (the layer input) and ``h_prev_i``; outputs ``h_new_0 .. h_new_{k-1}``; the layer output
  (next layer's ``x``) is ``h_new_0``. Ops: ``activation_tanh`` → Tanh, ``activation_sigm`` →
  Sigmoid, ``activation_leaky_relu`` → LeakyRelu(0.01); ``elementwise_sum`` / ``_prod`` → Add /
  Mul folded left; ``blend(z, a, b)`` → ``Add(Mul(z, a), Mul(Sub(1, z), b))``.
- ``multilinear.py`` (``MultiLinear``): ``linear`` over inputs ``x_0..x_n`` has one weight
  ``[hidden, in_i]`` per input (``in_i`` = layer input size for ``x``, hidden size otherwise) and
  ONE bias: ``Gemm(x_0, W_0, bias, transB=1)`` then ``+ MatMul(x_i, Transpose(W_i))`` per further
  input, op for op as ``torch.onnx.export`` writes ``F.linear`` with and without bias.
  Every recipe node is emitted, also those that do not reach an ``h_new`` (their weights exist in
  the trained model and in the published count).

Unit: ONE time step, batch 1 (a sequence is this graph unrolled; the step is what differs between
architectures). Graph inputs: ``tokens`` int64 [1], then ``rnns.{l}.h_prev_{i}`` float [1,
hidden_l] for each layer l and state index i. Outputs: ``logits`` [1, 33278], then
``rnns.{l}.h_new_{i}``. Dropouts (embedding, locked, WeightDrop) are training-only: not in the graph.

Parameter convention: the published ``num_params`` (``main_one_model_train.py``: ``sum`` of
``numel`` over ``parameters()``, the tied weight once) = embedding 33278×400 + decoder bias 33278
+ every MultiLinear's weights and bias. ``nabench.graph.from_onnx(graph).params`` equals it on all
291 corpus rows. Weightless graphs declare their weights as typed graph inputs listed in
``metadata_props["nabench.weights"]`` (the embedding feeds Gather, which does not mark an input as
a weight by itself); weight names are the torch module's ``state_dict`` keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import NodeProto, TensorProto, helper, numpy_helper

from nabench.onnx_build import builder as B
from nabench.spaces.nasbench_nlp_torch import (
    EMSIZE,
    LEAKY_SLOPE,
    NHID,
    NLAYERS,
    NTOKENS,
    layer_sizes,
    parse_recipe,
)

CORPUS = "nasbench-nlp"
SPACE = "nasbench-nlp"

_GEMM_ATTRS = (helper.make_attribute("alpha", 1.0), helper.make_attribute("beta", 1.0),
               helper.make_attribute("transB", 1))
_PERM = (helper.make_attribute("perm", [1, 0]),)
_LEAKY = (helper.make_attribute("alpha", LEAKY_SLOPE),)
_UNARY = {"activation_tanh": ("Tanh", ()), "activation_sigm": ("Sigmoid", ()),
          "activation_leaky_relu": ("LeakyRelu", _LEAKY)}


def _one(b: B.GraphBuilder) -> str:
    if "one" not in b.shapes:
        n = NodeProto()
        n.op_type, n.name = "Constant", "one"
        n.output.append("one")
        n.attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.array(1.0, np.float32))))
        b.nodes.append(n)
        b.shapes["one"] = ()
    return "one"


def _cell(b: B.GraphBuilder, l: int, x: str, recipe: dict, order: list[str], n_in: int, hid: int) -> None:
    p = f"rnns.{l}"
    val = {"x": x, **{f"h_prev_{i}": f"{p}.h_prev_{i}" for i in range(len(recipe))}}
    shape = (1, hid)
    for name in order:
        op, ins = recipe[name]["op"], [val[i] for i in recipe[name]["input"]]
        out = f"{p}.{name}"
        if op == "linear":
            w = f"{p}.cell.components.{name}"
            sizes = [n_in if i == "x" else hid for i in recipe[name]["input"]]
            bias = b.weight(f"{w}.bias", (hid,))
            terms = [b.node("Gemm", [ins[0], b.weight(f"{w}.weights.0", (hid, sizes[0])), bias],
                            f"{out}/gemm" if len(ins) > 1 else out, shape, _GEMM_ATTRS)]
            for k in range(1, len(ins)):
                t = b.node("Transpose", [b.weight(f"{w}.weights.{k}", (hid, sizes[k]))], f"{out}/t{k}",
                           (sizes[k], hid), _PERM)
                terms.append(b.node("MatMul", [ins[k], t], f"{out}/mm{k}", shape))
            acc = terms[0]
            for k in range(1, len(terms)):
                acc = b.node("Add", [acc, terms[k]], out if k == len(terms) - 1 else f"{out}/add{k}", shape)
        elif op in _UNARY:
            t, attrs = _UNARY[op]
            acc = b.node(t, [ins[0]], out, shape, attrs)
        elif op == "blend":
            z, a, c = ins
            za = b.node("Mul", [z, a], f"{out}/za", shape)
            nz = b.node("Sub", [_one(b), z], f"{out}/1mz", shape)
            acc = b.node("Add", [za, b.node("Mul", [nz, c], f"{out}/zb", shape)], out, shape)
        else:
            t = "Add" if op == "elementwise_sum" else "Mul"
            acc = ins[0]
            for k in range(1, len(ins)):
                acc = b.node(t, [acc, ins[k]], out if k == len(ins) - 1 else f"{out}/{k}", shape)
        val[name] = acc


def build_builder(recipe: str | Mapping[str, Any], *, ntokens: int = NTOKENS, emsize: int = EMSIZE,
                  nhid: int = NHID, nlayers: int = NLAYERS,
                  weights: None | str | Mapping[str, np.ndarray] = None, seed: int = 0) -> B.GraphBuilder:
    """The populated :class:`~nabench.onnx_build.builder.GraphBuilder` of one time step."""
    rec, order, n_state = parse_recipe(recipe)
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    b = B.GraphBuilder("nasbench_nlp", weights=weights, seed=seed)
    b.inputs.append(helper.make_tensor_value_info("tokens", TensorProto.INT64, [1]))
    b.shapes["tokens"] = (1,)
    sizes = layer_sizes(emsize, nhid, nlayers)
    for l, (_, hid) in enumerate(sizes):
        for i in range(n_state):
            b.input(f"rnns.{l}.h_prev_{i}", (1, hid))
    emb = b.weight("encoder.weight", (ntokens, emsize))
    x = b.node("Gather", [emb, "tokens"], "encoder", (1, emsize))
    for l, (n_in, hid) in enumerate(sizes):
        _cell(b, l, x, rec, order, n_in, hid)
        x = f"rnns.{l}.h_new_0"
    b.output(b.node("Gemm", [x, emb, b.weight("decoder.bias", (ntokens,))], "logits", (1, ntokens), _GEMM_ATTRS))
    for l in range(nlayers):
        for i in range(n_state):
            b.output(f"rnns.{l}.h_new_{i}")
    return b


def build_nasbench_nlp(recipe: str | Mapping[str, Any], *, ntokens: int = NTOKENS, emsize: int = EMSIZE,
                       nhid: int = NHID, nlayers: int = NLAYERS,
                       weights: None | str | Mapping[str, np.ndarray] = None,
                       metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of one time step of the NAS-Bench-NLP language model with cell ``recipe`` (JSON
    text or dict). ``weights=None``: weightless (weights are typed graph inputs listed in
    ``metadata_props["nabench.weights"]``); ``"random"``: seeded random initializers; a mapping
    (e.g. ``NLPLanguageModel.state_dict()``): those values. ``metadata`` (default: space) is
    written to ``metadata_props``."""
    b = build_builder(recipe, ntokens=ntokens, emsize=emsize, nhid=nhid, nlayers=nlayers, weights=weights,
                      seed=seed)
    meta = dict(metadata) if metadata is not None else {"space": SPACE}
    if weights is None:
        n_data = 1 + sum(1 for i in b.inputs if ".h_prev_" in i.name)
        meta["nabench.weights"] = ",".join(i.name for i in b.inputs[n_data:])
    return b.model(meta)


def graph_params(recipe: str | Mapping[str, Any], **kw) -> int:
    """Parameters of the model (the published ``num_params`` convention)."""
    return build_builder(recipe, **kw).n_params


def from_record(record: Mapping[str, Any], corpus: str, *, weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None) -> onnx.ModelProto:
    """The graph of one row of the ``nasbench-nlp`` corpus (spec column ``recipe``)."""
    if corpus != CORPUS:
        raise ValueError(f"corpus: expected {CORPUS!r}, got {corpus!r}")
    if "recipe" not in record or not isinstance(record["recipe"], (str, Mapping)):
        raise ValueError("recipe: missing or not a JSON string in the record")
    meta = metadata
    if meta is None:
        meta = {"space": SPACE}
        if record.get("native_id") is not None:
            meta["native_id"] = str(record["native_id"])
    return build_nasbench_nlp(record["recipe"], weights=weights, metadata=meta)
