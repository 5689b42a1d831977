"""EC-NAS-Bench raw 4-epoch runs: counts, NB101 identities, aggregation over repeats, bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from scipy.stats import spearmanr

from nabench.corpora.cards import check_card
from nabench.corpora.importers import ecnas
from nabench.errors import SourceError
from nabench.spaces import nb101

TEST_ACC = "cifar10__test_acc__4ep"
ENERGY = "cifar10__train_energy_kwh_4ep__quadro-rtx-6000"


@pytest.fixture(scope="module")
def ec(corpus):
    return corpus("ec-nas")


@pytest.fixture(scope="module")
def raw(data_root):
    return pd.read_csv(data_root / ecnas.SUBDIR / ecnas.CSV_NAME)


def test_counts(ec, raw):
    df = ec.records()
    assert len(raw) == 2805 and len(df) == 2623
    by_space = df.groupby("ecnas_space")["n_repeats"].agg(["size", "min", "max"])
    assert by_space.loc["4V9E"].tolist() == [91, 3, 3]
    assert by_space.loc["5V9E"].tolist() == [2532, 1, 1]
    assert df["n_repeats"].sum() == len(raw)
    assert df["n_vertices"].max() == 5 and df.loc[df["ecnas_space"] == "4V9E", "n_vertices"].max() == 4
    assert df[[c.name for c in ec.columns if c.kind in ("label", "hardware")]].notna().all().all()


def test_params_agree_across_repeats_and_spaces(ec, raw):
    assert (raw.groupby(["space", "hash"])["trainable_params"].nunique() == 1).all()
    df = ec.records()
    four = df[df["ecnas_space"] == "4V9E"].set_index("nb101_hash")
    five = df[df["ecnas_space"] == "5V9E"].set_index("nb101_hash")
    shared = four.index.intersection(five.index)
    assert len(shared) == 91  # every 4-vertex cell is also in the 5-vertex space ...
    assert (four.loc[shared, "trainable_params"] == five.loc[shared, "trainable_params"]).all()  # same network
    assert (four.loc[shared, "matrix"] == five.loc[shared, "matrix"]).all()
    assert (four.loc[shared, TEST_ACC] != five.loc[shared, TEST_ACC]).all()  # ... but trained again


def test_hash_is_nasbench101s(ec):
    """The hash column is graph_util.hash_module of (matrix, ops) for every cell."""
    for m, o, h in ec.records()[["matrix", "ops", "nb101_hash"]].itertuples(index=False):
        assert nb101.hash_graph(json.loads(m), json.loads(o)) == h
    # isomorphic relabelling gives the same hash; another op does not
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert nb101.hash_graph(m, [-1, 0, 2, -2]) == nb101.hash_graph(m, [-1, 2, 0, -2])
    assert nb101.hash_graph(m, [-1, 0, 2, -2]) != nb101.hash_graph(m, [-1, 1, 2, -2])


def test_labels_are_means_over_repeats(ec, raw):
    df = ec.records().set_index("native_id")
    h = "001a6fcc8b38cbc515be788a86bdc804"
    runs = raw[(raw["space"] == "4V9E") & (raw["hash"] == h)]
    assert len(runs) == 3
    row = df.loc[f"4V9E/{h}"]
    assert row[TEST_ACC] == pytest.approx(runs["test_acc"].mean(), rel=1e-15)
    assert row["cifar10__valid_acc__4ep"] == pytest.approx(runs["val_acc"].mean(), rel=1e-15)
    assert row[ENERGY] == pytest.approx(runs["energy_kWh_at_epochs"].mean(), rel=1e-15)
    assert row["matrix"] == "[[0,1,1,0],[0,0,1,0],[0,0,0,1],[0,0,0,0]]" and row["ops"] == "[-1,2,2,-2]"


def test_graph_enumerations_match_the_runs(ec, data_root):
    df = ec.records()
    for space in ecnas.SPACES:
        graphs = json.loads((data_root / ecnas.SUBDIR / f"gg_{space}.json").read_text())
        sub = df[df["ecnas_space"] == space].set_index("nb101_hash")
        assert set(graphs) == set(sub.index)
        h, (m, o) = next(iter(graphs.items()))
        assert sub.loc[h, "matrix"] == ecnas.canonical(m) and sub.loc[h, "ops"] == ecnas.canonical(o)


def test_energy_behaves_like_a_measurement(ec):
    df = ec.records()
    assert 0 < df[TEST_ACC].min() and df[TEST_ACC].max() < 1  # fractions
    assert spearmanr(df[ENERGY], df["cifar10__train_time_s_4ep__quadro-rtx-6000"]).statistic > 0.9
    assert spearmanr(df["trainable_params"], df[ENERGY]).statistic > 0.5
    assert (df["cifar10__total_energy_kwh__quadro-rtx-6000"] > df[ENERGY]).all()


def test_card_agrees(ec):
    assert check_card(ec) == []


# ---- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def copy(data_root, tmp_path):
    folder = tmp_path / ecnas.SUBDIR
    folder.mkdir()
    for name in (ecnas.CSV_NAME, "gg_4V9E.json", "gg_5V9E.json"):
        (folder / name).write_bytes((data_root / ecnas.SUBDIR / name).read_bytes())
    return folder


def _edit_csv(folder, fn):
    path = folder / ecnas.CSV_NAME
    df = pd.read_csv(path)
    fn(df)
    df.to_csv(path, index=False)


def test_missing_file_and_wrong_header(copy, tmp_path):
    (copy / "gg_5V9E.json").unlink()
    with pytest.raises(SourceError, match="gg_5V9E.json: file not found"):
        ecnas.ECNASImporter().build_table(tmp_path)
    path = copy / ecnas.CSV_NAME
    path.write_text(path.read_text().replace("total_co2eq_g", "co2_g", 1))
    with pytest.raises(SourceError, match=r"missing column\(s\) \['total_co2eq_g'\]"):
        ecnas.ECNASImporter().build_table(tmp_path)


def test_truncated_csv(copy, tmp_path):
    path = copy / ecnas.CSV_NAME
    data = path.read_bytes()
    path.write_bytes(data[:-200])
    with pytest.raises(SourceError, match="ecnas_raw_4epoch_runs.csv: (expected 2805 rows|file does not end)"):
        ecnas.ECNASImporter().build_table(tmp_path)


def test_duplicate_run(copy, tmp_path):
    _edit_csv(copy, lambda df: df.iloc.__setitem__(1, df.iloc[0]))
    with pytest.raises(SourceError, match="duplicate run 4V9E/001a6fcc8b38cbc515be788a86bdc804/repeat_1"):
        ecnas.ECNASImporter().build_table(tmp_path)


def test_hash_mismatch_and_params_disagreement(copy, tmp_path):
    original = (copy / ecnas.CSV_NAME).read_bytes()
    _edit_csv(copy, lambda df: df.__setitem__("ops", df["ops"].where(df.index != 0, "[-1, 0, 2, -2]")))
    with pytest.raises(SourceError, match="line 2: hash 001a6fcc8b38cbc515be788a86bdc804 does not match"):
        ecnas.ECNASImporter().build_table(tmp_path)
    (copy / ecnas.CSV_NAME).write_bytes(original)
    _edit_csv(copy, lambda df: df.__setitem__("trainable_params", df["trainable_params"].where(df.index != 1, 1)))
    with pytest.raises(SourceError, match="4V9E/001a6fcc8b38cbc515be788a86bdc804: trainable_params differs between repeats"):
        ecnas.ECNASImporter().build_table(tmp_path)


def test_enumeration_disagreement(copy, tmp_path):
    path = copy / "gg_4V9E.json"
    graphs = json.loads(path.read_text())
    graphs.pop(next(iter(graphs)))
    path.write_text(json.dumps(graphs))
    with pytest.raises(SourceError, match="gg_4V9E.json: 0 enumerated cell.* and 1 trained cell"):
        ecnas.ECNASImporter().build_table(tmp_path)
    path.write_text('{"001a6fcc8b38cbc515be788a86bdc804": [[[0, 1')
    with pytest.raises(SourceError, match="gg_4V9E.json: not valid JSON"):
        ecnas.ECNASImporter().build_table(tmp_path)
