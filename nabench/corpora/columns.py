"""Column descriptions and the explicit naming rule for labels.

The most common reproduction bug in this field is mixing up accuracy columns
(CIFAR-10 test vs ``cifar10-valid`` validation, 12 vs 200 epochs). Every measured
column therefore has a name built from its parts:

* quality labels: ``<dataset>__<split>_<metric>__<fidelity>``
  e.g. ``cifar10__test_acc__200ep``, ``cifar10-valid__valid_acc__200ep``;
* hardware labels: ``<dataset>__<metric>__<device>``
  e.g. ``cifar10__latency_ms__pixel3``, ``imagenet-224__latency_ms__2080ti-b32``;
* zero-cost proxy scores: ``<dataset>__zc_<proxy>`` e.g. ``cifar10__zc_synflow``.

Parts are lowercase and use only ``a-z0-9.-``; ``_`` joins words inside a part and
``__`` separates parts. :func:`parse_name` inverts the rule.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Literal

ColumnKind = Literal["spec", "label", "hardware", "proxy", "info"]
_PART = re.compile(r"^[a-z0-9.\-]+(_[a-z0-9.\-]+)*$")


def _check_part(value: str, what: str) -> str:
    if not _PART.match(value):
        raise ValueError(f"{what} {value!r} must be lowercase words of a-z0-9.- joined by '_'")
    return value


@dataclass(frozen=True)
class Column:
    """What one column of a corpus holds, where it came from and which way is better."""

    name: str
    kind: ColumnKind
    #: "float64", "int64", or "str" (any pandas string dtype)
    dtype: str
    description: str
    source: str = ""
    dataset: str | None = None
    metric: str | None = None
    split: str | None = None
    fidelity: str | None = None
    device: str | None = None
    unit: str | None = None
    higher_is_better: bool | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, "")}

    @classmethod
    def from_dict(cls, d: dict) -> "Column":
        return cls(**d)


def quality_label(
    dataset: str, split: str, metric: str, fidelity: str, *, unit: str, higher_is_better: bool,
    source: str, description: str,
) -> Column:
    """A quality measurement (accuracy, loss, ...) of a trained network."""
    for value, what in ((dataset, "dataset"), (split, "split"), (metric, "metric"), (fidelity, "fidelity")):
        _check_part(value, what)
    return Column(
        name=f"{dataset}__{split}_{metric}__{fidelity}", kind="label", dtype="float64",
        description=description, source=source, dataset=dataset, metric=metric, split=split,
        fidelity=fidelity, unit=unit, higher_is_better=higher_is_better,
    )


def hardware_label(
    dataset: str, metric: str, device: str, *, unit: str, source: str, description: str,
    higher_is_better: bool = False,
) -> Column:
    """A hardware cost (latency, energy, ...) measured on one device."""
    for value, what in ((dataset, "dataset"), (metric, "metric"), (device, "device")):
        _check_part(value, what)
    return Column(
        name=f"{dataset}__{metric}__{device}", kind="hardware", dtype="float64",
        description=description, source=source, dataset=dataset, metric=metric, device=device,
        unit=unit, higher_is_better=higher_is_better,
    )


def proxy_score(dataset: str, proxy: str, *, source: str, description: str = "") -> Column:
    """A published zero-cost proxy score (sign as published; no abs())."""
    _check_part(dataset, "dataset")
    _check_part(proxy, "proxy")
    return Column(
        name=f"{dataset}__zc_{proxy}", kind="proxy", dtype="float64",
        description=description or f"zero-cost proxy '{proxy}' as published", source=source,
        dataset=dataset, metric=f"zc_{proxy}", higher_is_better=True,
    )


def parse_name(name: str) -> dict[str, str]:
    """Split a label/hardware/proxy column name back into its parts."""
    parts = name.split("__")
    if len(parts) == 2 and parts[1].startswith("zc_"):
        return {"dataset": parts[0], "metric": parts[1]}
    if len(parts) != 3:
        raise ValueError(f"{name!r} is not a nabench label name")
    return {"dataset": parts[0], "middle": parts[1], "last": parts[2]}
