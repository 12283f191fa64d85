"""The English gist of a quoted Chinese sentence (no model): names, numbers and dates come from
the sentence, words keep their order, and it is carried by the answer, the JSON and the CLI text."""

from __future__ import annotations

import re
from functools import lru_cache

import pytest
from conftest import ROOT
from pypinyin import lazy_pinyin

from qa import gist as gisting
from qa.answer import Sentence, compose
from qa.chunk import chunk_document
from qa.gist import LABEL, Part, cn_to_int, gist
from qa.indexer import quote_spans
from qa.load import load_corpus
from qa.output import to_json, to_text
from qa.records import Chunk, Passage
from qa.settings import Settings

_NUMERAL_CHARS = "〇零一二两三四五六七八九十百千万亿"


@lru_cache(maxsize=1)
def corpus_sentences() -> tuple[str, ...]:
    """Every sentence an answer can quote from the seed corpus (quotable spans and headings),
    and every line of its documents (list items are quoted by the line)."""
    s = Settings()
    docs = load_corpus(ROOT / "corpus", s.max_file_bytes).documents
    out: dict[str, None] = {}
    for d in docs:
        for c in chunk_document(d, s.chunk_min, s.chunk_max):
            for start, end in quote_spans(c):
                out[c.heading if start == end else d.text[start:end].strip()] = None
        for line in d.text.splitlines():
            if line.strip():
                out[line.strip()] = None
    return tuple(out)


def numbers_in(sentence: str) -> set[str]:
    """The numbers a sentence states: its digit strings, and the value of each whole run of
    Chinese numeral characters in it (一百二十一 states 121, not 120 and 1)."""
    found = set(re.findall(r"\d+(?:\.\d+)?", sentence))
    for run in re.findall(f"[{_NUMERAL_CHARS}]+", sentence):
        value = cn_to_int(run)
        if value is not None:
            found.add(str(value))
    return found


def reading(word: str) -> str:
    return "".join(lazy_pinyin(word, v_to_u=True)).lower()


def check(sentence: str) -> None:
    g = gist(sentence)
    assert g.sentence == sentence
    # Word order: every part's Chinese is in the sentence, each after the one before.
    at = 0
    for p in g.parts:
        found = sentence.find(p.zh, at)
        assert found != -1, (sentence, p)
        at = found + len(p.zh)
        if p.kind == "name":  # a pinyin name is the reading of a name that is in the sentence
            assert re.fullmatch(r"[A-Z][a-zü]*(?: [A-Z][a-zü]*)*", p.en), (sentence, p)
            assert p.en.replace(" ", "").lower() == reading(p.zh), (sentence, p)
    # Every number shown, whatever part it is in, is one the sentence states.
    stated = numbers_in(sentence)
    for n in re.findall(r"\d+(?:\.\d+)?", g.text):
        assert n in stated, (sentence, n, g.text)
    assert "translat" not in g.text.lower()


def test_every_number_and_pinyin_name_in_the_corpus_gists_comes_from_its_sentence() -> None:
    sentences = corpus_sentences()
    assert len(sentences) > 100
    for s in sentences:
        check(s)
    # The check above is not vacuous: the corpus gists do show names and numbers.
    parts = [p for s in sentences for p in gist(s).parts]
    assert {"Yueyang", "Chenzhou", "Zhuzhou", "Du Guochen"} <= {p.en for p in parts if p.kind == "name"}
    assert {"121", "119.76", "16.8%", "August 2013"} <= {p.en for p in parts if p.kind in ("number", "date")}


@pytest.mark.parametrize(
    "sentence",
    [
        "提出一百二十一项任务，二〇二五年六月三十日前完成。",
        "2017年4月，第五次会议在长沙召开，两个片区参加。",
        "习近平总书记指出，吕梁与郴州的合作已有十二年。",
        "外资占全国的16.8%，资产总额不低于2亿美元。",
    ],
)
def test_numbers_dates_and_names_of_made_up_sentences_hold(sentence: str) -> None:
    check(sentence)


