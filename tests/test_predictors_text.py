"""Text surrogate (transformer over the ONNX-Net-style text) on real NAS-Bench-201 cells."""

from __future__ import annotations

import numpy as np
import pytest
from test_predictors_gnn import _quality, nb201  # noqa: F401 -- the shared real-data fixture

QUICK = {"d_model": 16, "layers": 1, "epochs": 2}


@pytest.mark.slow  # ~2 min on a busy 2-core machine
def test_text_ranks_held_out_cells(nb201, one_torch_thread):  # noqa: F811
    from nabench.predictors.text import TextPredictor

    _quality(TextPredictor(d_model=32, layers=1, steps=150, batch_size=16), nb201)


def test_seeded_save_load_and_unknown_tokens(nb201, tmp_path, one_torch_thread):  # noqa: F811
    from nabench.predictors.base import PredictorError, load
    from nabench.predictors.text import TextPredictor
    from test_encoders_graph_text import custom_op_graph

    Xtr, ytr, Xte, _, _ = nb201
    X, y, Xq = Xtr[:16], ytr[:16], Xte[:8]
    a = TextPredictor(random_state=3, **QUICK).fit(X, y)
    pred = a.predict(Xq)
    assert np.array_equal(pred, TextPredictor(random_state=3, **QUICK).fit(X, y).predict(Xq))
    assert "Conv" in a.vocab_ and "Frobnicate" not in a.vocab_
    assert np.isfinite(a.predict([custom_op_graph()])).all()  # unseen tokens go to <unk>
    # a graph's score does not depend on the other graphs of its batch (padding is masked)
    assert np.allclose(a.predict(Xq[:1]), pred[:1], rtol=0, atol=1e-5)
    a.save(tmp_path / "m")
    assert np.array_equal(load(tmp_path / "m").predict(Xq), pred)
    with pytest.raises(PredictorError, match="divisible"):
        TextPredictor(d_model=30, heads=4).fit(X, y)


def test_predict_takes_the_regular_attention_path(nb201, one_torch_thread):  # noqa: F811
    """predict turns PyTorch's fused transformer inference path off (3-4x slower here) and back
    on afterwards; its scores are the fused path's to float32 rounding."""
    import torch
    from nabench.predictors.text import TextPredictor

    Xtr, ytr, Xte, _, _ = nb201
    model = TextPredictor(random_state=0, **QUICK).fit(Xtr[:16], ytr[:16])
    assert torch.backends.mha.get_fastpath_enabled()
    pred = model.predict(Xte[:40])
    assert torch.backends.mha.get_fastpath_enabled()
    with torch.no_grad():
        ids = model._ids(model._token_lines(Xte[:40]))
        fused = model.model_(model._tensor(ids)).numpy() * model.y_std_ + model.y_mean_
    assert np.allclose(pred, fused, rtol=0, atol=1e-4 * np.abs(fused).max())
