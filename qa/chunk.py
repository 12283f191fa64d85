"""Split a cleaned document into passages sized for retrieval and citation.

Chunks are cut at Chinese (and Western) sentence punctuation, prefer paragraph ends, never cross
a section boundary, and together cover the document text exactly: concatenating
`document.text[c.start:c.end]` over all chunks gives the text back. It does not embed or index.
"""

from __future__ import annotations

import hashlib
import re

from qa.records import Chunk, Document
from qa.text import TABLE_ROW, heading_level

# A sentence ends at 。！？；!?; (plus closing quotes/brackets) or at a paragraph break.
_SENTENCE_END = re.compile(r"[。！？；!?;…]+[”’」』）)\"']*|\n")
_CLAUSE_END = re.compile(r"[，、,：:]")
# Marks that hold a name or an aside, never a sentence end: 《卡拉OK.LIVE！‧台北‧我》, 《CDTV×Sacas！》,
# （……Hey! Say! JUMP）. Quotation marks are not among them: a quoted speech is sentences.
_OPENS = {"《": "》", "〈": "〉", "（": "）", "(": ")"}
_INSIDE = re.compile("[" + re.escape("".join(_OPENS) + "".join(_OPENS.values())) + "]")


def _inside_marks(text: str, line_start: int, at: int, line_end: int) -> bool:
    """`at` lies inside a title or parenthesis that opened earlier on its line and closes later
    on it (an unclosed mark, a typo or a cut line, does not hold a sentence open)."""
    stack: list[str] = []  # the closing marks awaited, innermost last
    depth = 0  # how many were open at `at`, once the scan has passed it
    for m in _INSIDE.finditer(text, line_start, line_end):
        if not depth and m.start() >= at:
            if not stack:
                return False
            depth = len(stack)
        ch = m.group()
        if ch in _OPENS:
            stack.append(_OPENS[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if len(stack) < depth:
                return True
    return False


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of sentences in text[start:end]; a trailing newline stays with its sentence.

    A table row ("表头：值；表头：值") is one sentence: its "；" separates cells, not clauses;
    so is a sentence whose 《title》 or (aside) holds a "！" or "。" (`_inside_marks`): cut there,
    a quote began "》节目中第一次于公开场合演唱。", and the title it names was left behind.
    """
    end = len(text) if end is None else end
    spans = []
    pos = start
    for m in _SENTENCE_END.finditer(text, start, end):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_end = text.find("\n", m.start())
        line_end = end if line_end == -1 else min(line_end, end)
        if m.group() != "\n" and m.end() < line_end and TABLE_ROW.match(text[line_start:line_end]):
            continue
        if m.group() != "\n" and _inside_marks(text, line_start, m.start(), line_end):
            continue
        stop = m.end()
        if stop < end and text[stop] == "\n" and m.group() != "\n":
            stop += 1
        if stop <= pos:
            continue
        spans.append((pos, stop))
        pos = stop
    if pos < end:
        spans.append((pos, end))
    return spans


def _split_long(text: str, span: tuple[int, int], limit: int) -> list[tuple[int, int]]:
    """Cut an over-long sentence at clause punctuation, or hard at `limit` characters."""
    s, e = span
    out = []
    while e - s > limit:
        window = text[s : s + limit]
        cuts = [m.end() for m in _CLAUSE_END.finditer(window) if m.end() > limit // 3]
        cut = s + (cuts[-1] if cuts else limit)
        out.append((s, cut))
        s = cut
    out.append((s, e))
    return out


def _section_bounds(doc: Document) -> list[int]:
    bounds = sorted({0, len(doc.text), *(s.start for s in doc.sections if 0 < s.start < len(doc.text))})
    return bounds


# An article of a law or regulation: "第十二条 …", "第一百零五条之一 …" at a paragraph start.
_ARTICLE = re.compile(r"(?m)^第[一二三四五六七八九十百千零〇两\d]+条(?:之[一二三四五六七八九十]+)?")


def _articles(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in _ARTICLE.finditer(text)]


def article_label(articles: list[tuple[int, str]], lo: int, start: int, end: int) -> str:
    """The articles a chunk [start, end) of the section starting at `lo` covers: "第三条" or
    "第三条—第五条" (the article in force at its start to the last that begins inside it)."""
    inside = [a for a in articles if lo <= a[0] < end]
    first = [a for a in inside if a[0] <= start][-1:] or [a for a in inside if a[0] >= start][:1]
    if not first:
        return ""
    last = [a for a in inside if a[0] >= start][-1:] or first
    return first[0][1] if last[0] == first[0] else f"{first[0][1]}—{last[0][1]}"


def section_path(heading: str, articles: str) -> str:
    """Where a chunk stands in its document: heading path, then article(s): 第一章 总则 › 第三条."""
    return " › ".join(x for x in (heading, articles) if x)


# A heading shorter than this once its number is off is a label ("总则", "申领时间"), not a statement.
MIN_HEADING_CHARS = 6
_HEADING_NUMBER = re.compile(
    r"^(?:第[一二三四五六七八九十百零0-9]+[编章节条]|[一二三四五六七八九十]+、|[(（]\s*[一二三四五六七八九十\d]+\s*[)）]|\d{1,2}\s*[.．、])\s*"
)


def quotable_heading(path: str) -> str:
    """The last heading of a section path when it states something a reader could be told
    ("提出7大领域121项制度创新试验任务"), or "" for a label ("第一章 总则", "【知多点】")."""
    last = path.rsplit(" › ", 1)[-1].strip()
    body = _HEADING_NUMBER.sub("", last) if heading_level(last) else last
    body = body.strip("【】[]〔〕（）() ")
    return last if len(body) >= MIN_HEADING_CHARS else ""


def chunk_id(doc_id: str, section: str, text: str) -> str:
    return hashlib.sha1(f"{doc_id}\x00{section}\x00{text}".encode()).hexdigest()[:16]


def chunk_document(doc: Document, min_chars: int = 150, max_chars: int = 300) -> list[Chunk]:
    text = doc.text
    chunks: list[Chunk] = []
    bounds = _section_bounds(doc)
    articles = _articles(text)
    for lo, hi in zip(bounds, bounds[1:]):
        pieces: list[tuple[int, int]] = []
        for span in sentence_spans(text, lo, hi):
            pieces.extend(_split_long(text, span, max_chars))
        groups: list[list[tuple[int, int]]] = []
        current: list[tuple[int, int]] = []
        for p in pieces:
            size = current[-1][1] - current[0][0] if current else 0
            if current and size + (p[1] - p[0]) > max_chars:
                groups.append(current)
                current = []
            current.append(p)
            size = current[-1][1] - current[0][0]
            # Prefer to end a chunk where a paragraph ends, once it is big enough.
            if size >= min_chars and text[p[1] - 1] == "\n":
                groups.append(current)
                current = []
        if current:
            tail = current[-1][1] - current[0][0]
            if groups and tail < min_chars // 3 and (current[-1][1] - groups[-1][0][0]) <= max_chars * 1.2:
                groups[-1].extend(current)
            else:
                groups.append(current)
        for g in groups:
            s, e = g[0][0], g[-1][1]
            section = section_path(doc.section_at(s), article_label(articles, lo, s, e))
            chunks.append(
                Chunk(
                    chunk_id=chunk_id(doc.doc_id, section, text[s:e]),
                    doc_id=doc.doc_id,
                    title=doc.title,
                    section=section,
                    start=s,
                    end=e,
                    text=text[s:e],
                    page=doc.page_at(s),
                    heading=quotable_heading(doc.section_at(s)) if s == lo else "",
                )
            )
    return chunks


def embed_text(chunk: Chunk) -> str:
    """The text a chunk is embedded and keyword-indexed as: its section heading, then its text."""
    body = chunk.text.strip()
    return f"{chunk.section}\n{body}" if chunk.section else body
