"""Document structure for list and overview questions: numbered items and sections.

"湖南自贸区在全国首次提出了哪些改革事项？" is answered by eleven numbered paragraphs spread over
several chunks; a top-3 of small chunks returns a fragment. This module recognises list
questions and, from the chunk a question retrieved best, recovers the whole run of items
("(1)…", "一、…", "第X条…", or run-in headings such as "产业联动。…") or the whole section
it belongs to, as quotable sentence spans. It reads only chunks; it does not rank or compose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.chunk import sentence_spans
from qa.gist import number_value
from qa.records import Chunk

_ZH_LIST = re.compile(
    r"哪些|哪几|几大|几项|几个方面|几方面|有几|分别|列举|包括什么|包括哪|都有什么|如何对接|怎样对接|怎么对接"
)
_EN_LIST = re.compile(
    r"\b(?:what|which) (?:are|were) (?:the|its|all)\b|\blist\b|\bwhich (?:\w+ )?(?:areas|fields|items|tasks|reforms|ways|"
    r"measures|steps)\b|\bwhat (?:\w+ )?(?:areas|fields|items|tasks|reforms|ways|measures|steps)\b|\bhow does .+ link up\b",
    re.I,
)
_NUMBERED = re.compile(
    r"^\s*(?:[(（]\s*[0-9一二三四五六七八九十]+\s*[)）]|[一二三四五六七八九十]+、|第[一二三四五六七八九十百零0-9]+条|\d{1,2}[.．、](?!\d))"
)
# A run-in heading: a short phrase closed by 。 at the start of a paragraph ("产业联动。以对接…").
_RUN_IN = re.compile(r"^[^，。、；：\s]{2,10}。")
MAX_ITEMS = 20
MAX_ITEM_SENTENCES = 8  # one item quoted whole, within reason
MAX_SECTION_CHUNKS = 8


@dataclass(frozen=True)
class Item:
    """A quotable span of one chunk: offsets into the document text."""

    chunk: int  # index into the chunk list
    start: int
    end: int
    lead: bool = False  # the sentence announcing the list, not an item of it


_EN_NUMBERS = "two three four five six seven eight nine ten eleven twelve".split()
# A count a question states: "四个方面", "三大特色", "7项", "the four ways", "the 11 reform items".
_ZH_COUNT = re.compile(r"([\d一二三四五六七八九十两]+)\s*(?:大|项|个|条|种|类|点|方面|片区|领域|部分)")
_EN_COUNT = re.compile(r"\b(\d{1,2}|" + "|".join(_EN_NUMBERS) + r")\s+(?:[\w-]+\s+){0,2}?[a-z]+s\b", re.I)
MAX_COUNT = 30


def stated_counts(question: str) -> set[int]:
    """How many items the question says there are (2 to MAX_COUNT; a year is no count)."""
    found = [number_value(m.group(1)) for m in _ZH_COUNT.finditer(question)]
    for m in _EN_COUNT.finditer(question):
        word = m.group(1).lower()
        found.append(int(word) if word.isdigit() else _EN_NUMBERS.index(word) + 2)
    return {n for n in found if n is not None and 2 <= n <= MAX_COUNT}


def is_list_question(text: str, lang: str) -> bool:
    return bool((_ZH_LIST if lang == "zh" else _EN_LIST).search(text))


def _paragraphs(c: Chunk) -> list[tuple[int, int]]:
    """(start, end) document offsets of the paragraphs (or paragraph pieces) inside a chunk."""
    out, pos = [], 0
    for line in c.text.split("\n"):
        if line.strip():
            out.append((c.start + pos, c.start + pos + len(line)))
        pos += len(line) + 1
    return out


def _kind(text: str) -> str | None:
    if _NUMBERED.match(text):
        return "numbered"
    if _RUN_IN.match(text):
        return "run-in"
    return None


def _neighbours(chunks: tuple[Chunk, ...], i: int) -> list[int]:
    """Indices of the chunks around i that continue the same document and section, in order."""
    c = chunks[i]
    lo = i
    while (
        lo > 0
        and chunks[lo - 1].doc_id == c.doc_id
        and chunks[lo - 1].section == c.section
        and chunks[lo - 1].end == chunks[lo].start
    ):
        lo -= 1
    hi = i
    while (
        hi + 1 < len(chunks)
        and chunks[hi + 1].doc_id == c.doc_id
        and chunks[hi + 1].section == c.section
        and chunks[hi + 1].start == chunks[hi].end
    ):
        hi += 1
    return list(range(lo, hi + 1))


def _first_sentences(c: Chunk, start: int, end: int, n: int) -> tuple[int, int]:
    spans = sentence_spans(c.text, start - c.start, end - c.start)[:n]
    return c.start + spans[0][0], c.start + spans[-1][1]


def _section_paragraphs(chunks: tuple[Chunk, ...], i: int) -> list[tuple[int, int, int]]:
    """(chunk index, start, end) of the paragraphs of chunk i and its same-section neighbours."""
    return [(ci, s, e) for ci in _neighbours(chunks, i) for s, e in _paragraphs(chunks[ci])]


def _run(chunks: tuple[Chunk, ...], i: int) -> tuple[list[tuple[int, int, int]], str, int, int] | None:
    """The paragraphs around chunk i, the kind of list chunk i is part of, and the run's bounds."""
    paras = _section_paragraphs(chunks, i)
    kinds = [_kind(_text(chunks, p)) for p in paras]
    hits = [k for k, p in enumerate(paras) if p[0] == i and kinds[k]]
    if not hits:
        return None
    kind = kinds[hits[0]]
    lo = hi = hits[0]
    while lo > 0 and kinds[lo - 1] == kind:
        lo -= 1
    while hi + 1 < len(paras) and kinds[hi + 1] == kind:
        hi += 1
    return (paras, kind, lo, hi) if hi > lo else None


