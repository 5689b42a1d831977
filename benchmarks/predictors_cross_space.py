"""Cross-space zero-shot ranking: train on other search spaces, rank NAS-Bench-201 without its labels.

Spaces (corpus: target used as training labels or for scoring): NB201 (``cifar10__test_acc__200ep``),
NB101 (``cifar10__valid_acc__108ep-1seed``, the 292 labelled cells here), NB301
(``cifar10__valid_acc__100ep-surrogate``, 725), TransNAS-Bench-101 micro and macro
(``class_object__valid_top1_acc__25ep``, 4,096 / 3,256), EC-NAS (``cifar10__test_acc__4ep``, 2,623
NB101-space cells trained 4 epochs; it is the same space as NB101, so it is never a source for
NB101 and vice versa). Every labelled record must be normalized (``nabench normalize``).

Method (``CrossSpaceRanker``): features that mean the same thing in every space and no labels of
the target:

1. :class:`~nabench.encoders.tabular.TabularEncoder` features of every distinct architecture,
   fitted per space; op-category and op-token counts divided by the graph's node / token count;
   only the columns that every space has (the shared vocabulary: global, category, shape, path
   statistics, common op tokens and op chains).
2. Each feature replaced by its percentile rank among the architectures of its own space (the
   target space included: its graphs, not its labels) — params, FLOPs and depth ranges differ by
   orders of magnitude between spaces, their order within a space is what transfers.
3. Labels as percentile ranks within each source space; training pairs are drawn *within* a
   space only (``pairs`` in all, split equally between the sources), and an XGBoost classifier
   learns ``P(a better than b)`` from the feature difference ``x_a - x_b``.
4. A target architecture's score is its mean win probability against ``anchors`` constant
   reference vectors (percentile levels 0.02..0.98); ``bag`` classifiers with different seeds
   are averaged.

Two tables (Spearman rho and Kendall tau-b, scipy.stats):

- **zs-nb201-cifar10**: the leaderboard task's exact protocol (``leaderboard/tasks/zs-nb201-cifar10.yml``:
  N = 100 / 300 / 900 architectures drawn from NB101 + NB301, each target as a percentile rank in
  its space, tested on the task's fixed 2,000 NB201 architectures), seeds 0..9, plus all
  1,017 NB101 + NB301 architectures (``all``) and all five available source corpora (``all5``).
- **leave-one-space-out pairs**: every single source → every target, and all other spaces →
  target; the target's score is over all its labelled records (NB201: all 15,625 cells, every
  isomorphic twin scored with its arch id's prediction), mean over ``--pair-seeds`` seeds.
- **single-model variants** (all other spaces → NB201): methods that score one architecture without
  a batch of its space — the zoo entry ``xgb.crossspace-accuracy-rank``'s recipe (XGBoost regression
  on the raw label-free, vocabulary-free features) and CrossSpaceRanker with each feature's
  percentile taken among the pooled training spaces instead of the target space.

    NABENCH_HOME=... python benchmarks/predictors_cross_space.py [--seeds 10] [--pair-seeds 3]

Writes ``benchmarks/results/predictors_cross_space.md`` (command, machine, load, version).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "predictors_cross_space.md"
TARGETS = {
    "nb201": "cifar10__test_acc__200ep",
    "nb101": "cifar10__valid_acc__108ep-1seed",
    "nb301": "cifar10__valid_acc__100ep-surrogate",
    "transnas-micro": "class_object__valid_top1_acc__25ep",
    "transnas-macro": "class_object__valid_top1_acc__25ep",
    "ec-nas": "cifar10__test_acc__4ep",
}
#: corpora that share a search space (never source and target of each other)
SPACE = {"ec-nas": "nb101"}
ZS_TASK = "zs-nb201-cifar10"
ZOO_ENTRY = "xgb.crossspace-accuracy-rank"


class Space:
    """One corpus: per-arch percentile-ranked features, labels per arch id, records' arch ids."""

    def __init__(self, name: str, target: str):
        from nabench import corpora
        from nabench.encoders.tabular import TabularEncoder

        corpus = corpora.load(name)
        table = corpus.graphs().set_index("native_id")
        y = corpus.labels(target)
        missing = y.index.difference(table.index)
        if len(missing):
            raise SystemExit(f"{name}: {len(missing)} labelled records are not normalized; run: nabench normalize {name}")
        firsts = table.reset_index().drop_duplicates("arch_id")
        graphs = corpus.arch_graphs(list(firsts["native_id"]))
        encoder = TabularEncoder()
        raw = pd.DataFrame(encoder.fit_transform(graphs), columns=encoder.get_feature_names_out(),
                           index=pd.Index(firsts["arch_id"].to_numpy(), name="arch_id"))
        self.name, self.encoded, self.raw = name, raw, per_graph(raw)
        self.record_arch = table.loc[y.index, "arch_id"]  # native id -> arch id, labelled records
        self.record_y = y
        self.y = y.groupby(self.record_arch.to_numpy()).mean()  # per arch id (twins averaged)
        self.features: pd.DataFrame | None = None

    def use_columns(self, columns: list[str]) -> None:
        self.features = self.raw[columns].rank(pct=True)


