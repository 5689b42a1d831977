"""Where the torch code runs: the ``device`` of the neural predictors and of the zero-cost proxies.

Without a GPU (CI): bad device names and unavailable devices fail with a message naming them,
``"auto"`` is the CPU, and a model saved with ``device="cuda"`` loads on a CPU-only machine. With
one, the CUDA results are checked against the CPU's on the same seeds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau, spearmanr

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device")
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
QUICK = {"gnn": {"hidden": 16, "layers": 2, "epochs": 3}, "text": {"d_model": 16, "layers": 1, "epochs": 3}}


def nb201_cells(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    cells = []
    for _ in range(n):
        o = rng.choice(OPS, 6)
        cells.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")
    return cells


@pytest.fixture(scope="module")
def cells():
    """(train graphs, train y, query graphs): 40 random NB201 cells built here (no corpus needed),
    y a function of the graph (log parameters plus a tenth of the conv count)."""
    from nabench.graph import from_onnx
    from nabench.onnx_build.nb201 import build_nb201

    graphs = [from_onnx(build_nb201(c)) for c in nb201_cells(40, 0)]
    y = np.array([np.log1p(g.params) + sum(n.op_type == "Conv" for n in g.nodes) / 10 for g in graphs])
    return graphs[:28], y[:28], graphs[28:]


def make(name: str, **params):
    from nabench.registry import predictors

    return predictors.get(name)(**QUICK[name], **params)


@pytest.mark.parametrize("name", ["gnn", "text"])
def test_bad_or_missing_device_is_named(name, cells, one_torch_thread):
    from nabench.predictors.base import PredictorError

    X, y, _ = cells
    with pytest.raises(PredictorError, match="device='tpu'; expected 'cpu', 'cuda'"):
        make(name, device="tpu").fit(X, y)
    missing = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(PredictorError, match=f"device='{missing}', but this machine has"):
        make(name, device=missing).fit(X, y)


@pytest.mark.skipif(CUDA, reason="'auto' is the GPU here")
@pytest.mark.parametrize("name", ["gnn", "text"])
def test_auto_is_the_cpu_without_a_gpu(name, cells, one_torch_thread):
    X, y, Xq = cells
    np.testing.assert_array_equal(make(name, device="auto", random_state=3).fit(X, y).predict(Xq),
                                  make(name, device="cpu", random_state=3).fit(X, y).predict(Xq))


@pytest.mark.skipif(CUDA, reason="checks a CPU-only machine")
@pytest.mark.parametrize("name", ["gnn", "text"])
def test_model_saved_for_cuda_loads_on_a_cpu_machine(name, cells, tmp_path, one_torch_thread):
    """A model whose config says ``cuda`` (trained on a GPU, say) loads here; predicting names the
    problem and the fix, and after ``set_params(device="cpu")`` it predicts as before."""
    from nabench.predictors.base import PredictorError, load

    X, y, Xq = cells
    model = make(name, random_state=2).fit(X, y)
    before = model.predict(Xq)
    model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["params"]["device"] = "cuda"
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = load(tmp_path)
    with pytest.raises(PredictorError, match="device='cuda', but this machine has 0 usable CUDA device.*'cpu'"):
        loaded.predict(Xq)
    np.testing.assert_array_equal(loaded.set_params(device="cpu").predict(Xq), before)


def test_config_without_device_loads_on_the_cpu(cells, tmp_path, one_torch_thread):
    from nabench.predictors.base import load

    X, y, Xq = cells
    model = make("text", random_state=1).fit(X, y)
    model.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["params"]["device"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = load(tmp_path)
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(Xq), model.predict(Xq))


@needs_cuda
@pytest.mark.parametrize("name", ["gnn", "text"])
def test_cuda_training_matches_the_cpu(name, cells, tmp_path, one_torch_thread):
    """Same seed on CUDA and CPU: the same ranking (float32 rounding and atomic sums differ); the
    model saved on CUDA loads and predicts the same, on CUDA and on the CPU."""
    from nabench.predictors.base import load

    X, y, Xq = cells
    cpu = make(name, random_state=4).fit(X, y).predict(Xq)
    model = make(name, random_state=4, device="cuda").fit(X, y)
    gpu = model.predict(Xq)
    assert kendalltau(cpu, gpu).statistic > 0.9
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=0.05 * np.std(cpu))
    model.save(tmp_path)
    loaded = load(tmp_path)
    np.testing.assert_allclose(loaded.predict(Xq), gpu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.set_params(device="cpu").predict(Xq), gpu, rtol=1e-4, atol=1e-5)


@needs_cuda
def test_proxies_on_cuda_rank_cells_as_on_the_cpu(one_torch_thread):
    """Every proxy (one shared-pass suite per cell) on 12 NB201 cells, CPU against CUDA: the same
    seeded weights and batch, so each proxy ranks the cells the same (Spearman ≥ 0.98)."""
    from nabench.onnx_build.nb201 import build_nb201
    from nabench.zc import proxies as P
    from nabench.zc.compute import score_cell

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
    names = [*P.SUITE_ZERO, "gradsign", "zico"]
    cpu, gpu = {n: [] for n in names}, {n: [] for n in names}
    for i, cell in enumerate(nb201_cells(14, 1)):
        model = build_nb201(cell)
        a = score_cell(model, names, (x, y), seed=i)
        b = score_cell(model, names, (x, y), seed=i, device="cuda")
        if a.failures or b.failures:  # a cell whose output ignores its input: jacov/nwot/zen fail on both
            assert set(a.failures) == set(b.failures), (cell, a.failures, b.failures)
            continue
        for n in names:
            cpu[n].append(a.scores[n])
            gpu[n].append(b.scores[n])
    assert len(cpu["params"]) >= 8
    for n in ("params", "flops"):  # counted, not computed
        assert gpu[n] == cpu[n], n
    rho = {n: round(float(spearmanr(cpu[n], gpu[n]).statistic), 4) for n in names if n not in ("params", "flops")}
    assert all(r >= 0.98 for r in rho.values()), rho  # every proxy's rho in the message, not only the first miss
