"""The official NAS-Bench-101 data files (``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord``).

Format (``google-research/nasbench``: ``nasbench/api.py`` ``NASBench.__init__`` and
``nasbench/lib/model_metrics.proto``): a TFRecord file (:mod:`nabench.formats.tfrecord`)
whose every record is one training run, a UTF-8 JSON list::

    [module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]

* ``module_hash``: 32-hex MD5 of the pruned cell (:func:`nabench.spaces.nb101.module_hash`);
* ``epochs``: the training budget of this run (4, 12, 36 or 108);
* ``raw_adjacency``: the V x V adjacency matrix as a row-major '0'/'1' string;
* ``raw_operations``: comma-joined vertex labels (``input``, ..., ``output``);
* ``raw_metrics``: base64 of a serialized proto2 ``nasbench.ModelMetrics``::

      message ModelMetrics   { repeated EvaluationData evaluation_data = 1;
                               optional int32 trainable_parameters = 2;
                               optional double total_time = 3; }
      message EvaluationData { optional double current_epoch = 1; optional double training_time = 2;
                               optional double train_accuracy = 3; optional double validation_accuracy = 4;
                               optional double test_accuracy = 5; optional string checkpoint_path = 6; }

  ``evaluation_data`` holds the evaluations at the start, halfway and end of training;
  ``[2]`` is the final one (the one ``NASBench.query`` reports); accuracies are fractions.

Each (module_hash, epochs) pair appears once per repeat (3 repeats upstream). The protobuf
classes are built at runtime from a descriptor in a private pool (no generated code, no
TensorFlow). Every malformed record raises :class:`SourceError` with the file and byte offset.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from nabench.errors import SourceError
from nabench.formats.tfrecord import iter_records
from nabench.spaces import nb101

#: Index of the final evaluation in ``ModelMetrics.evaluation_data`` (0 start, 1 halfway, 2 end).
FINAL = 2


@lru_cache(maxsize=1)
def model_metrics_class() -> type:
    """The ``nasbench.ModelMetrics`` message class, built from a descriptor at runtime."""
    fdp = descriptor_pb2.FileDescriptorProto(name="nabench/nasbench_model_metrics.proto", package="nasbench",
                                             syntax="proto2")
    F = descriptor_pb2.FieldDescriptorProto
    ev = fdp.message_type.add(name="EvaluationData")
    for number, fname, ftype in (
        (1, "current_epoch", F.TYPE_DOUBLE), (2, "training_time", F.TYPE_DOUBLE),
        (3, "train_accuracy", F.TYPE_DOUBLE), (4, "validation_accuracy", F.TYPE_DOUBLE),
        (5, "test_accuracy", F.TYPE_DOUBLE), (6, "checkpoint_path", F.TYPE_STRING),
    ):
        ev.field.add(name=fname, number=number, type=ftype, label=F.LABEL_OPTIONAL)
    mm = fdp.message_type.add(name="ModelMetrics")
    mm.field.add(name="evaluation_data", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                 type_name=".nasbench.EvaluationData")
    mm.field.add(name="trainable_parameters", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    mm.field.add(name="total_time", number=3, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nasbench.ModelMetrics"))


@dataclass(frozen=True)
class Evaluation:
    current_epoch: float
    training_time: float
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class Run:
    """One record: one training run of one cell at one epoch budget."""

    offset: int
    module_hash: str
    epochs: int
    cell: nb101.Cell
    trainable_parameters: int
    total_time: float
    evaluations: tuple[Evaluation, ...]

    @property
    def final(self) -> Evaluation:
        return self.evaluations[FINAL]


def decode_metrics(raw: bytes):
    """Parse serialized ``ModelMetrics`` bytes (raises DecodeError on malformed input)."""
    return model_metrics_class().FromString(raw)


def parse_run(path: Path, offset: int, payload: bytes, _hashes: dict | None = None) -> Run:
    """Decode and check one record payload; ``_hashes`` caches hashes of already seen cells."""
    where = f"record at byte {offset}"
    try:
        row = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(path, f"{where}: payload is not UTF-8 JSON ({e})") from None
    if not (isinstance(row, list) and len(row) == 5):
        raise SourceError(path, f"{where}: expected a JSON list [hash, epochs, adjacency, operations, metrics]")
    module_hash, epochs, raw_adjacency, raw_operations, raw_metrics = row
    if not (isinstance(module_hash, str) and len(module_hash) == 32
            and all(c in "0123456789abcdef" for c in module_hash)):
        raise SourceError(path, f"{where}: module hash {module_hash!r} is not 32 lowercase hex digits")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs <= 0:
        raise SourceError(path, f"{where}: epochs {epochs!r} is not a positive integer")
    if not (isinstance(raw_adjacency, str) and isinstance(raw_operations, str) and isinstance(raw_metrics, str)):
        raise SourceError(path, f"{where}: adjacency, operations and metrics must be strings")
    key = (raw_adjacency, raw_operations)
    cached = _hashes.get(key) if _hashes is not None else None
    if cached is None:
        try:
            matrix, ops = nb101.from_adjacency_str(raw_adjacency, raw_operations)
            cell = nb101.prune(matrix, ops)
        except ValueError as e:
            raise SourceError(path, f"{where}: invalid cell ({e})") from None
        cached = (cell, nb101.cell_hash(cell))
        if _hashes is not None:
            _hashes[key] = cached
    cell, computed = cached
    if computed != module_hash:
        raise SourceError(path, f"{where}: module hash {module_hash} does not match its cell (computed {computed})")
    try:
        metrics = decode_metrics(base64.b64decode(raw_metrics, validate=True))
    except (binascii.Error, ValueError, DecodeError) as e:
        raise SourceError(path, f"{where}: raw metrics are not a base64 ModelMetrics protobuf ({e})") from None
    if len(metrics.evaluation_data) <= FINAL:
        raise SourceError(path, f"{where}: ModelMetrics has {len(metrics.evaluation_data)} evaluations, "
                                f"expected {FINAL + 1} (start, halfway, end)")
    if not metrics.HasField("trainable_parameters"):
        raise SourceError(path, f"{where}: ModelMetrics has no trainable_parameters")
    evaluations = tuple(
        Evaluation(e.current_epoch, e.training_time, e.train_accuracy, e.validation_accuracy, e.test_accuracy)
        for e in metrics.evaluation_data
    )
    return Run(offset, module_hash, epochs, cell, int(metrics.trainable_parameters), float(metrics.total_time),
               evaluations)


def iter_runs(path: Path, *, verify: bool = True) -> Iterator[Run]:
    """Every run in a NAS-Bench-101 tfrecord file, checked."""
    hashes: dict = {}
    for offset, payload in iter_records(path, verify=verify):
        yield parse_run(path, offset, payload, hashes)


def looks_like_tfrecord(path: Path) -> bool:
    """True when the file starts with a TFRecord header whose length checksum is right."""
    from nabench.formats.tfrecord import masked_crc32c

    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return len(head) == 12 and masked_crc32c(head[:8]) == int.from_bytes(head[8:12], "little")
