"""NAS-Bench-Graph (Qin et al., NeurIPS 2022 Datasets & Benchmarks), embedded via PyPI.

The ``nas-bench-graph`` package ships one pickle per dataset (``light/<dataset>.bench``):
a dict from an architecture hash to ``{valid_perf, perf, latency, para}``. The hash is
``Arch.hash_arch()`` of the package's ``architecture.py``: the index of the macro ``link``
pattern (9 patterns) followed by the 4 op indices, written in base 10
(``hash = link * 10**4 + op1 * 10**3 + ... + op4``, ops from ``gnn_list``). ogbn-proteins
was evaluated on the 2,021 architectures of its reduced op set, hashed the same way.
The pickles are read with a restricted unpickler (numpy scalars only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, hardware_label, quality_label
from nabench.corpora.importers import package_dir
from nabench.errors import SourceError
from nabench.formats.safe_pickle import restricted_load

#: Macro patterns: for each of the 4 computing nodes, the index of its input node.
LINKS = ((0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 0, 1, 2), (0, 0, 1, 3), (0, 1, 1, 1), (0, 1, 1, 2), (0, 1, 2, 2), (0, 1, 2, 3))
#: Op names in the package's ``gnn_list`` order.
OPS = ("gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip")
#: Datasets, with the metric the benchmark reports (ROC-AUC for ogbn-proteins).
DATASETS = {
    "cora": "acc", "citeseer": "acc", "pubmed": "acc", "cs": "acc", "physics": "acc",
    "photo": "acc", "computers": "acc", "arxiv": "acc", "proteins": "rocauc",
}
N_ARCHS = 26206
def _allowed_globals() -> dict:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return {
        ("numpy.core.multiarray", "scalar"): multiarray.scalar,
        ("numpy._core.multiarray", "scalar"): multiarray.scalar,
        ("numpy", "dtype"): np.dtype,
    }


def decode(key: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(link, ops) of a NAS-Bench-Graph architecture hash."""
    link, rest = divmod(int(key), 10**4)
    digits = [(rest // 10**p) % 10 for p in (3, 2, 1, 0)]
    if not 0 <= link < len(LINKS) or any(d >= len(OPS) for d in digits):
        raise ValueError(f"not a NAS-Bench-Graph architecture hash: {key}")
    return LINKS[link], tuple(OPS[d] for d in digits)


def native_id(link: tuple[int, ...], ops: tuple[str, ...]) -> str:
    return f"link={''.join(map(str, link))};ops={','.join(ops)}"


class NASBenchGraphImporter(Importer):
    name = "nasbench-graph"
    version = "1.0.0"
    title = "NAS-Bench-Graph"
    space = "nasbench-graph"
    upstream = "https://github.com/THUMNLab/NAS-Bench-Graph (PyPI: nas-bench-graph 1.4.0)"
    license = "Apache-2.0"
    citation = """@inproceedings{qin2022nasbenchgraph,
  title={NAS-Bench-Graph: Benchmarking Graph Neural Architecture Search},
  author={Qin, Yijian and Zhang, Ziwei and Wang, Xin and Zhang, Zeyang and Zhu, Wenwu},
  booktitle={NeurIPS Datasets and Benchmarks Track}, year={2022}}"""
    embedded = True

    def embedded_source(self) -> Path:
        return package_dir("nas_bench_graph", "nas-bench-graph")

    def read(self, source: Path, progress: Progress) -> CorpusTable:
        light = source / "light" if (source / "light").is_dir() else source
        allowed = _allowed_globals()
        rows: dict[int, dict[str, float]] = {}
        columns: list[Column] = []
        files: dict[str, Path] = {}
        for ds in progress.track(DATASETS, "reading NAS-Bench-Graph", total=len(DATASETS)):
            path = light / f"{ds}.bench"
            files[f"light/{ds}.bench"] = path
            bench = restricted_load(path, allowed)
            if not isinstance(bench, dict) or not bench:
                raise SourceError(path, "expected a non-empty dict of architecture hash -> results")
            metric = DATASETS[ds]
            cols = {
                "valid_perf": quality_label(ds, "valid", metric, "final", unit="fraction", higher_is_better=True,
                                            source=f"light/{ds}.bench:valid_perf",
                                            description=f"{ds} validation {metric} of the trained GNN"),
                "perf": quality_label(ds, "test", metric, "final", unit="fraction", higher_is_better=True,
                                      source=f"light/{ds}.bench:perf",
                                      description=f"{ds} test {metric} of the trained GNN"),
                "latency": hardware_label(ds, "latency_s", "nbg-gpu", unit="s", source=f"light/{ds}.bench:latency",
                                          description=f"{ds} inference latency as published (the benchmark's GPU)"),
                "para": Column(name=f"{ds}__n_params_m", kind="info", dtype="float64", unit="million",
                               dataset=ds, source=f"light/{ds}.bench:para",
                               description=f"parameters (millions) of the GNN built for {ds}"),
            }
            columns += list(cols.values())
            for key, result in bench.items():
                try:
                    decode(key)
                    values = {cols[f].name: float(result[f]) for f in cols}
                except (KeyError, TypeError, ValueError) as e:
                    raise SourceError(path, f"bad entry for architecture {key!r}: {e}") from None
                rows.setdefault(int(key), {}).update(values)
            if ds != "proteins" and len(bench) != N_ARCHS:
                raise SourceError(path, f"expected {N_ARCHS} architectures, found {len(bench)}")
        keys = sorted(rows)
        decoded = [decode(k) for k in keys]
        frame = pd.DataFrame({
            "native_id": [native_id(link, ops) for link, ops in decoded],
            "space": self.space,
            "link": ["".join(map(str, link)) for link, _ in decoded],
            "ops": [",".join(ops) for _, ops in decoded],
            "nbg_hash": np.array(keys, dtype="int64"),
        })
        values = pd.DataFrame([rows[k] for k in keys], columns=[c.name for c in columns]).astype("float64")
        frame = pd.concat([frame, values], axis=1)
        spec = [
            Column(name="link", kind="spec", dtype="str", description="input node of each of the 4 computing nodes (0 = input)"),
            Column(name="ops", kind="spec", dtype="str", description="op of each computing node, comma separated"),
            Column(name="nbg_hash", kind="spec", dtype="int64", description="the benchmark's own key (Arch.hash_arch)"),
        ]
        return CorpusTable(
            frame=frame, columns=spec + columns, source_format="nas-bench-graph light pickles",
            source_files=files,
            notes=["ogbn-proteins covers only the 2,021 architectures of its reduced op set; other rows are NaN there."],
        )
