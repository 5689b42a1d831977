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
    make_build_dir,
    open_corpus,
    replace_dir_atomically,
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
    if to.exists() and not to.is_dir():
        raise NabenchError(f"{to}: export target exists and is not a folder")
    to.mkdir(parents=True, exist_ok=True)
    build_dir = make_build_dir(to, f".export-{name}-")
    try:
        shutil.copyfile(corpus.path / RECORDS, build_dir / RECORDS)
        shutil.copyfile(corpus.path / MANIFEST, build_dir / MANIFEST)
        card = card_path(name)
        if card.exists():
            shutil.copyfile(card, build_dir / "README.md")
        final = to / name
        replace_dir_atomically(build_dir, final)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return final


__all__ = ["names", "importer_for", "build", "load", "export", "is_built", "corpus_dir", "Corpus"]
