"""NAS-Bench-301 via NAS-Bench-Suite-Zero: compact encoding, counts, sources."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nabench.corpora.importers import nb301
from nabench.corpora.importers.transnas import NINAPRO_CSV
from nabench.errors import SourceError

SUITE = "naslib_zc_suite"


@pytest.fixture(scope="module")
def nb(corpus):
    return corpus("nb301")


def test_counts(nb):
    df = nb.records()
    assert len(df) == 12145  # 725 + 11,221 + 199, disjoint
    assert df["cifar10__valid_acc__100ep-surrogate"].notna().sum() == 725
    assert df["cifar10__zc_synflow_naslib-json"].notna().sum() == 725
    assert df["cifar10__zc_params"].notna().sum() == 725
    assert df["cifar10__zc_zen"].notna().sum() == 11221
    assert df["cifar10__zc_nwot"].notna().sum() == 11221
    assert df["cifar10__zc_nwot_naslib-json"].notna().sum() == 725
    for ds in ("ninapro", "spherical-cifar100", "svhn"):
        assert df[f"{ds}__valid_acc__final-1seed"].notna().sum() == 199
    acc = nb.labels("cifar10__valid_acc__100ep-surrogate")
    assert 90 < acc.min() and acc.max() < 95


def test_sources_cover_disjoint_architectures(data_root):
    js = json.loads((data_root / SUITE / nb301.JSON_FILE).read_text())["cifar10"]
    zen = pd.read_csv(data_root / SUITE / nb301.ZEN_CSV)
    nin = pd.read_csv(data_root / SUITE / NINAPRO_CSV)
    nin = nin[nin.search_space == "nasbench301"]
    ids = [{nb301.compact_text(nb301.parse_compact(a)) for a in archs}
           for archs in (js, zen["arch"], nin["arch"].unique())]
    assert [len(s) for s in ids] == [725, 11221, 199]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])


def test_compact_text_is_canonical_for_lists_and_tuples():
    lists = "[[(0, 5), (1, 3), (1, 5), (2, 0), (1, 5), (2, 1), (0, 5), (4, 4)], " \
            "[(0, 4), (1, 0), (0, 5), (2, 5), (0, 2), (3, 1), (2, 3), (4, 1)]]"
    tuples = "(((0,5),(1,3),(1,5),(2,0),(1,5),(2,1),(0,5),(4,4)), ((0,4),(1,0),(0,5),(2,5),(0,2),(3,1),(2,3),(4,1)))"
    a, b = nb301.parse_compact(lists), nb301.parse_compact(tuples)
    assert a == b
    assert nb301.compact_text(a) == ("(((0, 5), (1, 3), (1, 5), (2, 0), (1, 5), (2, 1), (0, 5), (4, 4)), "
                                     "((0, 4), (1, 0), (0, 5), (2, 5), (0, 2), (3, 1), (2, 3), (4, 1)))")
    g = nb301.genotype_text(a)
    assert g.startswith("Genotype(normal=[('dil_conv_3x3', 0), ('sep_conv_3x3', 1), ")
    assert "reduce=[('sep_conv_5x5', 0), ('max_pool_3x3', 1)" in g and g.endswith("reduce_concat=[2, 3, 4, 5])")
    for bad, msg in (("(((0, 5),),())", "2 cells of 8"), (lists.replace("(2, 0)", "(3, 0)", 1), "not available"),
                     (lists.replace("(1, 3)", "(0, 3)", 1), "same input twice"),
                     (lists.replace("(4, 4)", "(4, 7)", 1), "op index 7"), ("__import__('os')", "2 cells of 8")):
        with pytest.raises(ValueError, match=msg):
            nb301.parse_compact(bad)


def test_op_order_matches_parameter_counts(nb):
    """NASLib's DARTS op order (max_pool, avg_pool, skip, sep3, sep5, dil3, dil5): parameters by op."""
    df = nb.records().dropna(subset=["cifar10__zc_params"])
    cells = [nb301.parse_compact(i) for i in df["native_id"]]
    X = np.array([[sum(op == k for _, op in c[cell]) for cell in (0, 1) for k in range(1, 7)] + [1] for c in cells],
                 dtype=float)
    coef, *_ = np.linalg.lstsq(X, df["cifar10__zc_params"].to_numpy(), rcond=None)
    normal, reduce = coef[:6], coef[6:12]  # relative to max_pool_3x3
    avg, skip, sep3, sep5, dil3, dil5 = normal
    assert abs(avg) < 0.005 and abs(skip) < 0.005  # parameter-free in the normal cell
    assert sep5 > sep3 > dil5 > dil3 > 0.02  # separable convs stack two depthwise-separable convs
    assert reduce[1] > 0.005  # skip in a reduction cell is a FactorizedReduce with weights


