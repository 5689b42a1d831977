"""``nabench zoo list | info | pull | build | export`` and ``nabench predict FILE.onnx ...``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from nabench.cli import FORMAT, Format, emit, err
from nabench.errors import NabenchError

DEFAULT_MODEL = "xgb.analognas-cifar10-analog"

zoo_app = typer.Typer(no_args_is_help=True, help="Pretrained estimators: list, describe, download, build, export.")


def _model(name: str):
    from nabench import zoo

    return zoo.load_dir(name) if Path(name).is_dir() else zoo.load(name)


@zoo_app.command("list")
def zoo_list(fmt: Format = FORMAT) -> None:
    """Every zoo entry: target, training data, held-out Kendall tau-b, whether it ships in the package."""
    from nabench import zoo
    from nabench.zoo.download import is_valid

    rows = []
    for name in zoo.names():
        e = zoo.entry(name)
        local = e.embedded or all(is_valid(zoo.cache_dir(name) / f.path, f.sha256, f.size) for f in e.files)
        rows.append({"name": name, "family": e.family, "target": e.target,
                     "trained_on": ", ".join(s.corpus for s in e.sources), "train_size": e.train_size,
                     "kendall_tau_b": e.metrics.get("kendall_tau_b"), "embedded": e.embedded,
                     "status": ("recipe only: nabench zoo build" if not e.files else "ready" if local else "downloadable")})
    emit(rows, fmt, title="nabench zoo")


@zoo_app.command("info")
def zoo_info(name: str, fmt: Format = FORMAT) -> None:
    """The model card: training data, metrics, intended use and limits, files."""
    from nabench import zoo

    e = zoo.entry(name)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(e.card(), indent=2, default=str) + "\n")
        return
    t = e.raw["training"]
    sources = "; ".join(f"{s['corpus']} {s.get('version', '?')} column {s['target']}" for s in t["sources"])
    emit([{
        "name": e.name, "title": e.title, "family": e.family, "format": e.format,
        "predictor": f"{e.predictor} {json.dumps(e.params, sort_keys=True)} x{e.members} members",
        "training data": f"{sources}; train_size {e.train_size} (seed {e.seed}, split by arch_id)",
        "target": e.target, "unit": t.get("unit"),
        "metrics (held-out)": ", ".join(f"{k}={v}" for k, v in e.metrics.items()),
        "uncertainty": "std over bootstrap members" if e.members > 1 else "none (single model)",
        "intended use": e.intended_use, "limits": e.limits, "license": e.license,
        "nabench versions": e.nabench_versions, "embedded": e.embedded,
        "files": ", ".join(f"{f.path} ({f.size} B)" for f in e.files),
    }], fmt, title=f"zoo entry {name}")


@zoo_app.command("pull")
def zoo_pull(names: List[str] = typer.Argument(..., help="Entry names.")) -> None:
    """Download and verify entries into $NABENCH_HOME/zoo (embedded ones are only verified)."""
    from nabench import zoo

    for name in names:
        sys.stdout.write(f"{zoo.pull(name)}\n")


@zoo_app.command("build")
def zoo_build(
    name: str,
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write <name>/ into (default: $NABENCH_HOME/zoo/builds)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes for normalizing the corpus if needed."),
) -> None:
    """Train an entry from its recipe; writes member folders, reference.json and card.yml."""
    from nabench import zoo
    from nabench.config import home
    from nabench.zoo.build import build

    folder = build(zoo.entry(name), out or home() / "zoo" / "builds", workers=workers)
    sys.stdout.write(f"{folder}\n")


@zoo_app.command("export")
def zoo_export(
    name: str = typer.Argument(..., help="Entry name, or a folder written by `nabench zoo build`."),
    to: Path = typer.Option(..., "--to", help="The .onnx file to write."),
) -> None:
    """Export an estimator to ONNX (runs with onnxruntime alone; see nabench.zoo.onnx_export)."""
    from nabench.zoo.onnx_export import export

    sys.stdout.write(f"{export(_model(name), to)}\n")


def predict_cmd(
    files: List[Path] = typer.Argument(..., help="ONNX files (any model exported with torch.onnx.export, or a corpus export)."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Zoo entry name, or a `zoo build` output folder."),
    fmt: Format = FORMAT,
) -> None:
    """Predict the target of each ONNX model with a zoo estimator, with its uncertainty and corpus percentile."""
    from nabench.graph import from_onnx

    for f in files:
        if not f.is_file():
            raise NabenchError(f"{f}: no such file")
    m = _model(model)
    graphs = [from_onnx(f) for f in files]
    p = m.predict_full(graphs)
    rows = [{
        "file": str(f), "prediction": round(float(p.prediction[i]), 4),
        "uncertainty": None if p.uncertainty is None else round(float(p.uncertainty[i]), 4),
        "corpus_percentile": round(float(p.percentile[i]), 1),
        "unit": m.entry.raw["training"].get("unit"), "model": m.name,
    } for i, f in enumerate(files)]
    if fmt is Format.table:
        err.print(f"{m.name}: {m.entry.target}; corpus_percentile = share of the training corpus "
                  f"({', '.join(s.corpus for s in m.entry.sources)}) measured at or below the prediction")
    emit(rows, fmt, title=f"predicted with {m.name}")
