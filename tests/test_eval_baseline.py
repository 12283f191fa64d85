"""The eval's same-run baseline: the plain recipe over the engine's own index (the real e5 model
and FAISS index), so every figure `qa eval` prints on a collection has something to be a ratio to."""

from __future__ import annotations

import numpy as np

from eval.run import DenseBaseline, evaluate, render_side_by_side
from qa.chat import Turn


def test_the_baseline_answers_with_its_top_chunk_by_e5_similarity_alone(real_engine):
    base = DenseBaseline(real_engine)
    question = "岳阳片区的重点是什么？"
    a = base.ask(question)
    qvec = real_engine.embedder.encode_queries([question])[0]
    ranked = [p.chunk for p in a.passages]
    assert a.text == ranked[0].text and a.outcome == "answered" and not a.citations
    assert [p.rank for p in a.passages] == list(range(1, len(a.passages) + 1))
    assert all(x.score >= y.score for x, y in zip(a.passages, a.passages[1:]))
    # The scores are the e5 similarities of the stored chunk vectors, and no chunk beats the top one.
    rows = {c.chunk_id: i for i, c in enumerate(real_engine.stored.chunks)}
    vectors = np.asarray(real_engine.stored.vectors, np.float32)
    sims = [float(vectors[rows[c.chunk_id]] @ qvec) for c in ranked]
    assert np.allclose(sims, [p.score for p in a.passages], atol=1e-4)
    assert float((vectors @ qvec).max()) <= a.passages[0].score + 1e-4


def test_the_baseline_neither_refuses_nor_resolves_follow_ups(real_engine):
    base = DenseBaseline(real_engine)
    unanswerable = "湖南自贸区政务服务大厅几点开门、几点下班？"  # the page does not say (un-zh-002)
    assert base.ask(unanswerable).answered and not real_engine.ask(unanswerable).answered
    turns = [Turn("user", "岳阳片区的重点是什么？"), Turn("assistant", "…"), Turn("user", "那郴州呢？")]
    follow_up = base.ask(turns=turns)
    assert follow_up.searched_for == "那郴州呢？"
    assert real_engine.ask(turns=turns).searched_for != "那郴州呢？"  # ours resolves it


def test_the_eval_scores_the_baseline_as_it_scores_the_engine_and_prints_them_side_by_side(real_engine):
    questions = [
        {"id": "z1", "kind": "fact", "lang": "zh", "question": "岳阳片区的重点是什么？", "span": "临港经济"},
        {"id": "u1", "kind": "unanswerable", "lang": "zh", "question": "王受文的学历是什么？"},
    ]
    ours = evaluate(real_engine, questions)
    base = evaluate(DenseBaseline(real_engine), questions)
    assert base["refusal_rate"] == 0.0 and base["false_refusal_rate"] == 0.0
    assert base["zh_n"] == ours["zh_n"] == 1
    table = render_side_by_side(ours, base)
    assert "| Chinese R@1 / R@3 / MRR |" in table and "dense baseline" in table
    assert f"{base['zh_r1']:.3f} / {base['zh_r3']:.3f}" in table
