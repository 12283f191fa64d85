"""A question that names something finds the passages about it: the document's title is
searchable with every chunk, names in the question pull the passages that carry them up, and
question words and parts of numbers do not count as the question's topic."""

from __future__ import annotations

import numpy as np
import pytest

from qa.answer import contains_word, keyword_coverage
from qa.keywords import BM25, tokenize, words
from qa.retrieve import Query, names

# A biography long enough for several chunks; only the first names its subject.
CAREER = "".join(
    f"{1970 + i}年{i % 12 + 1}月，任天津市第{i + 1}工作组组长兼第{i + 2}办公室主任，负责有关事务。" for i in range(40)
)
BIOGRAPHY = f"# 罗保铭\n\n罗保铭，天津人，中国政治人物。\n\n{CAREER}\n"
# Three other biographies: the subject's chunks are a quarter of the collection.
OTHERS = {"杨朝祥": "台北", "王受文": "北京", "潘才良": "株洲"}


@pytest.fixture
def engine_over_biographies(settings, fake_embedder):
    from qa.engine import Engine

    for p in settings.corpus_dir.iterdir():
        p.unlink()
    (settings.corpus_dir / "罗保铭.txt").write_text(BIOGRAPHY, "utf-8")
    for name, city in OTHERS.items():
        (settings.corpus_dir / f"{name}.txt").write_text(f"# {name}\n\n{CAREER.replace('天津', city)}\n", "utf-8")
    return Engine(settings, embedder=fake_embedder)


def test_every_chunk_of_a_document_is_found_by_its_title(engine_over_biographies):
    engine = engine_over_biographies
    chunks = engine.stored.chunks
    mine = [i for i, c in enumerate(chunks) if c.doc_id == "罗保铭.txt"]
    assert len(mine) >= 3 and sum("罗保铭" in chunks[i].text for i in mine) == 1
    bm25 = engine._state[1].bm25
    scores = bm25.scores(tokenize("罗保铭"))
    assert all(scores[i] > 0 for i in mine)
    assert all(scores[i] == 0 for i in range(len(chunks)) if i not in mine)


def test_a_documents_text_is_its_title_and_its_chunks_in_order_read_once(engine_over_biographies):
    """What the answer checks read as a document (topic_quoted): title, then the whole text."""
    documents = engine_over_biographies._state[1].documents
    text = documents.text("罗保铭.txt")
    assert text.startswith("罗保铭") and CAREER in text and "杨朝祥" not in text
    assert text.replace(" ", "").count("罗保铭，天津人") == 1
    assert documents.text("罗保铭.txt") is text  # cached: the same documents are read question after question


def test_passages_naming_what_the_question_names_come_first(engine_over_biographies):
    engine = engine_over_biographies
    retriever = engine._state[1]
    question = "1975年6月，罗保铭担任什么职务？"
    assert names(Query(question, "zh", np.zeros(1))) == ["罗保铭"]
    order = list(range(len(engine.stored.chunks)))[::-1]  # the other biographies' chunks first
    named = retriever.naming(Query(question, "zh", np.zeros(1)), order)
    assert {engine.stored.chunks[i].doc_id for i in named} == {"罗保铭.txt"}
    assert named == [i for i in order if engine.stored.chunks[i].doc_id == "罗保铭.txt"]  # fused order kept
    hits = engine.ask(question).passages
    assert hits[0].chunk.doc_id == "罗保铭.txt"


def test_names_include_book_titles_and_nothing_when_none_is_named():
    assert names(Query("《海国图志》的作者是谁？", "zh", np.zeros(1)))[0] == "海国图志"
    assert names(Query("自贸区今后的新方向是什么？", "zh", np.zeros(1))) == []


def test_which_words_are_not_topics_and_numbers_match_whole():
    assert "哪位" not in words("长谷川町子从师于哪位漫画家？")
    assert "哪所" not in words("马飚毕业于哪所大学？")
    assert contains_word("1992年4月，任区长", "4") and not contains_word("1984年3月，任主任", "4")
    assert contains_word("共4项", "4") and contains_word("abc", "b")
    bm25 = BM25.fit([["1992", "任"], ["1984", "任"]])
    question = "1992年4月担任什么"
    assert keyword_coverage(question, "1992年4月，任区长", bm25) > keyword_coverage(question, "1984年3月，任主任", bm25)


def test_a_word_that_asks_is_never_reported_as_a_missing_topic():
    from qa.keywords import topic_words

    # jieba tags these as nouns; a partial answer said "the documents do not mention 哪些地方".
    assert topic_words("哪些地方种植黄蝉？") == ["黄蝉"]
    assert topic_words("新加坡有哪几个商信？") == ["新加坡", "商信"]
    assert topic_words("这条路有多长？") == ["路"]
    # A name that holds a question word is still a name.
    assert topic_words("几内亚的首都是哪里？") == ["几内亚"]


