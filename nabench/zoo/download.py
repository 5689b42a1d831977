"""Verified, atomic downloads into the zoo cache (stdlib ``urllib`` only).

A file is streamed to ``<dest>.part`` next to its final place, checked against the expected size
and sha256, and only then renamed onto ``dest``. Any failure (HTTP error, refused connection,
short read, wrong hash, interrupted transfer) removes the ``.part`` file and leaves ``dest`` as
it was, so the cache never holds a file that was not verified.

Once every file of an entry is verified, :func:`write_stamp` records each file's sha256, size and
modification time in ``.verified.json``; later loads trust a file whose size and mtime still match
that record instead of hashing it again (:func:`stamp_ok`), so loading a large cached entry costs
a ``stat`` per file. Any rewrite of a file changes its mtime and brings the full check back.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from nabench.errors import NabenchError

CHUNK = 1 << 16
STAMP_FILE = ".verified.json"


class DownloadError(NabenchError):
    """A zoo file could not be fetched or did not match its registry entry."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def is_valid(path: Path, sha256: str, size: int) -> bool:
    """``path`` exists with exactly this size and sha256."""
    return path.is_file() and path.stat().st_size == size and sha256_file(path) == sha256


def fetch(url: str, dest: Path, sha256: str, size: int, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there; returns ``dest``."""
    if is_valid(dest, sha256, size):
        return dest
    import urllib.error  # here, not at import: loading a verified entry never needs it
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    got = 0
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    got += len(block)
                    if got > size:
                        raise DownloadError(f"{url}: more than the expected {size} bytes; not the registered file")
                    h.update(block)
                    f.write(block)
                f.flush()
                os.fsync(f.fileno())
        except urllib.error.HTTPError as e:
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise DownloadError(f"{url}: cannot connect ({e.reason})") from None
        except (OSError, ValueError) as e:  # connection reset, incomplete read, timeout, bad URL
            raise DownloadError(f"{url}: transfer failed after {got} of {size} bytes ({e})") from None
        if got != size:
            raise DownloadError(f"{url}: short read, got {got} of {size} bytes")
        if h.hexdigest() != sha256:
            raise DownloadError(f"{url}: sha256 {h.hexdigest()} does not match the registry ({sha256})")
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def _stamps(folder: Path, files) -> dict[str, list]:
    out = {}
    for f in files:
        st = (folder / f.path).stat()
        out[f.path] = [f.sha256, st.st_size, st.st_mtime_ns]
    return out


def stamp_ok(folder: Path, files) -> bool:
    """Every file (``path``, ``sha256``, ``size``) was verified in ``folder`` and has not changed since."""
    try:
        recorded = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
        current = _stamps(folder, files)
    except (OSError, ValueError):
        return False
    return all(current[f.path] == recorded.get(f.path) and current[f.path][1] == f.size for f in files)


def write_stamp(folder: Path, files) -> None:
    """Record that ``files`` were just verified in ``folder`` (atomically; see :func:`stamp_ok`)."""
    tmp = folder / f"{STAMP_FILE}.part"
    try:
        tmp.write_text(json.dumps(_stamps(folder, files), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, folder / STAMP_FILE)
    finally:
        tmp.unlink(missing_ok=True)
