"""Official NATS-Bench topology-space (``tss``) and NAS-Bench-201 files, read without their code.

Three upstream layouts hold the same nested records (the ``state_dict()`` of the upstream
``ArchResults`` and ``ResultsCount`` classes: plain dicts, OrderedDicts, lists, tuples, sets):

* ``NATS-tss-v1_0-3ffb9-simple/`` (also ``-full/``): ``meta.pickle.pbz2`` = ``{'meta_archs':
  [15,625 arch strings], 'total_archs', 'arch2infos': None, 'evaluated_indexes'}`` and one
  ``{index:06d}.pickle.pbz2`` per architecture = ``OrderedDict({'12': AR, '200': AR})``;
* ``NATS-tss-v1_0-3ffb9.pickle.pbz2``: one file ``{'meta_archs', 'total_archs',
  'arch2infos': {index: OrderedDict({'12': AR, '200': AR})}, 'evaluated_indexes'}``;
* ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth``: ``torch.save`` of
  ``{'meta_archs', 'total_archs', 'arch2infos': {index: {'less': AR, 'full': AR}},
  'evaluated_indexes'}`` (``less`` = the 12-epoch schedule, ``full`` = 200 epochs).

``AR`` (ArchResults): ``arch_index``, ``arch_str``, ``dataset_seed`` ({dataset: [seeds]}),
``all_results`` ({(dataset, seed): RC}), ``clear_net_done``. ``RC`` (ResultsCount):
``name``, ``params`` (millions), ``flop`` (MFLOPs), ``seed``, ``epochs``, ``latency``,
``train_acc1es``/``train_losses``/... ({epoch: value}), ``eval_names`` and
``eval_acc1es``/``eval_losses``/``eval_times`` ({'<set>@<epoch>': value}), ``arch_config``,
``net_state_dict`` (None in the simple files; tensors in full files, which are not kept).

``.pbz2`` files are bz2-compressed pickles (protocol 4); they are unpickled with nabench's
restricted unpickler: ``collections.OrderedDict`` is the only class allowed, and the torch
tensor rebuild functions of the full files are replaced by stubs that return None, so no
upstream or torch code runs. ``.pth`` files are read with ``torch.load(weights_only=True)``.

:func:`summarize` turns one architecture into the numbers NATS-Bench's ``get_more_info``
reports, averaged over the seeds listed in ``dataset_seed`` (as the API does with
``is_random=False``): ``cifar10-valid`` valid = ``x-valid@E-1`` (and its ``ori-test@E-1``),
``cifar10`` test = ``ori-test@E-1`` (trained on train+valid), ``cifar100`` and
``ImageNet16-120`` valid = ``x-valid``, test = ``x-test``, with ``E`` the schedule's epochs.
"""

from __future__ import annotations

import bz2
import pickle
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from nabench.errors import SourceError
from nabench.formats.safe_pickle import restricted_load
from nabench.spaces import nb201

#: Upstream hyper-parameter keys -> the number of training epochs of that schedule.
HP_EPOCHS = {"12": 12, "200": 200}
#: Old NAS-Bench-201 ``.pth`` keys -> NATS-Bench hp keys.
NB201_HP = {"less": "12", "full": "200"}
#: (dataset, split, evaluation set, required): the accuracies :func:`summarize` reports.
ACCURACIES = (
    ("cifar10-valid", "valid", "x-valid", True),
    ("cifar10-valid", "test", "ori-test", False),
    ("cifar10", "test", "ori-test", True),
    ("cifar100", "valid", "x-valid", True),
    ("cifar100", "test", "x-test", True),
    ("ImageNet16-120", "valid", "x-valid", True),
    ("ImageNet16-120", "test", "x-test", True),
)
#: Datasets whose networks' params/flops are reported (cifar10-valid builds the cifar10 network).
COST_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
META_FILE = "meta.pickle.pbz2"
_ARCH_FILE = re.compile(r"^(\d{6})\.pickle\.pbz2$")


def _tensor_stub(*args: Any, **kwargs: Any) -> None:
    """Stands in for torch's tensor/storage rebuild functions: network weights are dropped."""
    return None


#: The only globals a NATS-Bench pickle may reference.
ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor_stub,
    ("torch._utils", "_rebuild_parameter"): _tensor_stub,
    ("torch.storage", "_load_from_bytes"): _tensor_stub,
}


@dataclass
class ArchRecord:
    """One architecture of an official file: its index, string and results per hp key."""

    index: int
    arch_str: str
    results: dict[str, dict]
    path: Path


