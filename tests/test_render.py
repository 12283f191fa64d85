"""HTML rendering of answers and sources: escaped, linked, highlighted, folded (no gradio, no model)."""

from __future__ import annotations

import re

import pytest

from qa import render

LONG = (
    "湖南自贸区涵盖长沙、岳阳、郴州三大片区，实施范围119.76平方公里。长沙片区将重点对接“一带一路”建设，突出临空经济，"
    "打造全球高端装备制造业基地；\n岳阳突出临港经济，打造长江中游综合性航运物流中心、内陆临港经济示范区；"
    "郴州突出湘港澳直通，打造内陆地区承接产业转移和加工贸易转型升级重要平台以及湘粤港澳合作示范区。"
    "这是湖南改革开放进程中具有里程碑意义的大事。"
)
QUOTE = "岳阳突出临港经济，打造长江中游综合性航运物流中心、内陆临港经济示范区；"


def src(text: str, n: int | None, quoted: list[str], rank: int = 1, section: str = "") -> dict:
    return {
        "doc": "d.txt",
        "title": "对接湖南自贸区",
        "section": section,
        "text": text,
        "n": n,
        "rank": rank,
        "quoted": quoted,
        "start": 0,
        "end": len(text),
        "score": 0.1,
    }


def answered(answer: str = f"{QUOTE}[1]", searched_for: str = "岳阳片区的重点是什么？") -> dict:
    return {
        "answer": answer,
        "answered": True,
        "outcome": "answered",
        "searched_for": searched_for,
        "lang": "zh",
        "sources": [src(LONG, 1, [QUOTE], section="一、总体"), src("无关的段落。", None, [], rank=2)],
        "timings_ms": {},
    }


def not_found() -> dict:
    return {
        "answer": "文档中没有找到这个问题的答案。",
        "answered": False,
        "outcome": "not_found",
        "searched_for": "海南自贸港的个人所得税税率是多少？",
        "lang": "zh",
        "sources": [src("最近的段落一。", None, []), src(LONG, None, [], rank=2)],
        "timings_ms": {},
    }


def hrefs(html: str) -> set[str]:
    """Where the citation markers lead (not the "sources are below" link)."""
    return set(re.findall(r'class="qa-cite" href="#([^"]+)"', html))


def ids(html: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html))


def test_markers_link_to_their_sentence_in_a_source_card_that_exists() -> None:
    rec = answered()
    chat = render.answer_html(rec, 1, "岳阳片区的重点是什么？")
    panel = render.sources_panel([{"turn": 1, "question": "岳阳片区的重点是什么？", "record": rec}], "zh")
    assert '<a class="qa-cite" href="#a1-q1">[1]</a>' in chat
    assert hrefs(chat) == {"a1-q1"} and hrefs(chat) <= ids(panel) and "a1-s1" in ids(panel)
    assert "无关的段落" not in panel  # only cited passages are shown as sources


def test_a_bracketed_number_that_is_not_a_citation_stays_text() -> None:
    rec = answered(answer=f"见附件[7]。{QUOTE}[1]")
    assert hrefs(render.answer_html(rec, 1, "q")) == {"a1-q1"}
    assert "见附件[7]" in render.answer_html(rec, 1, "q")


def test_quoted_sentences_are_marked_in_the_passage() -> None:
    card = render.source_card(src(LONG, 1, [QUOTE]), 1, 1, "zh")
    assert f'<mark class="qa-q">{QUOTE}</mark>' in card
    assert "对接湖南自贸区" in card and 'id="a1-s1"' in card


def test_the_card_names_the_file_when_the_title_is_shared_and_shows_the_section_path() -> None:
    path = "第一编总则 › 第二章犯罪 › 第十七条"
    shared = {**src("短段落。", 1, [], section=path), "doc": "刑法/2020.md", "title_shared": True}
    card = render.source_card(shared, 1, 1, "zh")
    assert '<span class="qa-doc">对接湖南自贸区 <span class="qa-file">刑法/2020.md</span></span>' in card
    assert f'<div class="qa-sec">{path}</div>' in card and 'title="刑法/2020.md"' in card
    alone = render.source_card(src("短段落。", 1, [], section=path), 1, 1, "zh")
    assert "qa-file" not in alone and '<span class="qa-doc">对接湖南自贸区</span>' in alone
    untitled = render.source_card({**src("短段落。", 1, []), "title": ""}, 1, 1, "zh")
    assert '<span class="qa-doc">d.txt</span>' in untitled


