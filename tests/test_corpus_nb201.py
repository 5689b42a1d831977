"""nb201 corpus: real counts, identities between sources, official NATS/NB201 formats, bad input."""

from __future__ import annotations

import bz2
import json
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from nabench.corpora.cards import check_card
from nabench.corpora.columns import parse_name
from nabench.corpora.importers import nb201 as imp
from nabench.errors import SourceError
from nabench.formats import nats
from nabench.spaces import nb201
from nabench.spaces.nb201_prune import is_pruned, prune, pruned_cells

N = 15625
#: String edge k is NASLib tuple position PERM[k].
PERM = [0, 1, 3, 2, 4, 5]
TUPLE_AND_STRING = {  # files that carry both encodings: (tuple column, string column)
    "nb201/hw_nas_bench_cifar10.csv": ("net", "arch_str"),
    "nb201/hw_nas_bench_cifar100.csv": ("net", "arch_str"),
    "nb201/hw_nas_bench_ImageNet16-120.csv": ("net", "arch_str"),
    "nb201/naslib_val_acc_zen.csv": ("arch", "arch_str"),
    "nb201/robustness_cifar10.csv": ("net", "arch_str"),
    "nb201/zc_proxies_cifar10.csv": ("net", "net_str"),
    "nb201/zc_valid_nets_ImageNet16-120.csv": ("net", "net_str"),
}


@pytest.fixture(scope="module")
def nb(corpus):
    return corpus("nb201")


@pytest.fixture(scope="module")
def df(nb):
    return nb.records()


@pytest.fixture(scope="module")
def raw(data_root):
    """The upstream CSVs, read plainly (independently of the importer)."""
    cache: dict[str, pd.DataFrame] = {}

    def get(rel: str) -> pd.DataFrame:
        if rel not in cache:
            cache[rel] = pd.read_csv(data_root / rel)
        return cache[rel]

    return get


def to_str(t: str) -> str:
    return nb201.from_naslib(nb201.parse_tuple_text(t))


def naslib(raw, dataset: str) -> pd.DataFrame:
    v = raw("nb201/naslib_val_acc_zen.csv")
    return v[v["dataset"] == dataset].set_index("arch_str")


# ---- the built corpus --------------------------------------------------------------------------


def test_rows_keys_and_spec_columns(nb, df, raw):
    assert len(df) == N and df["native_id"].is_unique
    assert nb.manifest["source_format"].startswith("CSV snapshot")
    assert set(df["native_id"]) == set(nb201.all_cells())
    assert (df["nats_index"].to_numpy() == np.arange(N)).all()
    assert (df["native_id"] == raw("nb201/nats_test_acc_200ep.csv")["ArchitectureString"]).all()
    for s, t in zip(df["native_id"], df["naslib_tuple"]):
        assert nb201.to_naslib(s) == nb201.parse_tuple_text(t) and to_str(t) == s
    assert df["unique_str"].nunique() == 6466
    # nabench's port of NATS's to_unique_str(consider_zero=True) reproduces every published string
    assert [nats.unique_str(s) for s in df["native_id"]] == list(df["unique_str"])


def test_column_names_follow_the_rule_and_select_uniquely(nb, df):
    measured = [c for c in nb.columns if c.kind in ("label", "hardware", "proxy")]
    assert len(measured) == len({c.name for c in measured})
    for c in measured:
        parts = parse_name(c.name)
        assert parts["dataset"] == c.dataset
    assert len(nb.labels(dataset="cifar10", split="test", metric="acc", fidelity="200ep")) == N
    assert len(nb.labels(dataset="cifar10-valid", split="valid", fidelity="12ep")) == N
    assert len(nb.labels("cifar10-valid__test_acc__200ep-1seed")) == N
    assert len(nb.labels(device="eagle-tpu")) == 1999
    kinds = {c.kind for c in nb.columns}
    assert kinds == {"spec", "label", "hardware", "proxy", "info"}
    # no upstream sentinel survives: -1 latencies, -1e8 failed proxies, -inf scores
    values = df.select_dtypes("float64")
    assert not np.isinf(values.to_numpy()).any()
    hw = [c.name for c in nb.columns if c.kind == "hardware"]
    assert (df[hw].min() > 0).all()
    proxies = [c.name for c in nb.columns if c.kind == "proxy"]
    assert (df[proxies].min() > imp.NASLIB_FAILED).all()