def read_pbz2(path: Path) -> Any:
    """Unpickle a bz2-compressed NATS-Bench pickle with the restricted unpickler."""
    return restricted_load(Path(path), ALLOWED_GLOBALS, opener=bz2.open, what="NATS-Bench bz2 pickle")


def read_pth(path: Path) -> Any:
    """``torch.load(path, weights_only=True)``; every failure names the file."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(path, "file not found")
    import torch

    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError, AttributeError,
            OSError, KeyError, IndexError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SourceError(path, f"not a readable NAS-Bench-201 torch file (truncated or wrong file?): {first}") from None


def unique_str(arch_str: str) -> str:
    """NATS-Bench's isomorphism-class string of a cell.

    ``CellStructure.to_unique_str(consider_zero=True)`` of the upstream
    ``models/cell_searchs/genotypes.py``: ``none`` inputs (and inputs from all-zero nodes)
    become ``#``, ``skip_connect`` passes its input's string, other ops wrap it as
    ``(<input>)@<op>``, and each node joins its sorted inputs with ``+``.
    """
    by_edge = nb201.edge_ops(arch_str)
    nodes = {0: "0"}
    for j in (1, 2, 3):
        parts = []
        for i in range(j):
            op = by_edge[(i, j)]
            if op == "none" or nodes[i] == "#":
                parts.append("#")
            elif op == "skip_connect":
                parts.append(nodes[i])
            else:
                parts.append(f"({nodes[i]})@{op}")
        nodes[j] = "+".join(sorted(parts))
    return nodes[3]


def locate(path: Path) -> str | None:
    """Which official layout ``path`` is: 'nats-simple', 'nats-file', 'nb201-pth' or None."""
    path = Path(path)
    if path.is_dir():
        return "nats-simple" if (path / META_FILE).is_file() else None
    name = path.name
    if name.endswith(".pickle.pbz2"):
        return "nats-file"
    if name.endswith(".pth"):
        return "nb201-pth"
    return None


def find_official(folder: Path) -> tuple[str, Path] | None:
    """An official file or folder directly inside ``folder`` (simple folders first), if any."""
    folder = Path(folder)
    kind = locate(folder)
    if kind is not None:
        return kind, folder
    candidates = sorted(folder.iterdir()) if folder.is_dir() else []
    for want in ("nats-simple", "nats-file", "nb201-pth"):
        for child in candidates:
            if child.name.startswith(("NATS-tss", "NAS-Bench-201")) and locate(child) == want:
                return want, child
    return None


def _check_meta(meta: Any, path: Path) -> list[str]:
    if not isinstance(meta, dict) or "meta_archs" not in meta:
        raise SourceError(path, "expected a dict with 'meta_archs' (is this a NATS-Bench topology file?)")
    archs = meta["meta_archs"]
    if not isinstance(archs, (list, tuple)) or not all(isinstance(a, str) for a in archs):
        raise SourceError(path, "'meta_archs' must be a list of architecture strings")
    total = meta.get("total_archs", len(archs))
    if total != len(archs):
        raise SourceError(path, f"'total_archs' is {total} but 'meta_archs' has {len(archs)} entries")
    for i, a in enumerate(archs):
        try:
            nb201.parse(a)
        except ValueError:
            raise SourceError(path, f"meta_archs[{i}] is not an NB201 cell string: {a!r}") from None
    return list(archs)


def _record(index: Any, hp_results: Any, archs: list[str], path: Path, hp_map: dict[str, str] | None = None) -> ArchRecord:
    if not isinstance(index, int) or not 0 <= index < len(archs):
        raise SourceError(path, f"architecture index {index!r} is outside meta_archs (0..{len(archs) - 1})")
    if not isinstance(hp_results, dict) or not hp_results:
        raise SourceError(path, f"architecture {index}: expected a dict of hp -> ArchResults, found {type(hp_results).__name__}")
    results: dict[str, dict] = {}
    for hp, ar in hp_results.items():
        key = hp_map.get(hp, hp) if hp_map else hp
        if key not in HP_EPOCHS:
            raise SourceError(path, f"architecture {index}: unknown hyper-parameter key {hp!r} (a topology-space file has {sorted(hp_map or HP_EPOCHS)})")
        if not isinstance(ar, dict) or "all_results" not in ar or "dataset_seed" not in ar:
            raise SourceError(path, f"architecture {index}, hp {hp!r}: not an ArchResults state dict")
        if ar.get("arch_str", archs[index]) != archs[index]:
            raise SourceError(path, f"architecture {index}: arch_str {ar.get('arch_str')!r} differs from meta_archs {archs[index]!r}")
        if ar.get("arch_index", index) != index:
            raise SourceError(path, f"architecture {index}: its record says arch_index {ar.get('arch_index')!r}")
        results[key] = ar
    return ArchRecord(index=index, arch_str=archs[index], results=results, path=path)


def read_simple_folder(folder: Path) -> tuple[list[str], Iterator[ArchRecord], int]:
    """(meta_archs, records, number of per-architecture files) of a NATS ``-simple``/``-full`` folder."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    archs = _check_meta(read_pbz2(meta_path), meta_path)
    files = []
    for child in folder.iterdir():
        m = _ARCH_FILE.match(child.name)
        if m:
            files.append((int(m.group(1)), child))
    files.sort()
    if not files:
        raise SourceError(folder, "no per-architecture files ('000000.pickle.pbz2', ...) next to meta.pickle.pbz2")

    def records() -> Iterator[ArchRecord]:
        for index, path in files:
            yield _record(index, read_pbz2(path), archs, path)

    return archs, records(), len(files)


