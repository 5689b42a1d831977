"""Task files and splits: strict parsing, deterministic splits (pinned hashes), no twin leaks."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from nabench.leaderboard.tasks import (
    TaskError,
    all_tasks,
    get_task,
    load_task_data,
    parse_task,
    pinned_units,
    split_fingerprint,
)

# sha256 over every split's train and test unit keys; a change here changes every published score
PINNED = {
    "nb101-cifar10": "9f3c881aab75132eab866b91fc98cc96bb9c409b84261c0e03df3d95704244df",
    "nb201-cifar10": "5423c44f883e7bc63d7b87385e75af2fcafc1cd1be8fb999771268d4cd00e6ee",
    "analognas-analog": "f947bb46811db1cb1b7adcc703086d8f7058bea9dba8ddb4f8b9a1204eb71682",
}


def test_every_shipped_task_parses_with_ten_seeds_and_required_families():
    tasks = all_tasks()
    assert all(len(t.seeds) == 10 for t in tasks.values())
    families = {t.family for t in tasks.values()}
    assert {"nb201-small-data", "nb201-latency", "analognas", "transnas-micro", "transnas-macro", "nasbench-graph",
            "nb101-nb301", "zero-shot"} <= families
    assert get_task("nb201-cifar10").train_sizes == (78, 156, 469, 781, 1563)
    assert len([t for t in tasks.values() if t.family == "nb201-latency"]) >= 4
    native = [t for t in tasks.values() if t.split_by == "native_id"]
    assert native and all("protocol" in t.title.lower() or t.protocol for t in native)


@pytest.mark.parametrize("text, problem", [
    ("name: bad\nversion: 1\nfamily: f\ntitle: t\ncorpus: nb101\ncorpus_version: 1.0.0\ntarget: x\n"
     "higher_is_better: true\ntrain_sizes: [10]\nseeds: [0]\ntest_sise: 5\n", "unknown key(s) ['test_sise']"),
    ("name: bad\nversion: 1\nfamily: f\ntitle: t\ncorpus: nb101\ncorpus_version: 1.0.0\ntarget: x\n"
     "higher_is_better: true\ntrain_sizes: [10]\nseeds: [0]\nsplit_by: native_id\n", "must name the published protocol"),
    ("name: other\nversion: 1\nfamily: f\ntitle: t\ncorpus: nb101\ncorpus_version: 1.0.0\ntarget: x\n"
     "higher_is_better: true\ntrain_sizes: [10]\nseeds: [0]\n", "must equal the file name"),
    ("name: bad\nversion: 1\nfamily: f\ntitle: t\ncorpus: nb101\ncorpus_version: 1.0.0\ntarget: x\n"
     "higher_is_better: yes please\ntrain_sizes: [10]\nseeds: [0, 0]\n", "higher_is_better must be true or false"),
])
def test_bad_task_files_are_refused_with_the_key(tmp_path: Path, text, problem):
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(TaskError) as e:
        parse_task(path)
    assert problem in str(e.value) and str(path) in str(e.value)


def test_unknown_task_names_the_known_ones():
    with pytest.raises(Exception, match="no leaderboard task named 'nb201-cifar11'.*nb201-cifar10"):
        get_task("nb201-cifar11")


@pytest.fixture(scope="module")
def nb101_data(corpus):
    corpus("nb101")
    return load_task_data(get_task("nb101-cifar10"))


@pytest.mark.parametrize("name", sorted(PINNED))
def test_splits_are_pinned_and_deterministic(corpus, name):
    """Splits need only the task file, the pinned units and the built corpus: no normalization."""
    task = get_task(name)
    corpus(task.corpus)
    assert split_fingerprint(load_task_data(task)) == PINNED[name]


def test_split_rules_fixed_test_nested_train_no_overlap(nb101_data):
    d = nb101_data
    splits = d.splits()
    assert len(splits) == 3 * 10
    tests = {tuple(d.test_units.index[s.test]) for s in splits}
    assert len(tests) == 1  # the same test set for every size and seed (proxies see the same one)
    for s in splits:
        train = set(d.train_pool.index[s.train])
        assert len(train) == s.train_size and not train & set(d.test_units.index)
    by_seed = {}
    for s in splits:
        by_seed.setdefault(s.seed, []).append(set(d.train_pool.index[s.train]))
    assert all(a <= b for sets in by_seed.values() for a, b in itertools.pairwise(sets))  # nested
    assert len({tuple(sorted(sets[0])) for sets in by_seed.values()}) == 10  # seeds differ


def test_arch_id_units_keep_isomorphic_twins_on_one_side(corpus):
    """NB201 has thousands of twins (several native ids, one arch_id): a unit is an arch_id."""
    corpus("nb201")
    task = get_task("nb201-cifar10")
    d = load_task_data(task)
    pinned = pinned_units("nb201", "1.0.0")
    assert pinned.nunique() < len(pinned)  # twins exist
    assert len(d.train_pool) + len(d.test_units) == pinned.nunique()
    twins = pinned.groupby(pinned).size()
    twin_ids = set(twins[twins > 1].index)
    split = d.splits([1563], [3])[0]
    train_arch = set(d.train_pool.index[split.train])
    test_arch = set(d.test_units.index[split.test])
    assert not train_arch & test_arch and twin_ids & train_arch and twin_ids & test_arch
    # the target of a twin unit is the mean of its records' labels
    y = corpus("nb201").labels("cifar10__test_acc__200ep")
    some = next(iter(twin_ids & test_arch))
    natives = pinned[pinned == some].index
    assert d.test_units.at[some, "y"] == pytest.approx(float(np.mean(y.loc[natives])))


def test_native_id_protocol_tests_on_all_the_others(corpus):
    corpus("nb201")
    d = load_task_data(get_task("nb201-cifar10-tnasp"))
    split = d.splits([78], [0])[0]
    assert len(split.test) == 15625 - 78 and len(d.test_units) == 15625


def test_zero_shot_trains_on_other_spaces_only(corpus):
    for name in ("nb101", "nb301", "nb201"):
        corpus(name)
    d = load_task_data(get_task("zs-nb201-cifar10"))
    assert set(d.train_pool["corpus"]) == {"nb101", "nb301"} and set(d.test_units["corpus"]) == {"nb201"}
    assert d.train_pool["y"].between(0, 1).all()  # percentile ranks within each source
    assert len(d.test_units) <= 2000
