"""QA_RESCORE widens the sentences embedded alone to choose what to quote; the refusal model was
fitted (eval/calibrate.py) on the 3 best of them and must keep reading exactly those. With the
real models: with 6 sentences feeding the evidence, 3 more of the eval's unanswerable questions
were answered (refused 0.370 -> 0.259)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import ROOT

from qa.engine import Engine

pytestmark = pytest.mark.slow


def test_refusals_do_not_depend_on_how_many_sentences_are_embedded_to_quote(real_engine: Engine) -> None:
    def engine(rescore: int) -> Engine:
        settings = replace(real_engine.settings, rescore=rescore)
        return Engine(settings, real_engine.embedder, real_engine.second, latent=real_engine.latent)

    three, six = engine(3), engine(6)
    with open(ROOT / "eval" / "questions.jsonl", encoding="utf-8") as fh:
        # The Chinese ones: each question costs a real answer twice, and make test has a budget.
        questions = [q["question"] for q in map(json.loads, fh) if q["kind"] == "unanswerable" and q["lang"] == "zh"]
    assert len(questions) > 10
    for question in questions:
        a, b = three.ask(question), six.ask(question)
        # The evidence, its probability and the outcome; what is quoted may differ.
        assert (a.note, a.outcome) == (b.note, b.outcome), question