def read_single_file(path: Path) -> tuple[list[str], list[ArchRecord]]:
    """(meta_archs, records) of a single-file NATS-Bench ``.pickle.pbz2`` or NAS-Bench-201 ``.pth``."""
    path = Path(path)
    kind = locate(path)
    data = read_pth(path) if kind == "nb201-pth" else read_pbz2(path)
    archs = _check_meta(data, path)
    infos = data.get("arch2infos")
    if not isinstance(infos, dict) or not infos:
        raise SourceError(path, "'arch2infos' is empty: this is a meta file, read the folder that holds it")
    hp_map = NB201_HP if kind == "nb201-pth" else None
    return archs, [_record(i, infos[i], archs, path, hp_map) for i in sorted(infos, key=lambda k: (not isinstance(k, int), k))]


def _mean(values: list[float]) -> float:
    return float(np.mean(np.asarray(values, dtype="float64")))


def summarize(record: ArchRecord) -> dict[tuple, float]:
    """The architecture's numbers, averaged over seeds.

    Keys: ``(dataset, split, epochs)`` for accuracies (percent) and ``(dataset, "params")`` /
    ``(dataset, "flops")`` (millions / MFLOPs, from the 200-epoch results when present).
    """
    out: dict[tuple, float] = {}
    where = f"architecture {record.index}"
    for hp in sorted(record.results, key=lambda h: HP_EPOCHS[h]):
        ar = record.results[hp]
        seeds_of = ar["dataset_seed"]
        all_results = ar["all_results"]
        if not isinstance(seeds_of, dict) or not isinstance(all_results, dict):
            raise SourceError(record.path, f"{where}, hp {hp}: dataset_seed/all_results must be dicts")

        def runs(dataset: str) -> list[dict]:
            found = []
            for seed in seeds_of.get(dataset, ()):
                rc = all_results.get((dataset, seed))
                if not isinstance(rc, dict):
                    raise SourceError(record.path, f"{where}, hp {hp}: no ResultsCount for ({dataset!r}, {seed}) listed in dataset_seed")
                found.append(rc)
            return found

        for dataset, split, eval_set, required in ACCURACIES:
            rcs = runs(dataset)
            if not rcs:
                continue
            values = []
            for rc in rcs:
                epochs = rc.get("epochs", HP_EPOCHS[hp])
                if epochs != HP_EPOCHS[hp]:
                    raise SourceError(record.path, f"{where}, hp {hp}: {dataset} seed {rc.get('seed')} was trained for {epochs} epochs, expected {HP_EPOCHS[hp]}")
                key = f"{eval_set}@{epochs - 1}"
                acc = rc.get("eval_acc1es", {}).get(key)
                if acc is None:
                    if required:
                        raise SourceError(record.path, f"{where}, hp {hp}: {dataset} seed {rc.get('seed')} has no eval_acc1es[{key!r}]")
                    values = []
                    break
                values.append(acc)
            if values:
                out[(dataset, split, HP_EPOCHS[hp])] = _mean(values)
        for dataset in COST_DATASETS:
            rcs = runs(dataset)
            for field, name in (("params", "params"), ("flop", "flops")):
                vals = [rc[field] for rc in rcs if rc.get(field) is not None]
                if vals:
                    out[(dataset, name)] = _mean(vals)  # the longest schedule present wins
    return out