def test_counts_per_source(nb, df):
    nn = df.notna().sum()
    assert nn["cifar10__latency_ms__edgetpu"] == N - 4699
    assert nn["imagenet16-120__latency_ms__edgetpu"] == N - 4699
    assert nn["cifar10__zc_synflow"] == nn["imagenet16-120__zc_snip"] == 9445
    assert nn["cifar10__zc_jacov"] == 9444  # one -1e8 'failed' marker -> NaN
    assert nn["cifar10__zc_zen"] == nn["imagenet16-120__zc_zen"] == N - 341
    # zen's -1e8 'failed' marker (now NaN) is exactly on the cells with no input->output path
    no_path = {c for c in nb201.all_cells() if prune(c) == nb201.to_str(["none"] * 6)}
    assert set(df.loc[df["cifar100__zc_zen"].isna(), "native_id"]) == no_path
    assert nn["cifar10__zc_snip_naslib-json"] == 725 and nn["imagenet16-120__zc_snip_naslib-json"] == 724
    assert nn["cifar10__zc_synflow_naslib-json"] == 724  # absent for (3, 2, 4, 0, 4, 4)
    assert nn["cifar10__zc_nwot_naslib-json"] == 724  # -inf -> NaN
    assert nn["cifar100__zc_params"] == 725
    assert nn["ninapro__valid_acc__final-1seed"] == nn["svhn__zc_zen"] + 2 == 199
    assert (df["ta_gates_split"] == "train").sum() == 4675 and (df["ta_gates_split"] == "test").sum() == 4770
    assert set(df.loc[df["ta_gates_split"].notna(), "native_id"]) == pruned_cells()
    rob = [c.name for c in nb.columns if c.split and c.split.startswith("test-")]
    assert len(rob) == 32 and (nn[rob] == N).all()
    help_dev = [c for c in nb.columns if c.kind == "hardware" and c.source.startswith("latency/nb201")]
    assert len(help_dev) == 23  # 27 HELP settings minus the 4 copied from HW-NAS-Bench


def test_cells_sharing_an_isomorphism_class_share_robustness_values(df):
    cols = [c for c in df.columns if "-eps" in c]
    assert df.groupby("unique_str")[cols].nunique().max().max() == 1
    # stronger attacks hurt more
    fgsm = [df[f"cifar10__test-fgsm-eps{e}_acc__200ep-1seed"].mean() for e in ("0.1", "1", "8")]
    assert fgsm[0] > fgsm[1] > fgsm[2]


def test_card_agrees(nb):
    assert check_card(nb) == []


# ---- identities between the upstream sources -------------------------------------------------------


def test_naslib_tuple_conversion_on_every_row_with_both_encodings(raw):
    for rel, (tcol, scol) in TUPLE_AND_STRING.items():
        d = raw(rel)
        for t, s in zip(d[tcol], d[scol]):
            idx = nb201.parse_tuple_text(t)
            ops = nb201.parse(s)
            assert to_str(t) == s, rel
            assert all(ops[k] == nb201.NASLIB_OPS[idx[PERM[k]]] for k in range(6)), rel


