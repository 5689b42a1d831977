"""TFRecord files without TensorFlow: framing, masked CRC-32C checks, precise errors.

A TFRecord file is a sequence of records, each framed as::

    uint64 LE  length
    uint32 LE  masked_crc32c(the 8 length bytes)
    bytes      data[length]
    uint32 LE  masked_crc32c(data)

CRC-32C is the Castagnoli CRC (reflected polynomial 0x82F63B78, initial value and final
xor 0xFFFFFFFF); ``mask(crc) = rotate_right(crc, 15) + 0xA282EAD8 (mod 2**32)``
(TensorFlow ``tsl/lib/hash/crc32c.h``, ``core/lib/io/record_writer.cc``).

The CRC is computed in pure Python with a 256-entry table (about 4-5 MB/s): fine for tests
and small files; verifying the full 2 GB ``nasbench_full.tfrecord`` this way takes several
minutes (``verify=False`` skips the CRCs).
If the optional ``google-crc32c`` package is installed it is used instead.

Every problem (short read, bad length CRC, bad data CRC) raises :class:`SourceError`
naming the file and the byte offset of the record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from nabench.errors import SourceError

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()


def _crc32c_py(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # optional accelerator; same function
    import google_crc32c as _gcrc  # type: ignore[import-not-found]

    def crc32c(data: bytes) -> int:
        """CRC-32C (Castagnoli) of ``data``."""
        return _gcrc.value(bytes(data))
except ImportError:  # pragma: no cover - depends on the environment

    def crc32c(data: bytes) -> int:
        """CRC-32C (Castagnoli) of ``data``."""
        return _crc32c_py(bytes(data))


def masked_crc32c(data: bytes) -> int:
    """The masked CRC TFRecord stores (so CRCs of CRC-bearing data stay well distributed)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def _read_exact(f: BinaryIO, n: int, path: Path, offset: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise SourceError(path, f"truncated TFRecord: record at byte {offset} ends inside its {what} "
                                f"(needed {n} bytes, file has {len(data)})")
    return data


def iter_records(path: Path, *, verify: bool = True) -> Iterator[tuple[int, bytes]]:
    """Yield ``(byte offset, payload)`` for every record of a TFRecord file.

    With ``verify`` (the default) both CRCs of every record are checked.
    """
    path = Path(path)
    if not path.exists():
        raise SourceError(path, "file not found")
    if not path.is_file():
        raise SourceError(path, "expected a TFRecord file, found a directory")
    with open(path, "rb") as f:
        offset = 0
        while True:
            header = f.read(8)
            if not header:
                return
            if len(header) < 8:
                raise SourceError(path, f"truncated TFRecord: {len(header)} stray bytes at byte {offset} "
                                        "(a record length needs 8)")
            (length,) = struct.unpack("<Q", header)
            (length_crc,) = struct.unpack("<I", _read_exact(f, 4, path, offset, "length checksum"))
            if verify and masked_crc32c(header) != length_crc:
                raise SourceError(path, f"corrupt TFRecord: bad length checksum of the record at byte {offset} "
                                        "(not a TFRecord file, or damaged)")
            data = _read_exact(f, length, path, offset, "data")
            (data_crc,) = struct.unpack("<I", _read_exact(f, 4, path, offset, "data checksum"))
            if verify and masked_crc32c(data) != data_crc:
                raise SourceError(path, f"corrupt TFRecord: bad data checksum of the record at byte {offset}")
            yield offset, data
            offset += 8 + 4 + length + 4


def encode_record(data: bytes) -> bytes:
    """One framed record (what TensorFlow's ``TFRecordWriter.write`` appends)."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def write_records(path: Path, records: Iterable[bytes]) -> None:
    """Write payloads as an uncompressed TFRecord file."""
    with open(path, "wb") as f:
        f.writelines(encode_record(data) for data in records)
