"""GENNAPE-style contrastive ensemble: fuzzy c-means, pretraining cache, quality on NAS-Bench-201."""

from __future__ import annotations

import numpy as np
import pytest
from test_predictors_gnn import _quality, nb201  # noqa: F401 -- the shared real-data fixture

QUICK = {"hidden": 16, "layers": 2, "pretrain_epochs": 2}
#: pretrain at every fit on the training architectures only (no other corpus needed)
ON_TRAIN = {"pretrain_corpora": (), "pretrain_with_train": True}


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

    _quality(ContrastivePredictor(hidden=32, layers=2, pretrain_epochs=5, **ON_TRAIN), nb201)


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
        ContrastivePredictor(fuzziness=1.0, **QUICK, **ON_TRAIN).fit(Xtr[:8], ytr[:8])
    with pytest.raises(PredictorError, match="nothing to pretrain"):
        ContrastivePredictor(pretrain_corpora=(), **QUICK).fit(Xtr[:8], ytr[:8])


def test_shared_encoder_is_pretrained_once_on_other_corpora(nb201, fresh_home, monkeypatch, one_torch_thread):  # noqa: F811
    """The default (GENNAPE-style) encoder is pretrained on unlabeled graphs of the named corpora
    once, cached under NABENCH_HOME and reused by fits on any split; a missing corpus is named."""
    from nabench import corpora
    from nabench.leaderboard.submissions import default_card
    from nabench.normalize import normalize
    from nabench.predictors import contrastive
    from nabench.predictors.base import PredictorError

    Xtr, ytr, Xte, _, _ = nb201
    corpora.load("analognas")
    normalize("analognas", limit=40)
    calls = []
    real = contrastive.pretrain_encoder
    monkeypatch.setattr(contrastive, "pretrain_encoder", lambda graphs, path, **kw: calls.append(len(graphs)) or real(graphs, path, **kw))
    params = {**QUICK, "pretrain_corpora": ("analognas",), "pretrain_limit": 30, "n_clusters": 2}
    a = contrastive.ContrastivePredictor(**params, random_state=0).fit(Xtr[:40], ytr[:40])
    b = contrastive.ContrastivePredictor(**params, random_state=1).fit(Xtr[40:], ytr[40:])
    assert calls == [30]
    cached = list((fresh_home / "cache" / "contrastive").glob("*.safetensors"))
    assert len(cached) == 1 and not list(cached[0].parent.glob("*.part"))
    same = contrastive.ContrastivePredictor(**params, random_state=0, encoder_path=str(cached[0])).fit(Xtr[:40], ytr[:40])
    assert np.array_equal(a.predict(Xte), same.predict(Xte)) and not np.array_equal(a.predict(Xte), b.predict(Xte))
    contrastive.ContrastivePredictor(**{**params, "pretrain_limit": 20}).fit(Xtr[:40], ytr[:40])
    assert calls == [30, 20]  # other settings: another pretraining

    card = default_card("contrastive", {}, params)
    assert card["pretrained_on"] == ["analognas"] and card["uses_extra_data"] is True
    assert default_card("contrastive", {}, ON_TRAIN)["uses_extra_data"] is False
    with pytest.raises(PredictorError, match=r"nb101.*pretrain_with_train=True"):
        contrastive.ContrastivePredictor(**QUICK, pretrain_corpora=("nb101",)).fit(Xtr[:8], ytr[:8])
