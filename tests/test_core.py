"""Unit tests of the pure stages: follow-ups, lists, composition, answerability, expansion."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa.answer import Sentence, compose, merge_in_order
from qa.answerability import FEATURES, Calibration, Evidence
from qa.chat import BadQuestion, clean_question, is_followup, parse_messages, resolve_followup
from qa.chunk import chunk_document
from qa.crosslingual import Glossary
from qa.keywords import tokenize
from qa.lang import detect_lang
from qa.records import Chunk, Document, Passage
from qa.structure import is_list_question, item_run

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "question,previous,lang,expected",
    [
        ("那岳阳呢？", "长沙片区的重点是什么？", "zh", "岳阳片区的重点是什么？"),
        ("郴州呢", "长沙片区的重点是什么？", "zh", "郴州片区的重点是什么？"),
        ("And Chenzhou?", "What is the Yueyang area's focus?", "en", "What is the Chenzhou area's focus?"),
        ("What about Changsha?", "What is the Yueyang area's focus?", "en", "What is the Changsha area's focus?"),
        ("它的面积有多大？", "湖南自贸区包括哪些片区？", "zh", "湖南自贸区包括哪些片区？ 它的面积有多大？"),
        (
            "How many tasks does it have?",
            "What is the Hunan FTZ?",
            "en",
            "What is the Hunan FTZ? How many tasks does it have?",
        ),
    ],
)
def test_follow_ups_are_resolved_against_the_previous_question(question, previous, lang, expected):
    assert resolve_followup(question, previous, lang) == expected


@pytest.mark.parametrize(
    "question,lang",
    [
        ("湖南自贸区的面积有多大？", "zh"),
        ("株洲如何对接湖南自贸区？", "zh"),
        ("When was the Shanghai FTZ approved?", "en"),
        ("What are Yueyang's priorities?", "en"),
    ],
)
def test_standalone_questions_are_never_rewritten(question, lang):
    assert not is_followup(question, lang)
    assert resolve_followup(question, "长沙片区的重点是什么？", lang) == question


def test_nothing_to_resolve_against_leaves_the_question_alone():
    assert resolve_followup("那岳阳呢？", "", "zh") == "那岳阳呢？"


def test_question_cleaning_and_message_validation():
    assert clean_question("  岳阳\x07片区\n的重点？ ", 100) == "岳阳片区的重点？"
    for bad in ("", "   ", "\x00\x01"):
        with pytest.raises(BadQuestion) as e:
            clean_question(bad, 100)
        assert e.value.key == "empty"
    with pytest.raises(BadQuestion) as e:
        clean_question("岳" * 101, 100)
    assert e.value.key == "too_long" and e.value.params == {"limit": 100}
    with pytest.raises(ValueError):
        parse_messages([{"role": "robot", "content": "x"}])
    with pytest.raises(ValueError):
        parse_messages([{"role": "assistant", "content": "x"}])
    assert parse_messages([{"role": "user", "content": "x"}])[0].content == "x"


def test_language_detection():
    assert detect_lang("岳阳片区的重点是什么？") == "zh"
    assert detect_lang("What are Yueyang's priorities?") == "en"
    assert detect_lang("What is 临港经济?") == "zh"


def test_bm25_tokens_include_bigrams_so_mis_segmented_words_still_match():
    assert "片区" in tokenize("湖南自贸区涵盖长沙、岳阳、郴州三大片区")
    assert "的" not in tokenize("岳阳片区的重点是什么")


@pytest.mark.parametrize(
    "question,lang,is_list",
    [
        ("湖南自贸区在全国首次提出了哪些改革事项？", "zh", True),
        ("株洲如何对接湖南自贸区？", "zh", True),
        ("What are the 7 fields of the 121 tasks?", "en", True),
        ("岳阳片区的重点是什么？", "zh", False),
        ("When was the Shanghai FTZ approved?", "en", False),
    ],
)
def test_list_questions_are_recognised(question, lang, is_list):
    assert is_list_question(question, lang) is is_list


@pytest.mark.parametrize(
    "question, counts",
    [
        ("What are the four ways Zhuzhou links up with the Hunan FTZ?", {4}),
        ("What are the 7 fields of the 121 tasks?", {7}),  # 121 tasks: beyond any list's length
        ("湖南自贸区的三大特色战略定位分别是什么？", {3}),
        ("报道分成哪四个部分？", {4}),
        ("株洲如何对接湖南自贸区？", set()),
        ("2020年有哪些项目获批？", set()),  # a year is no count
    ],
)
def test_the_number_of_items_a_list_question_states(question, counts):
    """A list question that says how many items it wants takes the list of that many among its
    best passages (Engine._list_answer)."""
    from qa.structure import stated_counts

    assert stated_counts(question) == counts


def _doc(text: str) -> Document:
    return Document("d.txt", "标题", text)


def _item_texts(chunks, items) -> list[str]:
    return [chunks[it.chunk].text[it.start - chunks[it.chunk].start : it.end - chunks[it.chunk].start] for it in items]


def test_a_numbered_list_is_recovered_whole_across_chunks_with_its_lead_in():
    items = "\n".join(f"({i})第{i}项改革事项的内容，说明它要做的事情和目标。" for i in range(1, 12))
    doc = _doc("前面的段落。\n方案首次提出了11项改革事项：\n" + items + "\n后面的段落。")
    chunks = tuple(chunk_document(doc, 60, 120))
    assert len(chunks) > 3
    middle = next(i for i, c in enumerate(chunks) if "(6)" in c.text)
    run = item_run(chunks, middle)
    texts = _item_texts(chunks, run)
    assert texts[0].startswith("方案首次提出了11项改革事项") and run[0].lead
    assert [t[:4] for t in texts[1:]] == [f"({i})第" for i in range(1, 10)] + ["(10)", "(11)"]
    assert sum(not it.lead for it in run) == 11


def _passage(text: str, start: int, rank: int) -> Passage:
    return Passage(Chunk(f"c{rank}", "d.txt", "标题", "", start, start + len(text), text), 1.0 / rank, rank)


def test_compose_numbers_citations_by_first_use_and_cites_only_contributors():
    p1, p2, p3 = _passage("甲句。乙句。", 0, 1), _passage("丙句。", 6, 2), _passage("丁句。", 9, 3)
    chosen = [Sentence(p2, 6, 9, "丙句。", ()), Sentence(p1, 0, 3, "甲句。", ())]
    a = compose("问题", "zh", "answered", [p1, p2, p3], chosen)
    assert a.text == "丙句。[1]甲句。[2]"
    assert [(c.number, c.chunk.chunk_id, c.quoted) for c in a.citations] == [
        (1, "c2", ("丙句。",)),
        (2, "c1", ("甲句。",)),
    ]
    assert all(q in c.chunk.text for c in a.citations for q in c.quoted)


def test_a_sentence_the_source_repeats_word_for_word_is_quoted_once():
    text = "其名意为出自神灵的。其名意为出自神灵的。它通常放在最后一章。"
    p = _passage(text, 0, 1)
    chosen = [Sentence(p, 0, 10, "其名意为出自神灵的。", ()), Sentence(p, 10, 20, "其名意为出自神灵的。", ())]
    chosen.append(Sentence(p, 20, 30, "它通常放在最后一章。", ()))
    a = compose("问题", "zh", "answered", [p], chosen)
    assert a.text == "其名意为出自神灵的。[1]它通常放在最后一章。[1]"
    assert a.citations[0].quoted == ("其名意为出自神灵的。", "它通常放在最后一章。")


def test_not_found_and_partial_say_so_in_the_question_language():
    p = _passage("甲句。", 0, 1)
    nf = compose("q", "en", "not_found", [p], [])
    assert nf.text == "The documents do not cover this question." and not nf.answered and nf.citations == ()
    part = compose("q", "zh", "partial", [p], [Sentence(p, 0, 3, "甲句。", ())], ("增值税", "税率"))
    assert "增值税、税率" in part.text and part.text.endswith("甲句。[1]") and part.answered
    # A partial answer that quotes a whole list still says what is missing, before the list.
    listed = compose("q", "zh", "partial", [p], [Sentence(p, 0, 3, "甲句。", ())], ("材料",), "共 1 条，出自《标题》：")
    assert listed.text.index("材料") < listed.text.index("共 1 条") < listed.text.index("甲句。[1]")
    assert compose("q", "zh", "answered", [p], [Sentence(p, 0, 3, "甲句。", ())], (), "共 1 条：").text.startswith(
        "共 1 条"
    )


def test_merge_keeps_the_list_and_adds_only_non_overlapping_sentences_in_order():
    p = _passage("一。二。三。四。", 0, 1)
    items = [Sentence(p, 0, 2, "一。", ()), Sentence(p, 4, 6, "三。", ())]
    extra = [Sentence(p, 6, 8, "四。", ()), Sentence(p, 0, 2, "一。", ())]
    assert [s.text for s in merge_in_order(items, extra)] == ["一。", "三。", "四。"]


def _calibration(answer_at: float = 0.8, partial_at: float = 0.3) -> Calibration:
    w = {"zh": [4.0, 0.0, 0.0, 0.0, 0.0], "en": [4.0, 0.0, 0.0, 0.0, 0.0]}
    return Calibration(
        w, {"zh": -2.0, "en": -2.0}, {"zh": answer_at, "en": answer_at}, {"zh": partial_at, "en": partial_at}
    )


@pytest.mark.parametrize(
    "coverage,missing,outcome",
    [(1.0, (), "answered"), (0.5, ("税率",), "partial"), (0.5, (), "answered"), (0.0, (), "not_found")],
)
def test_calibrated_decision_has_three_outcomes(coverage, missing, outcome):
    assert len(FEATURES) == 5
    ev = Evidence("zh", coverage, 1.0, 1.0, 0.9, 0.9, missing)
    assert _calibration().decide(ev) == outcome


def test_an_english_partial_names_the_questions_own_uncovered_words_as_typed():
    """Issue 11 part 2: the missing term is the user's English words, a name kept whole, never
    a Chinese expansion; a word is covered when one of its expansions occurs in the passages."""
    from types import SimpleNamespace

    import numpy as np

    from qa.answerability import _known_runs, _topic_coverage
    from qa.retrieve import Query

    glossary = Glossary.from_json(
        {
            "phrases": {"zhuzhou": ["株洲"], "free": ["自由"], "trade": ["贸易"], "port": ["口岸", "港口"]},
            "words": {"governor": [["省长", 1]]},
        }
    )
    retriever = SimpleNamespace(glossary=glossary)
    context = "株洲对接自由贸易试验区，建设口岸。"  # no 省长, no name for Xu Dazhe or Hainan
    question = "What did Governor Xu Dazhe say about the Zhuzhou Free Trade Port and Hainan?"
    q = Query(question, "en", np.zeros(1, np.float32))
    runs = _known_runs(question, retriever, context)
    coverage, missing = _topic_coverage(q, retriever, runs, context)
    assert missing == ("Governor Xu Dazhe", "Hainan")
    assert coverage == pytest.approx(1 - 4 / 8)  # Governor, Xu, Dazhe, Hainan of 8 name words
    assert all(m in question and not any("\u4e00" <= ch <= "\u9fff" for ch in m) for m in missing)
    # A word is covered once one of its expansions occurs: 省长 covers "Governor"; the names
    # have no expansion, so they stay missing even beside Chinese text that names them.
    wider = context + "省长徐达哲谈海南。"
    _, still_missing = _topic_coverage(q, retriever, _known_runs(question, retriever, wider), wider)
    assert still_missing == ("Xu Dazhe", "Hainan")


def test_glossary_maps_english_phrases_and_pinyin_names_onto_the_documents_words():
    g = Glossary.for_texts(["岳阳突出临港经济。", "潘才良介绍了自由贸易试验区的情况。"])
    assert "岳阳" in g.expand("What are Yueyang's priorities?")
    assert "潘才良" in g.expand("Who is Pan Cailiang?")
    assert "自由贸易试验区" in g.expand("What is a pilot free trade zone?")
    assert g.expand("How do I renew my passport?") == []
    assert g.knows("Pan Cailiang") and not g.knows("Hainan")


def test_english_coverage_of_a_passage_does_not_change_when_the_collection_grows():
    """Issue 9: refusal evidence is read from the retrieved passages, not from the collection.
    An English word is covered when any of its dictionary senses is in the passage; the query
    expansion keeps only a few senses per word, and which few changes as documents are added
    (a law brings 主管, 负责人, 主持 for "charge" and 监管 drops out), so coverage read through the
    expansion fell from 1.0 to 0.5 for the same passage."""
    from types import SimpleNamespace

    import numpy as np

    from qa.answerability import _corpus_coverage
    from qa.retrieve import Query

    page = (ROOT / "corpus" / "hunan-ftz-zhuzhou.txt").read_text(encoding="utf-8")
    law = "第一条 国务院交通主管部门掌管全国的交通安全工作，由其负责人主持。"
    passage = "商务粮食部门作为牵头单位，负责统筹协调和监管。"
    q = Query("Who is in charge of supervision?", "en", np.zeros(1, np.float32))
    alone, grown = Glossary.for_texts([page]), Glossary.for_texts([page, law])
    assert "监管" in alone.expand("charge") and "监管" not in grown.expand("charge")  # what moved
    coverage = [_corpus_coverage(q, SimpleNamespace(glossary=g), [], passage) for g in (alone, grown)]
    assert coverage == [1.0, 1.0]
    assert grown.senses("charge") >= alone.senses("charge") and "监管" in grown.senses("charges")
    # Nothing in the passage glosses as "weather": still uncovered, however large the glossary.
    weather = Query("Will the weather be fine?", "en", np.zeros(1, np.float32))
    assert _corpus_coverage(weather, SimpleNamespace(glossary=grown), [], passage) == 0.0


def test_expansion_is_the_same_in_every_process():
    """Python salts string hashes per process; an expansion that depended on set order gave
    the same English question different passages after a restart."""
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from qa.crosslingual import Glossary\n"
        "page = open('corpus/hunan-ftz-zhuzhou.txt', encoding='utf-8').read()\n"
        "g = Glossary.for_texts([page])\n"
        "for q in ['Where did the first China-Europe freight train from Zhuzhou go?',\n"
        "          'What does the plan say about international transport?', 'What are the zones?']:\n"
        "    print(g.expand(q))\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1 and "中欧" in outs.pop()


def test_a_question_naming_one_item_gets_that_item_whole():
    from qa.structure import named_item

    doc = _doc(
        "从几方面抓好对接：\n产业联动。以对接长沙片区为重点。着力提供配套服务。\n"
        "贸易平台联动。利用高桥大市场平台。依托中非经贸合作平台，建立对非贸易通道。开展对非二手车出口业务。\n"
        "园区及政策联动。建立园区协作机制。\n"
    )
    chunks = tuple(chunk_document(doc, 150, 300))
    i = next(i for i, c in enumerate(chunks) if "贸易平台联动" in c.text)
    heading, items = named_item(chunks, i, "株洲在贸易平台联动上有哪些具体打算？")
    text = "".join(_item_texts(chunks, items))
    assert heading == "贸易平台联动"
    # Heading with its first sentence, then one item per sentence (each gets its own marker).
    assert len(items) == 3
    assert "对非贸易通道" in text and "二手车出口" in text and "产业联动" not in text
    # A question that names no item gets nothing here (the whole run is answered instead).
    assert named_item(chunks, i, "株洲如何对接湖南自贸区？") == ("", [])
    assert len(item_run(chunks, i)) == 4


def test_a_colon_lead_in_brings_the_whole_paragraph_it_introduces():
    from qa.structure import colon_list

    doc = _doc(
        "前面的段落。\n翻看相关论述，对于制度创新的要求史无前例：\n"
        "“甲是试验田，不是自留地。”“乙是高地，不是洼地。”“丙是探索，不是优化程序。”\n"
        "另一段：\n只有一句话。\n"
    )
    chunks = tuple(chunk_document(doc, 150, 300))
    items = colon_list(chunks, 0)
    texts = _item_texts(chunks, items)
    assert items[0].lead and texts[0].endswith("史无前例：")
    assert ["甲" in texts[1], "乙" in texts[2], "丙" in texts[3]] == [True, True, True] and len(items) == 4
    # One sentence after a colon is a statement, not a list.
    at = doc.text.index("另一段")
    assert colon_list(chunks, 0, at=at) == []


def test_answer_type_nouns_are_not_topics():
    from qa.keywords import topic_words

    # 职务 names the kind of answer ("what post"), so a passage giving the post answers it ...
    assert topic_words("潘才良担任什么职务？") == ["潘才良"]
    # ... while a real topic the documents may lack (学历) stays a topic.
    assert "学历" in topic_words("王受文的学历是什么？")
    # The kind of description asked for: the answer describes the seed without saying 特点.
    assert "特点" not in topic_words("夜来香的种子有什么特点？") and "种子" in topic_words("夜来香的种子有什么特点？")


def test_a_heading_leads_the_answer_only_when_it_outscores_every_sentence_and_displaces_none():
    from qa.answer import select
    from qa.keywords import BM25

    body = "其中，加快转变政府职能方面有14项试验任务。在推动贸易高质量发展领域有28项试验任务。"
    heading = "提出121项制度创新试验任务"
    chunk = Chunk("c1", "d.txt", "标题", f"知多点 › {heading}", 0, len(body), body, heading=heading)
    p = Passage(chunk, 1.0, 1)
    first, second = Sentence(p, 0, 22, body[:22], (0.80,)), Sentence(p, 22, len(body), body[22:], (0.70,))
    bm25 = BM25.fit([tokenize(body)])

    def chosen(heading_sim: float) -> list[str]:
        candidates = [first, second, Sentence(p, 0, 0, heading, (heading_sim,))]
        return [s.text for s in select("试验任务", candidates, bm25)]

    without = [s.text for s in select("试验任务", [first, second], bm25)]
    assert chosen(0.95) == [heading, *without]  # leads, and the sentences stay as they were
    assert chosen(0.10) == without  # a weaker heading is not quoted


def test_sentences_embedded_at_answer_time_are_remembered_and_give_the_same_vectors() -> None:
    from fakes import CountingDocuments, HashingEmbedder

    from qa.embed import Remembered

    counting = CountingDocuments(HashingEmbedder())
    memo = Remembered(counting, size=3)
    first = memo.encode_documents(["岳阳片区", "郴州片区", "岳阳片区"])
    assert counting.seen == ["岳阳片区", "郴州片区"]  # a repeated text is embedded once
    again = memo.encode_documents(["郴州片区", "岳阳片区"])
    assert counting.seen == ["岳阳片区", "郴州片区"]  # nothing new: no forward pass
    np.testing.assert_array_equal(again, first[[1, 0]])
    np.testing.assert_array_equal(first, counting.inner.encode_documents(["岳阳片区", "郴州片区", "岳阳片区"]))
    # Bounded: the least recently used text is dropped and embedded again when asked.
    memo.encode_documents(["长沙片区", "株洲"])  # 岳阳 was used last: 郴州 is the oldest and goes
    memo.encode_documents(["郴州片区"])
    assert counting.seen[-1] == "郴州片区" and len(counting.seen) == 5
    assert memo.encode_documents([]).shape == (0, counting.dim)
    # QA_REMEMBER_SENTENCES=0: every call is a forward pass.
    off = Remembered(counting, size=0)
    before = len(counting.seen)
    off.encode_documents(["岳阳片区"])
    off.encode_documents(["岳阳片区"])
    assert counting.seen[before:] == ["岳阳片区", "岳阳片区"]


def test_two_adjacent_sentences_are_quoted_in_the_order_the_source_wrote_them() -> None:
    from qa.answer import select
    from qa.keywords import BM25

    parts = ["羊水栓塞是一种罕见的产科急症。", "指在分娩过程中羊水进入母体血液。", "产妇症状为呼吸困难。"]
    text = "".join(parts)
    p = _passage(text, 0, 1)
    cuts = [0, len(parts[0]), len(parts[0]) + len(parts[1]), len(text)]

    def sentence(i: int, sim: float) -> Sentence:
        return Sentence(p, cuts[i], cuts[i + 1], parts[i], (sim,))

    far = Sentence(_passage("另一篇文章说羊水栓塞。", 100, 2), 100, 111, "另一篇文章说羊水栓塞。", (0.89,))
    bm25 = BM25.fit([[]])
    # The best sentence continues the one before it: the two read as written; the far one follows.
    chosen = select("", [sentence(0, 0.88), sentence(1, 0.9), sentence(2, 0.1), far], bm25)
    assert [s.text for s in chosen] == [parts[0], parts[1], far.text]
    # Not adjacent: the best sentence leads and the other follows.
    chosen = select("", [sentence(0, 0.1), sentence(1, 0.9), far], bm25)
    assert [s.text for s in chosen] == [parts[1], far.text]
    chosen = select("", [sentence(0, 0.9), sentence(1, 0.1), sentence(2, 0.89)], bm25)
    assert [s.text for s in chosen] == [parts[0], parts[2]]


def test_a_sentence_nearly_as_good_as_the_best_is_quoted_after_it() -> None:
    """The sentence holding the answer is often the second best ("他是国家图书馆首位副馆长…" first,
    the sentence naming 宋建成 second): one scoring three quarters of the best is quoted after it,
    one scoring half of it is not (scores here: similarity scaled within the candidates)."""
    from qa.answer import select
    from qa.keywords import BM25

    texts = ["他是国家图书馆首位副馆长。", "宋建成曾任国家图书馆副馆长。", "馆藏丰富。", "另有分馆。"]
    bm25 = BM25.fit([[]])

    def chosen(second: float) -> list[str]:
        cands = [
            Sentence(_passage(t, 100 * i, i + 1), 100 * i, 100 * i + len(t), t, (sim,))
            for i, (t, sim) in enumerate(zip(texts, [0.9, second, 0.1, 0.1]))
        ]
        return [s.text for s in select("", cands, bm25)]

    assert chosen(0.7) == texts[:2]  # (0.7 - 0.1) / 0.8 = 0.75 of the best
    assert chosen(0.5) == texts[:1]  # 0.5 of the best


@pytest.mark.parametrize(
    "question,previous,lang,previous_lang,expected",
    [
        ("And Chenzhou?", "岳阳片区的重点是什么？", "en", "zh", ("郴州片区的重点是什么？", "zh")),
        ("What about Chenzhou?", "岳阳片区的重点是什么？", "en", "zh", ("郴州片区的重点是什么？", "zh")),
        ("那郴州呢？", "What are Yueyang's priorities?", "zh", "en", ("What are Chenzhou's priorities?", "en")),
        ("郴州呢？", "Will the Changsha area focus on?", "zh", "en", ("Will the Chenzhou area focus on?", "en")),
        # Same language, not elliptical, or a subject that does not map: not this rule's to resolve.
        ("那郴州呢？", "岳阳片区的重点是什么？", "zh", "zh", None),
        ("What does it cost?", "岳阳片区的重点是什么？", "en", "zh", None),
        ("And Atlantis?", "岳阳片区的重点是什么？", "en", "zh", None),
        ("And Chenzhou?", "", "en", "", None),
    ],
)
def test_a_follow_up_in_the_other_language_searches_the_earlier_question_with_its_subject_swapped(
    question, previous, lang, previous_lang, expected
):
    from qa.chat import resolve_across

    glossary = {"chenzhou": {"郴州"}}
    assert resolve_across(question, previous, lang, previous_lang, lambda x: glossary.get(x.lower(), ())) == expected


def test_names_are_romanised_as_english_text_spells_them():
    from qa.gist import romanise

    assert romanise("郴州") == "Chenzhou"
    assert romanise("岳阳") == "Yueyang"


def test_a_question_anchored_on_a_date_favours_the_sentence_with_that_date():
    from qa.answer_types import DATE_ANCHOR_BONUS, answer_type_bonus

    q = "1992年4月，罗保铭担任什么职务？"
    assert answer_type_bonus(q, "1992年4月，任中共天津市大港区委副书记、代区长。") == DATE_ANCHOR_BONUS
    assert answer_type_bonus(q, "1992年5月，任天津市某职。") == 0.0  # another month of the same year
    assert answer_type_bonus(q, "1969年5月参加工作，1971年8月加入中国共产党。") == 0.0
    assert answer_type_bonus("2017年，他做了什么？", "2017年4月，任全国人大华侨委员会副主任委员。") == DATE_ANCHOR_BONUS
    assert answer_type_bonus("1992年4月的事", "21992年4月") == 0.0  # digits run on: not that date


def test_a_why_question_answered_by_a_therefore_sentence_quotes_its_cause_first():
    from qa.answer import with_antecedent

    parts = ["吉斯伯恩有长时间的日照，肥沃的土壤和河川带来丰富的水源；", "因此，畜牧业发达；", "当地还有葡萄园。"]
    text = "".join(parts)
    p = _passage(text, 0, 1)
    cuts = [0, len(parts[0]), len(parts[0]) + len(parts[1]), len(text)]
    sentences = [Sentence(p, cuts[i], cuts[i + 1], parts[i], ()) for i in range(3)]
    therefore, other = sentences[1], sentences[2]
    assert [s.text for s in with_antecedent("为什么吉斯伯恩的畜牧业发达？", [therefore], sentences)] == parts[:2]
    assert [s.text for s in with_antecedent("Why is farming strong there?", [therefore, other], sentences)] == parts
    # Not a why-question, or a sentence that is not a consequence: unchanged.
    assert with_antecedent("吉斯伯恩的畜牧业怎么样？", [therefore], sentences) == [therefore]
    assert with_antecedent("为什么有葡萄园？", [other], sentences) == [other]
    # The cause already quoted is not quoted twice.
    assert with_antecedent("为什么畜牧业发达？", [therefore, sentences[0]], sentences) == [therefore, sentences[0]]


@pytest.mark.parametrize(
    "before, first",
    [
        ("后来一条兼定受到挑拨，一条军溃败，战死200余人。", "此战奠定了长宗我部元亲在土佐的霸权。"),
        ("1992年，他调任天津市委副书记。", "次年，他任天津市市长。"),
        ("2004年，占旭刚第三次参加奥运会，卫冕失败。", "赛后，占旭刚正式结束运动生涯。"),
        ("韩遂打算逃到蜀地，投靠刘备。", "但成公英反对，建议韩遂投靠羌人。"),
        # "these territories" inside the sentence, named in none of it: the sentence before says which.
        ("最终失去了瓦拉奇、多布罗加及基辅西部的诸属国。", "1362年，蓝帐汗国被立陶宛击败，割让出这些领土给立陶宛。"),
        ("申请人应当提交身份证明和住址证明。", "上述材料不全的，不予受理。"),
    ],
)
def test_a_sentence_that_points_back_is_quoted_after_what_it_points_to(before, first):
    from qa.answer import complete, wants_passage

    after = "下一段另有所述。"
    text = before + first + after
    p = _passage(text, 0, 1)
    cuts = [0, len(before), len(before) + len(first), len(text)]
    sentences = [Sentence(p, cuts[i], cuts[i + 1], [before, first, after][i], ()) for i in range(3)]
    assert wants_passage("问？", [sentences[1]])
    assert [s.text for s in complete("问？", [sentences[1]], sentences)] == [before, first]
    # A sentence that stands alone, or whose sentence before is already quoted, is left as it is.
    assert not wants_passage("问？", [sentences[0]])
    assert complete("问？", [sentences[0]], sentences) == [sentences[0]]
    assert complete("问？", [sentences[1], sentences[0]], sentences) == [sentences[1], sentences[0]]


def test_words_that_only_look_like_pointing_back_do_not_pull_the_sentence_before():
    from qa.answer import needs_antecedent

    p = _passage("其他企业也来了。此外还有展会。", 0, 1)
    # 他/她/其/该 mostly point to the article's subject, which the source card names.
    alone = ("其他企业也来了。", "此外还有展会。", "湖南自贸区涵盖三大片区。")
    alone += ("她曾获得10次冠军。", "该银行创立于1957年。")
    # "these castles" after the sentence has named the castles itself.
    alone += ("城市由十个设有护城墙的城堡组成，这些城堡用作礼仪及居住用途。",)
    for text in alone:
        assert not needs_antecedent("问？", [Sentence(p, 0, len(text), text, ())])


def test_a_clause_cut_at_a_semicolon_is_quoted_to_the_end_of_its_sentence():
    from qa.answer import MAX_CONTINUATION, complete, whole_sentences

    parts = ["本鱼头部光滑无鳞；", "齿为锥状；", "胸鳍基底有一圆形黑斑。", "另起一句。", "再一句；", "末句。"]
    text = "".join(parts)
    p = _passage(text, 0, 1)
    cuts = [0]
    for part in parts:
        cuts.append(cuts[-1] + len(part))
    units = [Sentence(p, cuts[i], cuts[i + 1], parts[i], ()) for i in range(len(parts))]
    assert [s.text for s in whole_sentences([units[0]], units)] == parts[:3]
    # A clause already chosen later is quoted once, where its sentence needs it.
    assert [s.text for s in whole_sentences([units[1], units[3], units[2]], units)] == [parts[1], parts[2], parts[3]]
    # Full sentences are left alone; a run of clauses stops after MAX_CONTINUATION more.
    assert whole_sentences([units[3]], units) == [units[3]]
    many = [Sentence(p, i * 2, i * 2 + 2, "甲；", ()) for i in range(MAX_CONTINUATION + 3)]
    assert len(whole_sentences([many[0]], many)) == MAX_CONTINUATION + 1
    # With a why-question both apply: the cause first, the clause completed after.
    because = ["风大；", "因此，船停了；", "次日才开。"]
    q = _passage("".join(because), 0, 2)
    b = [Sentence(q, 0, 3, because[0], ()), Sentence(q, 3, 10, because[1], ()), Sentence(q, 10, 15, because[2], ())]
    assert [s.text for s in complete("为什么船停了？", [b[1]], b)] == because


def test_a_sentence_holding_the_name_asked_about_is_favoured_when_the_name_singles_it_out():
    from qa.answer import NAME_BONUS, name_bonuses

    u = _units(["株洲以对接长沙片区为重点。", "郴州突出湘港澳直通。", "岳阳突出临港经济。", "郴州片区也有重点。"])
    assert list(name_bonuses(("郴州",), u[:3])) == [0.0, NAME_BONUS, 0.0]
    # A name most candidates hold singles none out; no names, no bonus.
    assert not name_bonuses(("郴州",), [u[1], u[3], u[0]]).any()
    assert not name_bonuses((), u).any()


def test_only_names_the_user_spelled_in_pinyin_steer_the_quote():
    """The glossary also maps "Tonkin" to 东京 and "African" to 中非: such names took quotes to
    sentences about something else (English CMRC sample)."""
    from types import SimpleNamespace

    from qa.crosslingual import Glossary
    from qa.engine import quoted_names

    g = Glossary.from_json({"phrases": {"chenzhou": ["郴州"], "tonkin": ["东京"], "pan cailiang": ["潘才良"]}})
    retriever = SimpleNamespace(glossary=g)
    en = SimpleNamespace(lang="en", text="What did Pan Cailiang say Chenzhou will do near Tonkin?")
    assert quoted_names(en, retriever) == ("潘才良", "郴州")
    assert quoted_names(SimpleNamespace(lang="zh", text="郴州的重点？"), retriever) == ()


def _units(parts: list[str]) -> list[Sentence]:
    """Sentences of one passage made of `parts` in order (a part may hold white space after it)."""
    p = _passage("".join(parts), 0, 1)
    out, at = [], 0
    for part in parts:
        out.append(Sentence(p, at, at + len(part.rstrip()), part.rstrip(), ()))
        at += len(part)
    return out


def test_a_sentence_that_opens_a_quotation_is_quoted_to_its_close():
    from qa.answer import MAX_QUOTATION, complete, whole_sentences

    parts = ["词典解释暴发户为：“一个人迅速获得财富。", "通常使用时，含义即不适应新的社会地位。”", "另一句。"]
    u = _units(parts)
    assert [s.text for s in whole_sentences([u[0]], u)] == parts[:2]
    assert [s.text for s in complete("词典怎么解释暴发户？", [u[0]], u)] == parts[:2]
    # A closed quotation, 「」 as well, is a whole sentence; one never closed stops after MAX_QUOTATION more.
    closed = _units(["他说：“好。”", "又一句。"])
    assert whole_sentences([closed[0]], closed) == [closed[0]]
    corner = _units(["他称「甲。", "乙」。", "丙。"])
    assert [s.text for s in whole_sentences([corner[0]], corner)] == ["他称「甲。", "乙」。"]
    endless = _units(["他说：“起。"] + ["又。"] * (MAX_QUOTATION + 3))
    assert len(whole_sentences([endless[0]], endless)) == MAX_QUOTATION + 1


def test_a_how_why_or_which_ones_question_brings_the_next_sentence_of_the_paragraph():
    from qa.answer import complete, wants_passage

    u = _units(["印度野驴与非洲野驴有些分别。", "牠们的毛多呈沙色。", "背上有深褐色斑纹。\n", "另一段。"])
    for q in ("印度野驴与非洲野驴有哪些分别？", "两者怎样区分？", "Why do they differ?", "How do they differ?"):
        assert wants_passage(q, [u[0]])
        assert complete(q, [u[0]], u) == [u[0], u[1]]
    # Right after the leading sentence, before the other chosen ones; a leading run of adjacent
    # sentences (a cause and its consequence) already tells its account.
    assert complete("有哪些分别？", [u[1], u[3]], u) == [u[1], u[2], u[3]]
    assert complete("有哪些分别？", [u[0], u[1], u[3]], u) == [u[0], u[1], u[3]]
    # Not across a paragraph break, and not twice.
    assert complete("有哪些分别？", [u[2]], u) == [u[2]]
    assert complete("有哪些分别？", [u[0], u[2], u[1]], u) == [u[0], u[2], u[1]]
    # A question for one fact (who, where, how many) keeps its one sentence ...
    # Several values at once (分别) and what someone did are accounts too.
    for q in ("两种野驴的毛色分别是什么？", "发现野驴后，他们做了什么？", "What did the herders do then?"):
        assert complete(q, [u[1]], u) == [u[1], u[2]]
    # (被称为什么 asks for a name: its 为 belongs to 称为, it is no "why")
    one_fact = ("印度野驴生活在哪里？", "印度野驴有多少只？", "How many wild asses are there?", "How large is it?")
    for q in (*one_fact, "印度野驴在当地被称为什么？", "它后来改名为什么？"):
        assert not wants_passage(q, [u[1]])
        assert complete(q, [u[1]], u) == [u[1]]
        # ... unless the sentence only announces what the next one says.
        assert wants_passage(q, [u[0]])
        assert complete(q, [u[0]], u) == [u[0], u[1]]


@pytest.mark.parametrize(
    "sentence,announces",
    [
        ("印度野驴与非洲野驴有些分别。", True),
        ("其主要特点如下：", True),
        ("具体措施包括以下几个方面。", True),
        ("两国的气候差异。", True),
        ("是指一个三个人的群体在同一时期中，陷入了类似以下的状况。", True),  # 以下 + a few words
        ("有以下几点：", True),
        ("牠们的毛多呈沙色。", False),
        ("下列情形除外，应当在三日内报告。", False),  # 下列 inside the sentence: it says its own rule
    ],
)
def test_a_sentence_that_only_announces_details(sentence, announces):
    from qa.answer import announces as says_more_follows

    assert says_more_follows(sentence) is announces


@pytest.mark.parametrize(
    "question,opening",
    [
        ("严长寿曾经担任过哪些职务？", "严长"),  # jieba: 严 / 长寿 — the name as typed
        ("六耳铃分布在哪些地区？", "六耳"),
        ("A-135共有几处发射基地？", "A-135"),
        ("“一轴”指的是什么？", "一轴"),
        ("蓍的别名是什么？", "蓍"),  # a one-character topic
        ("蓍分布在哪些地区？", "蓍"),
        ("岳阳片区的重点是什么？", "岳阳"),
        ("哪些地方种植黄蝉？", None),  # a question word
        ("此剧的制作人是谁？", None),  # a demonstrative: the topic is elsewhere
        ("在传说中，关于名将岳飞是怎样描述的？", None),  # a preposition
        ("2009年3月17日谁宣布解散政府？", None),  # a date
        ("文章说自贸试验区“刀刃向内”，具体是要改什么？", None),  # the document itself
        ("那郴州呢？", None),
    ],
)
def test_the_topic_a_chinese_question_opens_with(question, opening):
    from qa.keywords import topic_opening

    assert topic_opening(question) == opening


def test_a_question_about_a_topic_no_retrieved_passage_mentions_is_not_found():
    """严长寿 is not in the passages; 长寿王 is, so topic words alone (严 / 长寿) found it covered."""
    from types import SimpleNamespace

    from qa.answerability import _unmentioned, question_opening
    from qa.retrieve import Hit

    chunks = [SimpleNamespace(title="长寿王"), SimpleNamespace(title="六耳铃")]
    retriever = SimpleNamespace(chunks=chunks)
    hits = [Hit(0, 1.0, 0.9, 0.0), Hit(1, 0.5, 0.8, 0.0)]
    context = "475年9月，长寿王趁机率领三万大军讨伐百济。"

    def unmentioned(question: str, candidates: list[Hit]) -> str:
        return _unmentioned(question_opening(question, "zh"), retriever, candidates, context)

    assert unmentioned("严长寿曾经担任过哪些职务？", hits[:1]) == "严长"
    # A title holds the topic: the document is about it, whatever its passage says.
    assert unmentioned("六耳铃分布在哪些地区？", hits) == ""
    assert unmentioned("长寿王做了什么？", hits) == ""
    ev = Evidence("zh", 1.0, 1.0, 1.0, 0.9, 0.9, (), "严长")
    assert _calibration().decide(ev) == "not_found"
    assert _calibration().decide(replace(ev, unmentioned="")) == "answered"


def test_a_question_naming_a_retrieved_document_is_never_refused_outright():
    """牡蒿在什么季节开花？ over the article 牡蒿, which says 秋季开花: weak word evidence (no 季节) was
    refused. A question naming the document asks about it: it gets that document's closest
    passage as a partial answer, which says so. A longer name ending in the title is not it."""
    from qa.answerability import _named_title

    assert _named_title("牡蒿在什么季节开花？", ["菊科", "牡蒿"]) == "牡蒿"
    assert _named_title("文革期间，马飚从事什么工作？", ["马飚"]) == "马飚"
    assert _named_title("软枝黄蝉的别名是什么？", ["黄蝉"]) == ""  # another plant
    assert _named_title("MonoDevelop支持哪些语言？", ["Mono"]) == ""
    assert _named_title("What is AltiVec for?", ["AltiVec"]) == "AltiVec"
    assert _named_title("蓍的叶子有什么特点？", ["蓍"]) == ""  # one character names too much
    weak = Evidence("zh", 0.0, 0.0, 0.5, 0.9, 0.9, ("季节",))
    assert _calibration().decide(weak) == "not_found"
    assert _calibration().decide(replace(weak, named="牡蒿")) == "partial"
    # The opening the passages lack (文革, where they say 文化大革命) is not the topic then.
    assert _calibration().decide(replace(weak, coverage=1.0, unmentioned="文革", named="马飚")) == "answered"
    p = _passage("头状花序卵形，秋季开花。", 0, 1)
    part = compose(
        "q", "zh", "partial", [p], [Sentence(p, 0, 12, "头状花序卵形，秋季开花。", ())], ("季节",), about="牡蒿"
    )
    assert "《牡蒿》" in part.text and "季节" not in part.text and part.text.endswith("秋季开花。[1]")
    en = compose("q", "en", "partial", [p], [Sentence(p, 0, 12, "头状花序卵形，秋季开花。", ())], (), about="牡蒿")
    assert "“牡蒿”" in en.text and "question's words" in en.text


def test_an_answer_quoting_documents_that_never_name_the_topic_is_not_given():
    """A retrieved passage named 男子 in passing; the documents the answer would quote (a
    badminton championship) never do. A report's passage need not repeat its city: the document does."""
    from qa.answerability import question_opening
    from qa.answerability import topic_quoted as quoted_in

    def topic_quoted(question: str, lang: str, documents) -> bool:
        ev = Evidence(lang, 1.0, 1.0, 1.0, 0.9, 0.9, opening=question_opening(question, lang))
        return quoted_in(ev, documents)

    badminton = "香港公开羽毛球锦标赛本赛事由世界羽毛球联会认可，一般在每年的11月举行。"
    assert not topic_quoted("男子100米跑赛事什么时候举行？", "zh", [badminton])
    report = "对接湖南自贸区 打造世界级先进制造业集群株洲位于长株潭。…争取在本地举办中非经贸博览会分会场。"
    assert topic_quoted("株洲争取在本地举办什么展会活动？", "zh", ["第一份文件", report])
    # No topic to look for: a question word, a demonstrative, an English question.
    assert topic_quoted("哪些地方种植黄蝉？", "zh", [badminton])
    assert topic_quoted("What is Zhuzhou bidding to host?", "en", [badminton])
    # The documents are read only until one names the topic.
    read = []
    docs = (read.append(d) or d for d in [report, badminton])
    assert topic_quoted("株洲有哪些平台？", "zh", docs) and read == [report]
    # A question naming a document read for the answer is about that document.
    opening = question_opening("文革期间，马飚做什么？", "zh")
    named = Evidence("zh", 1.0, 1.0, 1.0, 0.9, 0.9, named="马飚", opening=opening)
    assert named.opening == "文革" and quoted_in(named, [badminton])


