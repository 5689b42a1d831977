"""``nabench zc``: compute zero-cost proxies over a corpus, list them, compare them with accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Zero-cost proxies: compute over a corpus, compare with accuracy.")


def _cli():
    from nabench import cli  # the parent CLI (emit, Format, consoles); imported when a command runs

    return cli


@app.command("list")
def list_cmd(fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv")) -> None:
    """The proxies, their orientation and what they need."""
    from nabench.zc import proxies as P

    cli = _cli()
    rows = [{"proxy": p.name, "higher_is_better": p.higher_is_better, "needs_data": p.needs_data,
             "suite_zero": p.name in P.SUITE_ZERO, "definition": p.description, "reference": p.reference}
            for p in P.PROXIES.values()]
    cli.emit(rows, cli.Format(fmt), title="zero-cost proxies")


@app.command("compute")
def compute_cmd(
    corpus: str = typer.Argument(..., help="Corpus name (built; see `nabench corpora list`)."),
    proxies: List[str] = typer.Option(["suite-zero"], "--proxies", "-p", help="Proxy names (repeat or comma-separate); 'suite-zero' = the 13, 'all' = 15."),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes (Ray tasks with --executor ray)."),
    executor: str = typer.Option("process", "--executor", help="process or ray (needs nabench[ray]; RAY_ADDRESS for a cluster)."),
    dataset: str = typer.Option("cifar10", "--dataset", help="cifar10, cifar100 or ImageNet16-120 (stand-in without --data-root)."),
    batch_size: int = typer.Option(64, "--batch-size"),
    seed: int = typer.Option(0, "--seed", help="Seeds the batch draw, augmentation and weight init."),
    shard_size: int = typer.Option(64, "--shard-size", help="Records per shard file."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N records."),
    ids: Optional[Path] = typer.Option(None, "--ids", help="Only these records: a file with one native id per line."),
    task: Optional[str] = typer.Option(None, "--task", help="Only the test units of this leaderboard task (e.g. nb201-cifar10)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: under the corpus store)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="torchvision CIFAR folder or ImageNet16 pickles."),
    fmt: str = typer.Option("table", "--format", "-f"),
) -> None:
    """Compute proxies for every record; resumable (rerun the same command after an interruption)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nabench.errors import NabenchError
    from nabench.zc import compute as C, proxies as P

    cli = _cli()
    if ids is not None and task is not None:
        raise NabenchError("give --ids or --task, not both")
    subset, tag = None, None
    if ids is not None:
        if not ids.is_file():
            raise NabenchError(f"{ids}: no such file")
        subset = [line.strip() for line in ids.read_text(encoding="utf-8").splitlines() if line.strip()]
        tag = f"ids-{ids.stem}"
    elif task is not None:
        subset, tag = C.task_ids(task, corpus), f"task-{task}"
    names: list[str] = []
    for item in proxies:
        for p in filter(None, (s.strip() for s in item.split(","))):
            names += list(P.SUITE_ZERO) if p == "suite-zero" else P.names() if p == "all" else [p]
    with Progress(TextColumn("zc shards"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=cli.err, transient=True) as bar:
        task = bar.add_task("zc", total=None)
        path = C.compute_corpus(corpus, names, out=out, dataset=dataset, batch_size=batch_size, seed=seed,
                                workers=workers, executor=executor, shard_size=shard_size, limit=limit,
                                ids=subset, tag=tag, data_root=data_root, progress=lambda d, n: bar.update(task, completed=d, total=n))
    df = C.read_scores(path)
    rows = [{"proxy": p, "scored": int(df[p].notna().sum()), "failed": int((df[f"{p}__error"] != "").sum()),
             "mean_s_per_cell": round(float(df["seconds"].mean()), 4)} for p in dict.fromkeys(names)]
    cli.emit(rows, cli.Format(fmt), title=f"{corpus}: {len(df)} records → {path}")


@app.command("compare")
def compare_cmd(
    task: List[str] = typer.Option(..., "--task", "-t", help="CORPUS:TARGET_COLUMN (repeatable), e.g. nb201:cifar10__test_acc__200ep."),
    scores: Optional[Path] = typer.Option(None, "--scores", help="A `zc compute` run folder; default: the corpus's published <ds>__zc_<proxy> columns."),
    dataset: str = typer.Option("cifar10", "--dataset", help="Dataset of the published proxy columns to read."),
    sample: Optional[int] = typer.Option(None, "--sample", help="Evaluate on a seeded random sample of N architectures."),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("zc_compare"), "--out", help="Folder for table.csv, table.md and the plots."),
    fmt: str = typer.Option("table", "--format", "-f"),
) -> None:
    """Spearman, Kendall tau-b and precision@top-5% per proxy per task; heatmap and scatter plots."""
    from nabench import corpora
    from nabench.errors import NabenchError
    from nabench.zc import compare as K, compute as C, proxies as P

    cli = _cli()
    tasks = [K.parse_task(t, sample, seed) for t in task]
    if scores is not None:
        frame = C.read_scores(scores).set_index("native_id")
        frame = frame[[c for c in frame.columns if c in P.PROXIES]]
    else:
        names = {t.corpus for t in tasks}
        if len(names) != 1:
            raise NabenchError("published proxy columns come from one corpus; pass --scores to compare across corpora")
        records = corpora.load(names.pop()).records().set_index("native_id")
        cols = {c.split("__zc_", 1)[1]: c for c in records.columns if c.startswith(f"{dataset}__zc_")}
        cols = {p: c for p, c in cols.items() if p in P.PROXIES}
        if not cols:
            raise NabenchError(f"no published {dataset}__zc_<proxy> columns in this corpus")
        frame = records[list(cols.values())].rename(columns={v: k for k, v in cols.items()})
    frame.index = frame.index.astype(str)
    frame = K.with_ensemble(frame)
    table = K.correlations(frame, tasks)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "table.csv", index=False)
    (out / "table.md").write_text(K.markdown(table), encoding="utf-8")
    plots = K.plot(table, frame, tasks[0], out)
    cli.emit(table.round(4).to_dict("records"), cli.Format(fmt), title=f"zero-cost proxies vs targets (plots: {', '.join(p.name for p in plots)} in {out})")
