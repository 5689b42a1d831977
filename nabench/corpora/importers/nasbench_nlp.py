"""NAS-Bench-NLP (Klyuchnikov et al., 2020): recurrent cells trained on WikiText-2.

NAS-Bench-NLP searches the recurrent cell of a 3-layer language model (AWD-LSTM-style
model in ``main_one_model_train.py``: embedding 400, hidden 600, tied weights, BPTT 70,
batch 20, Adam lr 1e-3, weight decay 1.2e-6, 50 epochs). A cell ("recipe", upstream spelling ``recepie``) is a JSON dict of named nodes,
each ``{"op": ..., "input": [...]}`` with ops ``linear``, ``blend``, ``elementwise_prod``,
``elementwise_sum`` and ``activation_{tanh,sigm,leaky_relu}``, inputs ``x`` and
``h_prev_0..2``, outputs ``h_new_0`` (plus ``h_new_1``/``h_new_2`` for cells with more
hidden states); ``custom_rnn.py`` builds the cell.

The release ships ``train_logs_wikitext-2/logs.zip``: one JSON log per training run with
the recipe (as a JSON string), ``recepie_id`` (index into the upstream recipe list),
hyper-parameters, ``num_params``, ``status`` and per-epoch ``train/val/test_losses``
(mean cross-entropy per token in nats = log-perplexity) and ``wall_times``. The zip is read
in memory (never extracted).

One row per architecture: runs are grouped by the recipe in canonical JSON (keys sorted,
no spaces). The 345 runs hold 291 distinct recipes: 48 recipes were trained under two or
three different ``recepie_id`` s, and id 1002429 has two runs (two ``experiment_id`` s).
Labels are the mean over a recipe's successful runs (status ``OK``, 50 finite epochs);
``n_runs`` / ``n_failed_runs`` say how many went in. Failed runs ("loss is nan!": the loss
diverged after 1-23 epochs) are kept as evidence of instability: an architecture whose
runs all failed stays in the table with NaN labels. ``native_id`` is the smallest
``recepie_id`` of the recipe; all its ids are in ``recipe_ids``.

The release's ``doc2vec_features_lowdim.csv`` (10-d doc2vec embeddings of 14,322 recipes,
made by ``make_arch_embeddings.ipynb`` for the PTB runs) is joined by ``recepie_id``, as
upstream code does; it covers 108 of the 291 WikiText-2 architectures.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from nabench.corpora.base import CorpusTable, Importer, Progress
from nabench.corpora.columns import Column, quality_label
from nabench.corpora.sources import check_unique, read_csv, require_file
from nabench.errors import SourceError

ZIP_NAME = "train_logs_wikitext-2_logs.zip"
DOC2VEC_NAME = "doc2vec_features_lowdim.csv"
SUBDIR = "nas_bench_nlp"
N_RUNS = 345
N_DOC2VEC = 14322
EPOCHS = 50
DATASET = "wikitext-2"
FIDELITY = f"{EPOCHS}ep"
DOC2VEC_DIMS = [f"v{i:02d}" for i in range(10)]
#: Keys every run log has.
RUN_KEYS = {
    "data", "recepie_id", "recepies_list_path", "cuda", "batch_size", "model", "emsize", "nhid", "nlayers",
    "dropout", "dropouth", "dropouti", "dropoute", "wdrop", "tied", "bptt", "lr", "wdecay", "epochs", "alpha",
    "beta", "log_interval", "clip", "eval_batch_size", "recepie", "experiment_id", "init_time", "num_params",
    "wall_times", "train_losses", "val_losses", "test_losses", "status",
}
#: Training settings that must be the same for every run (the labels assume one protocol).
SETTINGS = ("data", "batch_size", "model", "emsize", "nhid", "nlayers", "dropout", "dropouth", "dropouti",
            "dropoute", "wdrop", "tied", "bptt", "lr", "wdecay", "epochs", "alpha", "beta", "clip", "eval_batch_size")
NODE_OPS = {"linear", "blend", "elementwise_prod", "elementwise_sum",
            "activation_tanh", "activation_sigm", "activation_leaky_relu"}


def canonical_recipe(text: str) -> str:
    """A recipe as canonical JSON: keys sorted, no spaces (input order is kept: it matters)."""
    return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))


def _check_recipe(recipe: object) -> str | None:
    if not isinstance(recipe, dict) or not recipe:
        return "recipe is not a non-empty JSON object"
    for node, spec in recipe.items():
        if not isinstance(spec, dict) or set(spec) != {"op", "input"}:
            return f"node {node!r} is not {{op, input}}"
        if spec["op"] not in NODE_OPS:
            return f"node {node!r} has unknown op {spec['op']!r}"
        if not isinstance(spec["input"], list) or not spec["input"]:
            return f"node {node!r} has no inputs"
    if "h_new_0" not in recipe:
        return "recipe has no output node h_new_0"
    return None


class NASBenchNLPImporter(Importer):
    name = "nasbench-nlp"
    version = "1.0.0"
    title = "NAS-Bench-NLP (WikiText-2 training logs)"
    space = "nasbench-nlp"
    upstream = "fmsnew/nas-bench-nlp-release@a6d90a3"
    license = "Apache-2.0"
    citation = """@article{klyuchnikov2022nasbenchnlp,
  title={NAS-Bench-NLP: Neural Architecture Search Benchmark for Natural Language Processing},
  author={Klyuchnikov, Nikita and Trofimov, Ilya and Artemova, Ekaterina and Salnikov, Mikhail and Fedorov, Maxim and Filippov, Alexander and Burnaev, Evgeny},
  journal={IEEE Access}, volume={10}, pages={45736--45747}, year={2022},
  note={arXiv:2006.07116}}"""
    default_subdir = SUBDIR


    def read(self, source: Path, progress: Progress) -> CorpusTable:
        folder = self.data_folder(source)
        zip_path = require_file(folder / ZIP_NAME)
        runs = self._read_runs(zip_path, progress)
        d2v_path = folder / DOC2VEC_NAME
        d2v = read_csv(d2v_path, ["recepie_id", *DOC2VEC_DIMS], numeric=["recepie_id", *DOC2VEC_DIMS], rows=N_DOC2VEC)
        if (d2v["recepie_id"] % 1 != 0).any():
            raise SourceError(d2v_path, "recepie_id must be an integer")
        d2v["recepie_id"] = d2v["recepie_id"].astype("int64")
        check_unique(d2v["recepie_id"].astype(str), d2v_path, "recepie_id")
        d2v = d2v.set_index("recepie_id")

        groups: dict[str, list[dict]] = defaultdict(list)
        recipe_of_id: dict[int, str] = {}
        for run in runs:
            key = run["recipe"]
            rid = run["recepie_id"]
            if recipe_of_id.setdefault(rid, key) != key:
                raise SourceError(zip_path, f"recepie_id {rid} is used for two different recipes ({run['member']})")
            groups[key].append(run)

        rows = []
        for key, group in groups.items():
            ids = sorted({r["recepie_id"] for r in group})
            params = {r["num_params"] for r in group}
            if len(params) != 1:
                raise SourceError(zip_path, f"runs of recipe {ids} report different num_params {sorted(params)}")
            ok = [r for r in group if r["ok"]]
            with_d2v = [i for i in ids if i in d2v.index]
            row = {
                "native_id": str(ids[0]),
                "space": self.space,
                "recipe": key,
                "recipe_ids": " ".join(map(str, ids)),
                "n_runs": len(group),
                "n_failed_runs": len(group) - len(ok),
                "num_params": params.pop(),
                "doc2vec_recipe_id": with_d2v[0] if with_d2v else -1,
            }
            for label, values in self._labels(ok).items():
                row[label] = values
            for dim in DOC2VEC_DIMS:
                row[f"doc2vec_{dim}"] = float(d2v.at[with_d2v[0], dim]) if with_d2v else math.nan
            rows.append(row)
        columns = self._columns()
        frame = pd.DataFrame(rows).sort_values("native_id", key=lambda s: s.astype("int64"), kind="stable")
        frame = frame.reset_index(drop=True)[["native_id", "space", *[c.name for c in columns]]]
        for c in columns:
            if c.dtype != "str":
                frame[c.name] = frame[c.name].astype(c.dtype)
        n_d2v = int((frame["doc2vec_recipe_id"] >= 0).sum())
        n_failed_archs = int((frame["n_runs"] == frame["n_failed_runs"]).sum())
        notes = [
            f"{len(runs)} runs of {len(frame)} distinct recipes; labels are means over a recipe's successful runs "
            f"({int((frame['n_runs'] > 1).sum())} recipes have 2-3 runs, under different recepie_ids or experiment_ids).",
            f"{int(frame['n_failed_runs'].sum())} runs diverged ('loss is nan!'); {n_failed_archs} architectures have only "
            "failed runs and keep NaN labels.",
            f"doc2vec features (by recepie_id) exist for {n_d2v} of {len(frame)} architectures; the others are NaN.",
            "Architectures are identified by their exact recipe; isomorphic cells with different node names are not merged.",
        ]
        return CorpusTable(
            frame=frame, columns=columns, source_format="NAS-Bench-NLP release: WikiText-2 log zip + doc2vec CSV",
            source_files={f"{SUBDIR}/{ZIP_NAME}": zip_path, f"{SUBDIR}/{DOC2VEC_NAME}": d2v_path},
            notes=notes,
        )

    # -- reading the zip ----------------------------------------------------------------------
    def _read_runs(self, zip_path: Path, progress: Progress) -> list[dict]:
        try:
            zf = zipfile.ZipFile(zip_path)
        except (zipfile.BadZipFile, OSError) as e:
            raise SourceError(zip_path, f"not a readable zip archive (truncated?): {e}") from None
        runs: list[dict] = []
        settings: dict[str, object] | None = None
        with zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            others = [m.filename for m in members if not m.filename.endswith(".json")]
            if others:
                raise SourceError(zip_path, f"unexpected member(s) {others[:3]}: expected one JSON log per run")
            if len(members) != N_RUNS:
                raise SourceError(zip_path, f"expected {N_RUNS} run logs, found {len(members)} (truncated or wrong file?)")
            for m in progress.track(members, "reading NAS-Bench-NLP logs", total=len(members)):
                where = f"member {m.filename}"
                try:
                    log = json.loads(zf.read(m))
                except (zipfile.BadZipFile, OSError, EOFError) as e:
                    raise SourceError(zip_path, f"{where} cannot be read (truncated archive?): {e}") from None
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    raise SourceError(zip_path, f"{where} is not valid JSON: {e}") from None
                if not isinstance(log, dict) or not RUN_KEYS <= set(log):
                    missing = sorted(RUN_KEYS - set(log)) if isinstance(log, dict) else "all"
                    raise SourceError(zip_path, f"{where} lacks key(s) {missing}; is this a NAS-Bench-NLP training log?")
                these = {k: log[k] for k in SETTINGS}
                if settings is None:
                    settings = these
                    if "wikitext-2" not in str(log["data"]) or log["epochs"] != EPOCHS:
                        raise SourceError(zip_path, f"{where}: expected WikiText-2 runs of {EPOCHS} epochs, found {log['data']!r}, {log['epochs']!r} epochs")
                elif these != settings:
                    diff = sorted(k for k in SETTINGS if these[k] != settings[k])
                    raise SourceError(zip_path, f"{where} was trained with different settings {diff}: labels would not be comparable")
                try:
                    recipe = canonical_recipe(log["recepie"])
                except (TypeError, json.JSONDecodeError) as e:
                    raise SourceError(zip_path, f"{where}: recipe is not valid JSON: {e}") from None
                problem = _check_recipe(json.loads(recipe))
                if problem:
                    raise SourceError(zip_path, f"{where}: {problem}")
                curves = {}
                for k in ("train_losses", "val_losses", "test_losses", "wall_times"):
                    try:
                        curves[k] = np.asarray(log[k], dtype="float64")
                    except (TypeError, ValueError):
                        raise SourceError(zip_path, f"{where}: {k} is not a list of numbers") from None
                lengths = {len(v) for v in curves.values()}
                if len(lengths) != 1:
                    raise SourceError(zip_path, f"{where}: loss curves have different lengths {sorted(lengths)}")
                n = lengths.pop()
                finite = all(np.isfinite(curves[k]).all() for k in ("train_losses", "val_losses", "test_losses"))
                ok = log["status"] == "OK"
                if ok and (n != EPOCHS or not finite):
                    raise SourceError(zip_path, f"{where}: status OK but {n} epochs{'' if finite else ' with NaN losses'}")
                if not isinstance(log["recepie_id"], int) or not isinstance(log["num_params"], int):
                    raise SourceError(zip_path, f"{where}: recepie_id and num_params must be integers")
                runs.append({"member": m.filename, "recepie_id": log["recepie_id"], "recipe": recipe, "ok": ok,
                             "num_params": log["num_params"], "status": log["status"], **curves})
        return runs

    @staticmethod
    def _labels(ok: list[dict]) -> dict[str, float]:
        if not ok:
            return {c: math.nan for c in LABELS}
        per_run = []
        for r in ok:
            best = int(np.argmin(r["val_losses"]))
            per_run.append({
                LABELS[0]: r["train_losses"][-1],
                LABELS[1]: r["val_losses"][-1],
                LABELS[2]: r["test_losses"][-1],
                LABELS[3]: r["val_losses"][best],
                LABELS[4]: r["test_losses"][best],
                LABELS[5]: float(np.sum(r["wall_times"])),
            })
        return {k: float(np.mean([p[k] for p in per_run])) for k in LABELS}

    @staticmethod
    def _columns() -> list[Column]:
        src = f"{SUBDIR}/{ZIP_NAME}"
        nats = "nats per token (log-perplexity; perplexity = exp)"
        mean = "mean over the recipe's successful runs"
        cols = [
            Column(name="recipe", kind="spec", dtype="str",
                   description="recurrent cell as canonical JSON (keys sorted, no spaces): node -> {op, input}"),
            Column(name="recipe_ids", kind="info", dtype="str", source=f"{src}:recepie_id",
                   description="all upstream recepie_ids trained with this recipe, space separated"),
            Column(name="n_runs", kind="info", dtype="int64", description="training runs of this recipe in the zip"),
            Column(name="n_failed_runs", kind="info", dtype="int64",
                   description="runs whose loss became NaN (status 'loss is nan!'); excluded from the labels"),
            Column(name="num_params", kind="info", dtype="int64", source=f"{src}:num_params",
                   description="trainable parameters of the language model (same in every run)"),
            Column(name="doc2vec_recipe_id", kind="info", dtype="int64", source=DOC2VEC_NAME,
                   description="recepie_id whose doc2vec features are joined (-1: none in the file)"),
            quality_label(DATASET, "train", "loss", FIDELITY, unit="nats", higher_is_better=False, source=f"{src}:train_losses[-1]",
                          description=f"training loss after epoch {EPOCHS}, {nats}; {mean}"),
            quality_label(DATASET, "valid", "loss", FIDELITY, unit="nats", higher_is_better=False, source=f"{src}:val_losses[-1]",
                          description=f"validation loss after epoch {EPOCHS}, {nats}; {mean}"),
            quality_label(DATASET, "test", "loss", FIDELITY, unit="nats", higher_is_better=False, source=f"{src}:test_losses[-1]",
                          description=f"test loss after epoch {EPOCHS}, {nats}; {mean}"),
            quality_label(DATASET, "valid", "best_loss", FIDELITY, unit="nats", higher_is_better=False, source=f"{src}:min(val_losses)",
                          description=f"lowest validation loss over the {EPOCHS} epochs, {nats}; {mean}"),
            quality_label(DATASET, "test", "loss_at_best_valid", FIDELITY, unit="nats", higher_is_better=False,
                          source=f"{src}:test_losses[argmin(val_losses)]",
                          description=f"test loss at the epoch of lowest validation loss (upstream's benchmarking metric), {nats}; {mean}"),
            Column(name="train_wall_time_s", kind="info", dtype="float64", unit="s", source=f"{src}:sum(wall_times)",
                   description=f"wall-clock seconds of the {EPOCHS} training epochs (upstream GPU); {mean}"),
        ]
        cols += [Column(name=f"doc2vec_{d}", kind="info", dtype="float64", source=f"{DOC2VEC_NAME}:{d}",
                        description=f"doc2vec embedding of the recipe, dimension {d[1:]} (NaN: recipe not in the file)")
                 for d in DOC2VEC_DIMS]
        return cols


LABELS = (
    f"{DATASET}__train_loss__{FIDELITY}",
    f"{DATASET}__valid_loss__{FIDELITY}",
    f"{DATASET}__test_loss__{FIDELITY}",
    f"{DATASET}__valid_best_loss__{FIDELITY}",
    f"{DATASET}__test_loss_at_best_valid__{FIDELITY}",
    "train_wall_time_s",
)
