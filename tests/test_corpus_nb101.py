"""NAS-Bench-101: module hash, NASLib tuples, Suite-Zero data, and the official tfrecord format."""

from __future__ import annotations

import itertools
import json

import nb101_tfrecord_writer as w
import numpy as np
import pandas as pd
import pytest

from nabench import corpora
from nabench.corpora.importers.nb101 import JSON_FILE, ZEN_CSV, NB101Importer
from nabench.errors import SourceError
from nabench.formats import nasbench101 as nbfmt
from nabench.formats import tfrecord
from nabench.spaces import nb101

SUITE = "naslib_zc_suite"
TRIVIAL = "043721b9c7fe8c5fad811d47d83132ec"  # input -> output, the smallest NB101 cell


@pytest.fixture(scope="module")
def published_graphs(data_root):
    """Two published hash -> [matrix, labels] tables (EC-NAS-Bench, built with the upstream code)."""
    out = {}
    for name in ("gg_4V9E.json", "gg_5V9E.json"):
        out.update(json.loads((data_root / "ec_nas_bench" / name).read_text()))
    return out


@pytest.fixture(scope="module")
def nb(corpus):
    return corpus("nb101")


# -- the module hash --------------------------------------------------------------------------

def test_hash_reproduces_every_published_key(data_root):
    for name, count in (("gg_4V9E.json", 91), ("gg_5V9E.json", 2532)):
        table = json.loads((data_root / "ec_nas_bench" / name).read_text())
        assert len(table) == count
        wrong = [k for k, (matrix, labels) in table.items() if nb101.hash_graph(matrix, labels) != k]
        assert wrong == [], f"{name}: {len(wrong)} keys not reproduced"


def test_hash_is_invariant_to_vertex_order_and_pruning(published_graphs):
    rng = np.random.default_rng(0)
    five = [(k, m, l) for k, (m, l) in published_graphs.items() if len(l) == 5][:50]
    for key, matrix, labels in five:
        m = np.array(matrix)
        ops = [w.LABELS[x] for x in labels]
        # relabel the inner vertices with any topological order: same cell, same hash
        for perm in itertools.permutations(range(1, 4)):
            order = [0, *perm, 4]
            pm = m[np.ix_(order, order)]
            if np.tril(pm).any():
                continue  # not upper triangular under this order
            assert nb101.module_hash(pm, [ops[i] for i in order]) == key
        # a vertex that does not lead to the output is pruned away
        big = np.zeros((6, 6), dtype=int)
        big[:4, :4] = m[:4, :4]
        big[:4, 5] = m[:4, 4]
        big[0, 4] = 1  # dead end
        assert nb101.module_hash(big, ops[:4] + [str(rng.choice(nb101.CANONICAL_OPS)), "output"]) == key
    assert nb101.module_hash([[0, 1], [0, 0]], ["input", "output"]) == TRIVIAL