def test_sources_join_one_to_one_on_the_string(raw, data_root):
    cells = set(nb201.all_cells())
    for rel, col in [("nb201/nats_test_acc_200ep.csv", "ArchitectureString"),
                     ("nb201/nats_test_acc_12ep_200ep.csv", "ArchitectureString"),
                     ("nb201/mini_nasbench201_12ep.csv", "cellstr"),
                     ("latency/nb201_latency_ms_27devices.csv", "arch_str"),
                     ("nb201/robustness_cifar10.csv", "arch_str")]:
        s = raw(rel)[col]
        assert len(s) == N and s.is_unique and set(s) == cells, rel
    v = raw("nb201/naslib_val_acc_zen.csv")
    assert v.groupby("dataset")["arch_str"].agg(["size", "nunique"]).eq(N).all().all()
    z = {rel: [to_str(t) for t in raw(rel)["net"]] for rel in
         ("nb201/zc_proxies_cifar10.csv", "nb201/zc_proxies_ImageNet16-120.csv",
          "nb201/zc_valid_nets_cifar10.csv", "nb201/zc_valid_nets_ImageNet16-120.csv")}
    for rel, keys in z.items():
        assert len(keys) == len(set(keys)) == 9445 and set(keys) == pruned_cells(), rel
    tr = [to_str(t) for t in raw("nb201/ta_gates_split_train.csv")["net"]]
    te = [to_str(t) for t in raw("nb201/ta_gates_split_test.csv")["net"]]
    assert (len(set(tr)), len(set(te))) == (4675, 4770) and not set(tr) & set(te)
    assert set(tr) | set(te) == pruned_cells()
    o = raw("latency/oneproxy_nb201_1999archs_18devices.csv")
    assert len(o) == 1999 and o["arch_str"].is_unique
    js = json.loads((data_root / imp.JSON_FILE).read_text())
    assert {k: len(v) for k, v in js.items()} == {"cifar10": 725, "cifar100": 725, "ImageNet16-120": 724}
    n = raw(imp.NINAPRO_FILE)
    n = n[n["search_space"] == "nasbench201"]
    assert n.groupby("dataset")["arch"].agg(["size", "nunique"]).eq(199).all().all()


def test_nats_ordered_files_share_the_nats_index(raw):
    base = raw("nb201/nats_test_acc_200ep.csv")["ArchitectureString"]
    assert (raw("nb201/nats_test_acc_12ep_200ep.csv")["ArchitectureString"] == base).all()
    mini = raw("nb201/mini_nasbench201_12ep.csv")
    assert (mini["cellstr"] == base).all() and (mini["arch"] == np.arange(N)).all()
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        assert (raw(f"nb201/hw_nas_bench_{ds}.csv")["arch_str"] == base).all()
    help201 = raw("latency/nb201_latency_ms_27devices.csv")
    assert (help201["arch_str"] == base).all() and (help201["arch_idx"] == np.arange(N)).all()
    o = raw("latency/oneproxy_nb201_1999archs_18devices.csv")
    assert (base.to_numpy()[o["nb201_idx"]] == o["arch_str"].to_numpy()).all()


def test_12_epoch_columns_equal_mini_nasbench201(raw):
    a, m = raw("nb201/nats_test_acc_12ep_200ep.csv"), raw("nb201/mini_nasbench201_12ep.csv")
    for col, mc in (("Cifar10TestAccuracy12Epochs", "cifar10-test"), ("Cifar100TestAccuracy12Epochs", "cifar100-test"),
                    ("ImageNet16TestAccuracy12Epochs", "imagenet-test")):
        assert np.abs(a[col] - m[mc]).max() < 1e-9


def test_single_seed_200ep_is_not_the_mean(df):
    d = (df["cifar10__test_acc__200ep-1seed"] - df["cifar10__test_acc__200ep"]).abs()
    assert d.max() > 1 and d.median() < 0.5  # same quantity, one seed instead of the mean


def test_naslib_val_equals_robustness_and_zc_valid_nets(raw):
    c10 = naslib(raw, "cifar10")["val_accuracy"]
    r = raw("nb201/robustness_cifar10.csv")
    assert np.abs(r["val_accs"].to_numpy() - c10.reindex(r["arch_str"]).to_numpy()).max() == 0
    for ds in ("cifar10", "ImageNet16-120"):
        vn = raw(f"nb201/zc_valid_nets_{ds}.csv")
        keys = [to_str(t) for t in vn["net"]]
        assert np.abs(vn["val_accs"].to_numpy() - naslib(raw, ds)["val_accuracy"].reindex(keys).to_numpy()).max() == 0


