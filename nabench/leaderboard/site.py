"""``nabench leaderboard build``: recompute every score, write the results table and the static site.

Every submission's predictions are checked and scored by the official evaluator (nothing a
submitter claims is used). Results: ``<root>/results.csv`` and ``<root>/results.json`` (mean and
standard deviation over seeds of every metric, per task, submission and train size). The site,
``<root>/site/``, is plain HTML with inline CSS, JavaScript and SVG (no network, works from the
file system): an index, one page per task family (sortable table of Kendall tau-b mean ± std per
train size, a Kendall-vs-train-size plot, the zero-cost proxy comparison) and one page per
submission card. Published numbers from ``leaderboard/reported.yml`` are shown marked
"reported": they are context, not recomputed. Nothing is written unless every submission
passes; the results files and the site are replaced atomically.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from nabench.errors import CorpusNotBuiltError
from nabench.leaderboard.evaluator import METRICS
from nabench.leaderboard.runner import read_predictions
from nabench.leaderboard.submissions import (
    SubmissionError,
    TaskDataCache,
    check_predictions,
    read_submission,
    score_predictions,
)
from nabench.leaderboard.tasks import Task, all_tasks, data_dir

SITE = "site"
PLOT_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


@dataclass
class BuildReport:
    index: Path
    n_submissions: int = 0
    n_scores: int = 0
    notes: list[str] = field(default_factory=list)


def reported_rows() -> list[dict]:
    """Published numbers (``leaderboard/reported.yml``), one dict per (task, method)."""
    path = data_dir() / "reported.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = []
    for block in doc:
        for method, values in block["rows"].items():
            rows.append({"task": block["task"], "metric": block["metric"], "source": block["source"],
                         "method": method, "values": values})
    return rows


def collect_scores(root: Path, corpora: Iterable[str] | None, tasks: Iterable[str] | None,
                   notes: list[str]) -> tuple[pd.DataFrame, dict[str, dict]]:
    """Per-split scores of every submission under ``root/submissions`` and the cards by key."""
    subs = sorted(p for p in (Path(root) / "submissions").glob("*") if p.is_dir() and not p.name.startswith("."))
    cache = TaskDataCache()
    unavailable: dict[str, str] = {}
    frames, cards = [], {}
    for path in subs:
        sub = read_submission(path)
        cards[sub.key] = sub.card
        for name, file in sub.predictions.items():
            frame, meta = read_predictions(file)
            task = check_predictions(frame, meta, str(file))
            if task.name != name:
                raise SubmissionError(f"{file}: holds predictions for task {task.name}; name the file {task.name}.parquet")
            if (tasks and name not in tasks) or (corpora and task.corpus not in corpora):
                continue
            if name in unavailable:
                continue
            try:
                data = cache.get(task)
            except CorpusNotBuiltError as e:
                unavailable[name] = str(e)
                notes.append(f"task {name} skipped: {e}")
                continue
            frames.append(score_predictions(frame, task, data, str(file)).assign(
                submission=sub.key, predictor=sub.card["name"], family=sub.card["predictor_family"]))
    cols = ["submission", "predictor", "family", "task", "train_size", "seed", *METRICS]
    scores = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
    return scores, cards


def summarize(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation (ddof=1) over seeds of every metric."""
    keys = ["task", "submission", "predictor", "family", "train_size"]
    if scores.empty:
        return pd.DataFrame(columns=keys + ["n_seeds"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")])
    g = scores.groupby(keys, sort=True)
    out = g.size().rename("n_seeds").to_frame()
    for m in METRICS:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1).fillna(0.0)
    return out.reset_index()


# ----------------------------------------------------------------------------------------------
# HTML


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222}
nav a{margin-right:1rem} table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right} th{background:#f3f3f3;cursor:pointer;user-select:none}
td:first-child,th:first-child,td.text{text-align:left} tr.reported td{color:#666;font-style:italic}
th.sorted-asc::after{content:" \\25B2"} th.sorted-desc::after{content:" \\25BC"}
.badge{font-size:.75rem;border-radius:.3rem;padding:0 .3rem;background:#eee;font-style:normal}
.reported .badge{background:#fde9c7} svg{background:#fff;border:1px solid #ddd} dt{font-weight:bold} dd{margin:0 0 .5rem 1rem}
.note{color:#555;font-size:.9rem}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var desc = !th.classList.contains('sorted-desc');
      table.querySelectorAll('th').forEach(function(h){ h.classList.remove('sorted-asc','sorted-desc'); });
      th.classList.add(desc ? 'sorted-desc' : 'sorted-asc');
      rows.sort(function(a, b){
        var x = a.cells[col].getAttribute('data-sort'), y = b.cells[col].getAttribute('data-sort');
        var nx = parseFloat(x), ny = parseFloat(y);
        if (isNaN(nx) && isNaN(ny)) { return desc ? y.localeCompare(x) : x.localeCompare(y); }
        if (isNaN(nx)) { return 1; } if (isNaN(ny)) { return -1; }
        return desc ? ny - nx : nx - ny;
      });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def page(title: str, body: str, families: list[str]) -> str:
    nav = "".join(f'<a href="{esc(family_file(f))}">{esc(f)}</a>' for f in families)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"<style>{CSS}</style></head><body><nav><a href=\"index.html\">nabench leaderboard</a>{nav}</nav>"
            f"<h1>{esc(title)}</h1>{body}<script>{SORT_JS}</script></body></html>\n")


def family_file(family: str) -> str:
    return f"family-{family}.html"


def card_file(key: str) -> str:
    return f"submission-{key}.html"


def fmt(mean: float, std: float | None = None) -> str:
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _reported_value(v) -> tuple[float | None, str]:
    """A reported number (or 'low–high' range string) as a sort key and its text."""
    if v is None:
        return None, "–"
    if isinstance(v, (int, float)):
        return float(v), f"{v:.3f}"
    text = str(v)
    try:
        parts = [float(p) for p in text.replace("–", "-").split("-") if p.strip()]
    except ValueError:
        return None, text
    return (sum(parts) / len(parts) if parts else None), text


def task_table(task: Task, summary: pd.DataFrame, reported: list[dict]) -> str:
    """Sortable table: one row per submission (and reported method), Kendall mean ± std per train size."""
    sizes = list(task.train_sizes)
    head = "".join(f"<th>N={n}</th>" for n in sizes)
    rows = []
    for (key, name, fam), part in summary.groupby(["submission", "predictor", "family"], sort=True):
        by = part.set_index("train_size")
        cells = []
        for n in sizes:
            if n in by.index:
                m, s = by.at[n, "kendall_tau_b_mean"], by.at[n, "kendall_tau_b_std"]
                cells.append(f'<td data-sort="{m:.6f}">{fmt(m, s)}</td>')
            else:
                cells.append('<td data-sort="">–</td>')
        rows.append(f'<tr class="recomputed"><td data-sort="{esc(name)}"><a href="{esc(card_file(key))}">{esc(name)}</a></td>'
                    f'<td class="text" data-sort="{esc(fam)}">{esc(fam)}</td><td class="text" data-sort="recomputed">'
                    f'<span class="badge">recomputed</span></td>{"".join(cells)}</tr>')
    for r in reported:
        cells = []
        for n in sizes:
            value, text = _reported_value(r["values"].get(n))
            cells.append(f'<td data-sort="{"" if value is None else f"{value:.6f}"}">{esc(text)}</td>')
        rows.append(f'<tr class="reported"><td data-sort="{esc(r["method"])}">{esc(r["method"])}</td>'
                    f'<td class="text" data-sort="reported">{esc(r["source"])}</td><td class="text" data-sort="reported">'
                    f'<span class="badge">reported</span></td>{"".join(cells)}</tr>')
    if not rows:
        return '<p class="note">No submissions yet.</p>'
    return (f'<table class="sortable" id="table-{esc(task.name)}"><thead><tr><th>predictor</th><th>family / source</th>'
            f'<th>kind</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def metrics_table(task: Task, summary: pd.DataFrame) -> str:
    """Every metric at the largest train size each submission has."""
    if summary.empty:
        return ""
    head = "".join(f"<th>{esc(m)}</th>" for m in METRICS)
    rows = []
    for (key, name), part in summary.groupby(["submission", "predictor"], sort=True):
        r = part.sort_values("train_size").iloc[-1]
        cells = "".join(f'<td data-sort="{r[f"{m}_mean"]:.6f}">{fmt(r[f"{m}_mean"], r[f"{m}_std"])}</td>' for m in METRICS)
        rows.append(f'<tr><td data-sort="{esc(name)}">{esc(name)}</td><td data-sort="{int(r["train_size"])}">'
                    f'{int(r["train_size"])}</td>{cells}</tr>')
    return (f'<details><summary>All metrics at the largest train size (top-k: {task.top_k_percent:g}%, '
            f'NDCG@{task.ndcg_k}; regret in target units)</summary><table class="sortable"><thead><tr><th>predictor</th>'
            f'<th>N</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></details>')


def kendall_plot(task: Task, summary: pd.DataFrame, reported: list[dict]) -> str:
    """Inline SVG: Kendall tau-b (mean, ± std band as error bars) against train size (log scale)."""
    w, h, left, right, top, bottom = 640, 320, 55, 170, 15, 40
    sizes = [float(n) for n in task.train_sizes]
    lo_x, hi_x = math.log(min(sizes)), math.log(max(sizes))
    span = (hi_x - lo_x) or 1.0
    series = []
    for (key, name), part in summary.groupby(["submission", "predictor"], sort=True):
        part = part.sort_values("train_size")
        series.append((name, False, list(zip(part["train_size"], part["kendall_tau_b_mean"], part["kendall_tau_b_std"]))))
    for r in reported:
        if r["metric"] != "kendall_tau_b":
            continue
        pts = [(n, v, 0.0) for n in task.train_sizes for v in [_reported_value(r["values"].get(n))[0]] if v is not None]
        if pts:
            series.append((f"{r['method']} (reported)", True, pts))
    if not series:
        return ""
    values = [m + s for _, _, pts in series for _, m, s in pts] + [m - s for _, _, pts in series for _, m, s in pts]
    y_lo, y_hi = min(0.0, math.floor(min(values) * 10) / 10), max(0.1, math.ceil(max(values) * 10) / 10)

    def X(n: float) -> float:
        return left + (math.log(n) - lo_x) / span * (w - left - right)

    def Y(v: float) -> float:
        return top + (y_hi - v) / (y_hi - y_lo) * (h - top - bottom)

    parts = [f'<svg class="plot" id="plot-{esc(task.name)}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" role="img" aria-label="Kendall tau-b against train size for {esc(task.name)}">']
    parts.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#333"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#333"/>')
    for n in task.train_sizes:
        parts.append(f'<text x="{X(n):.1f}" y="{h - bottom + 15}" font-size="11" text-anchor="middle">{n}</text>')
    steps = int(round((y_hi - y_lo) / 0.1))
    for i in range(steps + 1):
        v = y_lo + i * 0.1
        parts.append(f'<text x="{left - 6}" y="{Y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:.1f}</text>'
                     f'<line x1="{left}" y1="{Y(v):.1f}" x2="{w - right}" y2="{Y(v):.1f}" stroke="#eee"/>')
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 5}" font-size="12" text-anchor="middle">'
                 f'training architectures (log scale)</text><text x="14" y="{(top + h - bottom) / 2:.0f}" font-size="12" '
                 f'text-anchor="middle" transform="rotate(-90 14 {(top + h - bottom) / 2:.0f})">Kendall tau-b</text>')
    for i, (name, dashed, pts) in enumerate(series):
        color = PLOT_COLORS[i % len(PLOT_COLORS)]
        path = " ".join(f"{X(n):.1f},{Y(m):.1f}" for n, m, _ in pts)
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        parts.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}>'
                     f'<title>{esc(name)}</title></polyline>')
        for n, m, s in pts:
            if s > 0:
                parts.append(f'<line x1="{X(n):.1f}" y1="{Y(m - s):.1f}" x2="{X(n):.1f}" y2="{Y(m + s):.1f}" stroke="{color}"/>')
            parts.append(f'<circle cx="{X(n):.1f}" cy="{Y(m):.1f}" r="3" fill="{color}"/>')
        ly = top + 14 * i + 8
        parts.append(f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 28}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>'
                     f'<text x="{w - right + 32}" y="{ly + 4}" font-size="11">{esc(name[:24])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def proxy_table(tasks: list[Task], summary: pd.DataFrame, reported: list[dict]) -> str:
    """Zero-cost proxies (family ``zc``; training-free, so one number per task) side by side:
    Spearman rho on the same test sets as the predictors, next to the reported values."""
    zc = summary[summary["family"] == "zc"]
    rep = [r for r in reported if r["metric"] == "spearman_rho"]
    names = [t.name for t in tasks]
    if zc.empty and not any(r["task"] in names for r in rep):
        return ""
    head = "".join(f"<th>{esc(t)}</th>" for t in names)
    rows = []
    for (key, name), part in zc.groupby(["submission", "predictor"], sort=True):
        cells = []
        for t in names:
            p = part[part["task"] == t]
            if p.empty:
                cells.append('<td data-sort="">–</td>')
            else:  # training-free: every train size scores the same architectures' test sets; average them
                m = float(p["spearman_rho_mean"].mean())
                cells.append(f'<td data-sort="{m:.6f}">{fmt(m)}</td>')
        rows.append(f'<tr><td data-sort="{esc(name)}"><a href="{esc(card_file(key))}">{esc(name)}</a></td>'
                    f'<td class="text" data-sort="recomputed"><span class="badge">recomputed</span></td>{"".join(cells)}</tr>')
    for method in sorted({r["method"] for r in rep if r["task"] in names}):
        cells = []
        for t in names:
            match = [r for r in rep if r["method"] == method and r["task"] == t]
            value, text = _reported_value(match[0]["values"].get("all") if match else None)
            cells.append(f'<td data-sort="{"" if value is None else f"{value:.6f}"}">{esc(text)}</td>')
        rows.append(f'<tr class="reported"><td data-sort="{esc(method)}">{esc(method)}</td><td class="text" data-sort="reported">'
                    f'<span class="badge">reported</span></td>{"".join(cells)}</tr>')
    return ('<h2 id="proxies">Zero-cost proxies</h2><p class="note">Spearman rho with the target on the same test sets as '
            'the predictors (recomputed), next to published values for the whole space (reported).</p>'
            f'<table class="sortable" id="proxy-table"><thead><tr><th>proxy</th><th>kind</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render(out: Path, summary: pd.DataFrame, cards: dict[str, dict], notes: list[str]) -> Path:
    tasks = all_tasks()
    reported = reported_rows()
    families = sorted({t.family for t in tasks.values()})
    index_items = []
    for fam in families:
        fam_tasks = [t for t in tasks.values() if t.family == fam]
        body = []
        for t in fam_tasks:
            s = summary[summary["task"] == t.name]
            rep = [r for r in reported if r["task"] == t.name and r["metric"] == "kendall_tau_b"]
            protocol = f'<p class="note"><b>Protocol:</b> {esc(t.protocol)}</p>' if t.protocol else ""
            body.append(
                f'<section id="task-{esc(t.name)}"><h2>{esc(t.title)}</h2><p class="note">task <code>{esc(t.name)}</code> '
                f'v{t.version}; corpus {esc(t.corpus)} {esc(t.corpus_version)}; target <code>{esc(t.target)}</code> '
                f'({"higher" if t.higher_is_better else "lower"} is better); split by {esc(t.split_by)}; '
                f'test: {"the rest of the pool" if t.test_size is None else f"{t.test_size} fixed architectures"}; '
                f'{len(t.seeds)} seeds.</p><p>{esc(t.description)}</p>{protocol}'
                f'{task_table(t, s, rep)}{kendall_plot(t, s, rep)}{metrics_table(t, s)}</section>')
        body.append(proxy_table(fam_tasks, summary[summary["task"].isin([t.name for t in fam_tasks])], reported))
        (out / family_file(fam)).write_text(page(f"Task family: {fam}", "".join(body), families), encoding="utf-8")
        n_sub = summary[summary["task"].isin([t.name for t in fam_tasks])]["submission"].nunique()
        index_items.append(f'<li><a href="{esc(family_file(fam))}">{esc(fam)}</a>: {len(fam_tasks)} task(s), '
                           f'{n_sub} submission(s)</li>')
    for key, card in cards.items():
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(json.dumps(v) if isinstance(v, (list, dict)) else v)}</dd>"
                        for k, v in card.items())
        s = summary[summary["submission"] == key]
        done = ", ".join(sorted(s["task"].unique())) or "none in this build"
        (out / card_file(key)).write_text(page(f"Submission: {card['name']}",
                                               f"<dl>{items}</dl><p>Tasks scored: {esc(done)}</p>", families), encoding="utf-8")
    subs = "".join(f'<li><a href="{esc(card_file(k))}">{esc(c["name"])}</a> ({esc(c["predictor_family"])})</li>'
                   for k, c in sorted(cards.items()))
    note_html = "".join(f"<li>{esc(n)}</li>" for n in notes)
    index = (f"<p>Every score on these pages is recomputed by nabench's evaluator from the submitted predictions; "
             f'rows marked <span class="badge">reported</span> are published numbers shown for context.</p>'
             f"<h2>Task families</h2><ul>{''.join(index_items)}</ul><h2>Submissions</h2><ul>{subs or '<li>none</li>'}</ul>"
             + (f"<h2>Notes</h2><ul class=\"note\">{note_html}</ul>" if notes else ""))
    (out / "index.html").write_text(page("nabench leaderboard", index, families), encoding="utf-8")
    return out / "index.html"


