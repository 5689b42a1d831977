"""Weightless ONNX graph of the network NAS-Bench-301 trained for a DARTS genotype.

Macro skeleton (sources, read not copied; details in :mod:`nabench.spaces.nb301_torch`):

- NB301 trained its ~60k architectures with Auto-PyTorch's ``darts`` network
  (automl/nasbench301 ``nasbench301/data_generation/run_proxy.py``; network:
  automl/Auto-PyTorch ``autoPyTorch/components/networks/image/darts/model.py`` = quark0/darts
  ``cnn/model.py`` ``NetworkCIFAR`` + ``cnn/operations.py``) with
  ``nasbench301/data_generation/configs/config_0.json``: ``init_channels=32``, ``layers=8``,
  ``auxiliary=True``, ``drop_path_prob=0.2``; CIFAR-10, 32x32 input, 10 classes.
- stem Conv3x3(3→96)+BN; 8 cells, reductions at cells 2 and 5 (``layers//3``, ``2*layers//3``),
  C = 32/64/128; preprocess0 = FactorizedReduce after a reduction cell, else ReLUConvBN 1x1;
  preprocess1 = ReLUConvBN 1x1; 4 nodes each summing two ops; output concat of the 4 nodes;
  GlobalAveragePool → Linear(512 → 10).
- Not in the graph: the auxiliary head (training only; ``auxiliary=True`` adds it as a second
  output ``auxiliary_head.classifier``, +473,834 params at C=32 in the ``darts`` variant) and drop path.

Variants (``variant=``):

- ``"darts"`` (default): the trained network; cell-op BatchNorms affine (``OPS[name](C, stride,
  True)``), pools without BN.
- ``"naslib"``: NASLib's ``NasBench301SearchSpace`` (automl/NASLib
  ``naslib/search_spaces/nasbench301/graph.py``), on which NAS-Bench-Suite-Zero computed the
  published ``params`` proxy: cell ops built with ``affine=False`` and a
  ``BatchNorm2d(C, affine=False)`` after each pool. These settings (C=32, layers=8, no
  auxiliary head) reproduce the published ``cifar10__zc_params`` of all 725 rows exactly; the
  ``darts`` variant has 3,200–15,488 more parameters (the cell-op BN weights/biases).

Counting convention: trainable parameters = torch ``parameters()`` (BN running stats excluded).
An ``affine=False`` BatchNorm has no weight/bias, but ONNX BatchNormalization needs scale and B
inputs: they are written as ``Expand`` of the scalar constants 1 and 0 to shape ``[C]`` (one
pair per width, shared), so no constant tensor sits in a weight slot and
``nabench.graph.from_onnx(model).params`` equals ``parameters()`` (a torch export writes them
as ``[C]``-shaped Constant tensors, which ``from_onnx`` counts as params).

Op-level notes: ``skip_connect`` at stride 1 is no node (consumers read the tensor);
``x[:, :, 1:, 1:]`` of FactorizedReduce is two ``Slice`` nodes (axis 2, axis 3) as in a torch
export; sums are ``Add``, the cell output a ``Concat`` on channels. Weight names are the
``state_dict`` keys of :class:`nabench.spaces.nb301_torch.NB301Network`, so
``weights=net.state_dict()`` gives the same function.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from nabench.onnx_build import builder as B

#: NB301 ops (NASLib's compact-encoding order); NB301 has no ``none``.
OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
VARIANTS: dict[str, dict[str, bool]] = {
    "darts": {"affine": True, "pool_bn": False},
    "naslib": {"affine": False, "pool_bn": True},
}
CONCAT = [2, 3, 4, 5]

Cell = tuple[tuple[str, int], ...]


def reduction_layers(layers: int) -> tuple[int, int]:
    return layers // 3, 2 * layers // 3


# -- spec parsing -------------------------------------------------------------------------------
_GENO = re.compile(r"^\s*Genotype\(\s*normal\s*=\s*(\[.*?\])\s*,\s*normal_concat\s*=\s*(\[.*?\]|range\(2,\s*6\))\s*,"
                   r"\s*reduce\s*=\s*(\[.*?\])\s*,\s*reduce_concat\s*=\s*(\[.*?\]|range\(2,\s*6\))\s*\)\s*$", re.DOTALL)


def _concat_ok(text: str) -> bool:
    return text.replace(" ", "") in ("[2,3,4,5]", "range(2,6)")


def parse_cell(cell: Any, what: str = "cell") -> Cell:
    """A DARTS cell: 8 ``(op, input)`` pairs, two per intermediate node 2..5; checked."""
    if isinstance(cell, str):
        try:
            cell = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            raise ValueError(f"{what}: not a list of (op, input) pairs: {cell[:60]!r}") from None
    try:
        pairs = tuple((str(op), int(i)) for op, i in cell)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: not a list of (op, input) pairs: {str(cell)[:60]!r}") from None
    if len(pairs) != 8:
        raise ValueError(f"{what}: expected 8 (op, input) pairs, got {len(pairs)}")
    for k, (op, i) in enumerate(pairs):
        if op not in OPS:
            raise ValueError(f"{what}: unknown op {op!r} (NB301 ops: {', '.join(OPS)})")
        if not 0 <= i < k // 2 + 2:
            raise ValueError(f"{what}: input {i} is not available to intermediate node {k // 2 + 2}")
    for j in range(4):
        if pairs[2 * j][1] == pairs[2 * j + 1][1]:
            raise ValueError(f"{what}: node {j + 2} takes input {pairs[2 * j][1]} twice")
    return pairs


def parse_genotype(spec: Any) -> tuple[Cell, Cell]:
    """(normal, reduce) from a DARTS ``Genotype`` (object or its repr text), a ``(normal, reduce)``
    pair of (op, input) lists, or NASLib's compact form (text or nested tuples of (input, op-index))."""
    if hasattr(spec, "normal") and hasattr(spec, "reduce"):
        for attr in ("normal_concat", "reduce_concat"):
            if hasattr(spec, attr) and list(getattr(spec, attr)) != CONCAT:
                raise ValueError(f"{attr} must be {CONCAT}, got {list(getattr(spec, attr))}")
        return parse_cell(spec.normal, "normal"), parse_cell(spec.reduce, "reduce")
    if isinstance(spec, str):
        m = _GENO.match(spec)
        if m:
            if not (_concat_ok(m.group(2)) and _concat_ok(m.group(4))):
                raise ValueError(f"genotype: normal_concat and reduce_concat must be {CONCAT}")
            return parse_cell(m.group(1), "normal"), parse_cell(m.group(3), "reduce")
        try:
            spec = ast.literal_eval(spec)
        except (ValueError, SyntaxError):
            raise ValueError(f"genotype: not a DARTS Genotype or NASLib compact text: {spec[:60]!r}") from None
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        cells = []
        for what, cell in zip(("normal", "reduce"), spec):
            cell = list(cell) if isinstance(cell, (tuple, list)) else cell
            if isinstance(cell, list) and cell and all(isinstance(p, (tuple, list)) and len(p) == 2
                                                       and all(isinstance(v, (int, np.integer)) for v in p)
                                                       for p in cell):
                # NASLib compact: (input, op index)
                if not all(0 <= int(o) < len(OPS) for _, o in cell):
                    raise ValueError(f"{what}: op index out of range 0..{len(OPS) - 1}")
                cell = [(OPS[int(o)], int(i)) for i, o in cell]
            cells.append(parse_cell(cell, what))
        return cells[0], cells[1]
    raise ValueError(f"genotype: expected a DARTS Genotype, (normal, reduce) or NASLib compact form, got {type(spec).__name__}")