def test_zc_valid_nets_proxies_equal_zc_proxies_and_zen_equals_naslib(raw):
    z, vn = raw("nb201/zc_proxies_cifar10.csv"), raw("nb201/zc_valid_nets_cifar10.csv")
    assert (z["net"] == vn["net"]).all()
    for p in imp.PROXIES:
        assert (z[p] == vn[p]).all(), p
    for ds in ("cifar10", "ImageNet16-120"):
        z = raw(f"nb201/zc_proxies_{ds}.csv")
        keys = [to_str(t) for t in z["net"]]
        assert (z["zen"].to_numpy() == naslib(raw, ds)["zen"].reindex(keys).to_numpy()).all()


def test_help_and_oneproxy_copy_hw_nas_bench_cifar10(raw):
    hw = raw("nb201/hw_nas_bench_cifar10.csv")
    help201 = raw("latency/nb201_latency_ms_27devices.csv")
    for dev in ("eyeriss", "fpga", "pixel3", "raspi4"):
        assert (help201[dev] == hw[f"{dev}_latency"]).all(), dev
    # ... and not the CIFAR-100 ones: HELP's NB201 networks are the CIFAR-10 (32x32, 10-class) ones
    assert not (help201["pixel3"] == raw("nb201/hw_nas_bench_cifar100.csv")["pixel3_latency"]).all()
    o = raw("latency/oneproxy_nb201_1999archs_18devices.csv")
    h = hw.set_index("arch_str").loc[o["arch_str"]]
    for dev in ("edgegpu", "edgetpu", "eyeriss", "fpga", "pixel3", "raspi4"):
        assert (o[f"rice_{dev}"].to_numpy() == h[f"{dev}_latency"].to_numpy()).all(), dev
    assert (o["rice_edgetpu"] == -1).sum() == 259


def test_edgetpu_sentinel_is_the_same_cells_in_all_datasets(raw):
    sets = [set(raw(f"nb201/hw_nas_bench_{ds}.csv").query("edgetpu_latency == -1")["arch_str"])
            for ds in ("cifar10", "cifar100", "ImageNet16-120")]
    assert len(sets[0]) == 4699 and sets[0] == sets[1] == sets[2]


def test_suite_zero_json_against_the_csvs(data_root, raw):
    js = json.loads((data_root / imp.JSON_FILE).read_text())
    for ds, recs in js.items():
        v = naslib(raw, ds)["val_accuracy"]
        assert all(r["val_accuracy"] == v[to_str(k)] for k, r in recs.items())
        assert all(r["params"]["score"] == pytest.approx(imp.n_params(to_str(k), imp.DATASETS[ds]) / 1e6, abs=1e-12)
                   for k, r in recs.items())
    for ds in ("cifar10", "ImageNet16-120"):
        z = raw(f"nb201/zc_proxies_{ds}.csv")
        z.index = [to_str(t) for t in z["net"]]
        common = [k for k in js[ds] if to_str(k) in z.index]
        assert len(common) == 447
        for p in ("flops", "params"):
            assert all(js[ds][k][p]["score"] == z.loc[to_str(k), p] for k in common)
        for p in imp.JSON_RECOMPUTED:  # recomputed: never equal
            same = [js[ds][k][p]["score"] == z.loc[to_str(k), p] for k in common if p in js[ds][k]]
            assert not any(same), p
    assert "synflow" not in js["cifar10"]["(3, 2, 4, 0, 4, 4)"]


def test_pruned_cells_are_the_suite_zero_set():
    cells = pruned_cells()
    assert len(cells) == 9445
    for c in nb201.all_cells():
        p = prune(c)
        assert prune(p) == p and is_pruned(p)
    assert prune("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|") == nb201.to_str(["none"] * 6)
    # nodes 1 and 2 do not reach the output: the edges into them are dead, 0->3 stays
    assert prune("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|") == \
        "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    # node 1 is not reachable from the input: its outgoing conv is dead
    assert prune("|none~0|+|skip_connect~0|nor_conv_3x3~1|+|none~0|none~1|skip_connect~2|") == \
        "|none~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|"