def test_an_answer_limited_to_some_documents_says_where_it_looked() -> None:
    assert "范围：刑法/*" in render.answer_html(answered(), 1, "q", scope="刑法/*")
    assert "In: 刑法/*" in render.answer_html({**answered(), "lang": "en"}, 1, "q", scope="刑法/*")
    assert "qa-scope" not in render.answer_html(answered(), 1, "q")


def test_long_passages_fold_but_keep_the_quote_visible() -> None:
    assert len(LONG) > render.FOLD_CHARS
    card = render.source_card(src(LONG, 1, [QUOTE]), 1, 1, "zh")
    summary = card[card.index("<summary>") : card.index("</summary>")]
    assert "<details" in card and f'<mark class="qa-q">{QUOTE}</mark>' in summary  # shown while folded
    assert "郴州突出湘港澳直通" not in summary  # the rest waits behind "展开全文"
    short = render.source_card(src("短段落。", 1, ["短段落。"]), 1, 1, "zh")
    assert "<details" not in short and '<mark class="qa-q">短段落。</mark>' in short


def test_everything_from_documents_and_users_is_escaped() -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    rec = answered(answer=f"{evil}[1]", searched_for=evil)
    rec["sources"][0] = src(f"前文{evil}后文", 1, [evil])
    rec["sources"][0]["title"] = evil
    chat = render.answer_html(rec, 1, evil + "?")
    panel = render.sources_panel([{"turn": 1, "question": evil, "record": rec}], "zh")
    for html in (chat, panel):
        assert "<script" not in html and "<img" not in html
        assert "&lt;script&gt;" in html
    assert 'data-m="1">&lt;script&gt;' in panel


def test_no_blank_line_reaches_the_markdown_renderer() -> None:
    rec = answered(answer=f"第一句。\n\n{QUOTE}[1]")
    rec["sources"][0] = src("第一段。\n\n第二段。" * 20, 1, [QUOTE])
    html = render.answer_html(rec, 1, "q") + render.sources_panel([{"turn": 1, "question": "q", "record": rec}], "zh")
    assert "\n" not in html


@pytest.mark.parametrize(
    ("typed", "shown"),
    [("岳阳片区的重点是什么？", False), ("  岳阳片区的重点是什么？ ", False), ("那岳阳呢？", True)],
)
def test_searched_for_is_shown_only_when_it_differs(typed: str, shown: bool) -> None:
    html = render.answer_html(answered(), 2, typed)
    assert ("检索：岳阳片区的重点是什么？" in html) is shown


@pytest.mark.parametrize(("outcome", "badge"), [("answered", "已回答"), ("partial", "部分涵盖")])
def test_the_outcome_is_labelled(outcome: str, badge: str) -> None:
    rec = {**answered(), "outcome": outcome}
    assert f'qa-{outcome}">{badge}<' in render.answer_html(rec, 1, "q")
    en = {**rec, "lang": "en"}
    assert render.label(outcome, "en") in render.answer_html(en, 1, "q")


def test_not_found_offers_the_nearest_passages_linked() -> None:
    rec = not_found()
    chat = render.answer_html(rec, 3, "海南自贸港的个人所得税税率是多少？")
    panel = render.sources_panel([{"turn": 3, "question": "q", "record": rec}], "zh")
    assert "未找到" in chat and "文档中没有找到这个问题的答案。" in chat
    assert "您可能想问的相关段落" in chat
    assert hrefs(chat) == {"a3-s1", "a3-s2"} and hrefs(chat) <= ids(panel)
    assert "最近的段落一。</span>" in chat  # short: no ellipsis
    assert "湖南自贸区涵盖长沙、岳阳、郴州三大片区，实施范围119.76平方公里。长…" in chat
    assert "相关段落（未直接回答）" in panel and "<mark>" not in panel


def test_pieces_grow_one_cited_sentence_at_a_time() -> None:
    text = "文档只部分涉及这个问题。\n第一句。[1]第二句。[2]"
    got = render.pieces(text)
    assert got == ["文档只部分涉及这个问题。\n", "文档只部分涉及这个问题。\n第一句。[1]", text]
    assert render.pieces("") == [""]


def test_while_streaming_the_nearest_passages_wait_for_the_end() -> None:
    rec = not_found()
    streaming = render.answer_html(rec, 1, "q", text=rec["answer"][:4])
    assert "qa-maybe" not in streaming and "qa-streaming" in streaming and "qa-done" not in streaming
    assert 'class="qa-answer qa-done"' in render.answer_html(rec, 1, "q")