def test_genotype_columns_agree_with_native_id(nb):
    df = nb.records().sample(200, random_state=1)
    for nid, geno, normal, reduce in df[["native_id", "genotype", "normal_cell", "reduce_cell"]].itertuples(index=False):
        c = nb301.parse_compact(nid)
        assert geno == nb301.genotype_text(c)
        assert normal == str([(nb301.OPS[op], i) for i, op in c[0]])
        assert reduce == str([(nb301.OPS[op], i) for i, op in c[1]])


def test_values_are_as_published(nb, data_root):
    js = json.loads((data_root / SUITE / nb301.JSON_FILE).read_text())["cifar10"]
    df = nb.records().set_index("native_id")
    for key, e in list(js.items())[:100]:
        nid = nb301.compact_text(nb301.parse_compact(key))
        assert df.at[nid, "cifar10__valid_acc__100ep-surrogate"] == e["val_accuracy"]
        assert df.at[nid, "cifar10__zc_snip_naslib-json"] == e["snip"]["score"]
    nin = pd.read_csv(data_root / SUITE / NINAPRO_CSV)
    nin = nin[(nin.search_space == "nasbench301") & (nin.dataset == "svhn")]
    for arch, val, zen in nin[["arch", "val_accuracy", "zen"]].head(50).itertuples(index=False):
        nid = nb301.compact_text(nb301.parse_compact(arch))
        assert df.at[nid, "svhn__valid_acc__final-1seed"] == val
        assert df.at[nid, "svhn__zc_zen"] == (zen if zen != -1e8 else pytest.approx(np.nan, nan_ok=True))
    assert not (nb.records().select_dtypes("float64") == -1e8).any().any()


FILES = (nb301.JSON_FILE, nb301.ZEN_CSV, NINAPRO_CSV)


def test_broken_sources(data_root, tmp_path_factory):
    js = (data_root / SUITE / nb301.JSON_FILE).read_bytes()
    zen = (data_root / SUITE / nb301.ZEN_CSV).read_bytes()
    zl = zen.splitlines(keepends=True)
    nin = (data_root / SUITE / NINAPRO_CSV).read_bytes()
    cases = [
        (nb301.JSON_FILE, None, "file not found"),
        (nb301.JSON_FILE, js[: len(js) // 3], "not valid JSON"),
        (nb301.JSON_FILE, js.replace(b'"cifar10"', b'"cifar100"', 1), "expected tasks"),
        (nb301.ZEN_CSV, zen.replace(b"nwot", b"nwot2", 1), "missing column|unknown column"),
        (nb301.ZEN_CSV, b"".join(zl[:2] + zl[1:2] + zl[3:]), "duplicate .*architecture"),
        (nb301.ZEN_CSV, b"".join(zl[:1] + [zl[1].replace(b"(0, 5)", b"(0, 9)", 1)] + zl[2:]), "op index 9"),
        (nb301.ZEN_CSV, zen[:-1], "does not end with a newline"),
        (NINAPRO_CSV, nin.replace(b"nasbench301,svhn", b"nasbench301,mnist", 1), "expected 199 nasbench301 rows"),
    ]
    for name, content, message in cases:
        root = tmp_path_factory.mktemp("broken")
        suite = root / SUITE
        suite.mkdir()
        for f in FILES:
            if f != name:
                (suite / f).symlink_to(data_root / SUITE / f)
        if content is not None:
            (suite / name).write_bytes(content)
        with pytest.raises(SourceError, match=message) as err:
            nb301.NB301Importer().build_table(root)
        assert name in str(err.value), str(err.value)
