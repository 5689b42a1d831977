"""``nabench leaderboard build``: scores recomputed from predictions, results files, and the static
site driven in headless Chromium (no console errors, no network, sortable table, plot)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nabench.leaderboard.evaluator import Evaluator
from nabench.leaderboard.runner import read_predictions, run, write_predictions
from nabench.leaderboard.submissions import submit
from nabench.leaderboard.tasks import get_task, load_task_data

PLUGIN = Path(__file__).parent / "plugin_example"
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def card(name: str, predictor: str, family: str) -> dict:
    return {"name": name, "version": "1", "authors": ["nabench tests"], "code_url": "https://example.org/x", "paper": None,
            "license": "MIT", "predictor": predictor, "predictor_family": family, "uses_extra_data": False,
            "uses_proxies": [], "pretrained_on": [], "hardware": "2-core CPU", "wall_time_s": {}}


@pytest.fixture(scope="module")
def root(corpus, tmp_path_factory) -> Path:
    """A leaderboard with two real submissions on nb101-cifar10: ridge on graph statistics (two
    train sizes) and a training-free parameter-count ranking filed as a zero-cost proxy."""
    from nabench.registry import predictors

    corpus("nb101")
    sys.path.insert(0, str(PLUGIN))
    try:
        from nabench_plugin_example import GraphStatsRidge
    finally:
        sys.path.remove(str(PLUGIN))
    task = get_task("nb101-cifar10")
    tmp = tmp_path_factory.mktemp("site")
    root = tmp / "leaderboard"
    predictors._registered["example-ridge"] = GraphStatsRidge
    try:
        ridge = write_predictions(run("example-ridge", task, train_sizes=[20, 100]), tmp / "ridge.parquet",
                                  task=task, predictor="example-ridge")
    finally:
        predictors._registered.pop("example-ridge", None)
    submit("ridge", [ridge], root=root, card=card("Graph-stats ridge", "example-ridge", "baseline"))
    frame = run("example-ridge", task, train_sizes=[20, 100]) if "params" not in predictors.names() else run("params", task)
    proxy = write_predictions(frame, tmp / "params.parquet", task=task, predictor="params")
    submit("params-proxy", [proxy], root=root, card=card("params (proxy)", "params", "zc"))
    return root


def test_build_recomputes_every_score_from_the_predictions(root):
    from nabench.cli import app

    r = CliRunner().invoke(app, ["leaderboard", "build", "--root", str(root)])
    assert r.exit_code == 0, r.output
    assert f"site: {(root / 'site' / 'index.html').resolve()}" in r.output
    results = pd.read_csv(root / "results.csv")
    frame, _ = read_predictions(root / "submissions" / "ridge" / "predictions" / "nb101-cifar10.parquet")
    task = get_task("nb101-cifar10")
    data = load_task_data(task)
    taus = []
    for (size, seed), part in frame[frame.train_size == 100].groupby(["train_size", "seed"]):
        split = data.splits([size], [seed])[0]
        taus.append(Evaluator(task).eval(data.y_true(split), part.set_index("arch_id")["y_pred"])["kendall_tau_b"])
    row = results[(results.submission == "ridge") & (results.train_size == 100)].iloc[0]
    assert row["kendall_tau_b_mean"] == pytest.approx(pd.Series(taus).mean(), abs=1e-6)
    assert row["kendall_tau_b_std"] == pytest.approx(pd.Series(taus).std(ddof=1), abs=1e-6)
    assert row["n_seeds"] == 10 and 0.2 < row["kendall_tau_b_mean"] < 0.9
    doc = json.loads((root / "results.json").read_text())
    assert {r["submission"] for r in doc["results"]} == {"ridge", "params-proxy"}
    assert any(r["method"] == "PINAT" and r["values"]["1563"] == 0.784 for r in doc["reported"])
    for name in ("index.html", "family-nb101-nb301.html", "family-nb201-small-data.html", "submission-ridge.html"):
        assert (root / "site" / name).is_file()
    html = (root / "site" / "family-nb201-small-data.html").read_text()
    assert html.count('class="reported"') >= 7 and "PINAT Table 1" in html  # anchors shown, marked reported


def test_build_from_existing_predictions_is_fast_and_repeatable(root):
    import time

    from nabench.leaderboard.site import build

    build(root)
    first = (root / "results.csv").read_bytes()
    start = time.perf_counter()
    build(root)
    assert time.perf_counter() - start < 30
    assert (root / "results.csv").read_bytes() == first


def test_a_bad_submission_fails_the_build_and_leaves_results_untouched(root, tmp_path):
    from nabench.leaderboard.site import build
    from nabench.leaderboard.submissions import SubmissionError

    build(root)
    before = {p: p.read_bytes() for p in (root / "results.csv", root / "results.json", root / "site" / "index.html")}
    broken = root / "submissions" / "zz-broken"
    shutil.copytree(root / "submissions" / "ridge", broken)
    (broken / "card.yml").write_text((broken / "card.yml").read_text() + "spearman_rho: 0.99\n")
    try:
        with pytest.raises(SubmissionError, match="the card claims scores"):
            build(root)
    finally:
        shutil.rmtree(broken)
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.skipif(not CHROMEDRIVER.exists(), reason="needs Debian's chromium and chromium-driver (see .ci/run)")
def test_site_in_headless_chromium(root, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from nabench.leaderboard.site import build

    build(root)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--window-size=1200,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        page = (root / "site" / "family-nb101-nb301.html").resolve()
        driver.get(page.as_uri())
        table = driver.find_element(By.ID, "table-nb101-cifar10")
        names = lambda: [r.find_elements(By.TAG_NAME, "td")[0].text for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert sorted(names()) == ["Graph-stats ridge", "params (proxy)"]
        header = table.find_element(By.XPATH, ".//th[text()='N=20']")
        header.click()  # descending by Kendall at N=20
        first = names()
        values = [float(r.find_elements(By.TAG_NAME, "td")[3].get_attribute("data-sort"))
                  for r in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert values == sorted(values, reverse=True)
        header.click()  # ascending
        assert names() == first[::-1]
        plot = driver.find_element(By.ID, "plot-nb101-cifar10")
        assert plot.size["width"] > 300 and plot.size["height"] > 200
        assert len(plot.find_elements(By.CSS_SELECTOR, "polyline.series")) == 2
        assert driver.execute_script("return document.querySelector('#plot-nb101-cifar10 polyline').getTotalLength()") > 50
        assert driver.find_element(By.ID, "proxy-table").text.count("params (proxy)") == 1
        driver.save_screenshot(str(tmp_path / "leaderboard.png"))
        assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
        for link in ("index.html", "submission-ridge.html", "family-nb201-small-data.html"):
            driver.get((root / "site" / link).resolve().as_uri())
        console = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
        assert console == []
        requests = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        urls = {m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"}
        assert urls and all(u.startswith("file://") for u in urls), urls
    finally:
        driver.quit()
