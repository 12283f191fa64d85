"""The model-free parts of eval/bench_cmrc.py: corpus generation, the baseline's splitter, scoring."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from eval.bench_cmrc import (
    DATA,
    ENGLISH,
    document_text,
    file_name,
    held_out,
    hit_rank,
    in_language,
    is_fact,
    load_articles,
    load_english,
    metrics,
    sample,
    split_spans,
    write_corpus,
)


def squad_file(tmp_path: Path, n: int = 20) -> Path:
    """n one-paragraph articles, ids out of numeric order in the file, one with an unsafe title."""
    data = []
    for i in reversed(range(n)):
        title = "A/B: 危险?名字" if i == 3 else f"条目{i}"
        data.append(
            {
                "id": f"TRIAL_{i * 10}",
                "title": title,
                "paragraphs": [
                    {
                        "id": f"TRIAL_{i * 10}",
                        "context": f"第{i}篇正文。答案是甲{i}乙。",
                        "qas": [
                            {
                                "id": f"TRIAL_{i * 10}_QUERY_0",
                                "question": f"第{i}篇的答案？",
                                "answers": [{"text": f"甲{i}乙", "answer_start": 9}],
                            }
                        ],
                    }
                ],
            }
        )
    path = tmp_path / "cmrc.json"
    path.write_text(json.dumps({"version": "v1.0", "data": data}, ensure_ascii=False), "utf-8")
    return path


def test_corpus_is_deterministic_and_holds_out_every_seventh_article(tmp_path: Path) -> None:
    articles = load_articles(squad_file(tmp_path))
    assert [a.aid for a in articles][:3] == ["TRIAL_0", "TRIAL_10", "TRIAL_20"]  # numeric, not string order
    out = held_out(articles)
    assert out == {"TRIAL_60", "TRIAL_130"}  # positions 6 and 13 of 20
    docs_a = write_corpus(tmp_path / "a", articles, out)
    docs_b = write_corpus(tmp_path / "b", list(reversed(articles)), out)
    assert docs_a == docs_b and len(docs_a) == 18 and set(docs_a.values()).isdisjoint(out)
    files_a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert files_a == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    unsafe = next(a for a in articles if a.aid == "TRIAL_30")
    assert file_name(unsafe) == "TRIAL_30_A_B_危险_名字.txt"
    text = (tmp_path / "a" / file_name(unsafe)).read_text("utf-8")
    assert text.splitlines()[0] == "# A/B: 危险?名字" and text == document_text(unsafe)
    # A rerun with fewer articles removes the files of the ones no longer sampled.
    write_corpus(tmp_path / "a", articles[:5], out)
    assert len(list((tmp_path / "a").iterdir())) == 5


def test_sample_is_a_fixed_subset_with_held_out_articles_in_proportion(tmp_path: Path) -> None:
    articles = load_articles(squad_file(tmp_path, n=70))
    out = held_out(articles)
    picked = sample(articles, 14)
    assert picked == sample(articles, 14) and len(picked) == 14
    assert sum(a.aid in out for a in picked) == 2
    assert sample(articles, None) == articles


def test_splitter_keeps_every_character_with_bounded_chunks_and_overlap() -> None:
    rng = random.Random(0)
    parts = ["\n\n", "\n", "。", "，", " ", "x" * 300] + list("甲乙丙丁戊己庚辛")
    for _ in range(50):
        text = "".join(
            rng.choice(parts) if rng.random() < 0.2 else rng.choice("甲乙丙丁") for _ in range(rng.randint(1, 1500))
        )
        spans = split_spans(text, 250, 50)
        assert spans[0][0] == 0 and spans[-1][1] == len(text)
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s0 < s1 <= e0 < e1  # no gap, always moving on
            assert e0 - s1 <= 50  # at most the overlap carried over
        assert all(0 < e - s <= 250 for s, e in spans)


def test_splitter_on_unpunctuated_text_makes_full_windows_overlapping_by_fifty() -> None:
    text = "字" * 600
    assert split_spans(text, 250, 50) == [(0, 250), (200, 450), (400, 600)]


def test_splitter_cuts_after_sentence_ends() -> None:
    text = "甲" * 150 + "。" + "乙" * 150 + "。"
    assert split_spans(text, 250, 50) == [(0, 151), (151, 302)]


def test_hit_needs_the_gold_document_and_the_answer_text() -> None:
    sources = [
        {"rank": 1, "doc": "other.txt", "text": "答案是 甲 乙"},  # answer, wrong document
        {"rank": 2, "doc": "gold.txt", "text": "别的内容"},  # right document, no answer
        {"rank": 0, "doc": "gold.txt", "text": "答案是甲乙"},  # cited beyond the ranking
        {"rank": 3, "doc": "gold.txt", "text": "答案是甲\n乙"},
    ]
    assert hit_rank(sources, "gold.txt", ("甲乙",)) == 3
    assert hit_rank(sources[:3], "gold.txt", ("甲乙",)) is None
    assert hit_rank(sources, "gold.txt", ("丙",)) is None


def test_fact_ignores_citation_markers_and_whitespace() -> None:
    assert is_fact("答案是甲[1]乙[2]。", ("甲乙",))
    assert is_fact("答案是 甲 乙", ("甲乙",))
    assert not is_fact("答案是甲[1]", ("甲乙",))
    assert not is_fact("anything", ("",))


def test_metrics_on_a_hand_made_example() -> None:
    def row(held: bool, rank: int | None, fact: bool, refused: bool = False, partial: bool = False) -> dict:
        return {"held_out": held, "rank": rank, "fact": fact, "refused": refused, "partial": partial, "ms": 100.0}

    m = metrics(
        [
            row(False, 1, True),
            row(False, 2, False),
            row(False, 5, False, partial=True),
            row(False, None, False, refused=True),
            row(True, None, False, refused=True),
            row(True, None, True, partial=True),
        ]
    )
    assert (m["r1"], m["r3"], m["r5"]) == (0.25, 0.5, 0.75)
    assert m["mrr"] == round((1 + 0.5 + 0.2) / 4, 4)
    assert m["facts"] == 0.25 and m["facts_top3"] == 0.5 and m["top3_n"] == 2
    assert m["refused_answerable"] == 0.25 and m["partial_answerable"] == 0.25
    assert m["refused_held_out"] == 0.5 and m["refused_or_partial_held_out"] == 1.0


def test_english_versions_replace_the_text_only_and_must_match_their_original(tmp_path: Path) -> None:
    articles = load_articles(squad_file(tmp_path))
    line = {"id": "TRIAL_10_QUERY_0", "question_en": "Answer of article 1?", "question_zh": "第1篇的答案？"}
    path = tmp_path / "en.jsonl"
    path.write_text(json.dumps({**line, "article": "TRIAL_10"}, ensure_ascii=False) + "\n", "utf-8")
    english = load_english(path, articles)
    questions = [q for a in articles for q in a.questions]
    asked = in_language(questions, "en", english)
    original = next(q for q in questions if q.qid == "TRIAL_10_QUERY_0")
    assert [(q.qid, q.text, q.answers, q.article) for q in asked] == [
        ("TRIAL_10_QUERY_0", "Answer of article 1?", original.answers, "TRIAL_10")
    ]
    assert in_language(questions, "zh", english) == questions
    # An English line whose Chinese original is not the CMRC question would be scored against
    # another question's answer: refused.
    path.write_text(json.dumps({**line, "question_zh": "第2篇的答案？", "article": "TRIAL_10"}) + "\n", "utf-8")
    with pytest.raises(ValueError, match="TRIAL_10_QUERY_0"):
        load_english(path, articles)


@pytest.mark.skipif(not DATA.exists(), reason="the CMRC trial file is not on this machine")
def test_the_english_file_covers_every_question_of_the_30_article_sample() -> None:
    articles = load_articles(DATA)
    english = load_english(ENGLISH, articles)  # raises on any line that does not match CMRC
    picked = sample(articles, 30)
    assert {q.qid for a in picked for q in a.questions} == set(english)
    assert any(a.aid in held_out(articles) for a in picked)
    lines = [json.loads(x) for x in ENGLISH.read_text("utf-8").splitlines() if x.strip()]
    assert all(x["translated_by"] == "project (not part of CMRC)" for x in lines)
    assert not any(ch >= "\u4e00" and ch <= "\u9fff" for x in lines for ch in x["question_en"])
