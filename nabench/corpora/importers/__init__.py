"""One module per upstream benchmark; each exposes an :class:`~nabench.corpora.base.Importer`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from nabench.errors import NabenchError


def package_dir(package: str, pip_name: str) -> Path:
    """Folder of an installed data package, found without importing (running) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise NabenchError(f"the data package '{pip_name}' is not installed; run: pip install {pip_name}")
    return Path(list(spec.submodule_search_locations)[0])
