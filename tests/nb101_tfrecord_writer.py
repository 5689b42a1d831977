"""Write NAS-Bench-101 tfrecord files exactly as upstream lays them out, for tests.

Deliberately independent of ``nabench.formats``: the CRC is computed bit by bit (no table)
and the ``ModelMetrics`` protobuf is encoded by hand from the wire format, so a reader bug
cannot be mirrored by a writer bug.

Record payload (``google-research/nasbench`` ``nasbench/api.py``):
``json.dumps([module_hash, epochs, raw_adjacency, raw_operations, base64(ModelMetrics)])``.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from nabench.onnx_build.builder import varint


def crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked(crc32c_bitwise(length))) + data
            + struct.pack("<I", masked(crc32c_bitwise(data))))


# -- protobuf wire format -------------------------------------------------------------------

def _varint(n: int) -> bytes:
    """Protobuf varint; int32 negatives are sign-extended to 10 bytes."""
    return varint(n + (1 << 64) if n < 0 else n)


def _key(number: int, wire: int) -> bytes:
    return _varint((number << 3) | wire)


def _double(number: int, x: float) -> bytes:
    return _key(number, 1) + struct.pack("<d", x)


def _len_delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


@dataclass
class Eval:
    current_epoch: float
    training_time: float
    train_accuracy: float
    validation_accuracy: float
    test_accuracy: float
    checkpoint_path: str = ""

    def encode(self) -> bytes:
        out = (_double(1, self.current_epoch) + _double(2, self.training_time) + _double(3, self.train_accuracy)
               + _double(4, self.validation_accuracy) + _double(5, self.test_accuracy))
        if self.checkpoint_path:
            out += _len_delimited(6, self.checkpoint_path.encode())
        return out


@dataclass
class Metrics:
    evaluations: list[Eval]
    trainable_parameters: int
    total_time: float = 0.0

    def encode(self) -> bytes:
        out = b"".join(_len_delimited(1, e.encode()) for e in self.evaluations)
        return out + _key(2, 0) + _varint(self.trainable_parameters) + _double(3, self.total_time)


@dataclass
class Run:
    module_hash: str
    epochs: int
    matrix: list[list[int]]
    ops: list[str]
    metrics: Metrics
    extra: dict = field(default_factory=dict)

    def payload(self) -> bytes:
        adjacency = "".join(str(v) for row in self.matrix for v in row)
        raw = base64.b64encode(self.metrics.encode()).decode()
        return json.dumps([self.module_hash, self.epochs, adjacency, ",".join(self.ops), raw]).encode("utf-8")


def write(path: Path, runs: list[Run]) -> Path:
    path.write_bytes(b"".join(frame(r.payload()) for r in runs))
    return path


LABELS = {-1: "input", -2: "output", 0: "conv3x3-bn-relu", 1: "conv1x1-bn-relu", 2: "maxpool3x3"}


def runs_for(module_hash: str, matrix, labels, epochs: int, finals: list[tuple[float, float, float, float]],
             params: int) -> list[Run]:
    """One run per (train, valid, test, time) tuple in ``finals``; start/halfway points are made up."""
    ops = [LABELS[x] for x in labels]
    runs = []
    for i, (train, valid, test, seconds) in enumerate(finals):
        evals = [Eval(0.0, 0.0, 0.1, 0.1, 0.1), Eval(epochs / 2, seconds / 2, train / 2, valid / 2, test / 2),
                 Eval(float(epochs), seconds, train, valid, test, checkpoint_path=f"gs://nb/{module_hash}/{i}")]
        runs.append(Run(module_hash, epochs, matrix, ops, Metrics(evals, params, seconds + 10.0)))
    return runs
