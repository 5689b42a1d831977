"""Compare proxy scores with accuracy: Spearman, Kendall tau-b, precision@top-5%, and plots.

A *task* here is anything with a name and a target series indexed by ``native_id`` (higher is
better): :class:`Target` built from a corpus column, or — once the leaderboard's tasks are in —
any object with ``name`` and ``targets()`` returning such a series. Scores are a frame indexed
by ``native_id`` with one column per proxy (as :func:`nabench.zc.compute.read_scores` or the
corpora's published ``<ds>__zc_<proxy>`` columns give). Correlations are signed (a proxy is
oriented by its ``higher_is_better``; nothing is ``abs()``'d) and use only the architectures
where both the proxy and the target are finite, on a documented sample when one is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from nabench.zc import proxies as P


class TaskLike(Protocol):
    name: str

    def targets(self) -> pd.Series: ...


@dataclass
class Target:
    """A corpus column as a task: ``name`` is ``<corpus>:<column>``; an optional fixed sample."""

    corpus: str
    column: str
    sample: int | None = None
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.corpus}:{self.column}" + (f"[n={self.sample},seed={self.seed}]" if self.sample else "")

    def targets(self) -> pd.Series:
        from nabench import corpora

        s = corpora.load(self.corpus).labels(self.column)
        s.index = s.index.astype(str)
        if self.sample is not None and self.sample < len(s):
            s = s.sample(self.sample, random_state=self.seed)
        return s


def parse_task(text: str, sample: int | None = None, seed: int = 0) -> Target:
    """``corpus:column`` → :class:`Target`."""
    from nabench.errors import NabenchError

    if ":" not in text:
        raise NabenchError(f"task {text!r}: expected CORPUS:TARGET_COLUMN, e.g. nb201:cifar10__test_acc__200ep")
    corpus, column = text.split(":", 1)
    return Target(corpus, column, sample, seed)


def precision_at_top(scores: np.ndarray, target: np.ndarray, frac: float = 0.05) -> float:
    """Share of the top ``frac`` architectures by score that are in the top ``frac`` by target."""
    k = max(1, int(math.ceil(frac * len(scores))))
    top_s = set(np.argsort(-scores, kind="stable")[:k])
    top_t = set(np.argsort(-target, kind="stable")[:k])
    return len(top_s & top_t) / k


def correlations(scores: pd.DataFrame, tasks: Sequence[TaskLike], proxies: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (task, proxy): n, spearman, kendall_tau_b, precision_at_top5."""
    proxies = list(proxies) if proxies is not None else [c for c in scores.columns if c in P.PROXIES or c == P.ENSEMBLE]
    rows = []
    for task in tasks:
        t = task.targets()
        joined = scores.join(t.rename("__target"), how="inner")
        for p in proxies:
            v = joined[p].to_numpy(float)
            if p != P.ENSEMBLE and not P.get(p).higher_is_better:
                v = -v
            y = joined["__target"].to_numpy(float)
            ok = np.isfinite(v) & np.isfinite(y)
            n = int(ok.sum())
            row = {"task": task.name, "proxy": p, "n": n}
            if n >= 3:
                row["spearman"] = float(spearmanr(v[ok], y[ok]).statistic)
                row["kendall_tau_b"] = float(kendalltau(v[ok], y[ok], variant="b").statistic)
                row["precision_at_top5"] = precision_at_top(v[ok], y[ok])
            rows.append(row)
    return pd.DataFrame(rows)


def with_ensemble(scores: pd.DataFrame, members: Sequence[str] = P.ENSEMBLE_MEMBERS) -> pd.DataFrame:
    """``scores`` plus an ``ensemble`` column: the rank vote of ``members`` present in it."""
    present = [m for m in members if m in scores.columns]
    out = scores.copy()
    if present:
        out[P.ENSEMBLE] = P.rank_vote({m: scores[m].to_numpy(float) for m in present})
    return out


def plot(table: pd.DataFrame, scores: pd.DataFrame, task: TaskLike, out: Path) -> list[Path]:
    """Heatmap (proxy × task Spearman) and score-vs-target scatters, as PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    pivot = table.pivot(index="proxy", columns="task", values="spearman")
    fig, ax = plt.subplots(figsize=(2.5 + 1.6 * pivot.shape[1], 1.0 + 0.35 * pivot.shape[0]))
    im = ax.imshow(pivot.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(pivot.shape[1]), [str(c) for c in pivot.columns], rotation=20, ha="right", fontsize=7)
    ax.set_yticks(range(pivot.shape[0]), list(pivot.index))
    for i in range(pivot.shape[0]):
        for j in range(pivot.shape[1]):
            v = pivot.iat[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman ρ")
    ax.set_title("Zero-cost proxies: Spearman ρ with the target")
    fig.tight_layout()
    for ext in ("png", "svg"):
        p = out / f"heatmap.{ext}"
        fig.savefig(p, dpi=120)
        written.append(p)
    plt.close(fig)
    t = task.targets()
    joined = scores.join(t.rename("__target"), how="inner")
    proxies = list(pivot.index)
    cols = min(4, len(proxies))
    rows = int(math.ceil(len(proxies) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, p in zip(axes.flat, proxies):
        ax.scatter(joined[p], joined["__target"], s=3, alpha=0.4)
        ax.set_xlabel(p)
        ax.set_ylabel("target")
        rho = pivot.loc[p].get(task.name, float("nan"))
        ax.set_title(f"{p}: ρ={rho:.3f}", fontsize=9)
    for ax in list(axes.flat)[len(proxies):]:
        ax.axis("off")
    fig.suptitle(task.name, fontsize=9)
    fig.tight_layout()
    for ext in ("png", "svg"):
        p = out / f"scatter.{ext}"
        fig.savefig(p, dpi=110)
        written.append(p)
    plt.close(fig)
    return written


def markdown(table: pd.DataFrame) -> str:
    """A results table as GitHub Markdown (numbers to 4 decimals)."""
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"