def genotype_text(normal: Cell, reduce: Cell) -> str:
    return (f"Genotype(normal={list(normal)}, normal_concat={CONCAT}, reduce={list(reduce)}, "
            f"reduce_concat={CONCAT})")


# -- layers the generic builder lacks ----------------------------------------------------------------
class _Ctx:
    """Per-graph shared constants (slice bounds, fixed BN scale/bias)."""

    def __init__(self, b: B.GraphBuilder, affine: bool):
        self.b = b
        self.affine = affine
        self.consts: dict[str, str] = {}

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.consts:
            n = onnx.NodeProto()
            n.op_type, n.name = "Constant", name
            n.output.append(name)
            n.attribute.append(helper.make_attribute("value", numpy_helper.from_array(value)))
            self.b.nodes.append(n)
            self.b.shapes[name] = value.shape
            self.consts[name] = name
        return name

    def fixed(self, c: int) -> tuple[str, str]:
        """Scale 1 and bias 0 of an ``affine=False`` BatchNorm, shape [c] (shared per width)."""
        ones, zeros = f"bn_fixed.ones.{c}", f"bn_fixed.zeros.{c}"
        if ones not in self.consts:
            shape = self.const(f"bn_fixed.shape.{c}", np.array([c], np.int64))
            one = self.const("bn_fixed.one", np.array(1.0, np.float32))
            zero = self.const("bn_fixed.zero", np.array(0.0, np.float32))
            self.b.node("Expand", [one, shape], ones, (c,))
            self.b.node("Expand", [zero, shape], zeros, (c,))
            self.consts[ones] = ones
            self.consts[zeros] = zeros
        return ones, zeros

    def bn(self, x: str, name: str, affine: bool = True) -> str:
        b = self.b
        if affine:
            return b.bn(x, name)
        c = b.shapes[x][1]
        ones, zeros = self.fixed(c)
        ins = [x, ones, zeros, b.weight(f"{name}.running_mean", (c,), buffer=True),
               b.weight(f"{name}.running_var", (c,), buffer=True, init="var")]
        b.layers.append(B.Layer("bn", name, b.shapes[x], b.shapes[x]))
        return b.node("BatchNormalization", ins, name, b.shapes[x], (B._attr("epsilon", 1e-5),))

    def conv(self, x: str, name: str, c_out: int, k: int, stride: int = 1, pad: int = 0, dilation: int = 1,
             groups: int = 1) -> str:
        b = self.b
        n, c_in, h, w = b.shapes[x]
        ek = dilation * (k - 1) + 1
        ho, wo = (h + 2 * pad - ek) // stride + 1, (w + 2 * pad - ek) // stride + 1
        ins = [x, b.weight(f"{name}.weight", (c_out, c_in // groups, k, k))]
        attrs = [B._attr("kernel_shape", [k, k]), B._attr("pads", [pad] * 4), B._attr("strides", [stride, stride])]
        if dilation != 1:
            attrs.append(B._attr("dilations", [dilation, dilation]))
        if groups != 1:
            attrs.append(B._attr("group", groups))
        out = (n, c_out, ho, wo)
        b.layers.append(B.Layer("conv", name, (n, c_in // groups, h, w), out, k, False, extra={"groups": groups}))
        return b.node("Conv", ins, name, out, tuple(attrs))

    def maxpool(self, x: str, name: str, stride: int) -> str:
        b = self.b
        n, c, h, w = b.shapes[x]
        out = (n, c, (h - 1) // stride + 1, (w - 1) // stride + 1)
        b.layers.append(B.Layer("pool", name, b.shapes[x], out, 3))
        return b.node("MaxPool", [x], name, out, (B._attr("kernel_shape", [3, 3]), B._attr("pads", [1] * 4),
                                                   B._attr("strides", [stride, stride])))

    def relu_conv_bn(self, x: str, p: str, c_out: int) -> str:
        y = self.conv(self.b.relu(x, f"{p}.op.0"), f"{p}.op.1", c_out, 1)
        return self.bn(y, f"{p}.op.2")

    def factorized_reduce(self, x: str, p: str, c_out: int, affine: bool) -> str:
        b = self.b
        r = b.relu(x, f"{p}.relu")
        a = self.conv(r, f"{p}.conv_1", c_out // 2, 1, 2)
        one = self.const("slice.one", np.array([1], np.int64))
        end = self.const("slice.end", np.array([np.iinfo(np.int64).max], np.int64))
        n, c, h, w = b.shapes[r]
        s = b.node("Slice", [r, one, end, self.const("slice.axis2", np.array([2], np.int64))], f"{p}.slice_h",
                   (n, c, h - 1, w))
        s = b.node("Slice", [s, one, end, self.const("slice.axis3", np.array([3], np.int64))], f"{p}.slice_w",
                   (n, c, h - 1, w - 1))
        s = self.conv(s, f"{p}.conv_2", c_out // 2, 1, 2)
        if b.shapes[a] != b.shapes[s]:
            raise ValueError(f"FactorizedReduce {p}: odd spatial size {h}x{w}")
        cat = b.node("Concat", [a, s], f"{p}.cat", (n, c_out) + b.shapes[a][2:], (B._attr("axis", 1),))
        return self.bn(cat, f"{p}.bn", affine)

    def op(self, name: str, x: str, p: str, stride: int, pool_bn: bool) -> str:
        b, c = self.b, self.b.shapes[x][1]
        if name == "skip_connect":
            return x if stride == 1 else self.factorized_reduce(x, p, c, self.affine)
        if name in ("max_pool_3x3", "avg_pool_3x3"):
            q = f"{p}.0" if pool_bn else p
            y = self.maxpool(x, q, stride) if name == "max_pool_3x3" else \
                b.avgpool(x, q, 3, stride, 1, count_include_pad=False)
            return self.bn(y, f"{p}.1", False) if pool_bn else y
        k = int(name[-1])
        if name.startswith("sep_conv"):
            y = self.conv(b.relu(x, f"{p}.op.0"), f"{p}.op.1", c, k, stride, k // 2, groups=c)
            y = self.bn(self.conv(y, f"{p}.op.2", c, 1), f"{p}.op.3", self.affine)
            y = self.conv(b.relu(y, f"{p}.op.4"), f"{p}.op.5", c, k, 1, k // 2, groups=c)
            return self.bn(self.conv(y, f"{p}.op.6", c, 1), f"{p}.op.7", self.affine)
        y = self.conv(b.relu(x, f"{p}.op.0"), f"{p}.op.1", c, k, stride, k - 1, dilation=2, groups=c)
        return self.bn(self.conv(y, f"{p}.op.2", c, 1), f"{p}.op.3", self.affine)

    def cell(self, k: int, cell: Cell, s0: str, s1: str, c: int, reduction: bool, reduction_prev: bool,
             pool_bn: bool) -> str:
        b, p = self.b, f"cells.{k}"
        s0 = self.factorized_reduce(s0, f"{p}.preprocess0", c, True) if reduction_prev else \
            self.relu_conv_bn(s0, f"{p}.preprocess0", c)
        s1 = self.relu_conv_bn(s1, f"{p}.preprocess1", c)
        states = [s0, s1]
        for j in range(4):
            terms = []
            for m in (2 * j, 2 * j + 1):
                name, i = cell[m]
                terms.append(self.op(name, states[i], f"{p}._ops.{m}", 2 if reduction and i < 2 else 1, pool_bn))
            states.append(b.add(terms[0], terms[1], f"{p}.n{j + 2}"))
        n, _, h, w = b.shapes[states[2]]
        return b.node("Concat", states[2:], p, (n, 4 * c, h, w), (B._attr("axis", 1),))


def build_builder(genotype: Any, *, C: int = 32, layers: int = 8, num_classes: int = 10, input_size: int = 32,
                  variant: str = "darts", auxiliary: bool = False,
                  weights: None | str | Mapping[str, np.ndarray] = None, seed: int = 0) -> B.GraphBuilder:
    """The populated :class:`~nabench.onnx_build.builder.GraphBuilder` of one network."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if input_size % 4 or input_size <= 0:
        raise ValueError(f"input_size must be a positive multiple of 4 (two FactorizedReduce), got {input_size}")
    if C <= 0 or C % 2 or layers < 3:
        raise ValueError(f"C must be even and positive and layers >= 3, got C={C}, layers={layers}")
    normal, reduce = parse_genotype(genotype)
    affine, pool_bn = VARIANTS[variant]["affine"], VARIANTS[variant]["pool_bn"]
    if isinstance(weights, Mapping):
        weights = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in weights.items()}
    b = B.GraphBuilder("nb301", weights=weights, seed=seed)
    ctx = _Ctx(b, affine)
    x = b.input("input", (1, 3, input_size, input_size))
    s0 = s1 = b.bn(ctx.conv(x, "stem.0", 3 * C, 3, 1, 1), "stem.1")
    reds = reduction_layers(layers)
    c, red_prev, aux = C, False, None
    for i in range(layers):
        red = i in reds
        if red:
            c *= 2
        s0, s1 = s1, ctx.cell(i, reduce if red else normal, s0, s1, c, red, red_prev, pool_bn)
        red_prev = red
        if i == 2 * layers // 3 and auxiliary:
            aux = s1
    y = b.flatten(b.global_avgpool(s1, "global_pooling"), "flatten")
    b.output(b.gemm(y, "classifier", num_classes))
    if aux is not None:
        p = "auxiliary_head.features"
        y = b.avgpool(b.relu(aux, f"{p}.0"), f"{p}.1", 5, 3, 0, count_include_pad=False)
        y = b.relu(b.bn(ctx.conv(y, f"{p}.2", 128, 1), f"{p}.3"), f"{p}.4")
        y = b.relu(b.bn(ctx.conv(y, f"{p}.5", 768, 2), f"{p}.6"), f"{p}.7")
        b.output(b.gemm(b.flatten(y, "auxiliary_head.flatten"), "auxiliary_head.classifier", num_classes))
    return b


def _default_metadata(normal: Cell, reduce: Cell, variant: str) -> dict[str, str]:
    meta = {"space": "nb301", "native_id": genotype_text(normal, reduce)}
    if variant != "darts":
        meta["variant"] = variant
    return meta


def build_nb301(genotype: Any, *, C: int = 32, layers: int = 8, num_classes: int = 10, input_size: int = 32,
                variant: str = "darts", auxiliary: bool = False,
                weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None, seed: int = 0) -> onnx.ModelProto:
    """ONNX graph of the NB301 network for ``genotype`` (see :func:`parse_genotype` for the forms).

    Defaults are the trained NB301 network (C=32, 8 cells, CIFAR-10, no auxiliary head);
    ``variant="naslib"`` gives NASLib's network (the one behind the published Suite-Zero params).
    ``weights``: None (weightless: typed graph inputs), ``"random"`` (seeded) or a mapping such as
    ``NB301Network(...).state_dict()``. ``metadata`` goes to ``metadata_props`` (default: space,
    native id as Genotype text, and the variant when not ``darts``).
    """
    b = build_builder(genotype, C=C, layers=layers, num_classes=num_classes, input_size=input_size,
                      variant=variant, auxiliary=auxiliary, weights=weights, seed=seed)
    if metadata is None:
        metadata = _default_metadata(*parse_genotype(genotype), variant)
    return b.model(metadata)


def nb301_params(genotype: Any, **kw) -> int:
    """Trainable parameters (torch ``parameters()`` convention) of the network."""
    return build_builder(genotype, **kw).n_params


def from_record(record: Mapping[str, Any], corpus: str, *, weights: None | str | Mapping[str, np.ndarray] = None,
                metadata: Mapping[str, object] | None = None, variant: str = "darts") -> onnx.ModelProto:
    """The graph of one row of an ``nb301`` corpus, from its spec columns: ``genotype`` (DARTS
    Genotype text), else ``normal_cell`` + ``reduce_cell``. Raises ValueError naming the bad field."""
    if corpus != "nb301":
        raise ValueError(f"corpus {corpus!r} is not an NB301 corpus")
    geno = record.get("genotype")
    if isinstance(geno, str) and geno:
        try:
            spec: Any = parse_genotype(geno)
        except ValueError as e:
            raise ValueError(f"field 'genotype': {e}") from None
    else:
        cells = []
        for field in ("normal_cell", "reduce_cell"):
            v = record.get(field)
            if not isinstance(v, str) or not v:
                raise ValueError(f"field {field!r}: missing (and no 'genotype')")
            try:
                cells.append(parse_cell(v, field))
            except ValueError as e:
                raise ValueError(f"field {field!r}: {e}") from None
        spec = tuple(cells)
    if metadata is None:
        metadata = {"corpus": corpus, **_default_metadata(*spec, variant)}
        if record.get("native_id") is not None:
            metadata["native_id"] = str(record["native_id"])
    return build_nb301(spec, variant=variant, weights=weights, metadata=metadata)
