"""AnalogNAS-Bench, embedded from the analog-nasbench PyPI package: counts and identity."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata, spearmanr

from nabench.corpora.importers.analognas import AnalogNASImporter
from nabench.errors import SourceError
from nabench.spaces import nb201

BASELINE = "cifar10__test_acc_baseline__final"


@pytest.fixture(scope="module")
def analog(corpus):
    return corpus("analognas")


@pytest.fixture(scope="module")
def nats_test_acc(data_root) -> pd.Series:
    """NB201 CIFAR-10 test accuracy at 200 epochs (NATS-Bench mean over seeds), by cell string."""
    df = pd.read_csv(data_root / "nb201" / "nats_test_acc_200ep.csv")
    return df.set_index("ArchitectureString")["CIFAR10TestAccuracy200Epochs"]


def test_counts_and_ranges(analog):
    df = analog.records()
    assert len(df) == 15625 and df["native_id"].is_unique
    assert set(df["native_id"]) == set(nb201.all_cells())
    assert df[BASELINE].between(10, 100).all()
    assert df["cifar10__test_acc_analog__final"].max() < df[BASELINE].max()


def test_convention_matches_nb201_cifar10_accuracy(analog, nats_test_acc):
    """The issue's bar: Spearman >= 0.95 with NB201 CIFAR-10 test accuracy on matched cells."""
    ours = analog.labels(BASELINE)
    joined = pd.concat([ours, nats_test_acc.rename("nb201")], axis=1, join="inner")
    assert len(joined) == 15625
    rho = spearmanr(joined[BASELINE], joined["nb201"]).statistic
    assert rho >= 0.95, rho


def _readings_spearman(analog, nats_test_acc, op_perms, edge_perms) -> list[tuple[float, tuple, tuple]]:
    """Spearman with NB201 for each (op order, edge order) reading of the AnalogNAS tuples.

    Every reading is a bijection onto the 15,625 cells, so Spearman is the Pearson
    correlation of our ranks with the target's ranks gathered through the reading.
    """
    df = analog.records()
    keys = np.array([nb201.parse_tuple_text(t) for t in df["analognas_tuple"]], dtype=np.int32)
    z_acc = rankdata(df[BASELINE].to_numpy())
    z_acc = (z_acc - z_acc.mean()) / z_acc.std()
    op_index = {op: i for i, op in enumerate(nb201.OPS)}
    powers = 5 ** np.arange(6, dtype=np.int32)
    target = np.empty(5**6)
    for s, v in nats_test_acc.items():
        target[np.array([op_index[o] for o in nb201.parse(s)]) @ powers] = v
    z_target = rankdata(target)
    z_target = (z_target - z_target.mean()) / z_target.std()
    edge_perms = np.array(edge_perms, dtype=np.int32)
    results = []
    for op_perm in op_perms:
        mapped = np.array([op_index[nb201.NASLIB_OPS[i]] for i in op_perm], dtype=np.int32)[keys]
        codes = np.zeros((len(keys), len(edge_perms)), dtype=np.int32)
        for k in range(6):  # string edge k takes tuple position perm[k]
            codes += mapped[:, edge_perms[:, k]] * powers[k]
        rhos = (z_target[codes] * z_acc[:, None]).mean(axis=0)
        results += [(float(rho), tuple(op_perm), tuple(perm)) for rho, perm in zip(rhos, edge_perms.tolist())]
    return sorted(results, reverse=True)


NASLIB_READING = (tuple(range(5)), tuple(nb201.NASLIB_EDGES.index(e) for e in nb201.EDGES))


def test_convention_beats_every_other_op_order_and_every_other_edge_order(analog, nats_test_acc):
    """Proof of the convention along each axis: all 120 op orders, all 720 edge orders."""
    ops, edges = NASLIB_READING
    by_ops = _readings_spearman(analog, nats_test_acc, list(itertools.permutations(range(5))), [edges])
    by_edges = _readings_spearman(analog, nats_test_acc, [ops], list(itertools.permutations(range(6))))
    assert by_ops[0][1:] == NASLIB_READING and by_edges[0][1:] == NASLIB_READING
    assert by_ops[0][0] > 0.99
    assert by_ops[0][0] - by_ops[1][0] > 0.2     # any other op order is far worse
    assert by_edges[0][0] - by_edges[1][0] > 0.015  # the runner-up is the graph-reversed edge order


@pytest.mark.slow
def test_convention_is_the_best_of_all_op_and_edge_orders(analog, nats_test_acc):
    """The full proof: all 5! * 6! = 86,400 readings (about two minutes)."""
    best = _readings_spearman(analog, nats_test_acc, list(itertools.permutations(range(5))),
                              list(itertools.permutations(range(6))))
    assert best[0][1:] == NASLIB_READING
    assert best[0][0] > 0.99 and best[0][0] - best[1][0] > 0.015


def test_disconnected_cells_score_chance_everywhere(analog):
    """Cells with no path of non-'none' edges from input to output can only guess: 10.0."""
    df = analog.records().set_index("native_id")

    def connected(cell: str) -> bool:
        edges = {e for e, op in nb201.edge_ops(cell).items() if op != "none"}
        reach = {0}
        for j in (1, 2, 3):
            if any((i, j) in edges for i in reach):
                reach.add(j)
        return 3 in reach

    disconnected = [c for c in df.index if not connected(c)]
    assert len(disconnected) == 341
    assert (df.loc[disconnected, BASELINE] == 10.0).all()
    assert (df.drop(index=disconnected)[BASELINE] > 10.0).all()


def test_truncated_package_data_is_refused(tmp_path):
    data = (AnalogNASImporter().embedded_source() / "data.anb").read_bytes()
    (tmp_path / "data.anb").write_bytes(data[:100_000])
    with pytest.raises(SourceError, match="data.anb: not a readable pickle"):
        AnalogNASImporter().build_table(tmp_path)


def test_missing_source_file_is_named(tmp_path):
    with pytest.raises(SourceError, match="data.anb: file not found"):
        AnalogNASImporter().build_table(tmp_path)
