"""Normalize a corpus: every record gets a checked, weightless ONNX graph and an ``arch_id``.

For each record of a built corpus, the builder of its search space (a module registered under the
entry-point group ``nabench.spaces``, keyed by the corpus ``space`` value and exposing
``from_record(record, corpus, *, weights=None, metadata=None)``) writes the weightless ONNX graph
with ``metadata_props`` = ``nabench_version``, ``corpus``, ``space``, ``native_id``, ``arch_id``.
Each graph passes ``onnx.checker.check_model(full_check=True)`` (run as its two steps, see
:func:`check_and_infer`, keeping the inferred model) and is read back with
:func:`nabench.graph.from_onnx`; ``arch_id`` is :func:`nabench.graph.arch_id` of that graph (names
and metadata never enter it, so the id is computed first and then written into the metadata).

The result is the ``graphs`` table, stored next to the records (``records.parquet`` is untouched)::

    $NABENCH_HOME/corpora/<name>/<version>/graphs/_plan.json
    $NABENCH_HOME/corpora/<name>/<version>/graphs/part-00000.parquet ...

with columns ``native_id, arch_id, onnx (binary), n_params, flops, n_nodes, depth, onnx_bytes``
(``n_params``: trainable parameters, PyTorch ``parameters()`` convention; ``flops``: MACs; both
from the ONNX graph), plus the :data:`ARCHGRAPH` column that ``Corpus.arch_graphs`` decodes.
Shard ``k`` holds records ``k*shard_size ...`` in the order of
``records.parquet``; each shard is written to a temporary sibling and renamed into place, so a
killed run resumes by computing only the missing shards (no row is computed twice or duplicated).
Shards are zstd-compressed Parquet (~3.5 KB per NB201 cell on disk).
``_plan.json`` pins what the shards were computed for (records hash, selection, shard size, nabench,
``arch_id`` and codec versions); a different plan starts over. The graphs are derived data: rebuilding
the corpus replaces its folder and drops them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from nabench import __version__
from nabench.corpora.base import KEY_COLUMNS, Progress
from nabench.corpora.store import _no_gc, write_atomic, write_atomic_text
from nabench.errors import NabenchError, UnknownNameError
from nabench.registry import spaces


GRAPHS = "graphs"
PLAN = "_plan.json"
SHARD_SIZE = 500
#: Parquet compression of the shards: zstd stores a NB201 cell in ~3.3 KB (ONNX ~1.3 KB, ArchGraph
#: ~2 KB; snappy: ~8.8 KB) and writes faster than snappy.
COMPRESSION = "zstd"
COLUMNS = ("native_id", "arch_id", "onnx", "n_params", "flops", "n_nodes", "depth", "onnx_bytes")
#: Stored with the table but not part of it (read by ``Corpus.arch_graphs``): the record's
#: ``ArchGraph`` in :mod:`nabench.graph.codec` form, equal to ``from_onnx`` of the stored ONNX.
ARCHGRAPH = "archgraph"


def space_module(space: str, corpus: str | None = None) -> ModuleType:
    """The builder module of ``space``; a clear error when the space has none."""
    try:
        mod = spaces.get(space)
    except UnknownNameError as e:
        where = f" (corpus {corpus})" if corpus else ""
        raise NabenchError(f"no ONNX builder for search space '{space}'{where}: {e}") from None
    if not callable(getattr(mod, "from_record", None)):
        raise NabenchError(f"space '{space}': {getattr(mod, '__name__', mod)} has no from_record()")
    return mod


def has_builder(space: str) -> bool:
    try:
        space_module(space)
    except NabenchError:
        return False
    return True


def graph_metadata(corpus: str, space: str, native_id: str, arch_id: str | None = None) -> dict[str, str]:
    meta = {"nabench_version": __version__, "corpus": corpus, "space": space, "native_id": native_id}
    if arch_id is not None:
        meta["arch_id"] = arch_id
    return meta


@cache
def _module(space: str) -> ModuleType:
    return space_module(space)


def build_model(record: Mapping[str, Any], corpus: str, *, weights=None, metadata=None):
    """The ONNX model of one record (``weights`` as in the space builders)."""
    import onnx

    space = str(record["space"])
    mod = _module(space)
    if weights is None and hasattr(mod, "from_record_bytes"):
        m = onnx.ModelProto()
        m.ParseFromString(mod.from_record_bytes(record, corpus, metadata=metadata))
        return m
    return mod.from_record(record, corpus, weights=weights, metadata=metadata)


def check_and_infer(model: bytes):
    """``onnx.checker.check_model(model, full_check=True)``, returning the shape-inferred model.

    A full check is the structural check followed by strict shape inference with type checking
    (``check_type=True``, errors raised); both steps are run here as the checker runs them, and
    the inferred model is kept instead of being thrown away, which saves a second inference pass.
    """
    import onnx

    onnx.checker.check_model(model, full_check=False)
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)


def _metadata_bytes(metadata: Mapping[str, str]) -> bytes:
    """``ModelProto.metadata_props`` entries (field 14), keys sorted as :func:`set_metadata` writes them."""
    from nabench.onnx_build.builder import length_delimited as f

    return b"".join(f(14, f(1, str(k).encode()) + f(2, str(metadata[k]).encode())) for k in sorted(metadata))


def normalize_record(record: Mapping[str, Any], corpus: str) -> dict[str, Any]:
    """Build, check and hash one record; the row of the ``graphs`` table."""
    from nabench.graph import arch_id, codec, from_onnx

    native_id, space = str(record["native_id"]), str(record["space"])
    mod = _module(space)
    try:
        if hasattr(mod, "from_record_bytes"):
            # Metadata is the last field a builder writes, so the stored file is the built bytes
            # plus the metadata entries (with arch_id): no parse / re-serialize round trip.
            body, m = mod.from_record_bytes(record, corpus, metadata={}), None
        else:
            m = mod.from_record(record, corpus, weights=None, metadata=None)
            del m.metadata_props[:]
            body = m.SerializeToString()
        g = from_onnx(check_and_infer(body))  # shapes are known: from_onnx skips its own inference
        aid = arch_id(g)
    except NabenchError:
        raise
    except Exception as e:  # name the record, keep the cause
        raise NabenchError(f"{corpus}: record {native_id!r} (space {space}): {type(e).__name__}: {e}") from e
    meta = graph_metadata(corpus, space, native_id, aid)
    blob = body + _metadata_bytes(meta)
    g.metadata.clear()
    g.metadata.update(sorted(meta.items()))  # now g == from_onnx(blob)
    return {"native_id": native_id, "arch_id": aid, "onnx": blob, "n_params": int(g.params), "flops": int(g.flops),
            "n_nodes": len(g.nodes), "depth": int(g.depth), "onnx_bytes": len(blob), ARCHGRAPH: codec.dumps(g)}


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=[*COLUMNS, ARCHGRAPH])
    return df.astype({"native_id": "str", "arch_id": "str", "n_params": "int64", "flops": "int64",
                      "n_nodes": "int64", "depth": "int64", "onnx_bytes": "int64"})


def _work_shard(task: tuple[str, str, list[dict]]) -> int:
    corpus, path, records = task
    with _no_gc():  # next to no cycles are made (a handful per thousand records): collections only cost time
        rows = [normalize_record(r, corpus) for r in records]
    frame = _frame(rows)
    write_atomic(Path(path), lambda p: frame.to_parquet(p, index=False, compression=COMPRESSION))
    return len(records)


def shard_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


def graphs_dir(corpus_path: Path) -> Path:
    return Path(corpus_path) / GRAPHS


def read_plan(corpus_path: Path) -> dict | None:
    try:
        return json.loads((graphs_dir(corpus_path) / PLAN).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _selection(records: pd.DataFrame, ids: Sequence[str] | None, limit: int | None) -> pd.DataFrame:
    df = records
    if ids is not None:
        wanted = list(dict.fromkeys(str(x) for x in ids))
        missing = sorted(set(wanted) - set(df["native_id"].astype(str)))
        if missing:
            raise NabenchError(f"unknown native_id(s): {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        df = df[df["native_id"].astype(str).isin(set(wanted))]
    if limit is not None:
        df = df.iloc[: max(int(limit), 0)]
    return df


def normalize(corpus_name: str, *, workers: int = 1, progress: Progress | None = None, version: str | None = None,
              ids: Sequence[str] | None = None, limit: int | None = None, shard_size: int = SHARD_SIZE) -> Path:
    """Normalize every record of a built corpus (or the records ``ids`` / the first ``limit``);
    returns the ``graphs`` folder. Resumable; ``workers > 1`` uses processes (same output)."""
    from nabench import corpora
    from nabench.graph.arch_id import ARCH_ID_VERSION
    from nabench.graph.codec import CODEC_VERSION

    corpus = corpora.load(corpus_name, version)
    records = corpus.records()
    spec = [c.name for c in corpus.columns if c.kind == "spec" and c.name not in KEY_COLUMNS]
    df = _selection(records, ids, limit)[list(KEY_COLUMNS) + spec]
    for space in sorted(set(df["space"].astype(str))):
        space_module(space, corpus_name)  # fail before any work when a space has no builder
    if shard_size < 1:
        raise NabenchError("shard_size must be at least 1")
    out = graphs_dir(corpus.path)
    plan = {"nabench_version": __version__, "arch_id_version": ARCH_ID_VERSION, "corpus": corpus.name,
            "corpus_version": corpus.version, "records_sha256": corpus.manifest.get("content_sha256"),
            "selection_sha256": hashlib.sha256("\n".join(df["native_id"].astype(str)).encode()).hexdigest(),
            "n_records": len(df), "shard_size": int(shard_size),
            "n_shards": (len(df) + shard_size - 1) // shard_size, "archgraph_codec": CODEC_VERSION}
    if read_plan(corpus.path) != plan:
        if out.exists():  # stale shards from another plan: start over
            for p in out.iterdir():
                if p.is_file():
                    p.unlink()
        out.mkdir(parents=True, exist_ok=True)
        write_atomic_text(out / PLAN, json.dumps(plan, indent=2) + "\n")
    for p in out.glob(".part-*.part"):  # temporary files of a killed run
        p.unlink(missing_ok=True)
    rows = df.to_dict("records")
    tasks = []
    done = 0
    for k in range(plan["n_shards"]):
        path = out / shard_name(k)
        chunk = rows[k * shard_size:(k + 1) * shard_size]
        if path.is_file():
            done += len(chunk)
        else:
            tasks.append((corpus.name, str(path), chunk))

    def ticks() -> Iterator[int]:
        yield from range(done)
        for n in _run(tasks, workers):
            yield from range(n)

    for _ in (progress or Progress()).track(ticks(), f"normalize {corpus.name}", total=len(rows)):
        pass
    return out


def _run(tasks: list, workers: int) -> Iterable[int]:
    if workers <= 1 or len(tasks) <= 1:
        for t in tasks:
            yield _work_shard(t)
        return
    from multiprocessing import get_context

    with get_context("spawn").Pool(min(workers, len(tasks))) as pool:
        yield from pool.imap(_work_shard, tasks)


def read_graphs(corpus_path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``graphs`` table of a corpus folder (:data:`COLUMNS`, or ``columns``); a clear error when it
    is missing or incomplete."""
    plan = read_plan(corpus_path)
    name = Path(corpus_path).parent.name
    if plan is None:
        raise NabenchError(f"corpus {name} is not normalized; run: nabench normalize {name}")
    out = graphs_dir(corpus_path)
    paths = [out / shard_name(k) for k in range(plan["n_shards"])]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise NabenchError(f"corpus {name}: normalization incomplete ({len(missing)} of {len(paths)} shards missing); "
                           f"run: nabench normalize {name}")
    cols = list(columns) if columns is not None else list(COLUMNS)
    if not paths:
        return _frame([])[cols]
    return pd.concat([pd.read_parquet(p, columns=cols) for p in paths], ignore_index=True)


def has_archgraphs(corpus_path: Path) -> bool:
    """Whether the stored table carries the :data:`ARCHGRAPH` column in the current codec version."""
    from nabench.graph.codec import CODEC_VERSION

    return (read_plan(corpus_path) or {}).get("archgraph_codec") == CODEC_VERSION


def safe_file_name(native_id: str) -> str:
    """A portable file name for a native id: unsafe characters become ``_``; when anything was
    changed (or the id is long), an 8-hex-digit hash of the id keeps names unique."""
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", native_id).strip("._") or "arch"
    if safe != native_id or len(safe) > 120:
        safe = f"{safe[:120]}-{hashlib.sha256(native_id.encode()).hexdigest()[:8]}"
    return safe
