"""ArchGraphs for a run: normalize what is missing, load once, cache within the process."""

from __future__ import annotations

from collections.abc import Sequence

from nabench.errors import NabenchError


def normalized_ids(corpus) -> set[str]:
    try:
        return set(corpus.graphs()["native_id"].astype(str))
    except NabenchError:  # not normalized (or incomplete)
        return set()


def ensure_normalized(corpus, native_ids: Sequence[str], *, workers: int = 1, progress=None) -> None:
    """Normalize ``corpus`` so that every record in ``native_ids`` has a graph; keeps what is
    already normalized (a new selection is the union of the old one and the new ids)."""
    from nabench.normalize import normalize

    have = normalized_ids(corpus)
    wanted = set(map(str, native_ids))
    if wanted <= have:
        return
    n_records = len(corpus.records())
    union = have | wanted
    normalize(corpus.name, version=corpus.version, workers=workers, progress=progress,
              ids=None if len(union) == n_records else sorted(union))


#: graphs already read in this process, by (corpus folder, corpus content hash, native_id)
_LOADED: dict[tuple[str, str, str], object] = {}


class GraphCache:
    """ArchGraphs of corpus records, normalized if needed and read once per process."""

    def __init__(self, workers: int = 1, progress=None):
        self.workers = workers
        self.progress = progress

    def get(self, corpus, native_ids: Sequence[str]) -> list:
        """The graphs of ``native_ids`` in ``corpus``, in that order."""
        where = (str(corpus.path), str(corpus.manifest.get("content_sha256")))
        missing = [i for i in dict.fromkeys(map(str, native_ids)) if (*where, i) not in _LOADED]
        if missing:
            ensure_normalized(corpus, missing, workers=self.workers, progress=self.progress)
            for native_id, graph in zip(missing, corpus.arch_graphs(ids=missing)):
                _LOADED[(*where, native_id)] = graph
        return [_LOADED[(*where, str(i))] for i in native_ids]
