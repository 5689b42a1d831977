"""``nabench zoo list | info | pull | build | export`` and ``nabench predict FILE.onnx ... | --corpus NAME``."""

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
    from nabench.zoo.download import is_valid, stamp_ok

    rows = []
    for name in zoo.names():
        e = zoo.entry(name)
        folder = zoo.cache_dir(name)
        local = e.embedded or stamp_ok(folder, e.files) or all(is_valid(folder / f.path, f.sha256, f.size) for f in e.files)
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
    sources = "; ".join(f"{s.corpus} {s.version or '?'} column {s.target}, train_size "
                        f"{e.train_size if s.train_size is None else s.train_size}" for s in e.sources)
    held_out = {k: v for k, v in e.metrics.items() if k != "zero_shot"}
    zero_shot = "; ".join(f"{z['corpus']} {z['version']} column {z['target']} ({z['records']} records): "
                          f"spearman_rho={z['spearman_rho']}, kendall_tau_b={z['kendall_tau_b']}"
                          for z in e.metrics.get("zero_shot", []))
    emit([{
        "name": e.name, "title": e.title, "family": e.family, "format": e.format,
        "predictor": f"{e.predictor} {json.dumps(e.params, sort_keys=True)} x{e.members} members",
        "training data": f"{sources} (seed {e.seed}, split by arch_id)",
        "target": e.target, "unit": t.get("unit"),
        "metrics (held-out)": ", ".join(f"{k}={v}" for k, v in held_out.items()),
        **({"metrics (zero-shot, never trained on)": zero_shot} if zero_shot else {}),
        "uncertainty": "std over bootstrap members" if e.members > 1 else "none (single model)",
        "intended use": e.intended_use, "limits": e.limits, "license": e.license,
        "nabench versions": e.nabench_versions, "embedded": e.embedded,
        "files": ", ".join(f"{f.path} ({f.size} B)" for f in e.files),
    }], fmt, title=f"zoo entry {name}")


@zoo_app.command("pull")
def zoo_pull(names: List[str] = typer.Argument(..., help="Entry names.")) -> None:
    """Download and verify entries into $NABENCH_HOME/zoo (embedded ones are only verified); every
    file is hashed again, also when it was verified before."""
    from nabench import zoo

    for name in names:
        sys.stdout.write(f"{zoo.pull(name, recheck=True)}\n")


@zoo_app.command("build")
def zoo_build(
    names: List[str] = typer.Argument(..., help="Entry names."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write <name>/ into (default: $NABENCH_HOME/zoo/builds)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes for normalizing the corpus if needed."),
    release_: bool = typer.Option(False, "--release", help="Maintainers, in a source checkout: record each build in "
                                  "nabench/zoo/registry.yml (and nabench/zoo/embedded/ for embedded entries)."),
) -> None:
    """Train entries from their recipes; writes member folders, reference.json and card.yml per entry."""
    from nabench import zoo
    from nabench.config import home
    from nabench.encoders.tabular import feature_cache
    from nabench.zoo.build import build, release

    with feature_cache():  # entries trained on one corpus encode each architecture once
        for name in names:
            folder = build(zoo.entry(name), out or home() / "zoo" / "builds", workers=workers)
            if release_:
                release(folder)
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
    files: Optional[List[Path]] = typer.Argument(None, help="ONNX files (any model exported with torch.onnx.export, or a corpus export)."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="Zoo entry name, or a `zoo build` output folder."),
    corpus: Optional[str] = typer.Option(None, "--corpus", "-c", help="Instead of files: score every normalized record of this built corpus."),
    to: Optional[Path] = typer.Option(None, "--to", help="Write the rows to this .parquet or .csv file (full precision) instead of printing them."),
    workers: int = typer.Option(0, "--workers", "-j", help="With --corpus: worker processes (0: one per CPU, at most 4, for corpora of 2,000+ architectures)."),
    fmt: Format = FORMAT,
) -> None:
    """Predict the target of ONNX models (or of a whole corpus) with a zoo estimator, with its
    uncertainty and the percentile among the estimator's training corpus."""
    import numpy as np
    import pandas as pd

    if bool(files) == bool(corpus):
        raise NabenchError("give ONNX files or --corpus NAME (one of the two)")
    if to is not None and to.suffix not in (".parquet", ".csv"):
        raise NabenchError(f"{to}: --to writes .parquet or .csv files")
    for f in files or []:
        if not f.is_file():
            raise NabenchError(f"{f}: no such file")
    m = _model(model)
    if corpus:
        table = m.score_corpus(corpus, workers=workers)
    else:
        from nabench.graph import from_onnx

        p = m.predict_full([from_onnx(f) for f in files])
        table = pd.DataFrame({"file": [str(f) for f in files], "prediction": p.prediction,
                              "uncertainty": np.nan if p.uncertainty is None else p.uncertainty,
                              "corpus_percentile": p.percentile})
    table["unit"] = m.entry.raw["training"].get("unit")
    table["model"] = m.name
    if to is not None:
        from nabench.corpora.store import write_atomic

        write_atomic(to, lambda tmp: table.to_parquet(tmp, index=False) if to.suffix == ".parquet"
                     else table.to_csv(tmp, index=False))
        err.print(f"{len(table)} rows predicted with {m.name} -> {to}")
        sys.stdout.write(f"{to}\n")
        return
    rounded = table.round({"prediction": 4, "uncertainty": 4, "corpus_percentile": 1}).astype(object)
    rows = rounded.where(rounded.notna(), None).to_dict("records")
    if fmt is Format.table:
        err.print(f"{m.name}: {m.entry.target}; corpus_percentile = share of the training corpus "
                  f"({', '.join(s.corpus for s in m.entry.sources)}) that this estimator predicts at or below the prediction")
    emit(rows, fmt, title=f"predicted with {m.name}")