def test_a_name_every_passage_of_one_document_carries_still_singles_that_document_out(settings, fake_embedder):
    """株洲 in most candidates (a page about Zhuzhou) favours no passage of that page, but in a
    collection it still tells the page from the laws around it that never name Zhuzhou."""
    from qa.engine import Engine

    for p in settings.corpus_dir.iterdir():
        p.unlink()
    page = "".join(f"株洲第{i}项工作由市商务局负责协调，各部门配合推进落实。" * 4 + "\n\n" for i in range(8))
    law = "".join(f"第{i}条 本条例由国务院有关部门负责协调，地方各级人民政府配合。" * 4 + "\n\n" for i in range(3))
    (settings.corpus_dir / "zhuzhou.txt").write_text(f"# 对接自贸区\n\n{page}", "utf-8")
    (settings.corpus_dir / "law1.txt").write_text(f"# 甲条例\n\n{law}", "utf-8")
    (settings.corpus_dir / "law2.txt").write_text(f"# 乙条例\n\n{law.replace('国务院', '省政府')}", "utf-8")
    engine = Engine(settings, embedder=fake_embedder)
    retriever, chunks = engine._state[1], engine.stored.chunks
    order = list(range(len(chunks)))[::-1]  # the laws first
    q = Query("株洲由哪个部门负责协调？", "zh", np.zeros(1))
    assert names(q) == ["株洲"]
    page_chunks = [i for i in order if chunks[i].doc_id == "zhuzhou.txt"]
    assert len(page_chunks) > len(order) / 3  # too common among passages to favour any of them
    assert retriever.naming(q, order) == page_chunks  # the page's passages, in fused order
    # Within the page alone the name singles nothing out: no list, as before.
    assert retriever.naming(q, page_chunks) == []


def test_an_english_words_coverage_does_not_fall_as_its_senses_grow():
    """Issue 9 (a collection, not a page): an English question's words are matched through their
    Chinese senses, and a large collection holds many more senses of each word ("pilot": 试点,
    but also 飞行员, 驾驶员 from the laws). Counting senses one by one made every sentence's share
    fall as the collection grew; a word now counts once, found when any of its senses is."""
    bm25 = BM25.fit([["试点", "株洲"], ["飞行员"], ["驾驶员"], ["岳阳"]])
    sentence = "株洲开展二手车出口业务试点。"
    page = (("试点",), ("株洲",))
    laws = (("试点", "飞行员", "驾驶员"), ("株洲",))
    assert keyword_coverage(page, sentence, bm25) == keyword_coverage(laws, sentence, bm25) == 1.0
    assert keyword_coverage(laws, "岳阳的飞行员。", bm25) < 1.0  # one word of two
    assert keyword_coverage((("岳阳",),), sentence, bm25) == 0.0
    assert keyword_coverage((), sentence, bm25) == 0.0


def test_passages_holding_the_kind_of_answer_asked_for_are_favoured(settings, fake_embedder):
    """湖南自贸区总共有多大？ ranked four passages about the zone above the one giving its area: a
    passage holding what is asked for (an area, a date) is a ranked list of its own."""
    from qa.engine import Engine

    for p in settings.corpus_dir.iterdir():
        p.unlink()
    about = [f"湖南自贸区第{n}项改革事项提出了新的制度创新。" * 10 for n in "一二三四五六七八"]
    area = "湖南自贸区涵盖长沙、岳阳、郴州三大片区，实施范围119.76平方公里。"
    (settings.corpus_dir / "page.txt").write_text("# 自贸区\n\n" + "\n\n".join([*about, area]) + "\n", "utf-8")
    engine = Engine(settings, embedder=fake_embedder)
    retriever, chunks = engine._state[1], engine.stored.chunks
    order = list(range(len(chunks)))
    with_area = [i for i in order if "平方公里" in chunks[i].text]
    assert with_area and len(with_area) < len(order) / 3
    assert retriever.typed(Query("湖南自贸区总共有多大？", "zh", np.zeros(1)), order) == with_area
    assert retriever.typed(Query("How large is the Hunan FTZ?", "en", np.zeros(1)), order) == with_area
    # A question asking for nothing in particular favours nothing, nor one asking for a number or
    # a time: every passage has some ("什么时候" is also answered by "自十八岁开始").
    assert retriever.typed(Query("湖南自贸区有哪些改革事项？", "zh", np.zeros(1)), order) == []
    assert retriever.typed(Query("湖南自贸区提出了多少项改革？", "zh", np.zeros(1)), order) == []
    assert retriever.typed(Query("湖南自贸区什么时候揭牌？", "zh", np.zeros(1)), order) == []


