"""NAS-Bench-Graph, embedded from the nas-bench-graph PyPI package."""

from __future__ import annotations

import itertools
import pickle

import pytest
from scipy.stats import spearmanr

from nabench.corpora.importers import nasbench_graph as nbg
from nabench.errors import SourceError


@pytest.fixture(scope="module")
def graph(corpus):
    return corpus("nasbench-graph")


def test_counts(graph):
    df = graph.records()
    assert len(df) == 26206
    assert df["cora__test_acc__final"].notna().all()
    assert df["proteins__test_rocauc__final"].notna().sum() == 2021


def test_hash_decoding_round_trips_and_matches_upstream_rule(graph):
    """hash = link * 10**4 + digits of the four op indices (Arch.hash_arch with b = 10)."""
    df = graph.records()
    for key, link, ops in df[["nbg_hash", "link", "ops"]].sample(500, random_state=0).itertuples(index=False):
        lk = nbg.LINKS.index(tuple(int(c) for c in link))
        expected = lk
        for op in ops.split(","):
            expected = expected * 10 + nbg.OPS.index(op)
        assert expected == key


def test_proteins_uses_only_its_reduced_op_set(graph):
    df = graph.records()
    proteins_ops = {"gcn", "sage", "arma", "fc", "skip"}
    rows = df[df["proteins__test_rocauc__final"].notna()]
    assert all(set(ops.split(",")) <= proteins_ops for ops in rows["ops"])


def test_params_are_consistent_with_the_op_choice(graph):
    """A fully-connected-only model has fewer params than the same macro with GAT everywhere."""
    df = graph.records().set_index("native_id")
    fc = df.loc[nbg.native_id((0, 1, 2, 3), ("fc",) * 4), "cora__n_params_m"]
    gat = df.loc[nbg.native_id((0, 1, 2, 3), ("gat",) * 4), "cora__n_params_m"]
    assert 0 < fc < gat


def test_validation_tracks_test_performance(graph):
    """A real benchmark: validation and test accuracy of the same runs agree closely in rank."""
    df = graph.records()
    rho = spearmanr(df["citeseer__valid_acc__final"], df["citeseer__test_acc__final"]).statistic
    assert rho > 0.8


def test_bad_hash_is_refused():
    with pytest.raises(ValueError):
        nbg.decode(9 * 10**4)
    with pytest.raises(ValueError):
        nbg.decode(19)  # op digit 9 does not exist


def test_truncated_and_hostile_pickles_are_refused(tmp_path):
    src = nbg.NASBenchGraphImporter().embedded_source() / "light"
    broken = tmp_path / "light"
    broken.mkdir()
    for f in src.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    data = (src / "cora.bench").read_bytes()
    (broken / "cora.bench").write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="cora.bench: not a readable pickle"):
        nbg.NASBenchGraphImporter().build_table(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (broken / "cora.bench").write_bytes(pickle.dumps({0: Evil()}))
    with pytest.raises(SourceError, match="refusing to load global builtins.print"):
        nbg.NASBenchGraphImporter().build_table(tmp_path)


def test_every_link_pattern_and_op_is_present(graph):
    df = graph.records()
    assert set(df["link"]) == {"".join(map(str, link)) for link in nbg.LINKS}
    seen = set(itertools.chain.from_iterable(ops.split(",") for ops in df["ops"]))
    assert seen == set(nbg.OPS)
