"""GENNAPE-style contrastive ensemble: fuzzy c-means, pretraining cache, quality on NAS-Bench-201."""

from __future__ import annotations

import numpy as np
import pytest
from test_predictors_gnn import _quality, nb201  # noqa: F401 -- the shared real-data fixture

QUICK = {"hidden": 16, "layers": 2, "pretrain_epochs": 2}


def test_fuzzy_cmeans_finds_separated_clusters():
    from nabench.predictors.contrastive import fcm_memberships, fuzzy_cmeans

    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(-5, 1, size=(40, 3)), rng.normal(5, 1, size=(60, 3))])
    centers, U = fuzzy_cmeans(Z, 2, 2.0, seed=0)
    assert np.allclose(U.sum(1), 1.0)
    hard = U.argmax(1)
    assert len(set(hard[:40])) == 1 and len(set(hard[40:])) == 1 and hard[0] != hard[-1]
    assert np.allclose(np.sort(centers[:, 0]), [-5, 5], atol=0.5)
    assert np.allclose(fcm_memberships(Z, centers, 2.0), U, atol=1e-4)


def test_contrastive_ranks_held_out_cells(nb201, one_torch_thread):  # noqa: F811
    from nabench.predictors.contrastive import ContrastivePredictor

    _quality(ContrastivePredictor(hidden=32, layers=2, pretrain_epochs=5), nb201)


def test_pretrained_encoder_file_and_save_load(nb201, tmp_path, one_torch_thread):  # noqa: F811
    from nabench.predictors.base import PredictorError, load
    from nabench.predictors.contrastive import ContrastivePredictor, pretrain_encoder
    from test_encoders_graph_text import custom_op_graph

    Xtr, ytr, Xte, _, _ = nb201
    path = pretrain_encoder(Xtr + Xte, tmp_path / "enc.safetensors", hidden=16, layers=2, epochs=1)
    p = ContrastivePredictor(encoder_path=str(path), n_clusters=2).fit(Xtr[:30], ytr[:30])
    pred = p.predict(Xte[:10])
    assert np.array_equal(pred, ContrastivePredictor(encoder_path=str(path), n_clusters=2)
                          .fit(Xtr[:30], ytr[:30]).predict(Xte[:10]))
    assert np.isfinite(p.predict([custom_op_graph()])).all()
    p.save(tmp_path / "m")
    assert np.array_equal(load(tmp_path / "m").predict(Xte[:10]), pred)
    with pytest.raises(PredictorError, match="no pretrained encoder"):
        ContrastivePredictor(encoder_path=str(tmp_path / "missing")).fit(Xtr[:8], ytr[:8])
    with pytest.raises(PredictorError, match="fuzziness"):
        ContrastivePredictor(fuzziness=1.0, **QUICK).fit(Xtr[:8], ytr[:8])
