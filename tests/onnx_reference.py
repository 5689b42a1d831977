"""Shared test helpers: compare a nabench-built ONNX graph with torch.onnx.export of the
project's own PyTorch reference module for the same architecture."""

from __future__ import annotations

import io
import warnings

import onnx

from nabench.onnx_build import builder as B

_PLUMBING = {"Identity", "Constant", "Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "Cast"}


def normalized(model: onnx.ModelProto) -> tuple[dict[str, int], int]:
    """(op multiset, trainable params) after normalizing export artifacts: plumbing ops dropped
    (Identity/Constant/Shape...; constants are compared by value), common subexpressions merged
    (TorchScript merges identical ``Relu(x)`` of several ReLUConvBN on one node), dead nodes
    removed (TorchScript drops branches that do not reach the output, e.g. a conv on node 2 when
    every edge leaving node 2 is ``none``)."""
    g = model.graph
    consts: dict[str, str] = {}
    for n in g.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = "const:" + onnx.numpy_helper.to_array(n.attribute[0].t).tobytes().hex()
    for t in g.initializer:
        if not t.dims:  # scalar initializers are constants, not weights
            consts[t.name] = "const:" + onnx.numpy_helper.to_array(t).tobytes().hex()
    alias: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    weights = set().union(*B.weight_names(model)) | {t.name for t in g.initializer}
    data = {i.name for i in g.input} - weights  # tensors computed from the network input
    nodes = []
    for n in g.node:
        ins = tuple(consts.get(alias.get(i, i), alias.get(i, i)) for i in n.input)
        if n.op_type in _PLUMBING:
            if n.op_type == "Identity":
                alias[n.output[0]] = ins[0]
            if n.op_type != "Concat" or not any(i in data for i in ins):
                continue  # shape plumbing; a Concat of data tensors (channel concat) is a real op
        key = (n.op_type, ins, tuple(a.SerializeToString() for a in n.attribute))
        data.add(n.output[0])
        if key in seen:
            alias[n.output[0]] = seen[key]
            continue
        seen[key] = n.output[0]
        nodes.append((n.op_type, ins, n.output[0]))
    live = {alias.get(o.name, o.name) for o in g.output}
    kept = []
    for op, ins, out in reversed(nodes):
        if out in live:
            kept.append((op, ins))
            live.update(ins)
    ops: dict[str, int] = {}
    for op, _ in kept:
        ops[op] = ops.get(op, 0) + 1
    params, _ = B.weight_names(model)
    sizes = B._sizes(model)
    return ops, sum(sizes[w] for w in params if w in live)



def export(net, input_shape: tuple[int, ...]) -> onnx.ModelProto:
    """``torch.onnx.export`` (TorchScript exporter) of ``net`` in eval mode, initializers as inputs."""
    import torch

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.zeros(*input_shape),), f, dynamo=False, do_constant_folding=False,
                          keep_initializers_as_inputs=True)
    return onnx.load_from_string(f.getvalue())


def randomized(net):
    """``net`` in eval mode with seeded random weights and positive BN running variances."""
    import torch

    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.dtype.is_floating_point:
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.3)
    return net.eval()


