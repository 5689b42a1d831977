"""Public corpus functions: list, build, load, export."""

from __future__ import annotations

import shutil
from pathlib import Path

from nabench.corpora.base import Importer, Progress
from nabench.corpora.store import (
    MANIFEST,
    RECORDS,
    Corpus,
    built_versions,
    corpus_dir,
    atomic_export_dir,
    open_corpus,
    write_corpus,
)
from nabench.errors import CorpusNotBuiltError, NabenchError
from nabench.registry import corpora as registry


def names() -> list[str]:
    """Names of every registered corpus."""
    return registry.names()


def importer_for(name: str) -> Importer:
    """A fresh importer for corpus ``name``."""
    return registry.get(name)()


def build(name: str, source: str | Path | None = None, progress: Progress | None = None) -> Corpus:
    """Import corpus ``name`` from ``source`` (or its default location) into the store."""
    importer = importer_for(name)
    table = importer.build_table(Path(source) if source is not None else None, progress)
    return Corpus(write_corpus(importer, table))


def load(name: str, version: str | None = None) -> Corpus:
    """A built corpus. Embedded corpora are built on first use (no download involved)."""
    try:
        return open_corpus(name, version)
    except CorpusNotBuiltError:
        importer = importer_for(name)
        if importer.embedded and version in (None, importer.version):
            return build(name)
        raise


def is_built(name: str) -> bool:
    return importer_for(name).version in built_versions(name)


def export(name: str, to: str | Path, version: str | None = None) -> Path:
    """Copy a built corpus to ``to/<name>/`` as Parquet + manifest + data card (README.md).

    The folder is what ``datasets.load_dataset("parquet", data_files=".../records.parquet")``
    reads; it is written atomically.
    """
    from nabench.corpora.cards import card_path

    corpus = load(name, version)
    to = Path(to).expanduser()
    with atomic_export_dir(to, name) as build_dir:
        shutil.copyfile(corpus.path / RECORDS, build_dir / RECORDS)
        shutil.copyfile(corpus.path / MANIFEST, build_dir / MANIFEST)
        card = card_path(name)
        if card.exists():
            shutil.copyfile(card, build_dir / "README.md")
    return to / name


def export_onnx(name: str, to: str | Path, *, weights: str | None = None, version: str | None = None,
                progress: Progress | None = None) -> Path:
    """Write every normalized record of a corpus as ``to/<name>/<safe native id>.onnx`` plus
    ``index.csv`` (native_id, file, arch_id); the folder is written atomically.

    ``weights=None``: the stored weightless graphs (weights are typed graph inputs; they open in
    netron and pass the ONNX checker); ``weights="random"``: rebuilt by the space builder with
    seeded random initializers, so they run in onnxruntime. Needs ``nabench normalize <name>``.
    """
    import csv

    from nabench.normalize import build_model, graph_metadata, safe_file_name

    if weights not in (None, "random"):
        raise NabenchError(f"weights must be None or 'random', got {weights!r}")
    corpus = load(name, version)
    graphs = corpus.graphs()
    to = Path(to).expanduser()
    with atomic_export_dir(to, name) as build_dir:
        records = None
        if weights is not None:
            keep = [c.name for c in corpus.columns if c.kind == "spec"] + ["native_id", "space"]
            records = corpus.records()[list(dict.fromkeys(keep))].set_index("native_id", drop=False)
        index = []
        items = zip(graphs["native_id"], graphs["arch_id"], graphs["onnx"])
        for native_id, aid, blob in (progress or Progress()).track(items, f"export {name}", total=len(graphs)):
            fname = safe_file_name(native_id) + ".onnx"
            if weights is not None:
                rec = records.loc[native_id].to_dict()
                m = build_model(rec, corpus.name, weights=weights,
                                metadata=graph_metadata(corpus.name, str(rec["space"]), native_id, aid))
                blob = m.SerializeToString()
            (build_dir / fname).write_bytes(blob)
            index.append({"native_id": native_id, "file": fname, "arch_id": aid})
        with open(build_dir / "index.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["native_id", "file", "arch_id"], lineterminator="\n")
            w.writeheader()
            w.writerows(index)
    return to / name


def normalize(name: str, *, workers: int = 1, progress: Progress | None = None, **kw) -> Path:
    """See :func:`nabench.normalize.normalize`."""
    from nabench.normalize import normalize as _normalize

    return _normalize(name, workers=workers, progress=progress, **kw)


__all__ = ["Corpus", "build", "corpus_dir", "export", "export_onnx", "importer_for", "is_built", "load", "names",
           "normalize"]
