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
Hessian-gradient product. synflow (batch 1 of ones, float64, BatchNorm bypassed, |weights|),
zen (Gaussian re-initialization, two forwards of Gaussian noise) and gradsign (per-sample
gradients) need their own passes and run after, in that order, on the same module (which is
modified: score a fresh module each time).

Every proxy is oriented so that *higher_is_better* says how it ranks architectures as
published (all of the 15 rank "higher score → better" in their papers; jacov is the negated
log-eigen sum, so higher is better too). A proxy that fails or is NaN/inf is reported as a
failure with its reason, never as a number.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

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


def _main_pass(module: nn.Module, x: torch.Tensor, y: torch.Tensor, want: set, result: Result, loss_fn) -> None:
    """nwot, fisher, grad_norm, snip, plain, grasp, jacov, epe_nas, zico from one forward."""
    lay = layers(module)
    weights = [m.weight for m in lay]
    hooks = []
    nwot_k = [None]
    fisher_on = [True]
    fisher_vals: dict[int, torch.Tensor] = {}
    if "nwot" in want:
        def relu_hook(mod, inp, out):
            a = (inp[0].detach().reshape(inp[0].shape[0], -1) > 0).float()
            r = a.sum(1)
            k = 2 * (a @ a.t()) - r[:, None] - r[None, :] + a.shape[1]
            nwot_k[0] = k if nwot_k[0] is None else nwot_k[0] + k
        hooks += [m.register_forward_hook(relu_hook) for m in module.modules() if isinstance(m, nn.ReLU)]
    if "fisher" in want:
        def fisher_hook_factory(i, fan):
            def hook(mod, inp, out):
                if not out.requires_grad:
                    return
                act = out.detach()
                def grad_hook(grad):
                    if fisher_on[0]:
                        g = act * grad.detach()
                        g_nk = g.sum(tuple(range(2, g.dim()))) if g.dim() > 2 else g
                        val = 0.5 * g_nk.pow(2).mean(0).sum() * fan
                        fisher_vals[i] = fisher_vals.get(i, 0.0) + val
                out.register_hook(grad_hook)
            return hook
        for i, m in enumerate(lay):
            fan = int(np.prod(m.weight.shape[1:]))
            hooks.append(m.register_forward_hook(fisher_hook_factory(i, fan)))
    need_jac = bool({"jacov", "epe_nas"} & want)
    need_grad = bool({"grad_norm", "snip", "plain", "grasp", "fisher"} & want)
    try:
        module.train()
        module.zero_grad(set_to_none=True)
        if need_jac:
            x = x.clone().requires_grad_(True)
        out = _logits(module(x))
        for h in hooks:
            h.remove()
        hooks = []
        loss = loss_fn(out, y)
        if "nwot" in want:
            _finite("nwot", float(np.linalg.slogdet(nwot_k[0].double().numpy())[1]) if nwot_k[0] is not None
                    else float("nan"), result)
        if need_grad:
            grads = torch.autograd.grad(loss, weights, create_graph="grasp" in want, retain_graph=True, allow_unused=True)
            grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads)]
            with torch.no_grad():
                if "grad_norm" in want:
                    _finite("grad_norm", sum(float(g.norm()) for g in grads), result)
                if "snip" in want:
                    _finite("snip", sum(float((w * g).abs().sum()) for w, g in zip(weights, grads)), result)
                if "plain" in want:
                    _finite("plain", sum(float((w * g).sum()) for w, g in zip(weights, grads)), result)
                if "fisher" in want:
                    _finite("fisher", sum(float(v) for v in fisher_vals.values()), result)
            fisher_on[0] = False
        if need_jac:
            jac = torch.autograd.grad(out, x, torch.ones_like(out), retain_graph=True)[0]
            jac = jac.reshape(jac.shape[0], -1).double().numpy()
            n_classes = out.shape[-1]
            for name, fn in (("jacov", lambda: jacov_score(jac)),
                             ("epe_nas", lambda: epe_nas_score(jac, y.numpy(), n_classes))):
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
                    per.append([torch.zeros_like(w) if gi is None else gi.detach() for w, gi in zip(weights, g)])
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
            z = sum((g.detach() * g).sum() for g in grads if g.requires_grad)
            if not torch.is_tensor(z):
                result.failures["grasp"] = "no weight gradient depends on the weights"
            else:
                hg = torch.autograd.grad(z, weights, allow_unused=True)
                _finite("grasp", sum(float((-w.detach() * h).sum()) for w, h in zip(weights, hg) if h is not None), result)
        del out, loss
    finally:
        for h in hooks:
            h.remove()
        module.zero_grad(set_to_none=True)