def test_what_kind_of_answer_a_question_asks_for():
    from qa.answer_types import ANSWER_TYPE_BONUS, answer_type_bonus

    assert answer_type_bonus("湖南自贸区总共有多大？", "实施范围119.76平方公里。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("湖南自贸区总共有多大？", "提出了11项改革事项。") == 0.0  # a count, not a size
    assert answer_type_bonus("他多大岁数？", "他今年45岁。") == ANSWER_TYPE_BONUS  # an age is a number
    assert answer_type_bonus("When was the Hunan FTZ unveiled?", "去年9月24日正式揭牌。") == ANSWER_TYPE_BONUS
    # "when" inside a who-question introduces a clause; it does not ask for a date.
    assert answer_type_bonus("Who was party secretary when the FTZ was unveiled?", "去年9月24日正式揭牌。") == 0.0
    # "Where" is answered by the sentence that places it, not by one that only names it.
    assert answer_type_bonus("乌石渔港在哪里？", "乌石渔港是位于台湾宜兰县头城镇的观光渔港。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("乌石渔港在哪里？", "乌石礁为立于乌石港中之乌礁石，乌石港之名由此而来。") == 0.0
    assert answer_type_bonus("夏尔在哪里出生的？", "1963年2月24日生于法国瓦尔省圣拉斐尔。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("Where is the Changsha area?", "长沙片区位于长沙市东部。") == ANSWER_TYPE_BONUS
    # "第几名" by a placing, not by the sentence about the race.
    assert answer_type_bonus("蒙泰罗获得第几名？", "最终蒙泰罗获得第3名。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("蒙泰罗获得第几名？", "只有3支车队的6辆赛车起跑。") == 0.0
    # "哪个朝代" by an era, which holds no year; a weekend (周末) is no era.
    assert answer_type_bonus("楚昭辅是哪一朝代的人？", "北宋开国功臣，著名将领。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("松平康忠是什么时期的武将？", "日本战国时代至江户时代前期的武将。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("楚昭辅是哪一朝代的人？", "他每逢周末都在府中宴客。") == 0.0
    # Where a name comes from (赐名, 由此得名), not the sentence that only gives the name.
    assert answer_type_bonus("李忠臣的名字是怎么来的？", "唐肃宗召至京师，赐名李忠臣。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("美庐别墅是怎么得名的？", "这幢别墅由此得名。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("李忠臣的名字是怎么来的？", "李忠臣（），原名董秦。") == 0.0
    # "现在 / 目前" by what holds now, not by a career's first steps; 体现在 asks no time.
    assert answer_type_bonus("蒋巨峰现在的职务是什么？", "现任全国人大环资委副主任委员。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("蒋巨峰现在的职务是什么？", "1981年7月参加工作。") == 0.0
    assert answer_type_bonus("新设计体现在什么方面？", "目前已停产。") == 0.0
    # "从哪里来" asks for a source, not a place.
    assert answer_type_bonus("报道里的图片是从哪里来的？", "图片来源于新湖南。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("英语“暴发户”一词源于哪里？", "这个词源自法语。") == ANSWER_TYPE_BONUS
    assert answer_type_bonus("报道里的图片是从哪里来的？", "株洲位于湖南省东部。") == 0.0
    # Any "came from" is no question of source: this one asks for a share.
    share = "What proportion of national imports and exports came from those 18 FTZs?"
    assert answer_type_bonus(share, "数据来源于商务部。") == 0.0


def test_an_answer_from_documents_that_never_name_the_topic_is_not_given(tmp_path):
    """The real models over two articles. A neighbour names 男子 in passing, so the topic counts
    as mentioned by the retrieved passages; but the answer would quote the badminton
    championship's date, from a document that never names it. The same question about the
    championship is answered from it."""
    from qa.engine import Engine
    from qa.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "羽毛球.txt").write_text(
        "# 香港公开羽毛球锦标赛\n\n香港公开羽毛球锦标赛是香港每年举办的国际羽毛球赛事。"
        "本赛事由世界羽毛球联会认可，香港羽毛球总会主办，一般在每年的11月举行。\n",
        "utf-8",
    )
    (corpus / "花样游泳.txt").write_text(
        "# 中国花样游泳队\n\n参加2008年北京奥运会的中国花样游泳队一行共计15人，其中运动员9人。"
        "队伍在男子项目之外的比赛中获得铜牌。\n",
        "utf-8",
    )
    engine = Engine(Settings.from_env(corpus_dir=corpus, index_dir=tmp_path / "index", data_dir=tmp_path / "data"))
    asked = engine.ask("男子100米跑赛事什么时候举行？")
    assert asked.outcome == "not_found", asked.note
    assert "11月" not in asked.text
    answered = engine.ask("香港公开羽毛球锦标赛一般什么时候举行？")
    assert answered.outcome != "not_found" and "11月举行" in answered.text, answered.note