def test_chinese_numerals_are_converted_and_digits_kept() -> None:
    assert [cn_to_int(x) for x in ("一百二十一", "二〇二五", "十二", "两", "三千五百万", "一")] == [
        121,
        2025,
        12,
        2,
        35_000_000,
        1,
    ]
    assert cn_to_int("十四五") is None  # a plan's name, not a number
    shown = {
        p.zh: p.en for p in gist("提出一百二十一项任务，2017年4月起第五次试点，2013年8月获批，去年9月24日揭牌。").parts
    }
    assert shown["一百二十一项"] == "121"
    assert shown["2017年4月"] == "April 2017" and shown["2013年8月"] == "August 2013"
    assert shown["9月24日"] == "24 September" and shown["第五次"] == "5th time"
    assert gist("实施范围119.76平方公里").parts[-2] == Part("119.76", "119.76", "number")


def test_the_gist_keeps_names_terms_and_first_senses_in_order_and_leaves_out_particles() -> None:
    g = gist("岳阳突出临港经济，打造长江中游综合性航运物流中心。")
    assert g.parts[0] == Part("岳阳", "Yueyang", "name")
    assert Part("临港经济", "port economy", "term") in g.parts  # the project's English
    assert g.text.startswith("Yueyang · prominent/outstanding · port economy, create/build · Yangtze River")
    assert "的" not in "".join(p.zh for p in gist("湖南自贸区的设立").parts)  # a particle has no gloss
    # A name: pinyin, capitals where the dictionary has them; a person jieba found: family name apart.
    assert Part("习近平", "Xi Jinping", "name") in gist("习近平总书记指出").parts
    assert Part("杜国臣", "Du Guochen", "name") in gist("商务部研究院专家杜国臣公开表示。").parts
    # The sense read as the sentence reads the word (重点 zhong4dian3, not chong2dian3 "recount").
    assert next(p for p in gist("重点对接").parts if p.zh == "重点").en.startswith("important point")
    # A word the dictionary lacks is glossed from its characters and marked as a guess.
    assert next(p for p in gist("开展矿石混配业务").parts if p.zh == "混配").en.endswith("(?)")


def _passage(text: str, chunk_id: str = "c1") -> Passage:
    return Passage(Chunk(chunk_id, "d.txt", "对接湖南自贸区", "", 0, len(text), text), 0.5, 1)


def test_an_english_answer_carries_a_gist_per_quote_in_json_and_text_and_a_chinese_one_none() -> None:
    first, second = "岳阳突出临港经济，打造长江中游综合性航运物流中心；", "湖南自贸区涵盖长沙、岳阳、郴州三大片区。"
    p1, p2 = _passage(first, "c1"), _passage(second, "c2")
    chosen = [Sentence(p1, 0, len(first), first, ()), Sentence(p2, 0, len(second), second, ())]
    en = compose("What are Yueyang's priorities?", "en", "answered", [p1, p2], chosen)
    sources = [s for s in to_json(en)["sources"] if s["n"] is not None]
    assert [len(s["gists"]) for s in sources] == [len(s["quoted"]) for s in sources] == [1, 1]
    g = sources[0]["gists"][0]
    assert g["sentence"] == first and g["gloss"] == gist(first).text and g["label"] == LABEL
    assert {"zh": "岳阳", "en": "Yueyang", "kind": "name"} in g["parts"]
    # The CLI's text: each gist on the line under its quote, labelled, before the next quote.
    text = to_text(en)
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith(first))
    assert lines[i] == f"{first}[1]" and lines[i + 1] == f"    {LABEL}: {gist(first).text}"
    assert lines[i + 2] == f"{second}[2]" and lines[i + 3].startswith(f"    {LABEL}: Hunan · free trade zone")
    # A list answer puts its items one per line: each gist sits between its item and the next.
    listed = to_text(compose("q", "en", "answered", [p1, p2], chosen, coverage="2 items:")).splitlines()
    i = listed.index(f"{first}[1]")
    assert listed[i + 1].startswith(f"    {LABEL}: Yueyang") and listed[i + 2] == f"{second}[2]"
    zh = compose("岳阳片区的重点是什么？", "zh", "answered", [p1, p2], chosen)
    assert all(s["gists"] == [] for s in to_json(zh)["sources"])
    assert LABEL not in to_text(zh)


def test_gists_are_cached_and_quick() -> None:
    import time

    gisting.warm()
    sentences = corpus_sentences()[:40]
    gisting.gist.cache_clear()
    t0 = time.perf_counter()
    for s in sentences:
        gist(s)
    per_sentence = (time.perf_counter() - t0) / len(sentences)
    assert per_sentence < 0.05, per_sentence  # an answer quotes ~3 sentences: well under its ~400 ms
    assert gist(sentences[0]) is gist(sentences[0])