def test_a_question_asking_another_name_or_a_definition_favours_the_sentence_that_gives_it():
    """别名 is answered by 别称/又名…, which shares no word with the question; 什么是X by the
    sentence that opens with X and says what it is, not by any sentence that mentions X."""
    from qa.answer_types import ANSWER_TYPE_BONUS, answer_type_bonus

    alias = "盾柱木的别名是什么？"
    assert answer_type_bonus(alias, "别称双翼豆、闭䇲木、黄燄木及翅果木等。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus(alias, "因盾柱木的柱头形状貌如盾形，故而得名。") == 0.0
    assert answer_type_bonus("What else is the plant called?", "又名欧蓍、千叶蓍。") == ANSWER_TYPE_BONUS
    for q in ("什么是暴发户？", "暴发户是什么？", "“暴发户”指的是什么？"):
        assert answer_type_bonus(q, "暴发户（），也称为新贵，指一个人在短时间内致富。") == ANSWER_TYPE_BONUS
        assert answer_type_bonus(q, "这个词通常用来描述那些刚刚致富的暴发户。") == 0.0
    # "X的Y是什么" asks for Y of X, not for a definition of X.
    assert answer_type_bonus("岳阳片区的重点是什么？", "岳阳片区是湖南自贸区的三个片区之一。") == 0.0


def test_a_question_in_the_source_is_not_quoted_as_an_answer() -> None:
    """A report's own lead-in questions ("株洲为何要积极对接湖南自贸区？") share the user's words
    and answer nothing: the best sentence that is not a question is quoted, unless there is none."""
    from qa.answer import select
    from qa.keywords import BM25

    texts = ["株洲为何要积极对接湖南自贸区？", "株洲拥有雄厚的产业基础。", "馆藏丰富。"]
    bm25 = BM25.fit([[]])
    cands = [
        Sentence(_passage(t, 100 * i, i + 1), 100 * i, 100 * i + len(t), t, (sim,))
        for i, (t, sim) in enumerate(zip(texts, [0.95, 0.9, 0.1]))
    ]
    assert [s.text for s in select("", cands, bm25)] == [texts[1]]
    assert [s.text for s in select("", cands[:1], bm25)] == [texts[0]]  # nothing else to quote
