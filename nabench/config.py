"""Where nabench keeps its files and finds upstream data.

``NABENCH_HOME`` (default: the platform's user cache dir) holds built corpora.
``NABENCH_DATA`` points at a folder laid out like the upstream data snapshot
(``nb201/``, ``latency/``, ``naslib_zc_suite/`` ...), used when ``--source`` is not given.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home() -> Path:
    """Root of nabench's local store (not created here)."""
    env = os.environ.get("NABENCH_HOME")
    return Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("nabench"))


def data_root() -> Path | None:
    """The upstream data folder named by ``NABENCH_DATA``, if any."""
    env = os.environ.get("NABENCH_DATA")
    return Path(env).expanduser() if env else None
