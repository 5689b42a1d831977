"""Every registered predictor passes the conformance suite on real NAS-Bench-201 cells.

Parametrized over ``nabench.registry.predictors.names()``, so a newly registered predictor is
checked without touching this file; it may declare quick settings in ``nabench_test_params()``.
"""

from __future__ import annotations

import numpy as np
import pytest

from nabench.predictors.conformance import CHECKS
from nabench.registry import predictors

N_GRAPHS = 32
LABEL = "cifar10__test_acc__200ep"


@pytest.fixture(scope="module")
def nb201_sample(corpus):
    """``N_GRAPHS`` random NB201 cells: ArchGraphs read from their normalized ONNX, and test accuracies."""
    from nabench.graph import from_onnx
    from nabench.normalize import normalize_record

    c = corpus("nb201")
    records = c.records().sample(N_GRAPHS, random_state=0)
    graphs = [from_onnx(normalize_record(r, "nb201")["onnx"]) for r in records.to_dict("records")]
    y = c.labels(LABEL).loc[records["native_id"]].to_numpy(dtype=np.float64)
    return graphs, y


@pytest.mark.parametrize("name", predictors.names())
@pytest.mark.parametrize("check", [c.__name__ for c in CHECKS])
def test_conformance(name, check, nb201_sample, one_torch_thread):
    from nabench.predictors.conformance import checks

    graphs, y = nb201_sample
    run = dict(checks(predictors.get(name)))[check]
    run(graphs, y)


def test_check_predictor_catches_a_broken_predictor(nb201_sample):
    """The suite fails a predictor whose predictions change after save/load."""
    from nabench.predictors.baselines import MeanPredictor
    from nabench.predictors.conformance import check_predictor

    class Forgetful(MeanPredictor):
        registry_name = "mean"

        def _load_state(self, directory):
            self.mean_ = 0.0

    graphs, y = nb201_sample
    check_predictor(MeanPredictor, graphs, y)
    with pytest.raises(AssertionError, match="check_save_load"):
        from nabench.registry import predictors as reg

        reg.register("mean")(Forgetful)
        try:
            check_predictor(Forgetful, graphs, y)
        finally:
            reg._registered.pop("mean")


def test_check_bad_input_catches_unchecked_targets(nb201_sample):
    from nabench.predictors.baselines import MeanPredictor
    from nabench.predictors.conformance import checks

    class Lax(MeanPredictor):
        def fit(self, X, y):
            self.mean_ = float(np.nanmean(np.asarray(y, dtype=float)))
            return self

    graphs, y = nb201_sample
    with pytest.raises(AssertionError, match="fit with NaN in y: no error raised"):
        dict(checks(Lax))["check_bad_input"](graphs, y)