def test_invalid_cells_are_refused():
    with pytest.raises(ValueError, match="not connected"):
        nb101.module_hash([[0, 0, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    with pytest.raises(ValueError, match="upper triangular"):
        nb101.module_hash([[0, 1], [1, 0]], ["input", "output"])
    with pytest.raises(ValueError, match="unknown op"):
        nb101.module_hash([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"])
    full = np.triu(np.ones((7, 7), dtype=int), 1)
    with pytest.raises(ValueError, match="at most 9"):
        nb101.module_hash(full, ["input"] + ["conv3x3-bn-relu"] * 5 + ["output"])


def test_naslib_tuple_is_full_matrix_then_op_indices():
    """NASLib convert_spec_to_tuple: matrix.flatten() then indices into (input, output, maxpool, conv1x1, conv3x3)."""
    matrix, ops = nb101.from_naslib_tuple((0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 4, 1))  # 3 vertices
    assert matrix.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert ops == ["input", "conv3x3-bn-relu", "output"]
    with pytest.raises(ValueError, match="n\\*n \\+ n"):
        nb101.from_naslib_tuple((0, 1, 2))


# -- the Suite-Zero snapshot ------------------------------------------------------------------

def test_counts(nb):
    df = nb.records()
    assert len(df) == 10531 and df["native_id"].str.fullmatch(r"[0-9a-f]{32}").all()
    assert df["cifar10__valid_acc__108ep-1seed"].notna().sum() == 292
    assert df["cifar10__zc_synflow_naslib-json"].notna().sum() == 292
    assert df["cifar10__zc_zen"].notna().sum() == 10250
    assert df["naslib_n_tuples"].sum() == 500 + 10250
    both = df["cifar10__zc_zen"].notna() & df["cifar10__zc_snip_naslib-json"].notna()
    assert both.sum() == 11
    assert (df["n_edges"] <= 9).all() and df["n_vertices"].between(2, 7).all()
    # 55 Suite-Zero tuples prune to input->output; the zen CSV has it once more
    assert (df.loc[df["native_id"] == TRIVIAL, "naslib_n_tuples"] == 56).all()


def test_rows_match_their_spec_and_first_tuple(nb):
    df = nb.records().sample(300, random_state=0)
    for h, adj, ops, tup in df[["native_id", "module_adjacency", "module_operations", "naslib_tuple"]].itertuples(
            index=False):
        matrix, labels = nb101.from_adjacency_str(adj, ops)
        assert nb101.module_hash(matrix, labels) == h
        assert nb101.module_hash(*nb101.from_naslib_tuple(nb101.parse_tuple_text(tup))) == h


def test_duplicate_tuples_agree_like_repeats_of_one_cell(data_root):
    """Suite-Zero's tuples that prune to one cell show at most 3 distinct accuracies (one random repeat
    each) and, bar 3 cells whose NASLib PyTorch model depends on vertex order, identical params."""
    raw = json.loads((data_root / SUITE / JSON_FILE).read_text())["nasbench101"]["cifar10"]
    rows = [(nb101.module_hash(*nb101.from_naslib_tuple(nb101.parse_tuple_text(k))), v["val_accuracy"], v["params"])
            for k, v in raw.items()]
    df = pd.DataFrame(rows, columns=["h", "val", "params"])
    groups = df.groupby("h")
    assert len(groups) == 292
    assert groups["val"].nunique().max() <= 3
    assert (groups["params"].nunique() > 1).sum() == 3
    # every value is a float32 accuracy x 100: a single repeat, not a mean of three
    f = df["val"].to_numpy() / 100
    assert (f.astype(np.float32).astype(np.float64) == f).all()


def test_kept_values_are_the_first_published_tuple(nb, data_root):
    raw = json.loads((data_root / SUITE / JSON_FILE).read_text())["nasbench101"]["cifar10"]
    df = nb.records().set_index("native_id")
    seen = set()
    for key, v in raw.items():
        h = nb101.module_hash(*nb101.from_naslib_tuple(nb101.parse_tuple_text(key)))
        if h in seen:
            continue
        seen.add(h)
        assert df.at[h, "naslib_tuple"] == key
        assert df.at[h, "cifar10__valid_acc__108ep-1seed"] == v["val_accuracy"]
        assert df.at[h, "cifar10__zc_synflow_naslib-json"] == v["synflow"]


def test_accuracy_unit_and_proxy_failures(nb):
    acc = nb.labels("cifar10__valid_acc__108ep-1seed")
    assert 70 < acc.min() and acc.max() < 95  # percent
    assert nb.column("cifar10__valid_acc__108ep-1seed").unit == "percent"
    num = nb.records().select_dtypes("float64")
    assert not (num == -1e8).any().any()


# -- the official tfrecord format -------------------------------------------------------------

@pytest.fixture
def tiny_tfrecord(tmp_path, published_graphs):
    """Three real NB101 cells (real hashes), epochs 4/12/108, 3 repeats each: the upstream layout."""
    keys = ["01f0f1cf81ef9193f2946db78ea759ee", TRIVIAL, "001a6fcc8b38cbc515be788a86bdc804"]
    runs, expected = [], {}
    for n, key in enumerate(keys):
        matrix, labels = published_graphs[key]
        for epochs in ((108, 4) if n == 0 else (108,) if n == 1 else (12, 108)):
            finals = [(0.5 + 0.1 * r + 0.01 * n, 0.4 + 0.1 * r + epochs / 1000, 0.3 + 0.1 * r + n / 100,
                       100.0 * epochs + r) for r in range(3)]
            runs += w.runs_for(key, matrix, labels, epochs, finals, params=1000 + n)
            expected[(key, epochs)] = finals
    return w.write(tmp_path / "nasbench_tiny.tfrecord", runs), expected


def test_crc32c_and_masking_match_the_specification():
    assert tfrecord.crc32c(b"123456789") == 0xE3069283
    assert tfrecord.crc32c(b"") == 0
    for data in (b"", b"a", bytes(range(256)), b"nasbench" * 100):
        assert tfrecord.crc32c(data) == w.crc32c_bitwise(data)
        assert tfrecord.masked_crc32c(data) == w.masked(w.crc32c_bitwise(data))
        assert tfrecord.encode_record(data) == w.frame(data)


def test_protobuf_decoding_of_hand_encoded_metrics():
    m = w.Metrics([w.Eval(0, 0, 0.1, 0.1, 0.1), w.Eval(54, 1.5, 0.6, 0.5, 0.4),
                   w.Eval(108, 3.0, 0.99, 0.93, 0.92, "gs://x")], trainable_parameters=2694282, total_time=3.5)
    msg = nbfmt.decode_metrics(m.encode())
    assert msg.trainable_parameters == 2694282 and msg.total_time == 3.5
    assert [e.validation_accuracy for e in msg.evaluation_data] == [0.1, 0.5, 0.93]
    assert msg.evaluation_data[2].checkpoint_path == "gs://x"


def test_tfrecord_corpus_means_over_repeats(tiny_tfrecord, fresh_home):
    path, expected = tiny_tfrecord
    corpus = corpora.build("nb101", source=path)
    assert corpus.manifest["source_format"] == "NAS-Bench-101 tfrecord"
    df = corpus.records().set_index("native_id")
    assert len(df) == 3
    names = {c.name for c in corpus.columns}
    assert {"cifar10__valid_acc__108ep", "cifar10__test_acc__108ep", "cifar10__train_acc__108ep",
            "cifar10__valid_acc__4ep", "cifar10__valid_acc__12ep", "cifar10__train_time_s__108ep"} <= names
    assert not any("36ep" in n for n in names)  # only the budgets present
    for (key, epochs), finals in expected.items():
        train, valid, test, secs = (np.mean(x) for x in zip(*finals))
        assert df.at[key, f"cifar10__valid_acc__{epochs}ep"] == pytest.approx(100 * valid, abs=1e-12)
        assert df.at[key, f"cifar10__test_acc__{epochs}ep"] == pytest.approx(100 * test, abs=1e-12)
        assert df.at[key, f"cifar10__train_acc__{epochs}ep"] == pytest.approx(100 * train, abs=1e-12)
        assert df.at[key, f"cifar10__train_time_s__{epochs}ep"] == pytest.approx(secs)
    assert np.isnan(df.at[TRIVIAL, "cifar10__valid_acc__4ep"])
    assert df.at[TRIVIAL, "trainable_params"] == 1001
    assert df.at[TRIVIAL, "module_adjacency"] == "0100" and df.at[TRIVIAL, "module_operations"] == "input,output"
    assert corpus.column("cifar10__valid_acc__108ep").unit == "percent"


def _records(path):
    return [p for _, p in tfrecord.iter_records(path)]


def test_truncated_and_corrupt_tfrecords_name_file_and_offset(tiny_tfrecord, tmp_path):
    path, _ = tiny_tfrecord
    data = path.read_bytes()
    first = len(_records(path)[0]) + 16
    cases = {
        "short.tfrecord": (data[: first + 10], f"record at byte {first} ends inside its length checksum"),
        "cut.tfrecord": (data[: first + 40], f"record at byte {first} ends inside its data"),
        "stray.tfrecord": (data[: first + 3], f"3 stray bytes at byte {first}"),
        "badlen.tfrecord": (data[:first] + bytes([data[first] ^ 1]) + data[first + 1:],
                            f"bad length checksum of the record at byte {first}"),
        "baddata.tfrecord": (data[:first + 20] + bytes([data[first + 20] ^ 0x40]) + data[first + 21:],
                             f"bad data checksum of the record at byte {first}"),
    }
    for name, (content, message) in cases.items():
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(SourceError, match=message) as err:
            NB101Importer().build_table(broken)
        assert str(broken) in str(err.value)


def test_bad_payloads_are_refused(tmp_path, published_graphs):
    matrix, labels = published_graphs[TRIVIAL]
    good = w.runs_for(TRIVIAL, matrix, labels, 108, [(0.5, 0.5, 0.5, 1.0)], params=5)[0]
    wrong_hash = w.Run("0" * 32, 108, matrix, good.ops, good.metrics)
    cases = [
        ([wrong_hash], "does not match its cell"),
        ([good, w.Run(TRIVIAL, 108, matrix, good.ops, w.Metrics(good.metrics.evaluations, 6))],
         "6 trainable parameters here and 5"),
        ([w.Run(TRIVIAL, 108, matrix, good.ops, w.Metrics(good.metrics.evaluations[:2], 5))], "2 evaluations"),
    ]
    for runs, message in cases:
        path = w.write(tmp_path / "bad.tfrecord", runs)
        with pytest.raises(SourceError, match=message):
            NB101Importer().build_table(path)
    path = tmp_path / "notjson.tfrecord"
    path.write_bytes(w.frame(b"\xff not json"))
    with pytest.raises(SourceError, match="record at byte 0: payload is not UTF-8 JSON"):
        NB101Importer().build_table(path)
    path.write_bytes(w.frame(json.dumps([TRIVIAL, 108, "0100", "input,output", "!!"]).encode()))
    with pytest.raises(SourceError, match="not a base64 ModelMetrics"):
        NB101Importer().build_table(path)


def test_source_kind_is_detected(tmp_path):
    junk = tmp_path / "nasbench_only108.tfrecord"
    junk.write_bytes(b"this is not a tfrecord file at all")
    with pytest.raises(SourceError, match="neither a NAS-Bench-101 .tfrecord file"):
        NB101Importer().build_table(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=f"{SUITE}/{JSON_FILE}: file not found"):
        NB101Importer().build_table(empty)


# -- broken Suite-Zero copies -----------------------------------------------------------------

def _broken_copy(data_root, tmp_path, name: str, content: bytes | None):
    suite = tmp_path / SUITE
    suite.mkdir()
    for f in (JSON_FILE, ZEN_CSV):
        if f != name:
            (suite / f).symlink_to(data_root / SUITE / f)
    if content is not None:
        (suite / name).write_bytes(content)
    return tmp_path


def test_broken_suite_zero_files(data_root, tmp_path_factory):
    raw_json = (data_root / SUITE / JSON_FILE).read_bytes()
    raw_csv = (data_root / SUITE / ZEN_CSV).read_bytes()
    lines = raw_csv.splitlines(keepends=True)
    cases = [
        (JSON_FILE, None, "file not found"),
        (JSON_FILE, raw_json[: len(raw_json) // 2], "not valid JSON"),
        (JSON_FILE, raw_json.replace(b'"nasbench101"', b'"nasbench201"', 1), "top-level key 'nasbench101'"),
        (JSON_FILE, raw_json.replace(b'"snip"', b'"snipp"', 1), "unknown field 'snipp'"),
        (ZEN_CSV, raw_csv.replace(b"zen", b"zenn", 1), "missing column"),
        (ZEN_CSV, raw_csv[: len(raw_csv) // 2], "expected 10250 rows|truncated|not a readable CSV"),
        (ZEN_CSV, b"".join(lines[:2] + lines[1:2] + lines[3:]), "duplicate architecture tuple"),
        (ZEN_CSV, b"".join(lines[:2] + [lines[2].replace(b"(0,", b"(1,", 1)] + lines[3:]),
         "upper triangular|not connected|input"),
    ]
    for name, content, message in cases:
        root = _broken_copy(data_root, tmp_path_factory.mktemp("broken"), name, content)
        with pytest.raises(SourceError, match=message) as err:
            NB101Importer().build_table(root)
        assert name in str(err.value)
