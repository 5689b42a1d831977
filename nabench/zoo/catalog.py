"""The zoo registry: ``registry.yml`` in this package, the single source of truth for entries.

Each entry is named ``family.trainingdata-target`` and says which files make it up (path inside
the entry, URL, sha256, size), whether those files ship inside the package (``embedded``), what
it was trained on (sources: corpus, version, target column; train size, split rule, seed), how
to train it again (``recipe``: predictor registry name, params, ensemble members), the nabench
versions it works with, its license, its metrics on held-out architectures (recomputed by the
tests) and its card text (intended use, limits). A source may carry its own ``train_size`` /
``test_size`` (a small corpus among large ones); ``zero_shot`` lists corpora (``corpus``,
``target``) the entry is never trained on, scored in full by the build (``metrics["zero_shot"]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from nabench.errors import NabenchError, UnknownNameError

REGISTRY_FILE = "registry.yml"
#: the artifact layout this nabench writes and reads: ``member-<k>/`` predictor folders plus a
#: ``reference.json`` with the quantiles of the predictions and of the measured targets over the
#: training corpus (format 1 had only the measured quantiles)
FORMAT = "nabench-predictor-ensemble/2"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]*\.[a-z0-9][a-z0-9_.-]*$")
_REQUIRED = ("title", "family", "format", "license", "nabench_versions", "embedded", "files", "training",
             "recipe", "metrics", "intended_use", "limits")


class ZooError(NabenchError):
    """A zoo entry that is unknown, malformed, incompatible or whose files do not verify."""


@dataclass(frozen=True)
class ZooFile:
    path: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Source:
    """One training corpus and the column that is the target."""

    corpus: str
    target: str
    version: str | None = None
    content_sha256: str | None = None
    #: this source's own split sizes (a small corpus in a multi-source entry); None: the entry's
    train_size: int | None = None
    test_size: int | None = None


@dataclass(frozen=True)
class Entry:
    name: str
    title: str
    family: str
    format: str
    license: str
    nabench_versions: str
    embedded: bool
    files: tuple[ZooFile, ...]
    sources: tuple[Source, ...]
    train_size: int
    test_size: int
    seed: int
    target_transform: str
    unit: str | None
    higher_is_better: bool
    predictor: str
    params: dict
    members: int
    metrics: dict
    intended_use: str
    limits: str
    raw: dict = field(repr=False, compare=False, default_factory=dict)
    #: corpora never trained on whose labelled records the build scores (``metrics["zero_shot"]``)
    zero_shot: tuple[Source, ...] = ()

    @property
    def target(self) -> str:
        """The predicted quantity, for display."""
        if self.target_transform == "rank":
            return "within-corpus percentile rank of " + " / ".join(s.target for s in self.sources)
        return self.sources[0].target

    def card(self) -> dict:
        """The entry as people read it (``nabench zoo info``)."""
        return {"name": self.name, **self.raw}


def _parse_version(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text)
    if not parts:
        raise ZooError(f"not a version: {text!r}")
    return tuple(int(p) for p in parts[:3]) + (0,) * (3 - min(3, len(parts)))


def version_ok(version: str, spec: str) -> bool:
    """``version`` satisfies a comma-separated spec like ``>=0.1,<0.2`` (ops >=, >, <=, <, ==)."""
    v = _parse_version(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = re.fullmatch(r"(>=|<=|==|>|<)\s*([0-9][0-9.]*)", clause)
        if not m:
            raise ZooError(f"bad version spec clause {clause!r} in {spec!r}")
        op, w = m.group(1), _parse_version(m.group(2))
        ok = {">=": v >= w, "<=": v <= w, "==": v == w, ">": v > w, "<": v < w}[op]
        if not ok:
            return False
    return True


def parse_entry(name: str, raw: dict) -> Entry:
    """An :class:`Entry` from its registry mapping, or a :class:`ZooError` naming what is wrong."""
    if not NAME_RE.match(name):
        raise ZooError(f"zoo entry name {name!r} is not of the form family.trainingdata-target")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ZooError(f"zoo entry {name}: missing {missing}")
    try:
        files = tuple(ZooFile(str(f["path"]), str(f["url"]), str(f["sha256"]), int(f["size"])) for f in raw["files"])
        t, r = raw["training"], raw["recipe"]
        sources = tuple(Source(str(s["corpus"]), str(s["target"]), s.get("version"), s.get("content_sha256"),
                               _optional_int(s.get("train_size")), _optional_int(s.get("test_size")))
                        for s in t["sources"])
        zero_shot = tuple(Source(str(z["corpus"]), str(z["target"])) for z in raw.get("zero_shot") or ())
        entry = Entry(
            name=name, title=str(raw["title"]), family=str(raw["family"]), format=str(raw["format"]),
            license=str(raw["license"]), nabench_versions=str(raw["nabench_versions"]), embedded=bool(raw["embedded"]),
            files=files, sources=sources, train_size=int(t["train_size"]), test_size=int(t["test_size"]),
            seed=int(t["seed"]), target_transform=str(t.get("target_transform", "none")), unit=t.get("unit"),
            higher_is_better=bool(t.get("higher_is_better", True)), predictor=str(r["predictor"]),
            params=dict(r.get("params") or {}), members=int(r.get("members", 1)), metrics=dict(raw["metrics"] or {}),
            intended_use=str(raw["intended_use"]).strip(), limits=str(raw["limits"]).strip(), raw=raw,
            zero_shot=zero_shot,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ZooError(f"zoo entry {name}: malformed ({type(e).__name__}: {e})") from None
    for f in files:
        if Path(f.path).is_absolute() or ".." in Path(f.path).parts:
            raise ZooError(f"zoo entry {name}: file path {f.path!r} must be relative and stay inside the entry")
        if not re.fullmatch(r"[0-9a-f]{64}", f.sha256):
            raise ZooError(f"zoo entry {name}: {f.path} has no valid sha256")
    if entry.target_transform not in ("none", "rank"):
        raise ZooError(f"zoo entry {name}: target_transform must be 'none' or 'rank'")
    if entry.embedded and not files:
        raise ZooError(f"zoo entry {name}: an embedded entry must list its files")
    if not sources or entry.members < 1:
        raise ZooError(f"zoo entry {name}: needs at least one source and one member")
    if {z.corpus for z in zero_shot} & {s.corpus for s in sources}:
        raise ZooError(f"zoo entry {name}: a zero_shot corpus must not be a training source")
    return entry


def _optional_int(value) -> int | None:
    return None if value is None else int(value)


def read_registry(text: str) -> dict[str, Entry]:
    """Every entry of a registry document (YAML with a top-level ``entries`` mapping)."""
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}  # libyaml: 10x faster
    raw = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise ZooError(f"{REGISTRY_FILE}: expected a top-level 'entries' mapping")
    return {name: parse_entry(name, body) for name, body in raw.items()}


@lru_cache(maxsize=1)
def _entries() -> dict[str, Entry]:
    return read_registry(resources.files(__package__).joinpath(REGISTRY_FILE).read_text(encoding="utf-8"))


def names() -> list[str]:
    return sorted(_entries())


def entry(name: str) -> Entry:
    entries = _entries()
    if name not in entries:
        raise UnknownNameError(f"no zoo entry named '{name}' (known: {', '.join(sorted(entries)) or 'none'})")
    return entries[name]


def embedded_dir(name: str) -> Path:
    """Where an embedded entry's files ship inside the package."""
    return Path(str(resources.files(__package__).joinpath("embedded", name)))
