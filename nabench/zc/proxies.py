"""Zero-cost proxies and the engine that computes a chosen set of them with shared passes.

Definitions follow the original papers as implemented in NAS-Bench-Suite-Zero / NASLib
(``naslib/predictors/pruners/measures``) and, for ZiCo and GradSign, their authors' code.
"Layers" are the ``nn.Conv*`` and ``nn.Linear`` modules (NASLib's ``get_layer_metric_array``);
a proxy summed "over weights" is summed over those layers' ``weight`` tensors only. Data-
dependent proxies use one batch ``(x, y)`` with the network in training mode (BatchNorm uses
batch statistics) and the cross-entropy loss.

Sharing (see :func:`compute`): one forward pass serves nwot (ReLU-input hooks), fisher
(conv/linear output hooks), grad_norm/snip/plain/grasp (one ``autograd.grad`` of the loss over
the layer weights, with ``create_graph`` only when grasp is asked for), jacov/epe_nas (one
input-Jacobian of ``sum(logits)``) and zico (two half-batch gradients); grasp adds one
Hessian-gradient product (NASLib's ``Σ -W ⊙ H g`` as one double backward). Only the layer
weights require grad during that pass (no BatchNorm/bias gradients are computed); without any
gradient proxy (nwot alone) it runs under ``no_grad``. synflow (batch 1 of ones, float64,
BatchNorm bypassed, |weights|; parameters restored afterwards), zen (Gaussian
re-initialization, two forwards of Gaussian noise, channels-last) and gradsign (per-sample
gradients) need their own passes and run after, in that order, on the same module (which is
modified: score a fresh module each time). Every proxy computed together equals it computed
alone (tests/test_zc_proxies.py).

Inputs: data-dependent proxies take one batch ``(x, y)``. synflow and zen build their own
inputs from :class:`InputSpec` s, so they also work on models with several inputs (a GNN's node
features and adjacency, a recurrent cell's token ids and hidden states): float inputs get ones
(synflow) or Gaussian noise (zen), integer inputs zeros; zen refuses a square N×N structure
input (an adjacency has no Gaussian value).

Every proxy is oriented so that *higher_is_better* says how it ranks architectures as
published (all of the 15 rank "higher score → better" in their papers; jacov is the negated
log-eigen sum, so higher is better too). A proxy that fails or is NaN/inf is reported as a
failure with its reason, never as a number.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nabench.errors import NabenchError


class ProxyError(NabenchError):
    """An unknown proxy name or unusable input to the engine."""


@dataclass(frozen=True)
class Proxy:
    """A zero-cost proxy: its name, orientation, what it needs, and where it comes from."""

    name: str
    higher_is_better: bool
    needs_data: bool
    description: str
    reference: str

    def score(self, module: nn.Module, inputs: torch.Tensor | None = None, targets: torch.Tensor | None = None,
              **kwargs) -> float:
        """This proxy alone on ``module`` (see :func:`compute` for the keyword arguments);
        raises :class:`ProxyError` if it fails."""
        result = compute(module, inputs, targets, [self.name], **kwargs)
        if self.name in result.failures:
            raise ProxyError(f"{self.name}: {result.failures[self.name]}")
        return result.scores[self.name]


def _p(name, hib, data, desc, ref) -> Proxy:
    return Proxy(name, hib, data, desc, ref)


#: The 15 proxies, in NAS-Bench-Suite-Zero order then the two later ones.
PROXIES: dict[str, Proxy] = {p.name: p for p in [
    _p("epe_nas", True, True, "Σ over classes of |Σ log(|corr(J_c)| + 1e-5)|, J_c the input Jacobians of "
       "sum(logits) of class c's samples (÷ #samples per class matrix when > 100 classes)", "Lopes et al. 2021"),
    _p("fisher", True, True, "Σ over layers and output channels k of ½·mean_n(Σ_spatial act·∂L/∂act)², each "
       "channel counted once per weight it feeds (NASLib's channel→weight broadcast)", "Turner et al. 2020"),
    _p("flops", True, False, "MACs of the graph in millions (nabench convention, see nabench.graph.flops)", "-"),
    _p("grad_norm", True, True, "Σ over layers of ‖∂L/∂W‖₂", "Abdelfattah et al. 2021"),
    _p("grasp", True, True, "Σ -W ⊙ (H g), g = ∂L/∂W, H the Hessian of L over the layer weights", "Wang et al. 2020"),
    _p("jacov", True, True, "-Σ_i log(λ_i + 1e-5) + 1/(λ_i + 1e-5), λ the eigenvalues of the correlation "
       "matrix of the per-sample input Jacobians of sum(logits)", "Mellor et al. 2021 (v1)"),
    _p("l2_norm", True, False, "Σ over layers of ‖W‖₂ at initialization", "Abdelfattah et al. 2021"),
    _p("nwot", True, True, "log|K|, K_ij = Σ over ReLUs of #units where samples i and j have the same "
       "on/off pattern of the ReLU input", "Mellor et al. 2021 (v2)"),
    _p("params", True, False, "trainable parameters in millions", "-"),
    _p("plain", True, True, "Σ W ⊙ ∂L/∂W (signed)", "Abdelfattah et al. 2021"),
    _p("snip", True, True, "Σ |W ⊙ ∂L/∂W|", "Lee et al. 2019"),
    _p("synflow", True, False, "log Σ |W ⊙ ∂R/∂W|, R = Σ f(1) of the float64 network with |W|, BatchNorm "
       "bypassed, input of ones (NASLib's log, sign kept)", "Tanaka et al. 2020"),
    _p("zen", True, False, "log E‖f(x) − f(x + 0.01ε)‖₁ + Σ_BN log √mean(running_var), pre-pooling features, "
       "Gaussian N(0,1) weights, Gaussian inputs", "Lin et al. 2021"),
    _p("gradsign", True, True, "Σ over weights of |Σ_n sign(∂L_n/∂W)|, per-sample gradients", "Zhang & Jia 2022"),
    _p("zico", True, True, "Σ over layers of log Σ_w mean|g_w| / std(g_w), over 2 half-batches", "Li et al. 2023"),
]}
# Module-level handles for the ``nabench.proxies`` entry points.
EPE_NAS, FISHER, FLOPS, GRAD_NORM, GRASP, JACOV, L2_NORM, NWOT, PARAMS, PLAIN, SNIP, SYNFLOW, ZEN, GRADSIGN, ZICO = (
    PROXIES.values())
#: The 13 proxies NAS-Bench-Suite-Zero published.
SUITE_ZERO = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params", "plain",
              "snip", "synflow", "zen")
ENSEMBLE = "ensemble"
#: Default members of the rank-vote ensemble.
ENSEMBLE_MEMBERS = ("synflow", "nwot", "jacov", "params", "flops")


@dataclass(frozen=True)
class RankVote:
    """The rank-vote ensemble: mean oriented rank of ``members`` (an across-architecture score)."""

    name: str = ENSEMBLE
    higher_is_better: bool = True
    members: tuple[str, ...] = ENSEMBLE_MEMBERS

    def combine(self, scores: "dict[str, Sequence[float]]") -> np.ndarray:
        return rank_vote({m: scores[m] for m in self.members})


RANK_VOTE = RankVote()


def naslib_nb201_mflops(arch_str: str) -> float:
    """NASLib's published NB201 ``flops`` (MFLOPs) of a cell.

    Units: the ``flops`` proxy is nabench's graph count (MACs plus one per element of BN/ReLU/
    pool/add, :mod:`nabench.graph.flops`), in millions. NAS-Bench-201's own convention
    (:func:`nabench.onnx_build.nb201.nb201_flops`: conv/linear MACs, bias adds, pooling) plus
    NASLib's per-element extras gives the published numbers: 3 per output element of each
    ReLU→Conv→BN cell edge ((16,384 + 8,192 + 4,096) × 5 cells × 3 = 0.43008 M per conv edge)
    and 0.136246 M in the fixed stem, reduction blocks and head. Exact on all 9,445 published
    cells (tests/test_zc_proxies.py).
    """
    from nabench.onnx_build.nb201 import nb201_flops
    from nabench.spaces import nb201

    n_conv = sum(op in ("nor_conv_3x3", "nor_conv_1x1") for op in nb201.parse(arch_str))
    return (nb201_flops(arch_str) + 430_080 * n_conv + 136_246) / 1e6


#: NASLib's FLOP count (tensorwatch's per-module hooks) minus nabench's graph count, per op
#: type: output elements times the weight below, plus a fixed offset. Its BatchNorm costs 2 per
#: element when affine (nabench: 1); the functional adds and multiply-by-zero ("none") are not
#: modules, so not counted; NB301's pooling ops carry a BatchNorm (affine=False). The offset is
#: the head's global pooling: a functional mean in NB101 (not counted: -512 x 8 x 8), a pooling
#: module counted another way in NB301 and TransNAS (fitted; exact on every published record).
_NASLIB_FLOPS_TERMS = {
    "nb101": ({"BatchNormalization": 1, "Add": -1}, -32_768),
    "nb301": ({"MaxPool": 1, "AveragePool": 1}, -24_064),
    "transnas-micro": ({"BatchNormalization": 1, "Add": -1, "Mul": -1}, 8_704),
}
#: Spaces :func:`naslib_mflops` converts.
NASLIB_FLOPS_SPACES = tuple(_NASLIB_FLOPS_TERMS)


def naslib_mflops(graph, space: str) -> float:
    """NASLib's published ``flops`` (MFLOPs) of an NB101, NB301 or TransNAS-Bench-101 micro
    network, from its :class:`~nabench.graph.ArchGraph` (the ``flops`` proxy is the graph's own
    count, :mod:`nabench.graph.flops`). Exact on every record with a published value
    (tests/test_zc_proxies.py); NB201: :func:`naslib_nb201_mflops`."""
    from nabench.graph.flops import numel

    if space not in _NASLIB_FLOPS_TERMS:
        raise ProxyError(f"no NASLib FLOP convention known for space {space!r} "
                         f"(known: {', '.join(_NASLIB_FLOPS_TERMS)}, nb201)")
    weights, offset = _NASLIB_FLOPS_TERMS[space]
    extra = sum(weights[n.op_type] * (numel(n.output_shapes[0]) or 0)
                for n in graph.nodes if n.op_type in weights and n.output_shapes)
    return (graph.flops + extra + offset) / 1e6


def get(name: str) -> Proxy:
    try:
        return PROXIES[name]
    except KeyError:
        raise ProxyError(f"unknown proxy {name!r} (known: {', '.join(PROXIES)}, {ENSEMBLE})") from None


def names() -> list[str]:
    return list(PROXIES)


@dataclass
class Result:
    """Scores, failure reasons and wall seconds per proxy (shared passes are split evenly)."""

    scores: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def module_device(module: nn.Module) -> torch.device:
    """The device of ``module``'s parameters and buffers (the CPU when it has none)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def layers(module: nn.Module) -> list[nn.Module]:
    """The conv and linear modules, in ``modules()`` order."""
    return [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d,
                                                           nn.Linear))]