def _text(chunks: tuple[Chunk, ...], p: tuple[int, int, int]) -> str:
    c = chunks[p[0]]
    return c.text[p[1] - c.start : p[2] - c.start]


def item_run(chunks: tuple[Chunk, ...], i: int) -> list[Item]:
    """The run of list items (with its lead-in) that chunk i is part of, or [] if none."""
    run = _run(chunks, i)
    if run is None:
        return []
    paras, kind, lo, hi = run
    items = []
    # The lead-in that announces the list ("…首次提出了11项改革事项：") belongs to the answer.
    if lo > 0 and _text(chunks, paras[lo - 1]).rstrip().endswith(("：", ":")):
        ci, s, e = paras[lo - 1]
        items.append(Item(ci, *_last_sentence(chunks[ci], s, e), lead=True))
    for ci, s, e in paras[lo : hi + 1][:MAX_ITEMS]:
        # Run-in items need their next sentence: "产业联动。" alone says nothing.
        items.append(Item(ci, *_first_sentences(chunks[ci], s, e, 2 if kind == "run-in" else 1)))
    return items


def colon_list(chunks: tuple[Chunk, ...], i: int, at: int | None = None) -> list[Item]:
    """A lead-in closed by a colon in chunk i and the whole paragraph it introduces, or [].

    "…对于制度创新的要求史无前例：" followed by three quoted statements in one paragraph is a
    list without numbers; quoting the best sentences of it drops some of its members. With
    `at` (a document offset), only the lead-in paragraph containing it is considered.
    """
    paras = _section_paragraphs(chunks, i)
    for k, (ci, s, e) in enumerate(paras[:-1]):
        if ci != i or not _text(chunks, (ci, s, e)).rstrip().endswith(("：", ":")):
            continue
        if at is not None and not s <= at < e:
            continue
        nci, ns, ne = paras[k + 1]
        if _kind(_text(chunks, paras[k + 1])):
            continue  # numbered or run-in items: item_run recovers the whole run
        spans = sentence_spans(chunks[nci].text, ns - chunks[nci].start, ne - chunks[nci].start)
        if len(spans) < 2:
            continue  # one sentence after a colon is a statement, not a list
        lead = Item(ci, *_last_sentence(chunks[ci], s, e), lead=True)
        base = chunks[nci].start
        return [lead] + [Item(nci, base + a, base + b) for a, b in spans[:MAX_ITEMS]]
    return []


def named_item(chunks: tuple[Chunk, ...], i: int, question: str) -> tuple[str, list[Item]]:
    """The items of chunk i's run whose run-in headings the question names, whole.

    "株洲在贸易平台联动上有哪些具体打算？" asks about one of four 联动 items: the answer is that
    item's every sentence, not the first sentence of all four. Returns (heading, items) or ("", []).
    """
    run = _run(chunks, i)
    if run is None or run[1] != "run-in":
        return "", []
    paras, _, lo, hi = run
    asked = re.sub(r"\s+", "", question)
    headings, items = [], []
    for ci, s, e in paras[lo : hi + 1]:
        heading = _RUN_IN.match(_text(chunks, (ci, s, e))).group(0).rstrip("。")  # type: ignore[union-attr]
        if heading in asked:
            headings.append(heading)
            # One item per sentence, so each carries its own marker; the heading ("贸易平台联动。")
            # is no sentence on its own and stays with the first.
            c = chunks[ci]
            spans = [(c.start + a, c.start + b) for a, b in sentence_spans(c.text, s - c.start, e - c.start)]
            spans = spans[:MAX_ITEM_SENTENCES]
            if len(spans) > 1:
                spans[:2] = [(spans[0][0], spans[1][1])]
            items += [Item(ci, a, b) for a, b in spans]
    return "、".join(headings), items


def _last_sentence(c: Chunk, start: int, end: int) -> tuple[int, int]:
    spans = sentence_spans(c.text, start - c.start, end - c.start)
    return c.start + spans[-1][0], c.start + spans[-1][1]


def section_overview(chunks: tuple[Chunk, ...], i: int) -> list[Item]:
    """The first sentence of every paragraph of chunk i's (titled, short) section, or []."""
    c = chunks[i]
    if not c.section:
        return []
    members = _neighbours(chunks, i)
    if len(members) > MAX_SECTION_CHUNKS:
        return []
    return [Item(ci, *_first_sentences(chunks[ci], s, e, 1)) for ci in members for s, e in _paragraphs(chunks[ci])]
