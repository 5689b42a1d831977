"""Submissions: ``<root>/submissions/<key>/card.yml`` + ``predictions/<task>.parquet``.

The card is validated by the published JSON Schema ``leaderboard/schema/submission-card.schema.json``
(unknown keys rejected); a card that claims scores is refused (nabench recomputes every score).
Predictions are checked against their task: the task exists and has that version, the columns
are exactly the runner's, no NaN or infinite values, no duplicate ids, every seed of each
submitted train size present, and every split's ids equal its test set (the evaluator). A
submission is written into a temporary folder and renamed into place, so a refused or failed
submission leaves the existing files untouched.
"""

from __future__ import annotations

import difflib
import filecmp
import json
import platform
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nabench.errors import NabenchError
from nabench.leaderboard.evaluator import METRICS, EvaluationError, Evaluator
from nabench.leaderboard.runner import COLUMNS, read_predictions
from nabench.leaderboard.tasks import Task, TaskData, data_dir, get_task, load_task_data

CARD = "card.yml"
PREDICTIONS = "predictions"
SCHEMA = "submission-card.schema.json"
#: card keys that look like a claimed score
SCORE_WORDS = ("kendall", "spearman", "pearson", "tau", "rho", "ndcg", "precision", "regret", "score", "metric",
               "result", "accuracy", "correlation")


class SubmissionError(NabenchError):
    """A submission (card or predictions) the leaderboard refuses."""


def schema() -> dict:
    return json.loads((data_dir() / "schema" / SCHEMA).read_text(encoding="utf-8"))


def validate_card(card, where: str) -> dict:
    """``card`` if it follows the schema; otherwise one error naming the problem."""
    import jsonschema

    if not isinstance(card, dict):
        raise SubmissionError(f"{where}: a card must be a YAML mapping")
    props = schema()["properties"]
    for key in card:
        if key not in props and any(w in str(key).lower() for w in SCORE_WORDS):
            raise SubmissionError(f"{where}: the card claims scores ({key!r}); scores are recomputed by nabench "
                                  "from the predictions, remove them from the card")
    unknown = [k for k in card if k not in props]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), list(props), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise SubmissionError(f"{where}: unknown key(s) {', '.join(hints)}; allowed: {', '.join(props)}")
    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(card), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        at = ".".join(map(str, e.path)) or "card"
        raise SubmissionError(f"{where}: {at}: {e.message}")
    return card


def load_card(path: Path) -> dict:
    try:
        card = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise SubmissionError(f"{path}: unreadable card ({e})") from None
    return validate_card(card, str(path))


def check_predictions(frame: pd.DataFrame, meta: dict, where: str) -> Task:
    """The task of a predictions table whose shape and values are sound (ids are checked when scoring)."""
    from nabench.errors import UnknownNameError

    if "task" not in frame.columns or frame.empty:
        raise SubmissionError(f"{where}: no rows or no 'task' column")
    names = frame["task"].unique()
    if len(names) != 1:
        raise SubmissionError(f"{where}: one file per task, found tasks {sorted(map(str, names))}")
    try:
        task = get_task(str(names[0]))
    except UnknownNameError as e:
        raise SubmissionError(f"{where}: predictions for a task that does not exist: {e}") from None
    if meta.get("task_version") != task.version:
        raise SubmissionError(f"{where}: made for task {task.name} version {meta.get('task_version')}, "
                              f"the current version is {task.version}")
    expected = list(COLUMNS) + (["native_id"] if task.key == "native_id" else [])
    if list(frame.columns) != expected:
        raise SubmissionError(f"{where}: columns {list(frame.columns)}, expected {expected}")
    try:
        y = frame["y_pred"].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise SubmissionError(f"{where}: y_pred is not numeric") from None
    bad = ~np.isfinite(y)
    if bad.any():
        row = frame[bad].iloc[0]
        raise SubmissionError(f"{where}: {int(bad.sum())} NaN or infinite y_pred value(s), first at train size "
                              f"{row['train_size']}, seed {row['seed']}, {task.key} {row[task.key]}")
    dup = frame.duplicated(["train_size", "seed", task.key])
    if dup.any():
        row = frame[dup].iloc[0]
        raise SubmissionError(f"{where}: {int(dup.sum())} duplicate row(s), first: {task.key} {row[task.key]} "
                              f"at train size {row['train_size']}, seed {row['seed']}")
    sizes = sorted(set(frame["train_size"].astype(int)))
    unknown = sorted(set(sizes) - set(task.train_sizes))
    if unknown:
        raise SubmissionError(f"{where}: train size(s) {unknown} are not in task {task.name} ({list(task.train_sizes)})")
    for size in sizes:
        seeds = set(frame.loc[frame["train_size"] == size, "seed"].astype(int))
        missing = sorted(set(task.seeds) - seeds)
        extra = sorted(seeds - set(task.seeds))
        if missing:
            raise SubmissionError(f"{where}: train size {size} is missing seed(s) {missing}; every task seed is required")
        if extra:
            raise SubmissionError(f"{where}: train size {size} has seed(s) {extra} that task {task.name} does not define")
    return task


