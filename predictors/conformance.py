"""The predictor conformance suite, like scikit-learn's ``check_estimator``.

``check_predictor(predictor_or_class, graphs, y)`` runs every check below on real graphs and
raises ``AssertionError`` naming the predictor and the failed check; ``checks(...)`` yields the
checks one by one (for parametrized tests). A predictor class may define the classmethod
``nabench_test_params()`` (see :meth:`nabench.predictors.base.Predictor.nabench_test_params`)
returning constructor arguments that make it quick on a few dozen graphs (fewer trees, epochs);
they are used when a class is passed.

What is checked:

- ``nabench_tags()`` returns a :class:`PredictorTags` with a known family;
- ``get_params``/``set_params`` round trip, ``sklearn.base.clone`` gives an unfitted equal copy,
  and ``fit`` leaves the constructor parameters unchanged;
- ``fit`` returns ``self``; ``predict`` returns a finite float64 array of shape ``(n,)``, also
  for one graph;
- two fits with the same parameters (seeded) give identical predictions;
- ``save`` / :func:`~nabench.predictors.base.load` gives identical predictions, and the saved
  folder holds no pickle;
- bad input raises :class:`PredictorError`: NaN or infinite ``y``, ``y`` of another length than
  ``X``, zero architectures, a non-graph item; ``predict`` before ``fit`` raises an error that
  says to call ``fit`` (predictors with ``requires_fit=False`` may predict unfitted).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from nabench.predictors.base import Predictor, PredictorError, PredictorTags, load

FAMILIES = frozenset({"baseline", "gbdt", "gnn", "text", "contrastive", "zc", "ensemble"})
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".joblib")


def _instance(predictor_or_class: Any) -> Predictor:
    if isinstance(predictor_or_class, type):
        hook = getattr(predictor_or_class, "nabench_test_params", None)
        return predictor_or_class(**(hook() if hook else {}))
    return clone(predictor_or_class)


def _name(p: Predictor) -> str:
    return getattr(p, "registry_name", "") or type(p).__name__


def _same_params(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if x is y:
            continue
        try:
            if isinstance(x, np.ndarray) or isinstance(y, np.ndarray) or hasattr(x, "equals"):
                if not (x.equals(y) if hasattr(x, "equals") else np.array_equal(x, y)):
                    return False
            elif x != y:
                return False
        except (TypeError, ValueError):
            return False
    return True


def _predict(p: Predictor, graphs: Sequence) -> np.ndarray:
    out = p.predict(graphs)
    assert isinstance(out, np.ndarray), f"predict returned {type(out).__name__}, not a numpy array"
    assert out.dtype == np.float64, f"predict returned dtype {out.dtype}, not float64"
    assert out.shape == (len(graphs),), f"predict returned shape {out.shape}, expected ({len(graphs)},)"
    assert np.all(np.isfinite(out)), "predict returned NaN or infinite values"
    return out


def check_tags(p: Predictor, graphs, y) -> None:
    tags = p.nabench_tags()
    assert isinstance(tags, PredictorTags), f"nabench_tags() returned {type(tags).__name__}"
    assert tags.family in FAMILIES, f"unknown family {tags.family!r} (known: {sorted(FAMILIES)})"
    assert p.registry_name, "registry_name is empty: set it to the name it is registered under"


def check_params_and_clone(p: Predictor, graphs, y) -> None:
    params = p.get_params(deep=False)
    q = clone(p)
    assert type(q) is type(p), "clone changed the class"
    assert _same_params(q.get_params(deep=False), params), "clone changed the parameters"
    q.set_params(**params)
    assert _same_params(q.get_params(deep=False), params), "set_params(**get_params()) changed the parameters"
    before = p.get_params(deep=False)
    p.fit(graphs, y)
    assert _same_params(p.get_params(deep=False), before), "fit changed a constructor parameter"
    fitted = [k for k, v in vars(clone(p)).items() if k.endswith("_") and not k.startswith("_")]
    assert not fitted, f"clone of a fitted predictor kept fitted attributes {fitted}"


def check_fit_predict(p: Predictor, graphs, y) -> None:
    out = p.fit(graphs, y)
    assert out is p, "fit must return self"
    _predict(p, graphs)
    _predict(p, graphs[:1])


def check_deterministic(p: Predictor, graphs, y) -> None:
    a = _predict(clone(p).fit(graphs, y), graphs)
    b = _predict(clone(p).fit(graphs, y), graphs)
    np.testing.assert_array_equal(a, b, err_msg="two fits with the same parameters predict differently")


def check_save_load(p: Predictor, graphs, y) -> None:
    p.fit(graphs, y)
    before = _predict(p, graphs)
    with tempfile.TemporaryDirectory() as tmp:
        folder = p.save(Path(tmp) / "model")
        pickles = [f.name for f in Path(folder).rglob("*") if f.suffix in _PICKLE_SUFFIXES]
        assert not pickles, f"saved files look like pickles: {pickles}"
        q = load(folder)
    assert type(q) is type(p), f"load gave a {type(q).__name__}"
    np.testing.assert_array_equal(_predict(q, graphs), before, err_msg="predictions changed after save/load")


def _raises_predictor_error(fn: Callable[[], Any], what: str) -> None:
    try:
        fn()
    except PredictorError:
        return
    except Exception as e:  # noqa: BLE001 -- the check reports which error came instead
        raise AssertionError(f"{what}: raised {type(e).__name__} ({e}), expected PredictorError") from e
    raise AssertionError(f"{what}: no error raised, expected PredictorError")


def check_bad_input(p: Predictor, graphs, y) -> None:
    y = np.asarray(y, dtype=np.float64)
    nan_y = y.copy()
    nan_y[0] = np.nan
    inf_y = y.copy()
    inf_y[-1] = np.inf
    _raises_predictor_error(lambda: clone(p).fit(graphs, nan_y), "fit with NaN in y")
    _raises_predictor_error(lambda: clone(p).fit(graphs, inf_y), "fit with inf in y")
    _raises_predictor_error(lambda: clone(p).fit(graphs, y[:-1]), "fit with len(y) != len(X)")
    _raises_predictor_error(lambda: clone(p).fit([], []), "fit on zero architectures")
    _raises_predictor_error(lambda: clone(p).fit([*graphs[:-1], "not a graph"], y), "fit with a non-graph item")
    fitted = clone(p).fit(graphs, y)
    _raises_predictor_error(lambda: fitted.predict([graphs[0], 42]), "predict with a non-graph item")


def check_predict_before_fit(p: Predictor, graphs, y) -> None:
    q = clone(p)
    if not q.nabench_tags().requires_fit:
        _predict(q, graphs)
        return
    try:
        q.predict(graphs)
    except (PredictorError, NotFittedError) as e:
        assert "fit" in str(e), f"predict before fit raised an error that does not mention fit: {e}"
        return
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"predict before fit raised {type(e).__name__} ({e}), "
                             "expected PredictorError or NotFittedError") from e
    raise AssertionError("predict before fit did not raise")


CHECKS: tuple[Callable, ...] = (check_tags, check_params_and_clone, check_fit_predict, check_deterministic,
                                check_save_load, check_bad_input, check_predict_before_fit)


def checks(predictor_or_class: Any) -> Iterator[tuple[str, Callable[[Sequence, Any], None]]]:
    """``(check name, check(graphs, y))`` pairs for one predictor, each on a fresh clone."""
    proto = _instance(predictor_or_class)
    for check in CHECKS:
        def run(graphs, y, check=check):
            try:
                check(clone(proto), list(graphs), y)
            except AssertionError as e:
                raise AssertionError(f"{_name(proto)}: {check.__name__}: {e}") from e
        yield check.__name__, run


def check_predictor(predictor_or_class: Any, graphs: Sequence, y: Any) -> None:
    """Run every conformance check; raises ``AssertionError`` at the first failure.

    ``graphs``: a few dozen ArchGraphs; ``y``: their targets. A class is instantiated with its
    ``nabench_test_params()`` (if any); an instance is cloned, so it is never modified.
    """
    if len(graphs) < 4 or len(graphs) != len(y):
        raise ValueError("check_predictor needs at least 4 graphs and one target per graph")
    for _, run in checks(predictor_or_class):
        run(graphs, y)