def synflow(module: nn.Module, input_shape: Sequence[int]) -> float:
    """NASLib synflow (log of the sum, sign kept); turns ``module`` into float64 with |weights|."""
    bns = _batchnorms(module)
    for bn in bns:
        bn.forward = lambda t: t
    try:
        module.double()
        with torch.no_grad():
            for t in list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]:
                t.abs_()
        module.zero_grad(set_to_none=True)
        out = _logits(module(torch.ones([1, *input_shape], dtype=torch.float64)))
        weights = [m.weight for m in layers(module)]
        grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
        with torch.no_grad():
            s = sum(float((w * g).abs().sum()) for w, g in zip(weights, grads) if g is not None)
    finally:
        for bn in bns:
            del bn.forward
        module.float()
    if s == 0:
        return 0.0
    return math.log(s) if s > 0 else -math.log(-s)


def zen(module: nn.Module, input_shape: Sequence[int], batch_size: int, generator: torch.Generator,
        mixup_gamma: float = 1e-2) -> float:
    """Zen-NAS score; re-initializes ``module`` as Zen-NAS does (Gaussian weights, BN γ=1 β=0)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_parameters()
        module.train()
        x = torch.randn([batch_size, *input_shape], generator=generator)
        x2 = torch.randn([batch_size, *input_shape], generator=generator)
        out1 = _logits(module(x))
        f1 = getattr(module, "features", None)
        f1 = out1 if f1 is None else f1
        out2 = _logits(module(x + mixup_gamma * x2))
        f2 = getattr(module, "features", None)
        f2 = out2 if f2 is None else f2
        dims = tuple(range(1, f1.dim()))
        score = torch.log(torch.abs(f1 - f2).sum(dim=dims).mean())
        for bn in _batchnorms(module):
            if bn.running_var is not None:
                score = score + torch.log(torch.sqrt(bn.running_var.mean()))
    return float(score)


def gradsign(module: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn) -> float:
    """GradSign: Σ |Σ_n sign(∂L_n/∂W)| over per-sample (batch-1) gradients of the layer weights."""
    module.train()
    weights = [m.weight for m in layers(module)]
    total = None
    for i in range(x.shape[0]):
        out = _logits(module(x[i:i + 1]))
        g = torch.autograd.grad(loss_fn(out, y[i:i + 1]), weights, allow_unused=True)
        flat = torch.cat([torch.zeros(w.numel()) if gi is None else gi.reshape(-1).sign() for w, gi in zip(weights, g)])
        total = flat if total is None else total + flat
    return float(total.abs().sum())


def compute(module: nn.Module, inputs: torch.Tensor | None, targets: torch.Tensor | None,
            proxies: Iterable[str], *, flops: float | None = None, input_shape: Sequence[int] | None = None,
            loss_fn: Callable = F.cross_entropy, seed: int = 0) -> Result:
    """Compute ``proxies`` on ``module`` (modified in place: pass a freshly built one).

    ``inputs``/``targets``: the batch for data-dependent proxies (float NCHW, int64 labels).
    ``flops``: the graph's FLOPs in millions (the ``flops`` proxy reads it; the module cannot
    tell). ``input_shape`` (without batch) defaults to ``inputs.shape[1:]``. ``seed`` seeds
    zen's Gaussian re-initialization and inputs.
    """
    want = list(dict.fromkeys(proxies))
    for n in want:
        get(n)
    result = Result()
    if inputs is not None:
        input_shape = tuple(inputs.shape[1:])
    needs_data = [n for n in want if PROXIES[n].needs_data]
    if needs_data and (inputs is None or targets is None):
        raise ProxyError(f"proxies {', '.join(needs_data)} need a batch of inputs and targets")
    if input_shape is None and {"synflow", "zen"} & set(want):
        raise ProxyError("synflow and zen need input_shape (or a batch)")

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
        run(["l2_norm"], lambda: _finite("l2_norm", sum(float(m.weight.detach().norm()) for m in layers(module)), result))
    main = [n for n in want if n in ("nwot", "fisher", "grad_norm", "snip", "plain", "grasp", "jacov", "epe_nas", "zico")]
    run(main, lambda: _main_pass(module, inputs, targets, set(main), result, loss_fn))
    if "gradsign" in want:
        run(["gradsign"], lambda: _finite("gradsign", gradsign(module, inputs, targets, loss_fn), result))
    if "synflow" in want:
        run(["synflow"], lambda: _finite("synflow", synflow(module, input_shape), result))
    if "zen" in want:
        gen = torch.Generator().manual_seed(seed)
        bs = inputs.shape[0] if inputs is not None else 64
        run(["zen"], lambda: _finite("zen", zen(module, input_shape, bs, gen), result))
    return result


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