def test_parameter_count_and_flops_relations(raw):
    z10, zin = raw("nb201/zc_proxies_cifar10.csv"), raw("nb201/zc_proxies_ImageNet16-120.csv")
    keys = [to_str(t) for t in z10["net"]]
    assert np.abs(np.array([imp.n_params(s, "cifar10") for s in keys]) / 1e6 - z10["params"]).max() < 1e-12
    assert np.abs(np.array([imp.n_params(s, "imagenet16-120") for s in keys]) / 1e6 - zin["params"]).max() < 1e-12
    assert np.abs(zin["params"] - z10["params"] - 0.00715).max() < 1e-12  # 64*110+110 more classifier weights
    assert np.abs(z10["flops"] - (4 * zin["flops"] - 0.031296)).max() < 1e-9  # 32x32 vs 16x16 input
    assert imp.n_params(nb201.to_str(["nor_conv_3x3"] * 6), "cifar10") == 1531546  # NB201's largest cell


def test_naslib_cifar10_val_ranks_like_the_nats_test_mean(df, raw):
    rho = spearmanr(df["cifar10__test_acc__200ep"], df["cifar10-valid__test_acc__200ep-1seed"]).statistic
    assert rho > 0.95
    single = spearmanr(df["cifar10__test_acc__200ep-1seed"], df["cifar10-valid__test_acc__200ep-1seed"]).statistic
    assert single == pytest.approx(0.977, abs=0.005)
    # the TA-GATES split values are CIFAR-10 test accuracy (0-1) of an older release: close, not equal
    ta = pd.concat([raw("nb201/ta_gates_split_train.csv"), raw("nb201/ta_gates_split_test.csv")])
    mean = df.set_index("native_id")["cifar10__test_acc__200ep"].reindex([to_str(t) for t in ta["net"]]) / 100
    d = np.abs(mean.to_numpy() - ta["val_accs"].to_numpy())
    assert np.median(d) < 1e-9 and 0 < d.max() < 0.05


# ---- official NATS-Bench / NAS-Bench-201 formats ------------------------------------------------

DS_EVALS = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
            "cifar100": ("x-valid", "x-test", "ori-test"), "ImageNet16-120": ("x-valid", "x-test", "ori-test")}
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
SEEDS = {"12": (111, 777), "200": (777, 888, 999)}


def acc(index: int, ds: str, evalset: str, seed: int, epochs: int) -> float:
    """A deterministic fake accuracy, different for every seed."""
    return 50 + (index % 7) + 3 * list(DS_EVALS).index(ds) + len(evalset) / 10 + seed / 1000 + epochs / 100


def results_count(index, arch, ds, seed, epochs, weights=None) -> dict:
    last = epochs - 1
    evals = DS_EVALS[ds]
    return {
        "name": f"{ds}-{seed}", "dataset": ds, "seed": seed, "epochs": epochs,
        "net_state_dict": weights,
        "train_acc1es": {e: 10.0 + e for e in range(epochs)}, "train_acc5es": {e: 20.0 + e for e in range(epochs)},
        "train_losses": {e: 2.0 - e / epochs for e in range(epochs)}, "train_times": {e: 1.5 for e in range(epochs)},
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": CLASSES[ds]},
        "params": imp.n_params(arch, imp.DATASETS.get(ds, "cifar10")) / 1e6, "flop": 10.0 + index + seed / 1e4,
        "latency": [0.01, 0.011], "eval_names": list(evals),
        "eval_acc1es": {f"{n}@{e}": (acc(index, ds, n, seed, epochs) if e == last else 1.0) for n in evals for e in (0, last)},
        "eval_losses": {f"{n}@{last}": 1.0 for n in evals}, "eval_times": {f"{n}@{last}": 0.5 for n in evals},
    }


def arch_results(index, arch, hp, weights=None) -> dict:
    epochs = nats.HP_EPOCHS[hp]
    seeds = SEEDS[hp]
    return {
        "arch_index": index, "arch_str": arch, "clear_net_done": weights is None,
        "dataset_seed": {ds: list(seeds) for ds in DS_EVALS},
        "all_results": {(ds, s): results_count(index, arch, ds, s, epochs, weights) for ds in DS_EVALS for s in seeds},
    }


