"""ONNX → ``ArchGraph``: the single normalized graph every encoder reads (see ``archgraph``)."""

from __future__ import annotations

from .arch_id import arch_id
from .archgraph import (
    CATEGORIES,
    DEFAULT_MAX_NODES,
    WEIGHTS_METADATA_KEY,
    ArchGraph,
    GraphError,
    Node,
    TensorInfo,
    from_onnx,
    strip_weights,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_MAX_NODES",
    "WEIGHTS_METADATA_KEY",
    "ArchGraph",
    "GraphError",
    "Node",
    "TensorInfo",
    "arch_id",
    "from_onnx",
    "strip_weights",
]