def test_earlier_answers_fold_and_the_latest_is_first() -> None:
    a, b = answered(), not_found()
    panel = render.sources_panel(
        [{"turn": 1, "question": "第一问", "record": a}, {"turn": 2, "question": "第二问", "record": b}], "en"
    )
    assert panel.index("第二问") < panel.index("第一问")
    assert '<details class="qa-group qa-earlier"><summary>第一问</summary>' in panel
    assert {"a1-s1", "a2-s1", "a2-s2"} <= ids(panel)  # old markers still lead somewhere
    assert "来源" in panel and "相关段落" in panel  # labelled in the answers' language (Chinese)


def test_empty_panel_explains_itself_in_both_languages() -> None:
    assert "答案引用的原文" in render.sources_panel([], "zh")
    assert "passages the answer cites" in render.sources_panel([], "en")


def test_status_lists_documents_and_skipped_files_with_reasons() -> None:
    html = render.status_html(
        {
            "documents": 2,
            "chunks": 30,
            "built_at": "2026-01-01T00:00:00",
            "docs": [{"doc": "a.txt", "title": "<b>A</b>", "chunks": 12}],
            "skipped": {"bad.txt": "binary file (contains NUL bytes), not text"},
        },
        running=True,
        last_error="",
        lang="zh",
        notes=["已保存：a.txt"],
    )
    assert "文件 2 篇" in html and "段落 30 个" in html and "2026-01-01" in html
    assert "正在后台更新索引" in html and "已保存：a.txt" in html
    assert '<td class="qa-doc-name">a.txt</td><td>&lt;b&gt;A&lt;/b&gt;</td><td class="qa-doc-chunks">12</td>' in html
    assert "<th>文件名</th><th>标题</th><th>段落数</th>" in html
    assert "bad.txt: binary file (contains NUL bytes), not text" in html


def test_status_shows_indexing_progress_while_a_refresh_runs():
    status = {"documents": 3, "chunks": 40, "built_at": "2026-11-25T10:00:00"}
    running = render.status_html(status, True, "", "zh", [], ("embedding", 64, 200))
    assert "embedding: 64/200" in running and '<progress value="64" max="200">' in running
    idle = render.status_html(status, False, "", "zh", [], None)
    assert "<progress" not in idle


# --- issue 13: one marker per sentence, copy text, header, languages -------------------------------

TWO = ("产业联动。以对接长沙片区为重点。", "贸易平台联动。利用高桥大市场平台。")


def list_answer() -> dict:
    """Two sentences quoted from one passage and one from another: three markers."""
    first = f"根据方案抓好对接：{TWO[0]}\n{TWO[1]}其余内容。"
    return {
        **answered(answer=f"{TWO[0]}[1]\n{TWO[1]}[1]\n{QUOTE}[2]"),
        "sources": [
            {**src(first, 1, list(TWO), section="二、对接"), "label": "对接湖南自贸区 › 二、对接"},
            {**src(LONG, 2, [QUOTE]), "label": "对接湖南自贸区"},
        ],
    }


def test_each_quoted_sentence_gets_its_own_marker_and_its_own_span() -> None:
    rec = list_answer()
    assert [(m.m, m.n, m.sentence) for m in render.markers(rec)] == [(1, 1, TWO[0]), (2, 1, TWO[1]), (3, 2, QUOTE)]
    chat = render.answer_html(rec, 4, "q")
    assert re.findall(r'href="#(a4-q\d)">\[(\d)\]', chat) == [("a4-q1", "1"), ("a4-q2", "2"), ("a4-q3", "3")]
    panel = render.sources_panel([{"turn": 4, "question": "q", "record": rec}], "zh")
    # Marker 2 leads to exactly the second sentence, inside the first card, which answers to 1 and 2.
    assert f'id="a4-q2" tabindex="-1" data-m="2">{TWO[1]}</mark>' in panel
    assert f'id="a4-q1" tabindex="-1" data-m="1">{TWO[0]}</mark>' in panel
    first_card = panel[panel.index('id="a4-s1"') : panel.index('id="a4-s2"')]
    assert '<span class="qa-num">1, 2</span>' in first_card and "a4-q3" not in first_card
    assert hrefs(chat) <= ids(panel)