def expected(index, ds, evalset, hp) -> float:
    return float(np.mean([acc(index, ds, evalset, s, nats.HP_EPOCHS[hp]) for s in SEEDS[hp]]))


def write_pbz2(path: Path, obj) -> None:
    path.write_bytes(bz2.compress(pickle.dumps(obj, protocol=4)))


@pytest.fixture(scope="module")
def meta_archs(raw):
    return list(raw("nb201/nats_test_acc_200ep.csv")["ArchitectureString"])


PICKED = (0, 1, 15624)


@pytest.fixture
def simple_folder(tmp_path, meta_archs):
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    write_pbz2(folder / "meta.pickle.pbz2", {"meta_archs": meta_archs, "total_archs": len(meta_archs),
                                            "arch2infos": None, "evaluated_indexes": set()})
    for i in PICKED:
        write_pbz2(folder / f"{i:06d}.pickle.pbz2",
                   OrderedDict((hp, arch_results(i, meta_archs[i], hp)) for hp in ("12", "200")))
    return folder


def check_official_table(table, df_real):
    f = table.frame
    assert list(f["nats_index"]) == list(PICKED)
    real = df_real.set_index("nats_index").loc[list(PICKED)]
    assert list(f["native_id"]) == list(real["native_id"])
    assert list(f["unique_str"]) == list(real["unique_str"]) and list(f["naslib_tuple"]) == list(real["naslib_tuple"])
    for k, i in enumerate(PICKED):
        row = f.iloc[k]
        for hp in ("12", "200"):
            e = nats.HP_EPOCHS[hp]
            assert row[f"cifar10__test_acc__{e}ep"] == pytest.approx(expected(i, "cifar10", "ori-test", hp), abs=1e-12)
            assert row[f"cifar10-valid__valid_acc__{e}ep"] == pytest.approx(expected(i, "cifar10-valid", "x-valid", hp), abs=1e-12)
            assert row[f"cifar10-valid__test_acc__{e}ep"] == pytest.approx(expected(i, "cifar10-valid", "ori-test", hp), abs=1e-12)
            for ds, name in (("cifar100", "cifar100"), ("ImageNet16-120", "imagenet16-120")):
                assert row[f"{name}__valid_acc__{e}ep"] == pytest.approx(expected(i, ds, "x-valid", hp), abs=1e-12)
                assert row[f"{name}__test_acc__{e}ep"] == pytest.approx(expected(i, ds, "x-test", hp), abs=1e-12)
        assert row["cifar10__n_params_m"] == real["cifar10__n_params_m"].iloc[k]
        assert row["imagenet16-120__n_params_m"] == real["imagenet16-120__n_params_m"].iloc[k]
        assert row["cifar10__flops_m"] == pytest.approx(10.0 + i + np.mean(SEEDS["200"]) / 1e4)
    # the same names as the CSV snapshot for the quantities they share
    shared = {c.name for c in table.columns} & set(df_real.columns)
    assert {"cifar10__test_acc__200ep", "cifar10__test_acc__12ep", "cifar10-valid__valid_acc__12ep",
            "imagenet16-120__valid_acc__12ep", "cifar10__n_params_m", "nats_index", "unique_str"} <= shared


def test_nats_simple_folder(simple_folder, df):
    importer = imp.NB201Importer()
    assert importer.locate(simple_folder.parent) == ("nats-simple", simple_folder)
    table = importer.build_table(simple_folder)
    assert table.source_format.startswith("NATS-Bench tss per-architecture folder")
    check_official_table(table, df)
    assert list(table.source_files) == ["NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2"]


def test_nats_single_file_with_weights(tmp_path, meta_archs, df):
    torch = pytest.importorskip("torch")
    weights = OrderedDict(w=torch.zeros(3), b=torch.ones(2))  # full files keep tensors: replaced by stubs
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    infos = {i: OrderedDict((hp, arch_results(i, meta_archs[i], hp, weights)) for hp in ("12", "200")) for i in PICKED}
    write_pbz2(path, {"meta_archs": meta_archs, "total_archs": len(meta_archs), "arch2infos": infos,
                      "evaluated_indexes": set(PICKED)})
    table = imp.NB201Importer().build_table(path)
    assert table.source_format.startswith("NATS-Bench tss single file")
    check_official_table(table, df)
    assert imp.NB201Importer().locate(tmp_path) == ("nats-file", path)


