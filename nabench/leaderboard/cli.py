"""Leaderboard commands: ``nabench run``, ``nabench submit``, ``nabench leaderboard ...``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from nabench.errors import NabenchError

app = typer.Typer(no_args_is_help=True, help="Leaderboard tasks, submissions, results and the static site.")

ROOT = typer.Option(Path("leaderboard"), "--root", help="Leaderboard folder (submissions/, results, site/).")


def _ints(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise NabenchError(f"{what} must be integers separated by commas or spaces, got {text!r}") from None


def _params(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NabenchError(f"--param {item!r}: expected KEY=VALUE")
        out[key] = yaml.safe_load(value)
    return out


def run_cmd(
    predictor: str = typer.Option(..., "--predictor", "-p", help="A registered predictor (entry point nabench.predictors)."),
    task: str = typer.Option(..., "--task", "-t", help="A leaderboard task (see: nabench leaderboard tasks)."),
    train_sizes: str | None = typer.Option(None, "--train-sizes", help="Subset of the task's train sizes, e.g. 78,156."),
    seeds: str | None = typer.Option(None, "--seeds", help="Subset of the task's seeds, e.g. 0,1,2."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Predictions file (default: <predictor>--<task>.parquet)."),
    param: list[str] | None = typer.Option(None, "--param", help="Predictor parameter KEY=VALUE (YAML value; repeat)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Processes for normalizing graphs and fitting the splits (same predictions for any number)."),
) -> None:
    """Train and predict a predictor on every split of a task; write the predictions (Parquet)."""
    from nabench.cli import BarProgress, err
    from nabench.leaderboard.runner import run, write_predictions, write_run_info
    from nabench.leaderboard.tasks import get_task

    t = get_task(task)
    out = out or Path(f"{predictor}--{task}.parquet")
    start = time.perf_counter()
    params = _params(param or [])
    frame = run(predictor, t, train_sizes=_ints(train_sizes, "--train-sizes"), seeds=_ints(seeds, "--seeds"),
                params=params, workers=workers, progress=BarProgress())
    wall = time.perf_counter() - start
    write_predictions(frame, out, task=t, predictor=predictor, params=params)
    write_run_info(out, predictor=predictor, task=t, wall_time_s=wall)
    err.print(f"{len(frame)} predictions in {wall:.1f} s")
    sys.stdout.write(f"{out}\n")


def submit_cmd(
    key: str = typer.Argument(..., help="Submission key: the folder name under <root>/submissions/."),
    predictions: list[Path] = typer.Option(..., "--predictions", help="Predictions files written by nabench run (repeat)."),
    card: Path | None = typer.Option(None, "--card", help="Card YAML (default: made from the predictor's metadata)."),
    predictor: str | None = typer.Option(None, "--predictor", help="Predictor for the default card."),
    root: Path = ROOT,
    replace: bool = typer.Option(False, "--replace", help="Replace an existing submission with this key."),
) -> None:
    """Create a submission from predictions files (checked and scored before anything is written)."""
    from nabench.leaderboard.submissions import load_card, submit

    path = submit(key, predictions, root=root, card=load_card(card) if card else None, predictor=predictor, replace=replace)
    sys.stdout.write(f"{path}\n")


@app.command("tasks")
def tasks_cmd(fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv.")) -> None:
    """List the leaderboard tasks."""
    from nabench.cli import Format, emit
    from nabench.leaderboard.tasks import all_tasks

    rows = [{"task": t.name, "version": t.version, "family": t.family, "corpus": f"{t.corpus} {t.corpus_version}",
             "target": t.target, "split_by": t.split_by, "train_sizes": ",".join(map(str, t.train_sizes)),
             "seeds": len(t.seeds), "test": "rest" if t.test_size is None else t.test_size,
             "train_from": ",".join(s.corpus for s in t.train_from)} for t in all_tasks().values()]
    emit(rows, Format(fmt), title="leaderboard tasks")


@app.command("validate")
def validate_cmd(
    submissions: list[Path] | None = typer.Argument(None, help="Submission folders (default: every one under <root>/submissions)."),
    root: Path = ROOT,
) -> None:
    """Check submissions completely: card schema, predictions, every split scored."""
    from nabench.leaderboard.submissions import TaskDataCache, validate_submission

    paths = submissions or sorted(p for p in (root / "submissions").glob("*") if p.is_dir() and not p.name.startswith("."))
    if not paths:
        raise NabenchError(f"no submissions under {root / 'submissions'}")
    cache = TaskDataCache()
    for p in paths:
        scores = validate_submission(p, cache)
        sys.stdout.write(f"{p}: ok ({scores['task'].nunique()} task(s), {len(scores)} splits scored)\n")


@app.command("build")
def build_cmd(
    root: Path = ROOT,
    corpus: list[str] | None = typer.Option(None, "--corpus", help="Only tasks on these corpora (repeat)."),
    task: list[str] | None = typer.Option(None, "--task", help="Only these tasks (repeat)."),
) -> None:
    """Recompute every score from the predictions; write results (CSV + JSON) and the static site."""
    from nabench.cli import err
    from nabench.leaderboard.site import build

    start = time.perf_counter()
    report = build(root, corpora=corpus or None, tasks=task or None)
    for note in report.notes:
        err.print(f"note: {note}")
    err.print(f"{report.n_scores} splits scored from {report.n_submissions} submission(s) in {time.perf_counter() - start:.1f} s")
    sys.stdout.write(f"site: {report.index.resolve()}\n")


@app.command("pin-units")
def pin_units_cmd(
    corpus: str,
    workers: int = typer.Option(1, "--workers", "-j", help="Processes for normalizing."),
) -> None:
    """Maintainers: normalize what the tasks on a corpus use and write its pinned units file."""
    from nabench.cli import BarProgress
    from nabench.leaderboard.tasks import pin_units

    sys.stdout.write(f"{pin_units(corpus, workers=workers, progress=BarProgress())}\n")
