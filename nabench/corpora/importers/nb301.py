"""NAS-Bench-301 (Siems et al., 2020): the DARTS cell space on CIFAR-10, via NAS-Bench-Suite-Zero.

NAS-Bench-301 is a *surrogate* benchmark: about 60k DARTS architectures were trained on
CIFAR-10 (100 epochs, 32 channels, 8 cells) and an ensemble of surrogate models (XGBoost v1.0
is NASLib's default) predicts the validation accuracy of any of the ~10^18 cells. The files
here are NASLib's zero-cost proxy releases for this space:

* ``zc_nasbench301_725archs.json`` (NAS-Bench-Suite-Zero): 725 sampled architectures with 12
  proxies and ``val_accuracy``, which NASLib obtains from the NB301 surrogate
  (``nasbench301.predict``) for sampled architectures (values are continuous, not multiples of
  a test-set granularity, and none of these architectures is in the other files);
* ``nb301_zen_nwot_11221.csv``: zen and nwot for 11,221 further architectures (no accuracy);
* ``nb201_nb301_tnbmicro_on_ninapro_scifar100_svhn_zc14_valacc.csv``: 199 architectures trained
  by NAS-Bench-Suite-Zero on NinaPro, spherical CIFAR-100 and SVHN, with 13 proxies.

Encoding: NASLib's *compact* form (``naslib/search_spaces/nasbench301/conversions.py``,
``convert_genotype_to_compact``): ``(normal, reduce)``, each 8 pairs ``(input, op)``, two per
intermediate node 2..5 in order; ``input`` 0 and 1 are the two previous cells' outputs, 2..5
the earlier intermediate nodes; ``op`` indexes ``max_pool_3x3, avg_pool_3x3, skip_connect,
sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5`` (no ``none``). Suite-Zero JSON keys
write the cells as lists (``[[(0, 5), ...], [...]]``), the CSVs as tuples; the native id is
the tuple text ``(((0, 5), (1, 3), ...), ((0, 4), ...))`` with Python's spacing. Spec columns
give the DARTS ``Genotype``. NASLib's failure value ``-1e8`` is stored as missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, proxy_score, quality_label
from nabench.corpora.sources import check_unique, read_csv
from nabench.errors import SourceError
from nabench.formats import suite_zero as sz

#: NASLib's DARTS op order for the compact encoding (``convert_genotype_to_compact``).
OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
JSON_FILE = "zc_nasbench301_725archs.json"
JSON_PROXIES = ("epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "params", "plain",
                "snip", "synflow")
ZEN_CSV = "nb301_zen_nwot_11221.csv"
ZEN_COLUMNS = ("search_space", "dataset", "arch", "zen", "nwot")
ZEN_ROWS = 11221
N_JSON = 725
N_NINAPRO = 199

Compact = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


_PAIR = re.compile(r"\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)")
_SHAPES = ("((" + ",".join("P" * 8) + "),(" + ",".join("P" * 8) + "))",
           "[[" + ",".join("P" * 8) + "],[" + ",".join("P" * 8) + "]]")


def parse_compact(text: str) -> Compact:
    """A NASLib compact NB301 architecture from its published text (tuples or lists), checked."""
    text = str(text)
    shape = re.sub(r"\s+", "", _PAIR.sub("P", text))
    if shape not in _SHAPES:
        raise ValueError(f"expected 2 cells of 8 (input, op) pairs: {text[:60]!r}")
    pairs = [(int(a), int(b)) for a, b in _PAIR.findall(text)]
    cells = (tuple(pairs[:8]), tuple(pairs[8:]))
    for cell in cells:
        for k, (inp, op) in enumerate(cell):
            node = k // 2
            if not 0 <= inp < node + 2:
                raise ValueError(f"input {inp} is not available to intermediate node {node + 2}: {text[:60]!r}")
            if not 0 <= op < len(OPS):
                raise ValueError(f"op index {op} is not in 0..{len(OPS) - 1}: {text[:60]!r}")
        for node in range(4):
            if cell[2 * node][0] == cell[2 * node + 1][0]:
                raise ValueError(f"node {node + 2} takes the same input twice: {text[:60]!r}")
    return cells


def compact_text(compact: Compact) -> str:
    """Canonical text: ``(((0, 5), (1, 3), ...), ((0, 4), ...))``."""
    return str(tuple(tuple(tuple(p) for p in cell) for cell in compact))


def cell_genotype(cell) -> list[tuple[str, int]]:
    return [(OPS[op], inp) for inp, op in cell]


def genotype_text(compact: Compact) -> str:
    """The DARTS ``Genotype`` repr of a compact architecture."""
    return (f"Genotype(normal={cell_genotype(compact[0])}, normal_concat=[2, 3, 4, 5], "
            f"reduce={cell_genotype(compact[1])}, reduce_concat=[2, 3, 4, 5])")


class NB301Importer(Importer):
    name = "nb301"
    version = "1.0.0"
    title = "NAS-Bench-301 (NAS-Bench-Suite-Zero)"
    space = "nb301"
    upstream = ("automl/NASLib: NAS-Bench-Suite-Zero naslib/data zc_nasbench301.json, run/results zips "
                "(nb301 zen/nwot, 9x_all); NAS-Bench-301 surrogate automl/nasbench301 v1.0")
    license = "Apache-2.0"
    citation = """@article{siems2020nasbench301,
  title={NAS-Bench-301 and the Case for Surrogate Benchmarks for Neural Architecture Search},
  author={Siems, Julien and Zimmer, Lucas and Zela, Arber and Lukasik, Jovita and Keuper, Margret and Hutter, Frank},
  journal={arXiv preprint arXiv:2008.09777}, year={2020}}
