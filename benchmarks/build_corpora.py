"""Time building every corpus from its upstream files; record the results.

    python benchmarks/build_corpora.py            # all corpora buildable from $NABENCH_DATA
    python benchmarks/build_corpora.py nb201      # some of them

Each corpus is built into a fresh temporary store (cold: nothing cached by nabench) and
timed end to end (read, check, write Parquet). Results go to
``benchmarks/results/build_corpora.{json,md}`` with the machine they ran on.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
NOT_BUILDABLE_HERE = {"onnx-bench"}


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def main(names: list[str]) -> None:
    os.environ["NABENCH_HOME"] = tempfile.mkdtemp(prefix="nabench-bench-")
    from nabench import __version__, corpora

    names = names or [n for n in corpora.names() if n not in NOT_BUILDABLE_HERE]
    rows = []
    for name in names:
        start = time.perf_counter()
        corpus = corpora.build(name)
        seconds = time.perf_counter() - start
        size = (corpus.path / "records.parquet").stat().st_size
        rows.append({"corpus": name, "version": corpus.version, "records": corpus.manifest["n_records"],
                     "columns": len(corpus.columns), "build_s": round(seconds, 2), "parquet_mb": round(size / 2**20, 2)})
        print(f"{name:16s} {rows[-1]['records']:>7d} records {seconds:7.2f} s", file=sys.stderr)
    result = {"command": "python benchmarks/build_corpora.py " + " ".join(sys.argv[1:]),
              "nabench": __version__, "machine": machine(), "results": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "build_corpora.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Corpus build times",
        "",
        f"`{result['command'].strip()}` on {result['machine']['cpus']} CPUs, "
        f"{result['machine']['platform']}, Python {result['machine']['python']}, nabench {__version__}.",
        "Cold builds (fresh store) from the upstream files; wall time includes reading, checking and writing.",
        "",
        "| corpus | version | records | columns | build (s) | Parquet (MB) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['corpus']} | {r['version']} | {r['records']} | {r['columns']} | {r['build_s']} | {r['parquet_mb']} |" for r in rows]
    (RESULTS / "build_corpora.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
