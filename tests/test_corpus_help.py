"""HELP latency corpora (FBNet, OFA): real counts, both upstream formats, provenance, bad input."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from scipy.stats import spearmanr

from nabench.corpora.cards import check_card
from nabench.corpora.importers import help_latency as hl
from nabench.errors import SourceError

GPUS_FBNET = ("1080ti", "2080ti", "titan-rtx", "titanx", "titanxp")
GPUS_OFA = ("2080ti", "titan-rtx", "titan-xp", "v100")


@pytest.fixture(scope="module")
def fbnet(corpus):
    return corpus("help-fbnet")


@pytest.fixture(scope="module")
def ofa(corpus):
    return corpus("help-ofa")


def test_counts_and_device_columns(fbnet, ofa):
    f, o = fbnet.records(), ofa.records()
    assert len(f) == len(o) == 5000
    assert f["native_id"].is_unique and o["native_id"].is_unique
    fb_hw = [c for c in fbnet.columns if c.kind == "hardware"]
    ofa_hw = [c for c in ofa.columns if c.kind == "hardware"]
    assert len(fb_hw) == 27 and len(ofa_hw) == 12
    assert {c.dataset for c in fb_hw} == {"cifar100"} and {c.dataset for c in ofa_hw} == {"imagenet"}
    assert {c.unit for c in fb_hw + ofa_hw} == {"ms"}
    assert f[[c.name for c in fb_hw]].notna().all().all() and o[[c.name for c in ofa_hw]].notna().all().all()
    for gpu in GPUS_FBNET:
        for b in (1, 32, 64):
            assert f"cifar100__latency_ms__{gpu}-b{b}" in f.columns
    assert "cifar100__latency_ms__essential-ph-1" in f.columns  # a phone model, not batch 1
    lat = ofa.labels(device="v100-b64")
    assert len(lat) == 5000 and lat.index.name == "native_id"


@pytest.mark.parametrize("importer,raw", [(hl.FBNetImporter, "fbnet"), (hl.OFAImporter, "ofa")])
def test_csv_and_published_torch_files_give_identical_tables(data_root, importer, raw):
    """The CSV is HELP's torch lists written out: every value agrees to the bit (not just float32)."""
    from_csv = importer().build_table(data_root)
    from_raw = importer().build_table(data_root / "latency" / "help_raw" / raw)
    assert from_csv.source_format.startswith("CSV") and from_raw.source_format.startswith("HELP published")
    pd.testing.assert_frame_equal(from_csv.frame, from_raw.frame, check_exact=True)
    # auto-detection also works from the latency/ and help_raw/ folders
    assert importer().locate(data_root / "latency")[0] == "csv"
    assert importer().locate(data_root / "latency" / "help_raw") == ("raw", data_root / "latency" / "help_raw" / raw)


def test_fbnet_blocks_follow_hw_nas_bench_op_order(fbnet, data_root):
    df = fbnet.records()
    for names, idx in zip(df["arch_ops"], df["op_idx_list"]):
        assert names.split() == [hl.FBNET_OPS[int(i)] for i in idx.split()]
    assert (df["native_id"] == df["arch_ops"]).all()
    meta = hl.torch_load(data_root / "latency/help_raw/fbnet/metainfo.pt")
    # exactly HW-NAS-Bench's get_net_config(arch, "cifar100"): the CIFAR-100 (32x32) FBNet networks
    assert meta["dataset"] == "cifar100" and meta["num_classes"] == 100
    assert set(meta["arch"][0]) == {"op_idx_list", "arch_str"}
    assert len({tuple(n.split()) for n in df["arch_ops"]}) == 5000
    assert set(" ".join(df["arch_ops"]).split()) == set(hl.FBNET_OPS)


def test_help_took_the_edge_devices_from_hw_nas_bench(data_root):
    """Provenance of eyeriss/fpga/pixel3/raspi4: HELP's NB201 columns equal HW-NAS-Bench's CIFAR-10 ones exactly."""
    help201 = pd.read_csv(data_root / "latency/nb201_latency_ms_27devices.csv")
    hw = pd.read_csv(data_root / "nb201/hw_nas_bench_cifar10.csv")
    m = help201.merge(hw, on="arch_str", validate="one_to_one")
    assert len(m) == 15625
    for dev in ("eyeriss", "fpga", "pixel3", "raspi4"):
        assert (m[dev] == m[f"{dev}_latency"]).all(), dev


