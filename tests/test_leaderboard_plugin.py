"""Third-party path, end to end: a predictor in its own installable package (a wheel installed
into a fresh virtual environment), found through its entry point, is run, submitted, validated
and shown on the site; all through the ``nabench`` command of that environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pandas as pd
import yaml

PLUGIN = Path(__file__).parent / "plugin_example"


def test_third_party_predictor_run_submit_validate_build(corpus, tmp_path):
    corpus("nb101")
    src = tmp_path / "src"
    shutil.copytree(PLUGIN, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("nabench_plugin_example-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # nabench and its dependencies come from this environment (its .pth files included)
    Path(site, "nabench_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    subprocess.run([py, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    env = {**os.environ, "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}"}
    root = tmp_path / "leaderboard"

    def nabench(*args: str) -> str:
        r = subprocess.run([str(env_dir / "bin" / "python"), "-m", "nabench", *args], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
        assert r.returncode == 0, f"nabench {' '.join(args)}: {r.stderr}"
        return r.stdout

    out = nabench("run", "--predictor", "example-ridge", "--task", "nb101-cifar10", "--train-sizes", "20",
                  "--out", str(tmp_path / "preds.parquet")).strip()
    assert Path(out) == tmp_path / "preds.parquet"
    assert Path(nabench("submit", "example-ridge", "--predictions", out, "--root", str(root)).strip()) == \
        root / "submissions" / "example-ridge"
    card = yaml.safe_load((root / "submissions" / "example-ridge" / "card.yml").read_text())
    assert card["authors"] == ["Example Lab"] and card["version"] == "0.1.0" and card["license"] == "MIT"
    assert card["code_url"] == "https://example.org/nabench-plugin-example" and card["wall_time_s"]["nb101-cifar10"] > 0
    assert "example-ridge: ok (1 task(s), 10 splits scored)" in nabench("leaderboard", "validate", "--root", str(root))
    assert "site:" in nabench("leaderboard", "build", "--root", str(root))
    results = pd.read_csv(root / "results.csv")
    assert list(results["submission"]) == ["example-ridge"] and results["kendall_tau_b_mean"].iloc[0] > 0.2
    page = (root / "site" / "family-nb101-nb301.html").read_text()
    assert 'href="submission-example-ridge.html">example-ridge</a>' in page
    # the plugin is not visible to this interpreter: it lives only in the other environment
    assert subprocess.run([sys.executable, "-c", "import nabench_plugin_example"], capture_output=True).returncode != 0
