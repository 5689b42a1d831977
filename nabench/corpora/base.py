"""The importer contract: upstream files in, one validated table out.

An :class:`Importer` knows one corpus: its name, version, upstream, license and citation,
which files it reads, and how to turn them into a :class:`CorpusTable` (one row per
architecture, keyed by the benchmark's own ``native_id``). The store
(:mod:`nabench.corpora.store`) validates the table and writes it atomically.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Iterable, Iterator, TypeVar

import pandas as pd

from nabench.config import data_root
from nabench.corpora.columns import Column
from nabench.corpora.sources import sha256_file
from nabench.errors import NabenchError, SourceError

T = TypeVar("T")

#: Columns every corpus table has, in this order.
KEY_COLUMNS = ("native_id", "space")


class Progress:
    """Opt-in progress reporting; the default reports nothing (libraries never print)."""

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        return iter(items)


@dataclass
class CorpusTable:
    """What an importer produces: records, a description of every column, provenance."""

    frame: pd.DataFrame
    columns: list[Column]
    source_format: str
    source_files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def validate(self, corpus: str) -> None:
        """Check the table against its column descriptions; raise a precise error."""
        df = self.frame
        if list(df.columns[:2]) != list(KEY_COLUMNS):
            raise NabenchError(f"corpus {corpus}: table must start with columns {KEY_COLUMNS}, got {list(df.columns[:2])}")
        described = [c.name for c in self.columns]
        dup_desc = {n for n in described if described.count(n) > 1}
        if dup_desc:
            raise NabenchError(f"corpus {corpus}: column(s) {sorted(dup_desc)} described twice")
        data_cols = list(df.columns[2:])
        undescribed = [c for c in data_cols if c not in described]
        if undescribed:
            raise NabenchError(f"corpus {corpus}: unknown column(s) {undescribed} have no description")
        missing = [c for c in described if c not in data_cols]
        if missing:
            raise NabenchError(f"corpus {corpus}: described column(s) {missing} are not in the table")
        if df["native_id"].isna().any():
            raise NabenchError(f"corpus {corpus}: empty native_id")
        dup = df["native_id"][df["native_id"].duplicated()]
        if len(dup):
            raise NabenchError(f"corpus {corpus}: duplicate native_id {dup.iloc[0]!r} ({len(dup)} duplicates)")
        for col in self.columns:
            if col.dtype == "str" and pd.api.types.is_string_dtype(df[col.name]):
                continue
            if str(df[col.name].dtype) != col.dtype:
                raise NabenchError(
                    f"corpus {corpus}: column {col.name!r} has dtype {df[col.name].dtype}, described as {col.dtype}"
                )
        if df.empty:
            raise NabenchError(f"corpus {corpus}: no records")


class Importer(ABC):
    """Turns one benchmark's upstream files into a :class:`CorpusTable`."""

    name: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    space: ClassVar[str]
    upstream: ClassVar[str]
    license: ClassVar[str]
    citation: ClassVar[str]
    #: True when the data ships inside an installed PyPI package: no source path needed.
    embedded: ClassVar[bool] = False
    #: Where the default snapshot lives, relative to ``NABENCH_DATA`` (non-embedded only).
    default_subdir: ClassVar[str] = ""

    def resolve_source(self, source: Path | None) -> Path:
        """The path to read from: ``source`` if given, else the default location."""
        if source is not None:
            source = Path(source).expanduser()
            if not source.exists():
                raise SourceError(source, "source path not found")
            return source
        if self.embedded:
            return self.embedded_source()
        root = data_root()
        if root is None:
            raise NabenchError(
                f"corpus {self.name} needs its upstream files: pass --source PATH "
                f"or set NABENCH_DATA to the folder that holds '{self.default_subdir}/'"
            )
        if not root.exists():
            raise SourceError(root, "NABENCH_DATA points to a folder that does not exist")
        return root

    def embedded_source(self) -> Path:
        raise NotImplementedError

    def data_folder(self, source: Path) -> Path:
        """The folder holding this corpus's files: ``source/<default_subdir>``, ``source``, or a file's folder."""
        if source.is_file():
            return source.parent
        nested = source / self.default_subdir
        return nested if self.default_subdir and nested.is_dir() else source

    @abstractmethod
    def read(self, source: Path, progress: Progress) -> CorpusTable:
        """Read and check the upstream files under ``source``."""

    def build_table(self, source: Path | None = None, progress: Progress | None = None) -> CorpusTable:
        table = self.read(self.resolve_source(source), progress or Progress())
        table.validate(self.name)
        return table


def file_hashes(files: dict[str, Path]) -> dict[str, str]:
    return {key: sha256_file(path) for key, path in sorted(files.items())}