def test_nas_bench_201_pth(tmp_path, meta_archs, df):
    torch = pytest.importorskip("torch")
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    infos = {i: {"less": arch_results(i, meta_archs[i], "12"), "full": arch_results(i, meta_archs[i], "200")} for i in PICKED}
    torch.save({"meta_archs": meta_archs, "total_archs": len(meta_archs), "arch2infos": infos,
                "evaluated_indexes": set(PICKED)}, path)
    table = imp.NB201Importer().build_table(path)
    assert table.source_format.startswith("NAS-Bench-201 torch file")
    check_official_table(table, df)


def test_official_build_end_to_end(simple_folder, fresh_home):
    from nabench import corpora

    c = corpora.build("nb201", source=simple_folder)
    assert c.summary()["records"] == 3 and c.manifest["source_format"].startswith("NATS-Bench")
    assert len(c.labels("cifar10__test_acc__200ep")) == 3


def test_corrupted_official_files_name_the_file(simple_folder, tmp_path, meta_archs):
    importer = imp.NB201Importer()
    bad = simple_folder / "000001.pickle.pbz2"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    with pytest.raises(SourceError, match="000001.pickle.pbz2"):
        importer.build_table(simple_folder)
    bad.write_bytes(b"this is not bz2")
    with pytest.raises(SourceError, match="000001.pickle.pbz2"):
        importer.build_table(simple_folder)
    (simple_folder / "meta.pickle.pbz2").write_bytes(bz2.compress(b"garbage"))
    with pytest.raises(SourceError, match="meta.pickle.pbz2"):
        importer.build_table(simple_folder)
    pth = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    pth.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(SourceError, match="NAS-Bench-201-v1_0-e61699.pth"):
        importer.build_table(pth)


def test_official_pickles_run_no_code(tmp_path, meta_archs):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    write_pbz2(path, {"meta_archs": meta_archs, "total_archs": len(meta_archs), "arch2infos": {0: Evil()}})
    with pytest.raises(SourceError, match="refusing to load global builtins.print"):
        imp.NB201Importer().build_table(path)


def test_official_records_are_checked(tmp_path, meta_archs):
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    meta_archs = meta_archs[:10]  # a short meta list keeps this test fast

    def build(infos):
        write_pbz2(path, {"meta_archs": meta_archs, "total_archs": len(meta_archs), "arch2infos": infos})
        return imp.NB201Importer().build_table(path)

    wrong = arch_results(5, meta_archs[6], "200")
    with pytest.raises(SourceError, match="arch_str"):
        build({5: OrderedDict({"200": wrong})})
    with pytest.raises(SourceError, match="unknown hyper-parameter key '90'"):
        build({5: OrderedDict({"90": arch_results(5, meta_archs[5], "200")})})
    missing = arch_results(5, meta_archs[5], "200")
    del missing["all_results"][("cifar100", 888)]
    with pytest.raises(SourceError, match=r"no ResultsCount for \('cifar100', 888\)"):
        build({5: OrderedDict({"200": missing})})
    no_eval = arch_results(5, meta_archs[5], "200")
    del no_eval["all_results"][("cifar10", 777)]["eval_acc1es"]["ori-test@199"]
    with pytest.raises(SourceError, match="ori-test@199"):
        build({5: OrderedDict({"200": no_eval})})
    # only the 200-epoch schedule present: no 12-epoch columns, no crash
    table = build({5: OrderedDict({"200": arch_results(5, meta_archs[5], "200")})})
    assert "cifar10__test_acc__200ep" in table.frame and "cifar10__test_acc__12ep" not in table.frame


# ---- bad input (copies in tmp_path; the shared data is never touched) ------------------------------


