"""The model zoo: pretrained estimators by name, verified, cached, usable offline.

>>> from nabench import zoo
>>> zoo.names()
>>> model = zoo.load("xgb.nb201-cifar10")   # embedded: no download
>>> model.predict_full(graphs).percentile    # graphs: ArchGraphs, e.g. nabench.graph.from_onnx(path)
>>> model.score_corpus("nb201")              # every normalized record of a corpus, as a DataFrame

Entries are listed in ``registry.yml`` (see :mod:`nabench.zoo.catalog`). Embedded entries ship
their files inside the package; the others are downloaded once into ``$NABENCH_HOME/zoo/<name>/``
(see :mod:`nabench.zoo.download`) and reused offline. Every file is checked against the sha256 and
size in the registry before it is first used (cached downloads are not hashed again while they
are unchanged). A folder written by ``nabench zoo build`` can be loaded with :func:`load_dir` (it
carries its own card).
"""

from __future__ import annotations

from pathlib import Path

from nabench.zoo.catalog import Entry, ZooError, embedded_dir, entry, names, version_ok

__all__ = ["Entry", "ZooError", "cache_dir", "embedded_dir", "entry", "load", "load_dir", "names", "pull", "verify"]


def cache_dir(name: str) -> Path:
    from nabench.config import home

    return home() / "zoo" / name


def _resolve(name_or_entry: str | Entry) -> Entry:
    return name_or_entry if isinstance(name_or_entry, Entry) else entry(name_or_entry)


def _check_version(e: Entry) -> None:
    from nabench import __version__

    if not version_ok(__version__, e.nabench_versions):
        raise ZooError(f"zoo entry {e.name} needs nabench {e.nabench_versions}; this is nabench {__version__}")


def verify(e: Entry, folder: Path) -> None:
    """Every file of ``e`` is in ``folder`` with its registered size and sha256."""
    from nabench.zoo.download import is_valid

    for f in e.files:
        if not is_valid(folder / f.path, f.sha256, f.size):
            raise ZooError(f"{folder / f.path}: missing, or does not match the sha256/size of zoo entry {e.name}")


def pull(name_or_entry: str | Entry, *, timeout: float = 60.0, recheck: bool = False) -> Path:
    """The verified local folder of an entry, downloading what is missing; returns the folder.

    Embedded files are hashed every time (they are small). Cached downloads verified before and
    unchanged since (same size and mtime) are not hashed again unless ``recheck``.
    """
    from nabench.zoo.download import fetch, stamp_ok, write_stamp

    e = _resolve(name_or_entry)
    if not e.files:
        raise ZooError(f"zoo entry {e.name} is not published yet; build it with `nabench zoo build {e.name}` "
                       f"and use the folder it prints (--model FOLDER, or nabench.zoo.load_dir)")
    if e.embedded:
        folder = embedded_dir(e.name)
        verify(e, folder)
        return folder
    folder = cache_dir(e.name)
    if recheck or not stamp_ok(folder, e.files):
        for f in e.files:
            fetch(f.url, folder / f.path, f.sha256, f.size, timeout=timeout)
        write_stamp(folder, e.files)
    return folder


def load(name_or_entry: str | Entry):
    """A ready :class:`~nabench.zoo.estimator.ZooModel` (downloaded and verified when needed)."""
    from nabench.zoo.estimator import ZooModel

    e = _resolve(name_or_entry)
    _check_version(e)
    return ZooModel(e, pull(e))


def load_dir(folder: str | Path):
    """A :class:`~nabench.zoo.estimator.ZooModel` from a ``nabench zoo build`` output folder (its
    ``card.yml`` names the entry and the files' hashes, which are checked)."""
    import yaml

    from nabench.zoo.build import CARD_FILE
    from nabench.zoo.catalog import parse_entry
    from nabench.zoo.estimator import ZooModel

    folder = Path(folder)
    try:
        ((name, raw),) = yaml.safe_load((folder / CARD_FILE).read_text(encoding="utf-8")).items()
    except (OSError, ValueError, AttributeError, yaml.YAMLError) as e:
        raise ZooError(f"{folder / CARD_FILE}: not a built zoo entry ({e})") from None
    e = parse_entry(name, raw)
    _check_version(e)
    verify(e, folder)
    return ZooModel(e, folder)