def test_a_sentence_the_passage_wraps_over_lines_is_still_marked() -> None:
    rec = {
        **answered(answer="支持区内企业开展深加工结转，优化出口退税手续。[1]"),
        "sources": [
            src(
                "(1)支持区内企业开展深加工结转，优化出口退税\n手续。",
                1,
                ["支持区内企业开展深加工结转，优化出口退税手续。"],
            )
        ],
    }
    panel = render.sources_panel([{"turn": 1, "question": "q", "record": rec}], "zh")
    assert 'id="a1-q1" tabindex="-1" data-m="1">支持区内企业开展深加工结转，优化出口退税<br>手续。</mark>' in panel


def test_a_marker_whose_sentence_is_not_in_the_passage_still_leads_to_its_card() -> None:
    rec = {**answered(answer="文中没有的句子。[1]"), "sources": [src("别的内容。", 1, ["文中没有的句子。"])]}
    panel = render.sources_panel([{"turn": 1, "question": "q", "record": rec}], "zh")
    card = panel[panel.index('id="a1-s1"') :]
    assert 'id="a1-q1"' in card


def test_every_card_leads_back_to_its_answer() -> None:
    panel = render.sources_panel([{"turn": 2, "question": "q", "record": {**list_answer(), "lang": "en"}}], "zh")
    assert panel.count('<a class="qa-back" href="#qa-chat" data-turn="2">↑ Back to the answer</a>') == 2
    assert 'class="qa-text qa-t2"' in render.answer_html(list_answer(), 2, "q")


def test_cards_name_document_section_and_date() -> None:
    rec = list_answer()
    panel = render.sources_panel([{"turn": 1, "question": "q", "record": rec}], "zh", {"d.txt": "2026-01-02"})
    assert '<div class="qa-sec">二、对接 · 文件日期 2026-01-02</div>' in panel
    assert '<div class="qa-sec">文件日期 2026-01-02</div>' in panel  # no section: the date alone


def test_copy_gives_plain_text_with_markers_and_a_numbered_source_list() -> None:
    text = render.plain_text(list_answer(), {"d.txt": "2026-01-02"})
    assert text == (
        f"{TWO[0]}[1]\n{TWO[1]}[2]\n{QUOTE}[3]\n\n来源：\n"
        "[1, 2] 对接湖南自贸区 › 二、对接（文件日期 2026-01-02）\n[3] 对接湖南自贸区（文件日期 2026-01-02）"
    )
    nearest = render.plain_text({**not_found(), "lang": "en"})
    assert nearest.startswith("文档中没有找到这个问题的答案。\n\nNearest passages:\n[1] 对接湖南自贸区: 最近的段落一。")
    html = render.answer_html(list_answer(), 1, "q")
    assert '<div class="qa-plain">' in html and "&#10;&#10;来源：&#10;[1, 2]" in html and "\n" not in html
    assert "qa-plain" not in render.answer_html(list_answer(), 1, "q", text=TWO[0])  # not while streaming


def english_answer() -> dict:
    """An English question's answer: two quotes, each with its gist (as qa.output.to_json gives it)."""
    from qa.gist import gist
    from qa.output import gist_json

    first, second = "岳阳突出临港经济；", "湖南自贸区实施范围119.76平方公里。"
    text = f"岳阳突出临港经济，打造航运物流中心。{second}"
    return {
        **answered(answer=f"From the Chinese sources:\n{first}[1] {second}[1]"),
        "lang": "en",
        "searched_for": "What are Yueyang's priorities?",
        "sources": [
            {**src(text, 1, [first, second]), "gists": [gist_json(gist(first)), gist_json(gist(second))]},
            {**src("无关的段落。", None, [], rank=2), "gists": []},
        ],
    }