def score_predictions(frame: pd.DataFrame, task: Task, data: TaskData, where: str) -> pd.DataFrame:
    """One row of metrics per (train size, seed), from the official evaluator."""
    ev = Evaluator(task)
    splits = {(s.train_size, s.seed): s for s in data.splits(sorted(set(frame["train_size"])), sorted(set(frame["seed"])))}
    rows = []
    for (size, seed), part in frame.groupby(["train_size", "seed"], sort=True):
        split = splits[(int(size), int(seed))]
        y_true = data.y_true(split)
        try:
            scores = ev.eval(y_true, part["y_pred"].to_numpy(), ids=part[task.key].to_numpy())
        except EvaluationError as e:
            raise SubmissionError(f"{where}: train size {size}, seed {seed}: {e}") from None
        rows.append({"task": task.name, "train_size": int(size), "seed": int(seed), **scores})
    return pd.DataFrame(rows, columns=["task", "train_size", "seed", *METRICS])


@dataclass
class Submission:
    key: str
    path: Path
    card: dict
    predictions: dict[str, Path]  # task name -> file


def read_submission(path: Path) -> Submission:
    path = Path(path)
    if not path.is_dir():
        raise SubmissionError(f"{path}: no such submission folder")
    card = load_card(path / CARD)
    files = sorted((path / PREDICTIONS).glob("*.parquet"))
    if not files:
        raise SubmissionError(f"{path}: no predictions/<task>.parquet files")
    return Submission(path.name, path, card, {f.stem: f for f in files})


class TaskDataCache:
    """Task data loaded once per process (several submissions share tasks)."""

    def __init__(self):
        self._data: dict[str, TaskData] = {}

    def get(self, task: Task) -> TaskData:
        if task.name not in self._data:
            self._data[task.name] = load_task_data(task)
        return self._data[task.name]


def validate_submission(path: Path, cache: TaskDataCache | None = None) -> pd.DataFrame:
    """Check a submission folder completely; its per-split scores (``predictor`` column added)."""
    sub = read_submission(path)
    cache = cache or TaskDataCache()
    scores = []
    for name, file in sub.predictions.items():
        frame, meta = read_predictions(file)
        task = check_predictions(frame, meta, str(file))
        if task.name != name:
            raise SubmissionError(f"{file}: holds predictions for task {task.name}; name the file {task.name}.parquet")
        scores.append(score_predictions(frame, task, cache.get(task), str(file)))
    return pd.concat(scores, ignore_index=True).assign(submission=sub.key)


def default_card(predictor: str, wall_time_s: dict[str, float], params: dict | None = None) -> dict:
    """A card for a registered predictor, from its class, its tags and its distribution's metadata."""
    from importlib.metadata import PackageNotFoundError, distribution

    from nabench import __version__
    from nabench.registry import predictors

    cls = predictors.get(predictor)
    tags = cls(**(params or {})).nabench_tags()
    top = cls.__module__.split(".")[0]
    builtin = top == "nabench"
    meta = {}
    if not builtin:
        from importlib.metadata import packages_distributions

        try:
            meta = distribution(packages_distributions().get(top, [top])[0]).metadata
        except PackageNotFoundError:
            meta = {}
    family = tags.family if tags.family in schema()["properties"]["predictor_family"]["enum"] else "other"
    card = {
        "name": predictor + "".join(f" {k}={v}" for k, v in sorted((params or {}).items())),
        "version": __version__ if builtin else str(meta.get("Version") or "0"),
        "authors": ["nabench developers"] if builtin else [str(meta.get("Author") or meta.get("Author-email") or "unknown")],
        "code_url": f"nabench:{cls.__module__}" if builtin else _home_page(meta, cls.__module__),
        "paper": None,
        "license": "Apache-2.0" if builtin else str(meta.get("License") or "unknown"),
        "predictor": predictor,
        "predictor_family": family,
        "uses_extra_data": bool(tags.pretrained_on),
        "uses_proxies": list(tags.proxy_columns),
        "pretrained_on": list(tags.pretrained_on),
        "hardware": f"{platform.machine()} CPU, {_cpus()} cores",
        "wall_time_s": {k: round(float(v), 1) for k, v in sorted(wall_time_s.items())},
    }
    if params:
        card["notes"] = "parameters: " + json.dumps(params, sort_keys=True)
    return card


