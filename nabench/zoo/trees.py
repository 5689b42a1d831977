"""Tree ensembles (XGBoost, LightGBM, scikit-learn forests) → one ONNX-ML ``TreeEnsembleRegressor``.

Each model is read from its own documented dump (XGBoost's JSON model, LightGBM's
``dump_model()``, scikit-learn's ``tree_`` arrays) into flat :class:`Tree` records, then written as
the ``ai.onnx.ml`` operator: several models can share one operator, each on its own output
column (``target``) and its own slice of the input features (``offset``), so an ensemble of
members runs as one node. Splits are compared in the precision the library itself uses: float32
for XGBoost and scikit-learn (which cast inputs to float32), float64 for LightGBM (double
thresholds and a double input tensor, ``nodes_values_as_tensor``); the output is float32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from nabench.zoo.catalog import ZooError

#: XGBoost objectives whose prediction is the raw margin (base score + sum of leaves)
_XGB_IDENTITY = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:quantileerror",
                 "rank:pairwise", "rank:ndcg", "rank:map")


@dataclass
class Tree:
    """One tree: node arrays; leaves have ``left == -1``; ``mode`` is the split test (x MODE thr → left)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    default_left: np.ndarray
    value: np.ndarray
    mode: str  # "BRANCH_LT" (XGBoost) or "BRANCH_LEQ" (LightGBM, scikit-learn)
    weight: float = 1.0


@dataclass
class Forest:
    """A whole model: the sum of its trees' leaves (each times the tree's ``weight``) plus ``base``."""

    trees: list[Tree]
    base: float
    n_features: int
    dtype: str = "float32"  # precision of the split comparisons


def from_xgboost(booster) -> Forest:
    """An ``xgboost.Booster`` (gbtree, numeric splits, identity-link objective)."""
    model = json.loads(booster.save_raw("json"))["learner"]
    objective = model["objective"]["name"]
    if objective not in _XGB_IDENTITY:
        raise ZooError(f"xgboost objective {objective!r} has a link function; ONNX export supports {_XGB_IDENTITY}")
    gb = model["gradient_booster"]
    if gb["name"] != "gbtree":
        raise ZooError(f"xgboost booster {gb['name']!r}: ONNX export supports gbtree only")
    base = float(model["learner_model_param"]["base_score"].strip("[]"))
    trees = []
    for t in gb["model"]["trees"]:
        if any(t["split_type"]):
            raise ZooError("xgboost categorical splits are not supported by the ONNX export")
        left = np.asarray(t["left_children"])
        trees.append(Tree(np.asarray(t["split_indices"]), np.asarray(t["split_conditions"], np.float32), left,
                          np.asarray(t["right_children"]), np.asarray(t["default_left"], bool),
                          np.where(left == -1, np.asarray(t["split_conditions"], np.float64), 0.0), "BRANCH_LT"))
    return Forest(trees, base, int(model["learner_model_param"]["num_feature"]))


def _lightgbm_tree(structure: dict) -> Tree:
    """One LightGBM ``tree_structure`` (nested dicts) as flat node arrays, in depth-first order."""
    feature, threshold, left, right, default_left, value = [], [], [], [], [], []

    def visit(node: dict) -> int:
        i = len(feature)
        for a in (feature, threshold, left, right, default_left, value):
            a.append(0)
        if "split_index" not in node:  # a leaf
            left[i], right[i], value[i] = -1, -1, float(node.get("leaf_value", 0.0))
            return i
        if node["decision_type"] != "<=":
            raise ZooError(f"lightgbm split {node['decision_type']!r} (categorical) is not supported")
        feature[i], threshold[i] = node["split_feature"], node["threshold"]
        default_left[i] = bool(node["default_left"]) if node.get("missing_type") == "NaN" else False
        left[i] = visit(node["left_child"])
        right[i] = visit(node["right_child"])
        return i

    visit(structure)
    return Tree(np.asarray(feature), np.asarray(threshold, np.float64), np.asarray(left), np.asarray(right),
                np.asarray(default_left, bool), np.asarray(value, np.float64), "BRANCH_LEQ")


def from_lightgbm(booster) -> Forest:
    """A ``lightgbm.Booster`` (numerical ``<=`` splits; missing values go the default way)."""
    dump = booster.dump_model()
    if dump.get("objective", "regression").split()[0] not in ("regression", "regression_l1", "huber", "fair",
                                                               "quantile", "lambdarank", "rank_xendcg"):
        raise ZooError(f"lightgbm objective {dump.get('objective')!r}: ONNX export supports identity-link objectives")
    trees = [_lightgbm_tree(info["tree_structure"]) for info in dump["tree_info"]]
    return Forest(trees, 0.0, int(dump["max_feature_idx"]) + 1, "float64")


def from_sklearn_forest(model) -> Forest:
    """A fitted scikit-learn ``RandomForestRegressor`` / ``ExtraTreesRegressor`` (mean of trees)."""
    estimators = model.estimators_
    trees = []
    for est in estimators:
        t = est.tree_
        leaf = t.children_left == -1
        trees.append(Tree(np.where(leaf, 0, t.feature), np.where(leaf, 0, t.threshold).astype(np.float32),
                          t.children_left.copy(), t.children_right.copy(), np.zeros(t.node_count, bool),
                          np.where(leaf, t.value[:, 0, 0], 0.0), "BRANCH_LEQ", 1.0 / len(estimators)))
    return Forest(trees, 0.0, int(model.n_features_in_))


def tree_ensemble_node(forests: list[Forest], offsets: list[int], input_name: str, output_name: str):
    """One ``TreeEnsembleRegressor`` node: forest ``k`` → output column ``k`` on features from ``offsets[k]``."""
    from onnx import helper, numpy_helper

    dtypes = {f.dtype for f in forests}
    if len(dtypes) != 1:
        raise ZooError(f"cannot mix split precisions {sorted(dtypes)} in one tree ensemble")

    a: dict[str, list] = {k: [] for k in (
        "nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
        "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
        "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    tree_id = 0
    for k, (forest, offset) in enumerate(zip(forests, offsets)):
        for t in forest.trees:
            for i in range(len(t.left)):
                leaf = t.left[i] == -1
                a["nodes_treeids"].append(tree_id)
                a["nodes_nodeids"].append(i)
                a["nodes_featureids"].append(0 if leaf else int(t.feature[i]) + offset)
                a["nodes_values"].append(0.0 if leaf else float(t.threshold[i]))
                a["nodes_modes"].append("LEAF" if leaf else t.mode)
                a["nodes_truenodeids"].append(0 if leaf else int(t.left[i]))
                a["nodes_falsenodeids"].append(0 if leaf else int(t.right[i]))
                a["nodes_missing_value_tracks_true"].append(int(not leaf and t.default_left[i]))
                if leaf:
                    a["target_treeids"].append(tree_id)
                    a["target_nodeids"].append(i)
                    a["target_ids"].append(k)
                    a["target_weights"].append(float(t.value[i]) * t.weight)
            tree_id += 1
    base = [f.base for f in forests]
    if dtypes == {"float64"}:
        for key in ("nodes_values", "target_weights"):
            a[f"{key}_as_tensor"] = numpy_helper.from_array(np.asarray(a.pop(key), np.float64), key)
        a["base_values_as_tensor"] = numpy_helper.from_array(np.asarray(base, np.float64), "base_values")
    else:
        a["base_values"] = base
    return helper.make_node("TreeEnsembleRegressor", [input_name], [output_name], domain="ai.onnx.ml",
                            n_targets=len(forests), aggregate_function="SUM", post_transform="NONE", **a)
