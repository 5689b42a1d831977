"""Checked readers for upstream files: every problem becomes a one-line SourceError."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from nabench.errors import SourceError


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def require_file(path: Path) -> Path:
    if not path.exists():
        raise SourceError(path, "file not found")
    if not path.is_file():
        raise SourceError(path, "expected a file, found a directory")
    return path


def read_csv(
    path: Path,
    columns: Iterable[str],
    *,
    optional: Iterable[str] = (),
    ignore: Iterable[str] = (),
    numeric: Iterable[str] = (),
    rows: int | None = None,
) -> pd.DataFrame:
    """Read a CSV whose header must be exactly ``columns`` (+ ``optional``, + ``ignore``).

    Unknown columns, missing columns, a wrong row count, non-numeric values in
    ``numeric`` columns and rows cut short (a truncated file) are all errors.
    """
    require_file(path)
    columns, optional, ignore, numeric = list(columns), set(optional), set(ignore), list(numeric)
    try:
        df = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise SourceError(path, f"not a readable CSV file ({str(e).splitlines()[0]})") from None
    present = set(df.columns)
    missing = [c for c in columns if c not in present]
    if missing:
        raise SourceError(path, f"missing column(s) {missing}; is this the right file?")
    unknown = sorted(present - set(columns) - optional - ignore)
    if unknown:
        raise SourceError(path, f"unknown column(s) {unknown}; the upstream format has changed or this is the wrong file")
    df = df.drop(columns=[c for c in df.columns if c in ignore])
    if rows is not None and len(df) != rows:
        raise SourceError(path, f"expected {rows} rows, found {len(df)} (truncated or wrong file?)")
    if not _ends_with_newline(path):
        raise SourceError(path, "file does not end with a newline: it looks truncated")
    for c in numeric:
        if c not in df.columns:
            continue
        converted = pd.to_numeric(df[c], errors="coerce")
        bad = converted.isna() & df[c].notna()
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 2
            raise SourceError(path, f"column {c!r} has a non-numeric value {df[c][bad].iloc[0]!r} on line {line}")
        df[c] = converted.astype("float64")
    return df


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return False
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def read_json(path: Path) -> object:
    require_file(path)
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise SourceError(path, f"not valid JSON (truncated?): {e.msg} at line {e.lineno}") from None
    except UnicodeDecodeError:
        raise SourceError(path, "not a UTF-8 JSON file") from None


def check_unique(values: pd.Series, path: Path | str, what: str) -> None:
    dup = values[values.duplicated()]
    if len(dup):
        first = dup.iloc[0]
        first = first.item() if hasattr(first, "item") else first
        raise SourceError(path, f"duplicate {what} {first!r} ({len(dup)} duplicates)")
