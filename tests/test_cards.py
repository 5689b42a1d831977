"""Every corpus has a data card, and every card agrees with the corpus built from the real data."""

from __future__ import annotations

import pytest

from nabench import corpora
from nabench.corpora.cards import card_path, check_card, read_card

#: Corpora whose upstream data is not on CI machines; their cards are prose only.
NOT_BUILDABLE_HERE = {"onnx-bench"}
BUILDABLE = [n for n in corpora.names() if n not in NOT_BUILDABLE_HERE]


@pytest.mark.parametrize("name", corpora.names())
def test_every_corpus_has_a_card(name):
    assert card_path(name).exists(), f"run: nabench corpora build {name} && nabench corpora card {name}"


@pytest.mark.parametrize("name", BUILDABLE)
def test_card_agrees_with_corpus(name, corpus):
    problems = check_card(corpus(name))
    assert not problems, "\n".join(problems)


def test_card_check_catches_a_disagreement(corpus, monkeypatch):
    built = corpus("nasbench-graph")
    fm, prose = read_card("nasbench-graph")
    fm["counts"]["records"] = 26205
    monkeypatch.setattr("nabench.corpora.cards.read_card", lambda name: (fm, prose))
    assert any("'counts'" in p for p in check_card(built))


@pytest.mark.parametrize("name", sorted(NOT_BUILDABLE_HERE))
def test_unbuildable_corpus_card_explains_how_to_build(name):
    fm, prose = read_card(name)
    assert fm is None and f"nabench corpora build {name} --source" in prose