def _batchnorms(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _logits(out) -> torch.Tensor:
    return out[0] if isinstance(out, (tuple, list)) else out


def _finite(name: str, value: float, result: Result) -> None:
    if value is None or not math.isfinite(value):
        result.failures[name] = f"non-finite value ({value})"
    else:
        result.scores[name] = float(value)


def jacov_score(jac: np.ndarray) -> float:
    corrs = np.corrcoef(jac)
    v = np.linalg.eigvalsh(corrs)
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def epe_nas_score(jac: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    k = 1e-5
    per_class = {}
    for c in np.unique(labels):
        rows = jac[labels == c]
        corrs = np.corrcoef(rows) if len(rows) > 1 else np.ones((1, 1))
        s = float(np.sum(np.log(np.abs(corrs) + k)))
        if n_classes > 100:
            s /= len(corrs)
        if math.isfinite(s):
            per_class[c] = s
    if n_classes <= 100:
        return float(sum(abs(s) for s in per_class.values()))
    vals = np.array(list(per_class.values()))
    return float(np.abs(vals[:, None] - vals[None, :]).sum() / max(1, len(vals)))


def _to_layout(module: nn.Module, tensors: Sequence[torch.Tensor], channels_last: bool) -> list[torch.Tensor]:
    """Put ``module`` and the 4-D ``tensors`` in channels-last (or contiguous NCHW) layout.

    Channels-last makes MKLDNN's CPU convolutions several times faster, but its float32 results
    are ~50 times less accurate (relative error 1e-6 on outputs, 6e-4 on weight gradients, 2e-3
    on grasp's Hessian product, against 3e-8, 1e-5 and 2e-4 in NCHW, measured against float64 on
    an NB201 cell) and the double backward mixes layouts and gets slower. So the gradient pass
    runs in NCHW and only zen's two forwards in channels-last."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if any(p.dim() == 4 for p in module.parameters()):
        module.to(memory_format=fmt)
    return [t.contiguous(memory_format=fmt) if torch.is_tensor(t) and t.dim() == 4 else t for t in tensors]


class _NwotKernel:
    """Forward hook for NASWOT: Σ over ReLUs of the Hamming-agreement kernel of their inputs.

    Several ReLUs often read the same tensor (every edge leaving an NB201 node); its kernel is
    computed once and counted once per ReLU, as the per-ReLU hooks of NASLib count it. Binary
    0/1 products are exact in float32; the sum is kept in float64 as NASLib's numpy sum is.
    """

    def __init__(self):
        self.k: torch.Tensor | None = None
        self._seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, mod, inp, out) -> None:
        t = inp[0]
        hit = self._seen.get(id(t))
        if hit is None or hit[0] is not t:
            a = (t.detach().reshape(t.shape[0], -1) > 0).to(torch.float32)
            r = a.sum(1)
            k = (2 * (a @ a.t()) - r[:, None] - r[None, :] + a.shape[1]).double()
            hit = self._seen[id(t)] = (t, k)
        self.k = hit[1] if self.k is None else self.k + hit[1]

    def release(self) -> None:
        self._seen.clear()


def _weight_grads(weights: list, grads: Sequence) -> list[torch.Tensor]:
    return [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]


def _total(values: Sequence[torch.Tensor]) -> float:
    """Sum of per-layer scalars in float64 (as the per-layer Python sums of NASLib are)."""
    return float(torch.stack(list(values)).double().sum())


def _main_pass(module: nn.Module, x: torch.Tensor, y: torch.Tensor, want: set, result: Result, loss_fn) -> None:
    """nwot, fisher, grad_norm, snip, plain, grasp, jacov, epe_nas, zico from one forward.

    One forward (training mode) with ReLU-input hooks (nwot) and conv/linear output hooks
    (fisher); one ``autograd.grad`` of the loss over the layer weights serves fisher, grad_norm,
    snip, plain and grasp (with ``create_graph`` when grasp is asked for, whose Hessian-gradient
    product is then one more backward of ``Σ stop_grad(g)·g``); one input-gradient of
    ``sum(logits)`` serves jacov and epe_nas.

    grasp's Hessian-gradient product is exact (double backward), about half the suite's work. A
    forward difference of gradients would cost one more forward/backward instead, but ReLU kinks
    make it useless: with relative steps from 1e-2 to 1e-5 its Spearman with the float64 value was
    at most 0.65 over 10-20 NB201 cells per step (float32 double backward: 1.0).
    """
    lay = layers(module)
    if not lay:
        raise ProxyError("the module has no conv/linear layers to score")
    need_jac = bool({"jacov", "epe_nas"} & want)
    need_grad = bool({"grad_norm", "snip", "plain", "grasp", "fisher"} & want)
    x, = _to_layout(module, [x], channels_last=False)
    weights = [m.weight for m in lay]
    hooks = []
    nwot = _NwotKernel() if "nwot" in want else None
    fisher_on = [True]
    fisher_vals: list[torch.Tensor] = []
    if nwot is not None:
        hooks += [m.register_forward_hook(nwot) for m in module.modules() if isinstance(m, nn.ReLU)]
    if "fisher" in want:
        def fisher_hook_factory(fan):
            def hook(mod, inp, out):
                if not out.requires_grad:
                    return
                act = out.detach()
                def grad_hook(grad):
                    if fisher_on[0]:
                        g = act * grad.detach()
                        g_nk = g.sum(tuple(range(2, g.dim()))) if g.dim() > 2 else g
                        fisher_vals.append(0.5 * g_nk.pow(2).mean(0).sum() * fan)
                out.register_hook(grad_hook)
            return hook
        for m in lay:
            hooks.append(m.register_forward_hook(fisher_hook_factory(int(np.prod(m.weight.shape[1:])))))
    weight_ids = {id(w) for w in weights}
    frozen = [p for p in module.parameters() if p.requires_grad and id(p) not in weight_ids]
    try:
        for p in frozen:  # only the layer weights are differentiated: no BN/bias gradients computed
            p.requires_grad_(False)
        module.train()
        module.zero_grad(set_to_none=True)
        if need_jac:
            x = x.clone().requires_grad_(True)
        with torch.set_grad_enabled(need_grad or need_jac or "zico" in want):
            out = _logits(module(x))
        for h in hooks:
            h.remove()
        hooks = []
        loss = loss_fn(out, y)
        if nwot is not None:
            nwot.release()
            _finite("nwot", float(torch.linalg.slogdet(nwot.k)[1]) if nwot.k is not None else float("nan"), result)
        grads = None
        if need_grad:
            grads = _weight_grads(weights, torch.autograd.grad(loss, weights, create_graph="grasp" in want,
                                                               retain_graph=True, allow_unused=True))
            fisher_on[0] = False
            with torch.no_grad():
                g_d = [g.detach() for g in grads]
                w_d = [w.detach() for w in weights]
                if "grad_norm" in want:
                    _finite("grad_norm", _total(torch._foreach_norm(g_d, 2)), result)
                if {"snip", "plain"} & want:
                    wg = torch._foreach_mul(w_d, g_d)
                    if "snip" in want:
                        _finite("snip", _total(torch._foreach_norm(wg, 1)), result)
                    if "plain" in want:
                        _finite("plain", _total([t.sum() for t in wg]), result)
                    del wg
                if "fisher" in want:
                    _finite("fisher", _total(fisher_vals) if fisher_vals else 0.0, result)
        if need_jac:
            jac = torch.autograd.grad(out, x, torch.ones_like(out), retain_graph=True)[0]
            jac = jac.reshape(jac.shape[0], -1).double().cpu().numpy()
            n_classes = out.shape[-1]
            for name, fn in (("jacov", lambda: jacov_score(jac)),
                             ("epe_nas", lambda: epe_nas_score(jac, y.cpu().numpy(), n_classes))):
                if name in want:
                    try:
                        _finite(name, fn(), result)
                    except (np.linalg.LinAlgError, ValueError) as e:
                        result.failures[name] = f"{type(e).__name__}: {e}"
        if "zico" in want:
            half = x.shape[0] // 2
            if half < 1:
                result.failures["zico"] = "needs a batch of at least 2"
            else:
                per = []
                for sl in (slice(0, half), slice(half, 2 * half)):
                    g = torch.autograd.grad(loss_fn(out[sl], y[sl]), weights, retain_graph=True, allow_unused=True)
                    per.append([gi.detach() for gi in _weight_grads(weights, g)])
                score = 0.0
                for g1, g2 in zip(*per):
                    stack = torch.stack([g1.reshape(-1), g2.reshape(-1)])
                    std = stack.std(0, unbiased=False)
                    nz = std != 0
                    s = float((stack.abs().mean(0)[nz] / std[nz]).sum()) if nz.any() else 0.0
                    if s != 0:
                        score += math.log(s)
                _finite("zico", score, result)
        if "grasp" in want:
            live = [(g.detach() * g).sum() for g in grads if g.requires_grad]
            if not live:
                result.failures["grasp"] = "no weight gradient depends on the weights"
            else:
                hg = torch.autograd.grad(torch.stack(live).sum(), weights, allow_unused=True)
                with torch.no_grad():
                    terms = [(w.detach() * h).sum() for w, h in zip(weights, hg) if h is not None]
                    _finite("grasp", -_total(terms) if terms else 0.0, result)
        del out, loss, grads
    finally:
        for h in hooks:
            h.remove()
        for p in frozen:
            p.requires_grad_(True)
        module.zero_grad(set_to_none=True)


@dataclass(frozen=True)
class InputSpec:
    """One data input of a module: ``dims`` are ints, or a name/``None`` for a symbolic size."""

    name: str
    dims: tuple
    dtype: torch.dtype = torch.float32


def image_specs(input_shape: Sequence[int]) -> list[InputSpec]:
    """The one NCHW-style input of an image network, batch symbolic, ``input_shape`` without it."""
    return [InputSpec("input", ("batch", *(int(d) for d in input_shape)))]


def example_inputs(specs: Sequence[InputSpec], size: int, fill: Callable[[list[int], torch.dtype], torch.Tensor],
                   dtype: torch.dtype | None = None, device: torch.device | None = None) -> list[torch.Tensor]:
    """One tensor per input, on ``device`` (default the CPU): float inputs from ``fill(shape,
    dtype)`` (made on the CPU, so a seeded fill gives the same values on every device), integer
    inputs (token ids, indices) zeros. Symbolic sizes become ``size``: the leading one (batch,
    number of graph nodes) and every other with the same name; any other symbolic size is an error."""
    out = []
    for spec in specs:
        lead = spec.dims[0] if spec.dims and not isinstance(spec.dims[0], int) else None
        shape = []
        for k, d in enumerate(spec.dims):
            if isinstance(d, int) and d > 0:
                shape.append(d)
            elif k == 0 or (d is not None and d == lead):
                shape.append(size)
            else:
                raise ProxyError(f"input {spec.name!r} has a symbolic size at axis {k} ({d!r}); "
                                 "pass input_shape or a batch")
        if spec.dtype.is_floating_point:
            out.append(fill(shape, dtype or spec.dtype))
        else:
            out.append(torch.zeros(shape, dtype=spec.dtype))
    return [t.to(device) for t in out] if device is not None else out


def synflow(module: nn.Module, specs: Sequence[InputSpec]) -> float:
    """NASLib synflow (log of the sum, sign kept) on the float64 module with |parameters| and
    |persistent buffers| (NASLib's ``state_dict`` linearization; constants of a converted graph,
    such as a GCN's -1/2 exponent, keep their sign).

    Input: NASLib's single sample of ones (symbolic sizes 1) for every float input; integer
    inputs (token ids, indices) are zeros. Parameters and buffers are restored afterwards, so
    proxies computed after it (zen keeps the parameters it does not re-initialize) see the
    module as built."""
    bns = _batchnorms(module)
    for bn in bns:
        bn.forward = lambda t: t
    saved = {name: t.detach().clone() for name, t in list(module.named_parameters()) + list(module.named_buffers())}
    try:
        _to_layout(module, [], channels_last=False)
        module.double()
        with torch.no_grad():  # NASLib's linearize: |x| for every state_dict entry (weights, BN statistics)
            for t in module.state_dict().values():
                if t.is_floating_point():
                    t.abs_()
        module.zero_grad(set_to_none=True)
        xs = example_inputs(specs, 1, lambda shape, dt: torch.ones(shape, dtype=dt), dtype=torch.float64,
                            device=module_device(module))
        out = _logits(module(*xs))
        weights = [m.weight for m in layers(module)]
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
        with torch.no_grad():
            used = [(w, g) for w, g in zip(weights, grads) if g is not None]
            s = _total(torch._foreach_norm(torch._foreach_mul([w for w, _ in used], [g for _, g in used]), 1)) if used else 0.0
    finally:
        for bn in bns:
            del bn.forward
        module.float()
        with torch.no_grad():  # buffers are new tensors after .double()/.float(): restore by name
            current = dict(module.named_parameters()) | dict(module.named_buffers())
            for name, value in saved.items():
                current[name].copy_(value)
    if s == 0:
        return 0.0
    return math.log(s) if s > 0 else -math.log(-s)


def zen(module: nn.Module, specs: Sequence[InputSpec], batch_size: int, generator: torch.Generator,
        mixup_gamma: float = 1e-2) -> float:
    """Zen-NAS score; re-initializes ``module`` as Zen-NAS does (Gaussian weights, BN γ=1 β=0).

    Inputs: Gaussian ``x`` and ``x + mixup_gamma·ε`` for every float input (symbolic sizes
    ``batch_size``; integer inputs zeros and unperturbed). A float input that is square in one
    symbolic size (a graph's N×N adjacency) has no Gaussian value: :class:`ProxyError`."""
    for spec in specs:
        if spec.dtype.is_floating_point and len(spec.dims) >= 2 and len(set(spec.dims)) == 1 \
                and not isinstance(spec.dims[0], int):
            raise ProxyError(f"zen feeds Gaussian noise to every float input, and {spec.name!r} "
                             f"{list(spec.dims)} is a square structure input (a graph adjacency) for which "
                             "Gaussian noise is not a valid value")
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
                # drawn on the CPU (same layout), so the seeded weights are the same on every device
                m.weight.copy_(torch.empty_like(m.weight, device="cpu").normal_(generator=generator))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
        module.train()
        gauss = lambda shape, dt: torch.randn(shape, generator=generator, dtype=dt)  # noqa: E731
        dev = module_device(module)
        xs = example_inputs(specs, batch_size, gauss, device=dev)
        noise = example_inputs(specs, batch_size, gauss, device=dev)
        mixed = [x + mixup_gamma * e if x.is_floating_point() else x for x, e in zip(xs, noise)]
        xs = _to_layout(module, xs, channels_last=True)
        mixed = _to_layout(module, mixed, channels_last=True)
        out1 = _logits(module(*xs))
        f1 = getattr(module, "features", None)
        f1 = out1 if f1 is None else f1
        out2 = _logits(module(*mixed))
        f2 = getattr(module, "features", None)
        f2 = out2 if f2 is None else f2
        dims = tuple(range(1, f1.dim()))
        diff = torch.abs(f1 - f2).sum(dim=dims).mean()
        if not torch.isfinite(diff) or diff == 0:
            raise ProxyError(_zen_reason(module, xs, diff))
        score = torch.log(diff)
        for bn in _batchnorms(module):
            if bn.running_var is not None:
                score = score + torch.log(torch.sqrt(bn.running_var.mean()))
    return float(score)


def _zen_reason(module: nn.Module, xs: list[torch.Tensor], diff: torch.Tensor) -> str:
    """Why zen has no value: the first op giving NaN/inf (for converted modules), or saturation."""
    fed = ", ".join(getattr(module, "input_names", [])) or "the input"
    if diff == 0:
        return (f"f(x) and f(x + 0.01·ε) are identical after Zen-NAS's N(0,1) re-initialization "
                f"(saturated activations); Gaussian noise was fed to {fed}")
    where = module.first_nonfinite(*xs) if hasattr(module, "first_nonfinite") else None
    at = f" (first at {where})" if where else ""
    return (f"the network's output is {float(diff)} on Zen-NAS's Gaussian inputs{at}; Gaussian noise is fed to "
            f"every float input ({fed}), which is not a valid value for every kind of input (e.g. a graph adjacency)")


def gradsign(module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn) -> float:
    """GradSign: Σ |Σ_n sign(∂L_n/∂W)| over per-sample (batch-1) gradients of the layer weights."""
    module.train()
    weights = [m.weight for m in layers(module)]
    total = None
    for i in range(x.shape[0]):
        out = _logits(module(x[i:i + 1]))
        g = torch.autograd.grad(loss_fn(out, y[i:i + 1]), weights, allow_unused=True)
        flat = torch.cat([torch.zeros(w.numel(), device=w.device) if gi is None else gi.reshape(-1).sign()
                          for w, gi in zip(weights, g)])
        total = flat if total is None else total + flat
    return float(total.abs().sum())


def compute(module: nn.Module, inputs: torch.Tensor | None, targets: torch.Tensor | None,
            proxies: Iterable[str], *, flops: float | None = None, input_shape: Sequence[int] | None = None,
            input_specs: Sequence[InputSpec] | None = None, loss_fn: Callable = F.cross_entropy,
            seed: int = 0) -> Result:
    """Compute ``proxies`` on ``module`` (modified in place: pass a freshly built one).

    ``inputs``/``targets``: the batch for data-dependent proxies (one float input, e.g. NCHW
    images, and int64 labels). ``flops``: the graph's FLOPs in millions (the ``flops`` proxy
    reads it; the module cannot tell). synflow and zen build their own inputs: for a
    single-input image network from ``input_shape`` (without batch; default
    ``inputs.shape[1:]``), for any other module (several inputs, graphs, token ids) from
    ``input_specs``. ``seed`` seeds zen's Gaussian re-initialization and inputs.
    Runs where ``module`` is (move it to a GPU first to compute there): the batch is moved to its
    device; seeded random values are drawn on the CPU, so they do not depend on the device.
    """
    want = list(dict.fromkeys(proxies))
    for n in want:
        get(n)
    result = Result()
    dev = module_device(module)
    inputs = inputs.to(dev) if inputs is not None else None
    targets = targets.to(dev) if targets is not None else None
    if inputs is not None and input_specs is None:
        input_shape = tuple(inputs.shape[1:])
    needs_data = [n for n in want if PROXIES[n].needs_data]
    if needs_data and (inputs is None or targets is None):
        raise ProxyError(f"proxies {', '.join(needs_data)} need a batch of inputs and targets")
    specs = list(input_specs) if input_specs is not None else image_specs(input_shape) if input_shape is not None else None
    if specs is None and {"synflow", "zen"} & set(want):
        raise ProxyError("synflow and zen need input_shape or input_specs (or a batch)")

    with _full_float32():
        _run_proxies(module, inputs, targets, want, specs, flops, loss_fn, seed, result)
    return result


@contextmanager
def _full_float32() -> Iterator[None]:
    """While inside: cuDNN convolutions in full float32 (restored afterwards). PyTorch lets them
    use TF32 (10-bit mantissa) on GPUs by default, the CPU never does; with TF32, epe_nas (logs
    of Jacobian correlations) ranked 14 NB201 cells with Spearman 0.92 against the CPU's."""
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = old


def _run_proxies(module: nn.Module, inputs, targets, want: list[str], specs, flops, loss_fn, seed: int,
                 result: Result) -> None:
    """The body of :func:`compute`: each group of proxies timed, failures recorded in ``result``."""
    def run(names: list[str], fn: Callable[[], None]) -> None:
        if not names:
            return
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 -- any failure is recorded for this cell, never fatal
            for n in names:
                if n not in result.scores:
                    result.failures[n] = f"{type(e).__name__}: {str(e)[:300]}"
        dt = (time.perf_counter() - t0) / len(names)
        for n in names:
            result.seconds[n] = dt

    if "params" in want:
        run(["params"], lambda: _finite("params", sum(p.numel() for p in module.parameters()) / 1e6, result))
    if "flops" in want:
        def do_flops():
            if flops is None:
                raise ProxyError("flops needs the graph's FLOPs (pass flops=)")
            _finite("flops", flops, result)
        run(["flops"], do_flops)
    if "l2_norm" in want:
        def do_l2():
            with torch.no_grad():
                norms = torch._foreach_norm([m.weight for m in layers(module)], 2)
            if not norms:
                raise ProxyError("the module has no conv/linear layers to score")
            _finite("l2_norm", _total(norms), result)
        run(["l2_norm"], do_l2)
    main = [n for n in want if n in ("nwot", "fisher", "grad_norm", "snip", "plain", "grasp", "jacov", "epe_nas", "zico")]
    run(main, lambda: _main_pass(module, inputs, targets, set(main), result, loss_fn))
    if "gradsign" in want:
        run(["gradsign"], lambda: _finite("gradsign", gradsign(module, inputs, targets, loss_fn), result))
    if "synflow" in want:
        run(["synflow"], lambda: _finite("synflow", synflow(module, specs), result))
    if "zen" in want:
        gen = torch.Generator().manual_seed(seed)
        bs = inputs.shape[0] if inputs is not None else 64
        run(["zen"], lambda: _finite("zen", zen(module, specs, bs, gen), result))


def rank_vote(scores: "dict[str, Sequence[float]]") -> np.ndarray:
    """Rank-vote ensemble: the mean over proxies of each architecture's rank (1 = worst), every
    proxy oriented by ``higher_is_better``; architectures a proxy failed on get that proxy's
    mean rank. Higher is better."""
    from scipy.stats import rankdata

    cols = []
    for name, values in scores.items():
        v = np.asarray(values, dtype=float)
        if not get(name).higher_is_better:
            v = -v
        r = np.full(v.shape, np.nan)
        ok = np.isfinite(v)
        r[ok] = rankdata(v[ok]) / max(1, ok.sum())
        r[~ok] = 0.5
        cols.append(r)
    if not cols:
        raise ProxyError("the ensemble needs at least one proxy")
    return np.mean(cols, axis=0)
