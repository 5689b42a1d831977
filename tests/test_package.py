"""The distribution: the wheel carries nabench, nabench.encoders, nabench.predictors and the cards."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
    )
    (whl,) = out.glob("nabench-*.whl")
    return whl


def test_wheel_maps_top_level_folders_into_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in (("nabench", "nabench"), ("encoders", "nabench/encoders"),
                            ("predictors", "nabench/predictors"), ("data_cards", "nabench/data_cards")):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".md") and "__pycache__" not in path.parts:
                assert f"{package}/{path.relative_to(REPO / folder).as_posix()}" in names, f"{path} is not packaged"
    assert "nabench/__init__.py" in names
    assert "nabench/encoders/__init__.py" in names
    assert "nabench/predictors/__init__.py" in names
    assert "nabench/data_cards/nb201.md" in names
    assert not any(n.startswith(("tests/", "encoders/", "predictors/", "data_cards/")) for n in names)


def test_wheel_installs_into_a_fresh_venv_and_imports(wheel, tmp_path):
    """Non-editable install; dependencies come from this environment through a path file."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # Our dependencies, without activating the editable install of nabench itself.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([py, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True)
    code = (
        "import nabench, nabench.encoders, nabench.predictors, nabench.corpora;"
        "from nabench.corpora.cards import card_path;"
        f"assert nabench.__file__.startswith({site!r}), nabench.__file__;"
        "assert card_path('nb201').exists();"
        "print(nabench.__version__)"
    )
    # run outside the repository, or `import nabench` would find the source folder
    result = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cli = subprocess.run([env_dir / "bin" / "nabench", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 0 and "corpora" in cli.stdout


def test_import_has_no_side_effects(tmp_path):
    """Importing nabench creates no folders and starts no threads."""
    home = tmp_path / "home"
    code = (
        "import threading, nabench, nabench.corpora, nabench.cli;"
        "assert threading.active_count() == 1, threading.enumerate()"
    )
    env = {"NABENCH_HOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert not home.exists()