def test_latency_behaves_like_hardware(fbnet, ofa):
    f, o = fbnet.records(), ofa.records()
    for gpu in GPUS_FBNET:
        assert f[f"cifar100__latency_ms__{gpu}-b64"].mean() > f[f"cifar100__latency_ms__{gpu}-b1"].mean()
    # two near-identical GPUs rank the architectures the same way
    assert spearmanr(f["cifar100__latency_ms__titanx-b1"], f["cifar100__latency_ms__titanxp-b1"]).statistic > 0.95
    # OFA latency is measured at the row's resolution r: at batch 64 it follows r closely
    for gpu in GPUS_OFA:
        assert spearmanr(o["r"], o[f"imagenet__latency_ms__{gpu}-b64"]).statistic > 0.85
    # phones report whole milliseconds
    assert (f["cifar100__latency_ms__pixel2"] % 1 == 0).all()


def test_ofa_ids_round_trip_and_ranges(ofa):
    df = ofa.records()
    assert set(df["r"]) == set(range(128, 225, 4))
    assert df["active_layers"].is_unique  # unique also once inactive layers are dropped
    for nid, ks, e, d, r in df[["native_id", "ks", "e", "d", "r"]].head(200).itertuples(index=False):
        parts = dict(p.split("=") for p in nid.split(";"))
        assert parts["ks"].split(",") == ks.split() and parts["e"].split(",") == e.split()
        assert parts["d"].split(",") == d.split() and int(parts["r"]) == r
    depth = df["d"].str.split().apply(lambda x: sum(map(int, x)))
    assert (df["active_layers"].str.count("k") == depth).all()


def test_cards_agree(fbnet, ofa):
    assert check_card(fbnet) == []
    assert check_card(ofa) == []


# ---- bad input ---------------------------------------------------------------------------------


def _csv_copy(data_root, tmp_path, name):
    (tmp_path / "latency").mkdir()
    dst = tmp_path / "latency" / name
    shutil.copyfile(data_root / "latency" / name, dst)
    return dst


def test_missing_source_is_explained(tmp_path):
    with pytest.raises(SourceError, match="no HELP fbnet data here"):
        hl.FBNetImporter().build_table(tmp_path)


def test_wrong_header_truncation_and_duplicates_in_csv(data_root, tmp_path):
    name = hl.FBNetImporter.csv_name
    dst = _csv_copy(data_root, tmp_path, name)
    text = dst.read_text()
    dst.write_text(text.replace("titanxp_64", "titanxp_128", 1))
    with pytest.raises(SourceError, match=r"missing column\(s\) \['titanxp_64'\]"):
        hl.FBNetImporter().build_table(tmp_path)
    dst.write_text(text[: len(text) // 2])
    with pytest.raises(SourceError, match="fbnet_latency_ms_27devices.csv: expected 5000 rows"):
        hl.FBNetImporter().build_table(tmp_path)
    lines = text.splitlines(keepends=True)
    first = lines[1].split(",")
    second = lines[2].split(",")
    second[1:3] = first[1:3]  # row 1 gets row 0's architecture, with its own latencies
    lines[2] = ",".join(second)
    dst.write_text("".join(lines))
    with pytest.raises(SourceError, match="duplicate architecture 'k5_e6 skip"):
        hl.FBNetImporter().build_table(tmp_path)


def test_inconsistent_block_names_are_refused(data_root, tmp_path):
    dst = _csv_copy(data_root, tmp_path, hl.FBNetImporter.csv_name)
    text = dst.read_text()
    dst.write_text(text.replace("0,k5_e6 skip k3_e1_g2", "0,k5_e3 skip k3_e1_g2", 1))
    with pytest.raises(SourceError, match="line 2: block names"):
        hl.FBNetImporter().build_table(tmp_path)


@pytest.fixture
def ofa_raw(data_root, tmp_path):
    dst = tmp_path / "ofa"
    shutil.copytree(data_root / "latency/help_raw/ofa", dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def test_truncated_torch_file_is_refused(ofa_raw):
    p = ofa_raw / "latency" / "v100_64.pt"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="v100_64.pt: not a readable torch file"):
        hl.OFAImporter().build_table(ofa_raw)


def test_hostile_torch_file_is_refused(ofa_raw):
    import torch

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save([Evil()], ofa_raw / "latency" / "v100_64.pt")
    with pytest.raises(SourceError, match="v100_64.pt: not a readable torch file"):
        hl.OFAImporter().build_table(ofa_raw)


def test_short_or_unknown_latency_files_are_refused(ofa_raw):
    import torch

    torch.save([1.0] * 4999, ofa_raw / "latency" / "v100_64.pt")
    with pytest.raises(SourceError, match="v100_64.pt: expected 5000 latencies, found 4999"):
        hl.OFAImporter().build_table(ofa_raw)
    (ofa_raw / "latency" / "v100_64.pt").unlink()
    with pytest.raises(SourceError, match="v100_64.pt: file not found"):
        hl.OFAImporter().build_table(ofa_raw)
    torch.save([1.0] * 5000, ofa_raw / "latency" / "a100_1.pt")
    with pytest.raises(SourceError, match=r"unknown device file\(s\) \['a100_1.pt'\]"):
        hl.OFAImporter().build_table(ofa_raw)