def build(root: Path, *, corpora: Iterable[str] | None = None, tasks: Iterable[str] | None = None) -> BuildReport:
    """Score every submission under ``root`` and write results + site (all or nothing)."""
    from nabench import __version__
    from nabench.corpora.store import make_build_dir, replace_dir_atomically
    from nabench.corpora.store import write_atomic_text

    root = Path(root)
    notes: list[str] = []
    corpora = set(corpora) if corpora else None
    tasks = set(tasks) if tasks else None
    if tasks:
        unknown = sorted(tasks - set(all_tasks()))
        if unknown:
            raise SubmissionError(f"unknown task(s) {unknown}")
    if corpora or tasks:
        notes.append("partial build: only tasks on corpora " + ", ".join(sorted(corpora)) if corpora
                     else "partial build: only tasks " + ", ".join(sorted(tasks)))
    scores, cards = collect_scores(root, corpora, tasks, notes)
    summary = summarize(scores)
    root.mkdir(parents=True, exist_ok=True)
    build_dir = make_build_dir(root, ".site-")
    try:
        render(build_dir, summary, cards, notes)
        results = summary.round(6)
        write_atomic_text(root / "results.csv", results.to_csv(index=False, lineterminator="\n"))
        doc = {"nabench_version": __version__, "metrics": list(METRICS), "notes": notes,
               "tasks": {t.name: {"version": t.version, "family": t.family} for t in all_tasks().values()},
               "results": json.loads(results.to_json(orient="records")),
               "reported": reported_rows()}
        write_atomic_text(root / "results.json", json.dumps(doc, indent=1, default=str) + "\n")
        replace_dir_atomically(build_dir, root / SITE)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return BuildReport(root / SITE / "index.html", n_submissions=len(cards), n_scores=len(scores), notes=notes)
