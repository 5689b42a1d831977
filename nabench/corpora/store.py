"""The local corpus store: ``$NABENCH_HOME/corpora/<name>/<version>/``.

Each built corpus is a folder with ``records.parquet`` (readable by pandas, pyarrow and
``datasets.load_dataset("parquet", ...)``) and ``manifest.json`` (columns, counts,
provenance, hashes). Writes are atomic: a build goes to a temporary sibling folder and is
renamed into place only after it is complete, so a failed build leaves no half corpus
and a previous good version untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd

from nabench import __version__
from nabench.config import home
from nabench.corpora.base import CorpusTable, Importer, file_hashes
from nabench.corpora.columns import Column
from nabench.errors import CorpusNotBuiltError, NabenchError

MANIFEST = "manifest.json"
RECORDS = "records.parquet"


def corpora_root() -> Path:
    return home() / "corpora"


def corpus_dir(name: str, version: str) -> Path:
    return corpora_root() / name / version


def content_sha256(frame: pd.DataFrame) -> str:
    """A hash of the table's content that does not depend on the Parquet writer's version."""
    h = hashlib.sha256()
    h.update(json.dumps([list(map(str, frame.columns)), [str(t) for t in frame.dtypes]]).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary sibling of ``path``, fsync it, then rename it into place;
    on any failure the temporary file is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_atomic_text(path: Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def make_build_dir(parent: Path, prefix: str) -> Path:
    """A fresh temporary folder in ``parent`` with the permissions a plain mkdir would give."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)
    return path


