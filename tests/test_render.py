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
    return set(re.findall(r'href="#([^"]+)"', html))


def ids(html: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html))


def test_markers_link_to_source_cards_that_exist() -> None:
    rec = answered()
    chat = render.answer_html(rec, 1, "岳阳片区的重点是什么？")
    panel = render.sources_panel([{"turn": 1, "question": "岳阳片区的重点是什么？", "record": rec}], "zh")
    assert '<a class="qa-cite" href="#a1-s1">[1]</a>' in chat
    assert hrefs(chat) == {"a1-s1"} and hrefs(chat) <= ids(panel)
    assert "无关的段落" not in panel  # only cited passages are shown as sources


def test_a_bracketed_number_that_is_not_a_citation_stays_text() -> None:
    rec = answered(answer=f"见附件[7]。{QUOTE}[1]")
    assert hrefs(render.answer_html(rec, 1, "q")) == {"a1-s1"}
    assert "见附件[7]" in render.answer_html(rec, 1, "q")


def test_quoted_sentences_are_marked_in_the_passage() -> None:
    card = render.source_card(src(LONG, 1, [QUOTE]), 1, 1, "zh")
    assert f"<mark>{QUOTE}</mark>" in card
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
    assert "<details" in card and f"<mark>{QUOTE}</mark>" in summary  # shown while folded
    assert "郴州突出湘港澳直通" not in summary  # the rest waits behind "展开全文"
    short = render.source_card(src("短段落。", 1, ["短段落。"]), 1, 1, "zh")
    assert "<details" not in short and "<mark>短段落。</mark>" in short


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
    assert "<mark>&lt;script&gt;" in panel


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
    assert "Sources" in panel and "Nearest passages" in panel


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
