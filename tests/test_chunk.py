from __future__ import annotations

import pytest
from conftest import PAGE

from qa.chunk import chunk_document, quotable_heading, sentence_spans
from qa.load import parse


@pytest.fixture(scope="module")
def page():
    return parse("page.txt", PAGE.read_bytes())


def test_chunks_rebuild_the_document(page):
    chunks = chunk_document(page)
    assert "".join(c.text for c in chunks) == page.text
    for a, b in zip(chunks, chunks[1:]):
        assert a.end == b.start
    for c in chunks:
        assert page.text[c.start : c.end] == c.text
        assert c.doc_id == "page.txt" and c.title == page.title


@pytest.mark.parametrize("lo,hi", [(80, 150), (150, 300), (300, 500)])
def test_chunk_sizes_stay_within_bounds(page, lo, hi):
    chunks = chunk_document(page, lo, hi)
    assert "".join(c.text for c in chunks) == page.text
    assert max(len(c.text) for c in chunks) <= hi * 1.2
    # Only section ends or the last chunk may be short.
    short = [c for c in chunks if len(c.text) < lo // 3]
    assert len(short) <= len(page.sections) + 1


def test_chunks_never_cross_a_section_boundary(page):
    starts = {s.start for s in page.sections}
    for c in chunk_document(page):
        assert not any(c.start < s < c.end for s in starts)
        assert c.section == page.section_at(c.start)


def test_chunks_end_at_sentence_punctuation(page):
    for c in chunk_document(page)[:-1]:
        assert c.text.rstrip("\n")[-1] in "。！？；：”…）)" or len(c.text) >= 290


def test_sentence_spans_split_chinese_punctuation():
    text = "第一句。第二句！“第三句？”第四句；\n第五句"
    parts = [text[s:e] for s, e in sentence_spans(text)]
    assert parts == ["第一句。", "第二句！", "“第三句？”", "第四句；\n", "第五句"]
    assert "".join(parts) == text


@pytest.mark.parametrize(
    "text, sentences",
    [
        # A title or an aside holding "！" or "。" stays in its sentence (CMRC quotes had begun
        # "》节目中第一次于公开场合演唱。" and "‧台北‧我》是张雨生发行的…").
        ("她在《CDTV×Sacas！》节目中第一次演唱。后来又唱。", ["她在《CDTV×Sacas！》节目中第一次演唱。", "后来又唱。"]),
        ("《卡拉OK.LIVE！‧台北‧我》是第六张专辑。下一句。", ["《卡拉OK.LIVE！‧台北‧我》是第六张专辑。", "下一句。"]),
        ("组合（TOKIO、Hey! Say! JUMP）出版。社长是她。", ["组合（TOKIO、Hey! Say! JUMP）出版。", "社长是她。"]),
        ("见《通知》（2020年。修订）。下一句。", ["见《通知》（2020年。修订）。", "下一句。"]),
        # An unclosed mark does not hold the rest of the line in one sentence.
        ("未闭合（括号。下一句。", ["未闭合（括号。", "下一句。"]),
        ("书名《未完。\n下一行。", ["书名《未完。\n", "下一行。"]),
        # Quoted speech is sentences; list items in parentheses are closed before the end.
        ("他说：“好。走吧。”然后。", ["他说：“好。", "走吧。”", "然后。"]),
        ("（一）第一项；（二）第二项。", ["（一）第一项；", "（二）第二项。"]),
    ],
)
def test_no_sentence_ends_inside_a_title_or_an_aside(text, sentences):
    assert [text[s:e] for s, e in sentence_spans(text)] == sentences


def test_an_overlong_sentence_is_cut_at_clauses():
    from qa.records import Document

    doc = Document("x.txt", "x", "，".join(["很长的分句内容"] * 80) + "。")
    chunks = chunk_document(doc, 150, 300)
    assert "".join(c.text for c in chunks) == doc.text
    # A short tail joins the chunk before it, within 1.2x the maximum.
    assert all(len(c.text) <= 360 for c in chunks) and len(chunks) >= 2


@pytest.mark.parametrize(
    "path,quotable",
    [
        ("【知多点】 › 提出7大领域121项制度创新试验任务", "提出7大领域121项制度创新试验任务"),
        ("第一章 总则", ""),
        ("第二章 公园管理 › 第一节 开放时间", ""),
        ("二、申领时间", ""),
        ("【知多点】", ""),
        ("三、支持先进制造业高质量发展", "三、支持先进制造业高质量发展"),
        ("", ""),
    ],
)
def test_a_heading_is_quotable_when_it_states_something(path, quotable):
    assert quotable_heading(path) == quotable


def test_the_first_chunk_of_a_section_carries_its_quotable_heading_and_text_is_unchanged(page):
    chunks = chunk_document(page)
    assert "".join(c.text for c in chunks) == page.text  # the heading is not added to the text
    starts = {s.start for s in page.sections}
    with_heading = [c for c in chunks if c.heading]
    assert any(c.heading == "提出7大领域121项制度创新试验任务" for c in with_heading)
    for c in chunks:
        if c.heading:
            assert c.start in starts and c.section.endswith(c.heading) and c.heading not in c.text
        elif c.start not in starts:
            assert c.heading == ""


def test_a_headings_sentence_vector_is_pooled_from_the_heading_in_the_embedded_text(page):
    from qa.chunk import embed_text
    from qa.indexer import _in_embed_text, quote_spans

    for c in chunk_document(page):
        spans = quote_spans(c)
        mapped = _in_embed_text(c, spans)
        text = embed_text(c)
        for (s, e), (a, b) in zip(spans, mapped):
            expected = c.heading if s == e else page.text[s:e]
            assert text[a:b] == expected
        assert (spans[0][0] == spans[0][1]) == bool(c.heading)