def per_graph(raw: pd.DataFrame) -> pd.DataFrame:
    """Category counts per node and op-token counts per token (sizes differ between spaces)."""
    out = raw.copy()
    nodes = out["global__nodes"].clip(lower=1)
    cats = [c for c in out.columns if c.startswith("category__")]
    out[cats] = out[cats].div(nodes, axis=0)
    ops = [c for c in out.columns if c.startswith("op__")]
    out[ops] = out[ops].div(out[ops].sum(axis=1).clip(lower=1), axis=0)
    return out


def shared_columns(spaces: list[Space]) -> list[str]:
    """The feature columns every space has (label-free)."""
    return sorted(set.intersection(*(set(s.raw.columns) for s in spaces)))


class CrossSpaceRanker:
    """Within-space pairwise XGBoost classifier on percentile-ranked feature differences."""

    def __init__(self, pairs: int = 20000, anchors: int = 32, bag: int = 1, max_depth: int = 4,
                 n_estimators: int = 300, seed: int = 0):
        self.pairs, self.anchors, self.bag = pairs, anchors, bag
        self.max_depth, self.n_estimators, self.seed = max_depth, n_estimators, seed

    def fit(self, parts: list[tuple[np.ndarray, np.ndarray]]) -> "CrossSpaceRanker":
        """``parts``: one (features, percentile-rank labels) pair per source space."""
        import xgboost as xgb

        self.models_ = []
        for b in range(self.bag):
            rng = np.random.default_rng(self.seed * 1000 + b)
            dx, win = [], []
            for X, y in parts:
                per = max(1, self.pairs // len(parts) // len(y))
                i = np.repeat(np.arange(len(y)), per)
                j = rng.integers(0, len(y), size=len(i))
                keep = y[i] != y[j]
                dx.append(X[i[keep]] - X[j[keep]])
                win.append((y[i[keep]] > y[j[keep]]).astype(np.int64))
            model = xgb.XGBClassifier(n_estimators=self.n_estimators, learning_rate=0.05, max_depth=self.max_depth,
                                      subsample=0.8, colsample_bytree=0.5, n_jobs=1, tree_method="hist",
                                      random_state=self.seed * 1000 + b)
            self.models_.append(model.fit(np.vstack(dx), np.concatenate(win)))
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        levels = np.linspace(0.02, 0.98, self.anchors)
        out = np.zeros(len(X))
        for model in self.models_:
            for q in levels:
                out += model.predict_proba(X - q)[:, 1]
        return out / (len(levels) * len(self.models_))


def source_part(space: Space, arch_ids=None) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import rankdata

    y = space.y if arch_ids is None else space.y.loc[arch_ids]
    return space.features.loc[y.index].to_numpy(), (rankdata(y.to_numpy()) - 0.5) / len(y)


def correlations(y_true, y_pred) -> tuple[float, float]:
    from scipy.stats import kendalltau, spearmanr

    return float(spearmanr(y_true, y_pred).statistic), float(kendalltau(y_true, y_pred).statistic)


def score_target(target: Space, pred_by_arch: pd.Series) -> tuple[float, float]:
    """Correlations over every labelled record of the target (twins share their arch's score)."""
    return correlations(target.record_y.to_numpy(), pred_by_arch.loc[target.record_arch.to_numpy()].to_numpy())


def zs_task_rows(spaces: dict[str, Space], seeds: list[int], **ranker) -> list[dict]:
    """The zs-nb201-cifar10 leaderboard protocol (its splits and test set), plus all sources."""
    from nabench.leaderboard.tasks import get_task, load_task_data

    data = load_task_data(get_task(ZS_TASK))
    pool, test = data.train_pool, data.test_units
    nb201 = spaces["nb201"]
    test_arch = nb201.record_arch.loc[test["native_id"]].to_numpy()
    X_test = nb201.features.loc[test_arch].to_numpy()
    rows = []

    def run(label, parts_for_seed, seed_list):
        rhos, taus, fit_s = [], [], []
        for seed in seed_list:
            t0 = time.perf_counter()
            model = CrossSpaceRanker(seed=seed, **ranker).fit(parts_for_seed(seed))
            fit_s.append(time.perf_counter() - t0)
            rho, tau = correlations(test["y"].to_numpy(), model.score(X_test))
            rhos.append(rho)
            taus.append(tau)
        rows.append({"train": label, "spearman": rhos, "kendall": taus, "fit_s": float(np.mean(fit_s))})
        print(f"  {label}: spearman {np.mean(rhos):.3f} ± {np.std(rhos):.3f}", file=sys.stderr, flush=True)

    def split_parts(split):
        train = pool.iloc[split.train]
        parts = []
        for corpus, rows_ in train.groupby("corpus", sort=True):
            space = spaces[corpus]
            arch = space.record_arch.loc[rows_["native_id"]].to_numpy()
            parts.append((space.features.loc[arch].to_numpy(), rows_["y"].to_numpy()))
        return parts

    for size in data.task.train_sizes:
        splits = {s.seed: s for s in data.splits([size], seeds)}
        run(f"N = {size} of NB101 + NB301 (task splits)", lambda seed: split_parts(splits[seed]), seeds)
    sources = sorted({c for c in pool["corpus"]})
    run(f"all {len(pool)} of {' + '.join(sources)}", lambda seed: [source_part(spaces[c]) for c in sources], seeds)
    others = [n for n in spaces if n != "nb201"]
    run(f"all of {' + '.join(others)}", lambda seed: [source_part(spaces[c]) for c in others], seeds)
    return rows


def pair_rows(spaces: dict[str, Space], seeds: list[int], **ranker) -> list[dict]:
    """Every single source → target and all other spaces → target (leave one space out)."""
    rows = []
    targets = [n for n in spaces if n != "ec-nas"]  # 4-epoch labels: a source only
    for target in targets:
        allowed = [n for n in spaces if SPACE.get(n, n) != SPACE.get(target, target)]
        for sources in [[n] for n in allowed] + [allowed]:
            rhos, taus = [], []
            for seed in seeds:
                model = CrossSpaceRanker(seed=seed, **ranker).fit([source_part(spaces[s]) for s in sources])
                t = spaces[target]
                pred = pd.Series(model.score(t.features.to_numpy()), index=t.features.index)
                rho, tau = score_target(t, pred)
                rhos.append(rho)
                taus.append(tau)
            label = sources[0] if len(sources) == 1 else "all others (" + " + ".join(sources) + ")"
            rows.append({"target": target, "train": label, "spearman": rhos, "kendall": taus})
            print(f"  {label} -> {target}: spearman {np.mean(rhos):.3f}", file=sys.stderr, flush=True)
    return rows


def single_model_rows(spaces: dict[str, Space], seeds: list[int]) -> list[dict]:
    """All other spaces -> NB201 (every record) with variants that score one architecture on its own (no
    statistics of the scored batch): the zoo entry's recipe, and CrossSpaceRanker with a fixed reference."""
    import xgboost as xgb
    from scipy.stats import rankdata

    from nabench import zoo

    target, others = spaces["nb201"], [s for n, s in spaces.items() if n != "nb201"]
    entry = zoo.entry(ZOO_ENTRY)
    fixed = [c for c in shared_columns(list(spaces.values())) if c.split("__")[0] in entry.params["features"]]
    params = {k: v for k, v in entry.params.items() if k not in ("features", "target")}

    def labelled(space, frame):
        return frame.loc[space.y.index].to_numpy(), (rankdata(space.y.to_numpy()) - 0.5) / len(space.y)

    pooled = np.sort(np.vstack([s.raw[fixed].to_numpy() for s in others]), axis=0)

    def reference_pct(frame):  # each feature's percentile among all training spaces' architectures
        values = frame[fixed].to_numpy()
        return pd.DataFrame(np.stack([np.searchsorted(pooled[:, j], values[:, j], side="right") / len(pooled)
                                      for j in range(len(fixed))], axis=1), index=frame.index)

    variants = {
        f"XGBoost regression on {len(fixed)} fixed raw features (`{ZOO_ENTRY}` params, all labelled records, "
        "one model)": lambda seed: xgb.XGBRegressor(**{**params, "random_state": seed}).fit(
            *map(np.concatenate, zip(*(labelled(s, s.encoded[fixed]) for s in others)))).predict(
            target.encoded[fixed].to_numpy()),
        "CrossSpaceRanker, features as percentiles of the pooled training spaces (fixed reference)":
            lambda seed: CrossSpaceRanker(seed=seed).fit([labelled(s, reference_pct(s.raw)) for s in others]).score(
                reference_pct(target.raw).to_numpy()),
    }
    rows = []
    for label, scores in variants.items():
        rhos, taus = zip(*(score_target(target, pd.Series(scores(seed), index=target.raw.index)) for seed in seeds))
        rows.append({"train": label, "spearman": list(rhos), "kendall": list(taus)})
        print(f"  {label}: spearman {np.mean(rhos):.3f}", file=sys.stderr, flush=True)
    return rows


def _fmt(values) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def write(args, zs: list[dict], pairs: list[dict], single: list[dict], spaces: dict[str, Space], columns: list[str], argv) -> None:
    from nabench import __version__
    from nabench.corpora.store import write_atomic_text

    load1, load5, _ = os.getloadavg()
    command = "python benchmarks/predictors_cross_space.py " + " ".join(argv if argv is not None else sys.argv[1:])
    counts = ", ".join(f"{n} {len(s.y):,} labelled arch ids / {len(s.raw):,} graphs" for n, s in spaces.items())
    lines = [
        "# Cross-space zero-shot ranking (no NB201 labels)\n",
        f"Written by `{command.strip()}` — {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}, nabench {__version__}, "
        f"{platform.machine()} {os.cpu_count()} CPUs, load average {load1:.1f} (1 min) / {load5:.1f} (5 min) when "
        f"written; {time.perf_counter() - args.t0:.0f} s in all.\n",
        "Method and protocol: the docstring of `benchmarks/predictors_cross_space.py` (within-space pairwise "
        "XGBoost on per-space percentile-ranked, shared tabular features; labels as percentile ranks per "
        f"source space). {len(columns)} shared feature columns. Spaces: {counts}. Published reference: "
        "GENNAPE 0.815 and ONNX-Net 0.747 Spearman on NB201 trained on NB101 (their NB101 sets are far "
        "larger than the 292 labelled NB101 cells available here).\n",
        f"## zs-nb201-cifar10 (leaderboard task protocol: 2,000 fixed NB201 test architectures, seeds "
        f"{args.seeds[0]}..{args.seeds[-1]})\n",
        "| trained on | Spearman rho | Kendall tau-b | fit (s) |", "|---|---|---|---|",
        *(f"| {r['train']} | {_fmt(r['spearman'])} | {_fmt(r['kendall'])} | {r['fit_s']:.1f} |" for r in zs),
        "",
        f"## Leave-one-space-out pairs (target scored on all its labelled records; mean ± std over seeds "
        f"{args.pair_seeds[0]}..{args.pair_seeds[-1]})\n",
        "| target | trained on | Spearman rho | Kendall tau-b |", "|---|---|---|---|",
        *(f"| {r['target']} | {r['train']} | {_fmt(r['spearman'])} | {_fmt(r['kendall'])} |" for r in pairs),
        "",
        f"## Single-model variants: all other spaces -> NB201, all 15,625 cells (seeds {args.pair_seeds[0]}.."
        f"{args.pair_seeds[-1]})\n",
        "CrossSpaceRanker ranks features within the scored space, so it cannot score one ONNX model on its own. "
        f"These variants can; the first is the recipe of the zoo entry `{ZOO_ENTRY}` (trained here on every "
        "labelled record of the other spaces, one model; the entry itself is a 3-member bootstrap ensemble on "
        "its build split, see its card's `metrics.zero_shot`).\n",
        "| variant | Spearman rho | Kendall tau-b |", "|---|---|---|",
        *(f"| {r['train']} | {_fmt(r['spearman'])} | {_fmt(r['kendall'])} |" for r in single),
        "",
    ]
    write_atomic_text(args.out, "\n".join(lines))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 for the zs-nb201-cifar10 table")
    ap.add_argument("--pair-seeds", type=int, default=3, help="seeds 0..N-1 for the leave-one-space-out table")
    ap.add_argument("--bag", type=int, default=1, help="classifiers averaged per model")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    args.t0 = time.perf_counter()
    args.seeds, args.pair_seeds = list(range(args.seeds)), list(range(args.pair_seeds))
    spaces = {}
    for name, target in TARGETS.items():
        t0 = time.perf_counter()
        spaces[name] = Space(name, target)
        print(f"{name}: {len(spaces[name].raw)} graphs in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    columns = shared_columns(list(spaces.values()))
    for s in spaces.values():
        s.use_columns(columns)
    zs = zs_task_rows(spaces, args.seeds, bag=args.bag)
    pairs = pair_rows(spaces, args.pair_seeds, bag=args.bag)
    single = single_model_rows(spaces, args.pair_seeds)
    write(args, zs, pairs, single, spaces, columns, argv)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