def replace_dir_atomically(build: Path, final: Path) -> None:
    """Move a complete folder ``build`` to ``final``, replacing any previous one."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.rename(final, old)
    try:
        os.rename(build, final)
    except BaseException:
        if old is not None:
            os.rename(old, final)
        raise
    _fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_export_dir(to: Path, name: str) -> Iterator[Path]:
    """A temporary folder inside ``to`` that becomes ``to/<name>`` only if the block completes."""
    if to.exists() and not to.is_dir():
        raise NabenchError(f"{to}: export target exists and is not a folder")
    to.mkdir(parents=True, exist_ok=True)
    build = make_build_dir(to, f".export-{name}-")
    try:
        yield build
        replace_dir_atomically(build, to / name)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise


def manifest_for(importer: Importer, table: CorpusTable) -> dict:
    return {
        "name": importer.name,
        "version": importer.version,
        "title": importer.title,
        "space": importer.space,
        "upstream": importer.upstream,
        "license": importer.license,
        "citation": importer.citation.strip(),
        "embedded": importer.embedded,
        "nabench_version": __version__,
        "source_format": table.source_format,
        "source_files": file_hashes(table.source_files),
        "n_records": int(len(table.frame)),
        "content_sha256": content_sha256(table.frame),
        "columns": [c.to_dict() for c in table.columns],
        "notes": table.notes,
    }


def write_corpus(importer: Importer, table: CorpusTable) -> Path:
    """Validate ``table`` and store it atomically; returns the corpus folder."""
    table.validate(importer.name)
    final = corpus_dir(importer.name, importer.version)
    final.parent.mkdir(parents=True, exist_ok=True)
    build = make_build_dir(final.parent, f".build-{importer.version}-")
    try:
        frame = table.frame.reset_index(drop=True)
        frame.to_parquet(build / RECORDS, index=False)
        manifest = manifest_for(importer, table)
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for f in build.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        replace_dir_atomically(build, final)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return final


def built_versions(name: str) -> list[str]:
    root = corpora_root() / name
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file())


class Corpus:
    """A built corpus: records, labels by their parts, the manifest."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.manifest: dict = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise NabenchError(f"{path / MANIFEST}: unreadable corpus manifest ({e}); rebuild the corpus") from None
        self._records: pd.DataFrame | None = None
        self._graphs: pd.DataFrame | None = None

    name = property(lambda self: self.manifest["name"])
    version = property(lambda self: self.manifest["version"])

    @property
    def columns(self) -> list[Column]:
        return [Column.from_dict(c) for c in self.manifest["columns"]]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise NabenchError(f"corpus {self.name} has no column {name!r}")

    def records(self, with_graphs: bool = False) -> pd.DataFrame:
        """All records, one row per architecture (a copy is not made: do not mutate).

        ``with_graphs=True``: a new frame with the ``graphs`` columns joined on ``native_id``
        (``arch_id, n_params, flops, n_nodes, depth, onnx_bytes``; not the ONNX bytes) — needs
        ``nabench normalize <name>`` first.
        """
        if self._records is None:
            self._records = pd.read_parquet(self.path / RECORDS)
        if not with_graphs:
            return self._records
        g = self.graphs().drop(columns=["onnx"])
        return self._records.merge(g, on="native_id", how="left", validate="one_to_one")

    def graphs(self) -> pd.DataFrame:
        """The ``graphs`` table written by :func:`nabench.normalize.normalize` (native_id, arch_id,
        onnx, n_params, flops, n_nodes, depth, onnx_bytes); re-read when the shards change."""
        from nabench.normalize import read_graphs, read_plan

        plan = read_plan(self.path)
        if self._graphs is None or getattr(self, "_graphs_plan", None) != plan:
            self._graphs = read_graphs(self.path)
            self._graphs_plan = plan
            self._onnx_index = None
        return self._graphs

    def onnx(self, key: str) -> bytes:
        """The stored weightless ONNX model (serialized) of a record, by ``native_id`` (or ``arch_id``:
        the first record with that id)."""
        g = self.graphs()
        if getattr(self, "_onnx_index", None) is None:
            self._onnx_index = {k: i for i, k in enumerate(g["native_id"])}
            for i, a in enumerate(g["arch_id"]):
                self._onnx_index.setdefault(a, i)
        try:
            return g["onnx"].iat[self._onnx_index[key]]
        except KeyError:
            raise NabenchError(f"corpus {self.name}: no normalized record {key!r}") from None

    def graph(self, key: str):
        """The :class:`~nabench.graph.ArchGraph` of a record (from its stored ONNX; see :meth:`onnx`)."""
        from nabench.graph import from_onnx

        return from_onnx(self.onnx(key))

    def arch_graphs(self, ids: Sequence[str] | None = None) -> list:
        """The :class:`~nabench.graph.ArchGraph` of every normalized record, in :meth:`graphs` order
        (or of the records with native ids ``ids``, in that order); needs ``nabench normalize`` first.

        Each graph equals :func:`~nabench.graph.from_onnx` of the stored ONNX (:meth:`onnx`), so it
        carries the record's identity in ``graph.metadata`` (keys ``arch_id``, ``native_id``,
        ``corpus``, ``space``); ``graph.arch_id`` is the arch id. Graphs are decoded from the
        :mod:`nabench.graph.codec` form stored by ``normalize`` (tables normalized by an older
        nabench are read from their ONNX). Decoding is single-process: sending decoded graphs back
        from worker processes would cost more than decoding them.
        """
        from nabench.normalize import ARCHGRAPH, has_archgraphs, read_graphs

        fast = has_archgraphs(self.path)  # read_graphs below: a clear error when not normalized
        col = ARCHGRAPH if fast else "onnx"
        g = read_graphs(self.path, columns=["native_id", col])
        blobs = g[col].tolist()
        if ids is not None:
            row = {k: i for i, k in enumerate(g["native_id"])}
            missing = [str(k) for k in ids if str(k) not in row]
            if missing:
                raise NabenchError(f"corpus {self.name}: no normalized record(s) {missing[:5]}"
                                   f"{' ...' if len(missing) > 5 else ''}")
            blobs = [blobs[row[str(k)]] for k in ids]
        return _decode_graphs(blobs, fast)

    def labels(self, column: str | None = None, **parts: str) -> pd.Series:
        """One measured column, by name or by its parts (dataset=, split=, metric=, fidelity=, device=).

        Parts select among label, hardware and proxy columns; a name may also select an
        ``info`` column (e.g. a training time). Exactly one column must match; the series is
        indexed by ``native_id`` and has no NaN.
        """
        candidates = [c for c in self.columns if c.kind in ("label", "hardware", "proxy")]
        if column is not None:
            matches = [c for c in self.columns if c.name == column and c.kind != "spec"]
        else:
            unknown = set(parts) - {"dataset", "split", "metric", "fidelity", "device", "kind"}
            if unknown:
                raise NabenchError(f"unknown label part(s) {sorted(unknown)}")
            matches = [c for c in candidates if all(getattr(c, k) == v for k, v in parts.items())]
        if len(matches) != 1:
            names = [c.name for c in matches] or [c.name for c in candidates]
            what = "matches several columns" if matches else "matches no column"
            raise NabenchError(f"corpus {self.name}: {column or parts} {what}; choose one of {names}")
        col = matches[0].name
        df = self.records()
        s = df.set_index("native_id")[col]
        return s[s.notna()]

    def summary(self) -> dict:
        m = self.manifest
        return {
            "name": m["name"], "version": m["version"], "title": m["title"], "space": m["space"],
            "records": m["n_records"], "source_format": m["source_format"],
            "labels": sum(c["kind"] in ("label", "hardware") for c in m["columns"]),
            "proxies": sum(c["kind"] == "proxy" for c in m["columns"]),
            "path": str(self.path),
        }


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small objects (every node of
    every graph), then file them straight into its oldest generation. Otherwise collections run over
    a growing heap during decoding (about 3x its time), or, with the collector merely paused, the
    first young-generation collections afterwards walk every new object (about 0.4 ms a graph)."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # every tracked object -> the permanent generation ...
        gc.unfreeze()  # ... -> the oldest generation, collected by the next full collection as usual
        if was:
            gc.enable()


def _decode_graphs(blobs: list[bytes], fast: bool) -> list:
    """``ArchGraph`` of each stored blob (codec form when ``fast``, else ONNX), in order."""
    from nabench.graph import codec, from_onnx

    with _no_gc():
        return list(map(codec.loads, blobs)) if fast else [from_onnx(b) for b in blobs]


def open_corpus(name: str, version: str | None = None) -> Corpus:
    versions = built_versions(name)
    if version is None:
        if not versions:
            raise CorpusNotBuiltError(f"corpus {name} is not built; run: nabench corpora build {name}")
        from nabench.corpora.api import importer_for  # local: avoid a cycle

        current = importer_for(name).version
        version = current if current in versions else versions[-1]
    if version not in versions:
        raise CorpusNotBuiltError(f"corpus {name} version {version} is not built (built: {versions or 'none'})")
    return Corpus(corpus_dir(name, version))
