"""EC-NAS-Bench (Bakhtiarifard et al., ICASSP 2024): energy of NAS-Bench-101 cells, 4 epochs.

EC-NAS retrained NAS-Bench-101 cells on CIFAR-10 with NAS-Bench-101's own pipeline
(``ecnas/vendors/ec_nasbench``: 3 stacks x 3 cells, 128 stem filters, batch 256, cosine LR
from 0.1; NB101's train/valid/test split) for 4 epochs on an NVIDIA Quadro RTX 6000, and
tracked energy and CO2 with carbontracker. Two enumerated subspaces were trained:
``4V9E`` (cells of at most 4 vertices, 91 cells, 3 repeats each) and ``5V9E`` (at most 5
vertices, 2,532 cells, 1 repeat). The 91 cells of 4V9E are also in 5V9E but were trained
again there: the two spaces are separate experiments, so a row is one (space, cell).

``ecnas_raw_4epoch_runs.csv`` flattens the per-run ``results.json`` files: ``matrix`` is the
pruned upper-triangular adjacency matrix, ``ops`` the vertex labels of NB101's graph
generator: ``-1`` input, ``-2`` output, ``0/1/2`` = ``conv3x3-bn-relu``,
``conv1x1-bn-relu``, ``maxpool3x3`` (``run_evaluation.py`` maps labels through
``config['available_ops']``; ``generate_dataset_energy.py`` appends ``output, input`` to
that list so ``-2/-1`` resolve). ``hash`` is NAS-Bench-101's ``graph_util.hash_module``
fingerprint; the importer recomputes it from matrix and ops for every run.
``gg_4V9E.json`` / ``gg_5V9E.json`` are the enumerations the runs were drawn from
(``generated_graphs_<space>.json`` of ``generate_graphs.py``: hash -> [matrix, labels]);
the importer checks that every enumerated cell was trained and that matrix/ops agree.

Accuracies here are EC-NAS's own 4-epoch trainings (fractions 0-1). (EC-NAS's published
``.tfrecord`` benchmarks instead pair its energy with NB101's mean accuracies.)
Labels are the mean over repeats; ``n_repeats`` says how many.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, hardware_label, quality_label
from nabench.corpora.sources import read_csv, read_json
from nabench.errors import SourceError
from nabench.spaces import nb101

SUBDIR = "ec_nas_bench"
CSV_NAME = "ecnas_raw_4epoch_runs.csv"
SPACES = {"4V9E": 4, "5V9E": 5}
N_ROWS = 2805
EPOCHS = 4
#: NB101 op labels (``config['available_ops']``); -1 input, -2 output.
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
GPUS = {"NVIDIA Quadro RTX 6000": "quadro-rtx-6000", "Quadro RTX 6000": "quadro-rtx-6000"}
HEADER = [
    "space", "hash", "repeat", "matrix", "ops", "trainable_params", "total_time_s", "total_energy_kWh",
    "total_co2eq_g", "gpu", "gpu_avg_power_W", "epochs", "train_acc", "val_acc", "test_acc",
    "training_time_s", "energy_kWh_at_epochs", "predicted_energy_kWh_108ep",
]
NUMERIC = [c for c in HEADER if c not in ("space", "hash", "repeat", "matrix", "ops", "gpu")]


def _check_cell(matrix: object, ops: object, max_vertices: int) -> str | None:
    if not isinstance(matrix, list) or not matrix or not all(isinstance(r, list) and len(r) == len(matrix) for r in matrix):
        return "matrix is not a square list of lists"
    n = len(matrix)
    m = np.asarray(matrix)
    if not np.isin(m, (0, 1)).all() or np.tril(m).any():
        return "matrix must be 0/1 and strictly upper triangular"
    if n > max_vertices:
        return f"{n} vertices, more than the space allows ({max_vertices})"
    if int(m.sum()) > 9:
        return f"{int(m.sum())} edges, more than 9"
    if not isinstance(ops, list) or len(ops) != n or ops[0] != -1 or ops[-1] != -2 or any(o not in (0, 1, 2) for o in ops[1:-1]):
        return f"ops must be [-1, <{n - 2} of 0/1/2>, -2], got {ops}"
    return None


def canonical(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


class ECNASImporter(Importer):
    name = "ec-nas"
    version = "1.0.0"
    title = "EC-NAS-Bench raw 4-epoch runs (NB101 cells, energy)"
    space = "nb101"
    upstream = "PedramBakh/EC-NAS-Bench@1a82fdd"
    license = "MIT"
    citation = """@inproceedings{bakhtiarifard2024ecnas,
  title={EC-NAS: Energy Consumption Aware Tabular Benchmarks for Neural Architecture Search},
  author={Bakhtiarifard, Pedram and Igel, Christian and Selvan, Raghavendra},
  booktitle={IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year={2024}}"""
    default_subdir = SUBDIR


    def read(self, source: Path, progress: Progress) -> CorpusTable:
        folder = self.data_folder(source)
        path = folder / CSV_NAME
        df = read_csv(path, HEADER, numeric=NUMERIC, rows=N_ROWS)
        files = {f"{SUBDIR}/{CSV_NAME}": path}

        unknown = sorted(set(df["space"]) - set(SPACES))
        if unknown:
            raise SourceError(path, f"unknown space(s) {unknown}; expected {sorted(SPACES)}")
        dup = df.duplicated(["space", "hash", "repeat"])
        if dup.any():
            r = df[dup].iloc[0]
            raise SourceError(path, f"duplicate run {r['space']}/{r['hash']}/{r['repeat']} (line {int(np.flatnonzero(dup)[0]) + 2})")
        bad_rep = ~df["repeat"].astype(str).str.fullmatch(r"repeat_[1-9]\d*")
        if bad_rep.any():
            raise SourceError(path, f"repeat {df['repeat'][bad_rep].iloc[0]!r} is not 'repeat_<n>'")
        if (df["epochs"] != EPOCHS).any():
            raise SourceError(path, f"expected {EPOCHS}-epoch runs only, found epochs {sorted(set(df['epochs']) - {EPOCHS})}")
        bad_gpu = sorted(set(df["gpu"]) - set(GPUS))
        if bad_gpu:
            raise SourceError(path, f"unexpected GPU(s) {bad_gpu}: the energy labels assume one GPU ({sorted(GPUS)})")
        if (df["trainable_params"] % 1 != 0).any() or (df["trainable_params"] <= 0).any():
            raise SourceError(path, "trainable_params must be positive integers")
        for c in NUMERIC:
            if not np.isfinite(df[c]).all():
                raise SourceError(path, f"column {c!r} has a missing or infinite value on line {int(np.flatnonzero(~np.isfinite(df[c]))[0]) + 2}")

        # cells: parse, validate, recompute the NB101 hash
        matrices, ops_list = [], []
        cache: dict[tuple[str, str], str] = {}
        for line, (space, h, m_txt, o_txt) in enumerate(zip(df["space"], df["hash"], df["matrix"], df["ops"]), start=2):
            key = (m_txt, o_txt)
            try:
                matrix, ops = json.loads(m_txt), json.loads(o_txt)
            except (TypeError, json.JSONDecodeError):
                raise SourceError(path, f"line {line}: matrix/ops are not JSON lists") from None
            if key not in cache:
                problem = _check_cell(matrix, ops, SPACES[space])
                if problem:
                    raise SourceError(path, f"line {line}: {problem}")
                cache[key] = nb101.hash_graph(matrix, ops)
            if cache[key] != h:
                raise SourceError(path, f"line {line}: hash {h} does not match its matrix/ops (NB101 hash {cache[key]})")
            matrices.append(canonical(matrix))
            ops_list.append(canonical(ops))
        df["matrix"], df["ops"] = matrices, ops_list

        # the enumerations the runs came from
        for space in progress.track(list(SPACES), "checking EC-NAS graph enumerations", total=len(SPACES)):
            gpath = folder / f"gg_{space}.json"
            files[f"{SUBDIR}/gg_{space}.json"] = gpath
            graphs = read_json(gpath)
            if not isinstance(graphs, dict) or not graphs:
                raise SourceError(gpath, "expected a JSON object: hash -> [matrix, labels]")
            sub = df[df["space"] == space].drop_duplicates("hash").set_index("hash")
            missing, extra = sorted(set(graphs) - set(sub.index)), sorted(set(sub.index) - set(graphs))
            if missing or extra:
                raise SourceError(gpath, f"{len(missing)} enumerated cell(s) without runs (e.g. {missing[:1]}) and "
                                         f"{len(extra)} trained cell(s) not enumerated (e.g. {extra[:1]})")
            for h, entry in graphs.items():
                if not (isinstance(entry, list) and len(entry) == 2):
                    raise SourceError(gpath, f"entry {h} is not [matrix, labels]")
                if canonical(entry[0]) != sub.at[h, "matrix"] or canonical(entry[1]) != sub.at[h, "ops"]:
                    raise SourceError(gpath, f"cell {h} differs from its runs in {CSV_NAME}")

        # one row per (space, cell): mean over repeats
        g = df.groupby(["space", "hash"], sort=True)
        for c in ("matrix", "ops", "trainable_params"):
            varying = g[c].nunique()
            if (varying > 1).any():
                space, h = varying[varying > 1].index[0]
                raise SourceError(path, f"{space}/{h}: {c} differs between repeats")
        first = g.first()
        means = g[[c for c in NUMERIC if c not in ("trainable_params", "epochs")]].mean()
        keys = first.index
        frame = pd.DataFrame({
            "native_id": [f"{space}/{h}" for space, h in keys],
            "space": self.space,
            "matrix": first["matrix"].to_numpy(),
            "ops": first["ops"].to_numpy(),
            "ecnas_space": [space for space, _ in keys],
            "nb101_hash": [h for _, h in keys],
            "n_vertices": [len(json.loads(o)) for o in first["ops"]],
            "n_repeats": g.size().to_numpy(),
            "trainable_params": first["trainable_params"].to_numpy(),
        })
        for c in ("n_vertices", "n_repeats", "trainable_params"):
            frame[c] = frame[c].astype("int64")
        columns = self._columns()
        for c in columns:
            if c.name in UPSTREAM:
                frame[c.name] = means[UPSTREAM[c.name]].to_numpy(dtype="float64")
        frame = frame[["native_id", "space", *[c.name for c in columns]]]
        n_multi = int((frame["n_repeats"] > 1).sum())
        notes = [
            f"{len(df)} runs of {len(frame)} (space, cell) pairs; labels are means over repeats "
            f"({n_multi} cells with 3 repeats in 4V9E, 1 repeat in 5V9E).",
            "The 91 cells of 4V9E reappear in 5V9E as separate trainings (different numbers): rows are keyed by space/hash.",
            "GPU names 'NVIDIA Quadro RTX 6000' and 'Quadro RTX 6000' (driver versions) are the same device.",
            "CO2 depends on the grid's carbon intensity at run time (44-201 g/kWh across runs), not only on the architecture.",
            "predicted_energy_kWh_108ep is carbontracker's extrapolation made at the intermediate evaluation for the run's own "
            "4 training epochs, not 108 (its ratio to measured energy is ~1.05 in 4V9E, ~1.86 in 5V9E); kept as info (pred_energy_kwh).",
        ]
        return CorpusTable(frame=frame, columns=columns, source_format="EC-NAS-Bench raw runs CSV + generated graphs JSON",
                           source_files=files, notes=notes)

    @staticmethod
    def _columns() -> list[Column]:
        src = CSV_NAME
        dev = "quadro-rtx-6000"
        on = "NVIDIA Quadro RTX 6000, CIFAR-10 training; mean over repeats"
        return [
            Column(name="matrix", kind="spec", dtype="str",
                   description="pruned upper-triangular adjacency matrix of the NB101 cell, canonical JSON"),
            Column(name="ops", kind="spec", dtype="str",
                   description="vertex labels, canonical JSON: -1 input, -2 output, 0 conv3x3-bn-relu, 1 conv1x1-bn-relu, 2 maxpool3x3"),
            Column(name="ecnas_space", kind="info", dtype="str", source=f"{src}:space",
                   description="EC-NAS subspace the run belongs to (4V9E: <=4 vertices, 5V9E: <=5 vertices)"),
            Column(name="nb101_hash", kind="info", dtype="str", source=f"{src}:hash",
                   description="NAS-Bench-101 graph hash of the cell (recomputed and checked on import)"),
            Column(name="n_vertices", kind="info", dtype="int64", description="vertices of the pruned cell, input and output included"),
            Column(name="n_repeats", kind="info", dtype="int64", description="training runs averaged into the labels"),
            Column(name="trainable_params", kind="info", dtype="int64", source=f"{src}:trainable_params",
                   description="trainable parameters of the network (identical across repeats)"),
            quality_label("cifar10", "train", "acc", f"{EPOCHS}ep", unit="fraction", higher_is_better=True, source=f"{src}:train_acc",
                          description=f"training accuracy after {EPOCHS} epochs (0-1); mean over repeats"),
            quality_label("cifar10", "valid", "acc", f"{EPOCHS}ep", unit="fraction", higher_is_better=True, source=f"{src}:val_acc",
                          description=f"validation accuracy (NB101's 10k held-out train images) after {EPOCHS} epochs (0-1); mean over repeats"),
            quality_label("cifar10", "test", "acc", f"{EPOCHS}ep", unit="fraction", higher_is_better=True, source=f"{src}:test_acc",
                          description=f"CIFAR-10 test accuracy after {EPOCHS} epochs (0-1); mean over repeats"),
            hardware_label("cifar10", "train_energy_kwh_4ep", dev, unit="kWh", source=f"{src}:energy_kWh_at_epochs",
                           description=f"energy (GPU+CPU, carbontracker) up to the {EPOCHS}-epoch evaluation; {on}"),
            hardware_label("cifar10", "train_time_s_4ep", dev, unit="s", source=f"{src}:training_time_s",
                           description=f"training time of the {EPOCHS} epochs; {on}"),
            hardware_label("cifar10", "total_energy_kwh", dev, unit="kWh", source=f"{src}:total_energy_kWh",
                           description=f"energy of the whole job (training, evaluations, overhead); {on}"),
            hardware_label("cifar10", "total_time_s", dev, unit="s", source=f"{src}:total_time_s",
                           description=f"wall-clock time of the whole job; {on}"),
            hardware_label("cifar10", "total_co2eq_g", dev, unit="g", source=f"{src}:total_co2eq_g",
                           description=f"CO2-equivalent of the whole job at the grid intensity of the time; {on}"),
            hardware_label("cifar10", "gpu_avg_power_w", dev, unit="W", source=f"{src}:gpu_avg_power_W",
                           description=f"average GPU power during the job; {on}"),
            Column(name="pred_energy_kwh", kind="info", dtype="float64", unit="kWh", device=dev,
                   source=f"{src}:predicted_energy_kWh_108ep",
                   description="carbontracker's extrapolated training energy as published (a prediction made at the intermediate "
                               "evaluation, not a measurement; see the card: not 108 epochs); mean over repeats"),
        ]


#: nabench column -> upstream CSV column, for the averaged labels.
UPSTREAM = {
    "cifar10__train_acc__4ep": "train_acc",
    "cifar10__valid_acc__4ep": "val_acc",
    "cifar10__test_acc__4ep": "test_acc",
    "cifar10__train_energy_kwh_4ep__quadro-rtx-6000": "energy_kWh_at_epochs",
    "cifar10__train_time_s_4ep__quadro-rtx-6000": "training_time_s",
    "cifar10__total_energy_kwh__quadro-rtx-6000": "total_energy_kWh",
    "cifar10__total_time_s__quadro-rtx-6000": "total_time_s",
    "cifar10__total_co2eq_g__quadro-rtx-6000": "total_co2eq_g",
    "cifar10__gpu_avg_power_w__quadro-rtx-6000": "gpu_avg_power_W",
    "pred_energy_kwh": "predicted_energy_kWh_108ep",
}