""" + sz.CITATION
    default_subdir = sz.SUBDIR

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        base = sz.suite_zero_dir(source, JSON_FILE)
        files = {f"{sz.SUBDIR}/{JSON_FILE}": base / JSON_FILE, f"{sz.SUBDIR}/{ZEN_CSV}": base / ZEN_CSV,
                 f"{sz.SUBDIR}/{sz.NINAPRO_CSV}": base / sz.NINAPRO_CSV}
        cols: dict[str, dict[str, float]] = {}  # column -> {native_id: value}
        columns: list[Column] = []

        def ids_of(path: Path, texts, what: str) -> list[str]:
            out = []
            for t in texts:
                try:
                    out.append(compact_text(parse_compact(t)))
                except ValueError as e:
                    raise SourceError(path, f"{what}: {e}") from None
            check_unique(pd.Series(out), path, f"{what} architecture")
            return out

        # 1. Suite-Zero JSON.
        path = base / JSON_FILE
        frame = sz.read_suite_zero(path, ["cifar10"])["cifar10"]
        if len(frame) != N_JSON:
            raise SourceError(path, f"expected {N_JSON} architectures, found {len(frame)}")
        missing = sorted(set(JSON_PROXIES) - set(frame.columns))
        if missing:
            raise SourceError(path, f"missing proxies {missing}")
        ids = ids_of(path, frame.index, "cifar10")
        src = f"{sz.SUBDIR}/{JSON_FILE}"
        label = quality_label("cifar10", "valid", "acc", "100ep-surrogate", unit="percent", higher_is_better=True,
                              source=f"{src}:val_accuracy",
                              description="CIFAR-10 validation accuracy after 100 epochs as predicted by the "
                                          "NAS-Bench-301 surrogate (NASLib query of a sampled architecture)")
        columns.append(label)
        cols[label.name] = dict(zip(ids, frame["val_accuracy"]))
        proxy_cols: dict[str, Column] = {}
        for p in JSON_PROXIES:
            if p in sz.DETERMINISTIC_PROXIES:
                col = proxy_score("cifar10", p, source=f"{src}:{p}.score",
                                  description=f"zero-cost proxy {p} on CIFAR-10 (NAS-Bench-Suite-Zero; deterministic)")
            else:
                col = proxy_score("cifar10", f"{p}_{sz.JSON_SUFFIX}", source=f"{src}:{p}.score",
                                  description=f"zero-cost proxy {p} on CIFAR-10 from the NAS-Bench-Suite-Zero JSON "
                                              "(725 sampled architectures); -1e8 failures as NaN")
            proxy_cols[col.name] = col
            cols[col.name] = dict(zip(ids, sz.clean_proxy(frame[p])))

        # 2. zen + nwot on 11,221 more architectures.
        path = base / ZEN_CSV
        zen = read_csv(path, ZEN_COLUMNS, numeric=("zen", "nwot"), rows=ZEN_ROWS)
        bad = zen[(zen["search_space"] != "nasbench301") | (zen["dataset"] != "cifar10")]
        if len(bad):
            raise SourceError(path, f"unexpected row {bad.iloc[0]['search_space']}/{bad.iloc[0]['dataset']}")
        zids = ids_of(path, zen["arch"], "nasbench301 cifar10")
        zsrc = f"{sz.SUBDIR}/{ZEN_CSV}"
        for p in ("zen", "nwot"):
            col = proxy_score("cifar10", p, source=f"{zsrc}:{p}",
                              description=f"zero-cost proxy {p} on CIFAR-10 (NASLib full-space release, 11,221 "
                                          "architectures); -1e8 failures as NaN")
            proxy_cols[col.name] = col
            cols[col.name] = dict(zip(zids, sz.clean_proxy(zen[p])))
        columns += sorted(proxy_cols.values(), key=lambda c: c.name)

        # 3. NinaPro / spherical CIFAR-100 / SVHN.
        path = base / sz.NINAPRO_CSV
        df = sz.read_ninapro_csv(base, "nasbench301", {up: N_NINAPRO for up in sz.NINAPRO_DATASETS})
        nids = {}
        for t in df["arch"]:
            try:
                nids[t] = compact_text(parse_compact(t))
            except ValueError as e:
                raise SourceError(path, str(e)) from None

        universe = set(nids.values())
        for c in cols.values():
            universe |= set(c)
        parsed = {i: parse_compact(i) for i in universe}
        ordered = sorted(universe, key=parsed.__getitem__)
        index = pd.Index(ordered)
        values = {name: np.array([d.get(i, np.nan) for i in ordered], dtype="float64") for name, d in cols.items()}
        nvals, ncols = sz.ninapro_columns(df, nids.__getitem__, f"{sz.SUBDIR}/{sz.NINAPRO_CSV}", "NAS-Bench-301 architecture",
                                       index, path)
        values.update(nvals)
        columns += ncols

        compacts = [parsed[i] for i in ordered]
        frame = pd.DataFrame({
            "native_id": pd.Series(ordered, dtype="str"),
            "space": self.space,
            "genotype": pd.Series([genotype_text(c) for c in compacts], dtype="str"),
            "normal_cell": pd.Series([str(cell_genotype(c[0])) for c in compacts], dtype="str"),
            "reduce_cell": pd.Series([str(cell_genotype(c[1])) for c in compacts], dtype="str"),
        })
        spec = [
            Column("genotype", "spec", "str", "the DARTS Genotype (op, input) of both cells; inputs 0, 1 are the "
                                              "previous two cells, 2-5 the intermediate nodes; concat [2, 3, 4, 5]"),
            Column("normal_cell", "spec", "str", "normal cell: 8 (op, input) pairs, two per intermediate node 2..5"),
            Column("reduce_cell", "spec", "str", "reduction cell: 8 (op, input) pairs, two per intermediate node 2..5"),
        ]
        measured = pd.DataFrame({c.name: values[c.name] for c in columns})
        frame = pd.concat([frame, measured], axis=1)
        return CorpusTable(
            frame=frame, columns=spec + columns,
            source_format="NAS-Bench-Suite-Zero JSON + NASLib zen/nwot CSV + Suite-Zero NinaPro/sCIFAR-100/SVHN CSV",
            source_files=files,
            notes=[
                ("cifar10 validation accuracy is the NAS-Bench-301 surrogate's prediction (Suite-Zero sample of 725), "
                "not a training run."),
                ("The three sources cover disjoint architectures: 725 (Suite-Zero JSON), 11,221 (zen/nwot only, no "
                "accuracy), 199 (NinaPro/sCIFAR-100/SVHN)."),
                ("Proxy columns ending in '_naslib-json' come from the Suite-Zero JSON (725 architectures); zen and nwot "
                "(plain names) from the full-space CSV (11,221 other architectures)."),
                "NASLib's failure value -1e8 is stored as NaN.",
            ],
        )
