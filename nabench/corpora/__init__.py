"""Corpora: upstream benchmark data imported into versioned, checked Parquet tables.

>>> from nabench import corpora
>>> corpora.names()                      # every registered corpus
>>> c = corpora.load("analognas")        # embedded corpora build on first use
>>> c.labels(dataset="cifar10", split="test", metric="acc", fidelity="200ep")
"""

from nabench.corpora.api import build, export, importer_for, is_built, load, names
from nabench.corpora.store import Corpus

__all__ = ["build", "export", "importer_for", "is_built", "load", "names", "Corpus"]