def _tree(data_root: Path, tmp_path: Path) -> Path:
    """A data root made of symlinks to the real files; tests replace one of them with a bad copy."""
    root = tmp_path / "data"
    for sub in ("nb201", "latency", "naslib_zc_suite"):
        (root / sub).mkdir(parents=True)
        for f in (data_root / sub).iterdir():
            if f.is_file():
                (root / sub / f.name).symlink_to(f)
    return root


def _replace(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.unlink()
    path.write_text(text)
    return path


def _read(data_root: Path, rel: str) -> str:
    return (data_root / rel).read_text()


def test_missing_file(data_root, tmp_path):
    root = _tree(data_root, tmp_path)
    (root / "nb201/mini_nasbench201_12ep.csv").unlink()
    with pytest.raises(SourceError, match="mini_nasbench201_12ep.csv: file not found"):
        imp.NB201Importer().build_table(root)
    (root / imp.NATS_CSV).unlink()
    with pytest.raises(SourceError, match="nats_test_acc_200ep.csv: file not found"):
        imp.NB201Importer().build_table(root)


def test_renamed_and_unknown_columns(data_root, tmp_path):
    root = _tree(data_root, tmp_path)
    text = _read(data_root, "nb201/hw_nas_bench_cifar100.csv")
    _replace(root, "nb201/hw_nas_bench_cifar100.csv", text.replace("edgetpu_latency", "tpu_latency", 1))
    with pytest.raises(SourceError, match=r"hw_nas_bench_cifar100.csv: missing column\(s\) \['edgetpu_latency'\]"):
        imp.NB201Importer().build_table(root)
    text = _read(data_root, imp.NATS_CSV)
    lines = text.splitlines(keepends=True)
    lines = [lines[0].rstrip("\n") + ",Extra\n"] + [ln.rstrip("\n") + ",1\n" for ln in lines[1:]]
    _replace(root, imp.NATS_CSV, "".join(lines))
    with pytest.raises(SourceError, match=r"nats_test_acc_200ep.csv: unknown column\(s\) \['Extra'\]"):
        imp.NB201Importer().build_table(root)


def test_truncated_csv(data_root, tmp_path):
    root = _tree(data_root, tmp_path)
    text = _read(data_root, "nb201/naslib_val_acc_zen.csv")
    _replace(root, "nb201/naslib_val_acc_zen.csv", text[: len(text) // 2])
    with pytest.raises(SourceError, match="naslib_val_acc_zen.csv"):
        imp.NB201Importer().build_table(root)


def test_duplicate_cell(data_root, tmp_path):
    root = _tree(data_root, tmp_path)
    lines = _read(data_root, "latency/oneproxy_nb201_1999archs_18devices.csv").splitlines(keepends=True)
    lines[2] = lines[1]
    _replace(root, "latency/oneproxy_nb201_1999archs_18devices.csv", "".join(lines))
    with pytest.raises(SourceError, match="oneproxy_nb201_1999archs_18devices.csv: duplicate architecture"):
        imp.NB201Importer().build_table(root)


def test_disagreeing_copy_and_wrong_order(data_root, tmp_path):
    root = _tree(data_root, tmp_path)
    d = pd.read_csv(data_root / "latency/nb201_latency_ms_27devices.csv")
    d.loc[7, "pixel3"] += 1.0
    _replace(root, "latency/nb201_latency_ms_27devices.csv", d.to_csv(index=False))
    with pytest.raises(SourceError, match="nb201_latency_ms_27devices.csv: line 9: pixel3 differs from HW-NAS-Bench"):
        imp.NB201Importer().build_table(root)
    lines = _read(data_root, "nb201/mini_nasbench201_12ep.csv").splitlines(keepends=True)
    lines[1], lines[2] = lines[2], lines[1]
    _replace(root, "nb201/mini_nasbench201_12ep.csv", "".join(lines))
    with pytest.raises(SourceError, match="mini_nasbench201_12ep.csv: line 2: cellstr .* NATS-Bench index order"):
        imp.NB201Importer().build_table(root)


def test_unrecognised_source(tmp_path):
    (tmp_path / "something.txt").write_text("x")
    with pytest.raises(SourceError, match="no NB201 data found"):
        imp.NB201Importer().build_table(tmp_path)