def test_each_quote_of_an_english_answer_shows_its_gist_labelled_as_a_gloss() -> None:
    rec = english_answer()
    chat = render.answer_html(rec, 1, "What are Yueyang's priorities?")
    shown = re.findall(r'<span class="qa-gist" lang="en"><span class="qa-gist-label">(.*?)</span> (.*?)</span>', chat)
    assert shown == [
        ("Word-by-word dictionary gloss, not a translation:", "Yueyang · prominent/outstanding · port economy;"),
        (
            "Word-by-word dictionary gloss, not a translation:",
            "Hunan · free trade zone · implement/carry out · range/scope · 119.76 · square kilometer.",
        ),
    ]
    # Each gist stands right after its own sentence's marker, in the answer's order.
    assert re.search(r'href="#a1-q1">\[1\]</a><span class="qa-gist"[^>]*>.*?</span>[^<]*</span>湖南自贸区', chat)
    assert chat.index('href="#a1-q2"') > chat.index("Yueyang ·")
    # The copied text keeps each gist on the line under its quote.
    plain = render.plain_text(rec)
    assert "岳阳突出临港经济；[1]\n    Word-by-word dictionary gloss, not a translation: Yueyang ·" in plain
    assert "square kilometer.\n\nSources:" in plain and "\n湖南自贸区实施范围" in plain
    # A Chinese answer has none; gists are escaped like all document text.
    assert "qa-gist" not in render.answer_html(answered(), 1, "q")
    evil = english_answer()
    evil["sources"][0]["gists"][0]["gloss"] = "<script>x</script>"
    assert "<script>" not in render.answer_html(evil, 1, "q")


def test_labels_follow_the_answers_language_not_the_interface() -> None:
    """An English question asked in the Chinese interface gets English labels on its answer and
    its sources, and a Chinese question in the English interface Chinese ones."""
    en = english_answer()
    html = render.answer_html(en, 1, "What are Yueyang's priorities?")
    assert "Answered" in html and "已回答" not in html and "The quoted passages are below" in html
    panel = render.sources_panel([{"turn": 1, "question": "What are Yueyang's priorities?", "record": en}], "zh")
    assert "Question: What" in panel and '<div class="qa-group-h">Sources</div>' in panel and "来源" not in panel
    assert "Show the whole passage" in render.sources_panel(
        [{"turn": 1, "question": "q", "record": {**answered(), "lang": "en"}}], "zh"
    )
    zh_panel = render.sources_panel([{"turn": 1, "question": "q", "record": answered()}], "en")
    assert "已回答" in render.answer_html(answered(), 1, "q") and '<div class="qa-group-h">来源</div>' in zh_panel
    # Both answers in one conversation: each keeps its own language.
    both = render.sources_panel(
        [{"turn": 1, "question": "q", "record": answered()}, {"turn": 2, "question": "q2", "record": en}], "zh"
    )
    assert '<div class="qa-group-h">来源</div>' in both and '<div class="qa-group-h">Sources</div>' in both
    assert "passages the answer cites" in render.sources_panel([], "en")  # the empty panel: the interface's


def test_the_header_names_the_collection_in_the_interface_language() -> None:
    zh = render.header_html("zh", 3, "2026-11-30")
    assert "<h1>文件问答</h1>" in zh and "文件库：3 篇文件，最新文件日期 2026-11-30" in zh
    assert "Collection: 3 documents, the newest dated 2026-11-30" in render.header_html("en", 3, "2026-11-30")
    assert "还没有文件" in render.header_html("zh", 0)
    assert "Collection: 1 document, dated 2026-11-30" in render.header_html("en", 1, "2026-11-30")


def test_index_times_are_shown_as_local_time() -> None:
    from datetime import timedelta, timezone

    assert render.local_time("2026-12-01T20:47:38+0000", timezone(timedelta(hours=8))) == "2026-12-02 04:47 UTC+08:00"
    assert render.local_time("not a time") == "not a time"
    html = render.status_html(
        {"documents": 1, "chunks": 2, "built_at": "2026-12-01T20:47:38+0000"}, False, "", "zh", []
    )
    assert "2026-12-01T20:47:38+0000" not in html


def test_a_quoted_heading_is_shown_above_its_passage_and_its_marker_leads_to_it() -> None:
    """Issue 10: a heading that states the fact is quoted like a sentence; the card shows it
    where it stands in the document (above the passage), marked, so [1] lands on it."""
    heading = "提出7大领域121项制度创新试验任务"
    body = "湖南自贸试验区总体方案中根据战略定位和总体目标，有针对性地设定了7大领域的试验内容。"
    source = {**src(body, 1, [heading], section=f"【知多点】 › {heading}"), "heading": heading}
    rec = {**answered(f"{heading}[1]"), "sources": [source]}
    panel = render.sources_panel([{"turn": 2, "question": "q", "record": rec}], "zh")
    assert f'id="a2-q1" tabindex="-1" data-m="1">{heading}</mark>' in panel
    assert panel.index(heading + "</mark>") < panel.index(body)
    # Not quoted: the heading stays in the section line only, the passage starts with its text.
    quiet = render.source_card({**source, "quoted": [body]}, 1, 2, "zh")
    assert quiet.count(heading) == 1
