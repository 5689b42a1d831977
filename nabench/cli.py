"""The ``nabench`` command line: ``nabench <group> <verb>``.

Data goes to stdout, progress and errors to stderr; errors are one line and a non-zero exit.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Iterable, Iterator, Optional, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichBar, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nabench.corpora.base import Progress
from nabench.errors import NabenchError, UnknownNameError

T = TypeVar("T")
out = Console(soft_wrap=True)
err = Console(stderr=True)

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Benchmark suite for neural-architecture performance predictors.")
corpora_app = typer.Typer(no_args_is_help=True, help="Build, inspect and export corpora.")
app.add_typer(corpora_app, name="corpora")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


FORMAT = typer.Option(Format.table, "--format", "-f", help="Output format.")


class BarProgress(Progress):
    """Rich progress bars on stderr."""

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        with RichBar(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as bar:
            yield from bar.track(items, description=description, total=total)


def emit(rows: list[dict], fmt: Format, title: str | None = None) -> None:
    """Print rows as a table, JSON or CSV on stdout."""
    if fmt is Format.json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
    elif fmt is Format.csv:
        buf = io.StringIO()
        fields = list(dict.fromkeys(k for r in rows for k in r))
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
    elif len(rows) == 1:  # one record reads better as field/value pairs
        table = Table(title=title, show_header=False)
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        for key, value in rows[0].items():
            table.add_row(key, Text("" if value is None else str(value)))
        out.print(table)
    else:
        table = Table(title=title)
        fields = list(dict.fromkeys(k for r in rows for k in r))
        for f in fields:
            table.add_column(f, overflow="fold")
        for r in rows:
            table.add_row(*(Text("" if r.get(f) is None else str(r.get(f))) for f in fields))
        out.print(table)


@corpora_app.command("list")
def corpora_list(fmt: Format = FORMAT) -> None:
    """List every registered corpus and whether it is built."""
    from nabench import corpora
    from nabench.corpora.store import built_versions

    rows = []
    for name in corpora.names():
        try:
            imp = corpora.importer_for(name)
        except UnknownNameError as e:  # a broken plugin must not hide the others
            rows.append({"name": name, "title": f"unavailable: {e}"})
            continue
        built = built_versions(name)
        rows.append({
            "name": name, "title": imp.title, "space": imp.space, "version": imp.version,
            "embedded": imp.embedded, "built": imp.version in built,
            "records": corpora.load(name).manifest["n_records"] if imp.version in built else None,
        })
    emit(rows, fmt, title="nabench corpora")


@corpora_app.command("info")
def corpora_info(name: str, fmt: Format = FORMAT) -> None:
    """Describe one corpus: provenance, counts and every column."""
    from nabench import corpora

    corpus = corpora.load(name)
    m = corpus.manifest
    if fmt is Format.json:
        sys.stdout.write(json.dumps(m, indent=2) + "\n")
        return
    rows = [
        {"column": c.name, "kind": c.kind, "unit": c.unit, "higher_is_better": c.higher_is_better,
         "non_null": int(corpus.records()[c.name].notna().sum()), "description": c.description}
        for c in corpus.columns
    ]
    if fmt is Format.table:
        s = corpus.summary()
        err.print(Text(f"{m['title']} ({m['name']} {m['version']}): {s['records']} records, "
                       f"{s['labels']} label columns, {s['proxies']} proxy columns; "
                       f"license {m['license']}; from {m['source_format']}; upstream {m['upstream']}"))
    emit(rows, fmt, title=f"{name} columns")


@corpora_app.command("build")
def corpora_build(
    name: str,
    source: Optional[Path] = typer.Option(None, "--source", help="Upstream files (default: embedded data or $NABENCH_DATA)."),
    fmt: Format = FORMAT,
) -> None:
    """Import a corpus from its upstream files into the local store."""
    from nabench import corpora

    corpus = corpora.build(name, source, progress=BarProgress())
    emit([corpus.summary()], fmt, title=f"built {name}")


@corpora_app.command("export")
def corpora_export(
    name: str,
    to: Path = typer.Option(..., "--to", help="Folder to write <name>/records.parquet, manifest.json and README.md into."),
) -> None:
    """Export a built corpus as Parquet (readable by datasets.load_dataset("parquet", ...))."""
    from nabench import corpora

    path = corpora.export(name, to)
    sys.stdout.write(f"{path}\n")


@corpora_app.command("card")
def corpora_card(
    name: str,
    check: bool = typer.Option(False, "--check", help="Only check that the card agrees with the corpus."),
) -> None:
    """Regenerate the YAML front matter of data_cards/<name>.md from the built corpus."""
    from nabench import corpora
    from nabench.corpora.cards import card_path, check_card, write_card

    corpus = corpora.load(name)
    if check:
        problems = check_card(corpus)
        if problems:
            raise NabenchError(f"{card_path(name)}: " + "; ".join(problems))
        sys.stdout.write(f"{card_path(name)}: agrees with {name} {corpus.version}\n")
    else:
        sys.stdout.write(f"{write_card(corpus)}\n")


@corpora_app.command("export-onnx")
def corpora_export_onnx(
    name: str,
    to: Path = typer.Option(..., "--to", help="Folder to write <name>/<native id>.onnx and <name>/index.csv into."),
    weights: Optional[str] = typer.Option(None, "--weights", help="'random': seeded random initializers (runnable)."),
) -> None:
    """Export the normalized ONNX graphs of a corpus (weightless, or --weights random)."""
    from nabench.corpora.api import export_onnx

    if weights not in (None, "random"):
        raise NabenchError(f"--weights must be 'random' (or omitted), got {weights!r}")
    path = export_onnx(name, to, weights=weights, progress=BarProgress())
    sys.stdout.write(f"{path}\n")


@app.command("normalize")
def normalize_cmd(
    name: str,
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes (0: one per CPU)."),
    fmt: Format = FORMAT,
) -> None:
    """Build, check and hash the ONNX graph of every record of a corpus (resumable)."""
    import os

    from nabench import corpora
    from nabench.normalize import normalize

    out = normalize(name, workers=workers or os.cpu_count() or 1, progress=BarProgress())
    g = corpora.load(name).graphs()
    emit([{"corpus": name, "records": len(g), "distinct_arch_ids": int(g["arch_id"].nunique()),
           "mean_onnx_bytes": round(float(g["onnx_bytes"].mean()), 1) if len(g) else None, "path": str(out)}],
         fmt, title=f"normalized {name}")


graph_app = typer.Typer(no_args_is_help=True, help="Inspect ONNX architecture graphs.")
app.add_typer(graph_app, name="graph")

from nabench.leaderboard import cli as leaderboard_cli  # noqa: E402  (typer sub-app; imports nothing heavy)

app.add_typer(leaderboard_cli.app, name="leaderboard")
app.command("run")(leaderboard_cli.run_cmd)
app.command("submit")(leaderboard_cli.submit_cmd)

from nabench.zoo import cli as zoo_cli  # noqa: E402  (typer sub-app; imports nothing heavy)

app.add_typer(zoo_cli.zoo_app, name="zoo")
app.command("predict")(zoo_cli.predict_cmd)
from nabench.zc.cli import app as zc_app  # noqa: E402  (typer sub-app; imports nothing heavy)
app.add_typer(zc_app, name="zc")


@graph_app.command("inspect")
def graph_inspect(model: Path = typer.Argument(..., help="An .onnx file."), fmt: Format = FORMAT) -> None:
    """Summary of any ONNX model as nabench sees it: nodes, params, FLOPs (MACs), depth, op categories, arch_id."""
    from nabench.graph import arch_id, from_onnx

    g = from_onnx(model)
    emit([{
        "file": str(model), "arch_id": arch_id(g), "nodes": len(g.nodes), "edges": len(g.edges),
        "params": g.params, "flops": g.flops, "flops_complete": g.flops_complete, "depth": g.depth,
        "categories": ", ".join(f"{k}={v}" for k, v in sorted(g.category_counts().items())),
        "notes": "; ".join(g.notes),
    }], fmt, title="graph")


def main() -> None:
    try:
        app()
    except NabenchError as e:
        err.print(Text(f"error: {e}", style="red"))
        sys.exit(1)
    except KeyboardInterrupt:
        err.print(Text("interrupted", style="red"))
        sys.exit(130)