def _home_page(meta, module: str) -> str:
    """The distribution's home page (``Home-page`` or a ``Project-URL``); refuse a card without one."""
    project_urls = meta.get_all("Project-URL") if hasattr(meta, "get_all") else None
    urls = [meta.get("Home-page")] + [u.split(",", 1)[-1].strip() for u in (project_urls or [])]
    for url in urls:
        if url and url.startswith(("http://", "https://")):
            return url
    raise SubmissionError(f"predictor module {module}: its distribution names no home page; pass --card with a code_url")


def _cpus() -> int:
    import os

    return os.cpu_count() or 1


def check_key(key: str) -> None:
    """A submission key names a folder: letters, digits, '-', '_' and '.', not starting with '.'."""
    if not key or not all(c.isalnum() or c in "-_." for c in key) or key.startswith("."):
        raise SubmissionError(f"submission key {key!r}: use letters, digits, '-', '_' and '.'")


def submit(key: str, predictions: Sequence[Path], *, root: Path, card: dict | None = None, predictor: str | None = None,
           replace: bool = False) -> Path:
    """Check ``predictions`` (and the card: given, or made for ``predictor``) and write
    ``<root>/submissions/<key>/`` atomically; returns the folder."""
    from nabench.corpora.store import make_build_dir, replace_dir_atomically
    from nabench.corpora.store import write_atomic_text

    check_key(key)
    final = Path(root) / "submissions" / key
    if final.exists() and not replace:
        raise SubmissionError(f"{final}: a submission with this key exists; pass --replace to replace it")
    if not predictions:
        raise SubmissionError("no predictions files given")
    checked: dict[str, Path] = {}
    metas = []
    for file in predictions:
        frame, meta = read_predictions(Path(file))
        task = check_predictions(frame, meta, str(file))
        if task.name in checked:
            raise SubmissionError(f"{file}: a second predictions file for task {task.name} (first: {checked[task.name]})")
        checked[task.name] = Path(file)
        metas.append(meta)
    if card is None:
        names = {m.get("predictor") for m in metas}
        name = predictor or (names.pop() if len(names) == 1 else None)
        if not name:
            raise SubmissionError("no card given and the predictions do not name one predictor; pass --card")
        params = [m.get("params") for m in metas]
        if any(p != params[0] for p in params):
            raise SubmissionError("the predictions files were made with different predictor parameters; submit them separately")
        walls = {m["task"]: _run_info(checked[m["task"]]).get("wall_time_s") for m in metas}
        walls = {**_unchanged_wall_times(final, checked), **{k: v for k, v in walls.items() if v is not None}}
        card = default_card(name, walls, params[0])
    validate_card(card, f"card of {key}")
    final.parent.mkdir(parents=True, exist_ok=True)
    build = make_build_dir(final.parent, f".build-{key}-")
    try:
        (build / PREDICTIONS).mkdir()
        write_atomic_text(build / CARD, yaml.safe_dump(card, sort_keys=False, allow_unicode=True))
        for name, file in checked.items():
            shutil.copyfile(file, build / PREDICTIONS / f"{name}.parquet")
        validate_submission(build)  # every split scored before anything is replaced
        replace_dir_atomically(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return final


def _unchanged_wall_times(final: Path, checked: dict[str, Path]) -> dict[str, float]:
    """The wall times the card of the submission at ``final`` records for tasks whose predictions
    are resubmitted byte for byte (files copied out of a submission carry no run info)."""
    try:
        old = yaml.safe_load((final / CARD).read_text(encoding="utf-8"))["wall_time_s"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return {}
    kept = {}
    for task, file in checked.items():
        stored = final / PREDICTIONS / f"{task}.parquet"
        if task in old and stored.is_file() and filecmp.cmp(file, stored, shallow=False):
            kept[task] = old[task]
    return kept


def run_info_path(predictions: Path) -> Path:
    """The sidecar the runner writes next to a predictions file (wall time, hardware)."""
    return Path(predictions).with_suffix(".run.json")


def _run_info(predictions: Path) -> dict:
    try:
        return json.loads(run_info_path(predictions).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
