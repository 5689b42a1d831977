"""Test set-up: real upstream data from ../shared/data (or $NABENCH_DATA), a private store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    env = os.environ.get("NABENCH_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not (root / "README.md").exists():
        pytest.exit(f"upstream data not found at {root}; set NABENCH_DATA", returncode=2)
    return root.resolve()


DATA = _data_root()
os.environ["NABENCH_DATA"] = str(DATA)


@pytest.fixture(scope="session", autouse=True)
def nabench_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store private to this test session, shared by all tests (corpora build once)."""
    home = tmp_path_factory.mktemp("nabench_home")
    old = os.environ.get("NABENCH_HOME")
    os.environ["NABENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("NABENCH_HOME", None)
    else:
        os.environ["NABENCH_HOME"] = old


@pytest.fixture(scope="session")
def data_root() -> Path:
    return DATA


_BUILT: dict[str, object] = {}


@pytest.fixture(scope="session")
def corpus(nabench_home):
    """``corpus(name)`` → the corpus built from the real data, once per session."""
    from nabench import corpora

    def get(name: str):
        if name not in _BUILT:
            _BUILT[name] = corpora.build(name)
        return _BUILT[name]

    return get


@pytest.fixture(scope="session")
def nb201_sample(corpus):
    """``nb201_sample(n, seed, label)`` → (graphs, y, records) of ``n`` random NB201 cells: graphs from
    their normalized ONNX (with arch ids), ``label`` as float64, the sampled records."""

    def sample(n: int, seed: int, label: str):
        import numpy as np

        from nabench.graph import from_onnx
        from nabench.normalize import normalize_record

        c = corpus("nb201")
        records = c.records().sample(n, random_state=seed)
        graphs = [from_onnx(normalize_record(r, "nb201")["onnx"]) for r in records.to_dict("records")]
        return graphs, c.labels(label).loc[records["native_id"]].to_numpy(dtype=np.float64), records

    return sample


@pytest.fixture
def fresh_home(tmp_path, monkeypatch) -> Path:
    """A store private to one test, for tests that break things on purpose."""
    monkeypatch.setenv("NABENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny CPU tensors: one intra-op thread is several times faster than a contended pool."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
