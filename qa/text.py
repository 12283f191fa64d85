"""Repair newspaper-layout text into clean paragraphs and section headings.

What it does: joins lines broken by the columns, drops the stray spaces that layout puts between
Chinese characters, re-joins paragraphs split across columns, gives each numbered item "(1)…" its
own paragraph, undoes the doubled text of bold overlays ("中欧中欧（（株洲株洲））"), and takes
short title-like lines ("【知多点】", "相关链接", "1. 什么是自贸区？", Markdown "#" lines) out of the
body as section headings. What it does not do: reorder columns (a newspaper's reading order is not
recoverable from plain text) or decide what is relevant.

The cleaned text is paragraphs joined by "\n"; headings live in `Section` records pointing at the
offset where their body starts, so chunks can rebuild the text exactly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from qa.records import Section

_CJK = r"\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef\u2018-\u201d\u2026\u2014"
# Whitespace next to a CJK character or CJK punctuation is layout, not content.
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_LIST_ITEM = re.compile(
    r"^\s*(?:[(（]\s*[0-9一二三四五六七八九十]+\s*[)）]|[一二三四五六七八九十]+、|第[一二三四五六七八九十百零0-9]+条)"
)
_TERMINAL = tuple("。！？；：!?;:…”’」』)）")
_DOUBLED = re.compile(r"(?:(.+?)\1)+")
# Photo credits ("任远 摄") and picture sources end a caption; captions never run on.
_CAPTION = re.compile(r"(?:摄$|^图片来源)")
# Control characters, zero-width characters and the bidirectional embedding, override and
# isolate controls (U+202A-U+202E, U+2066-U+2069, U+061C): invisible, and an override makes the
# page show text in another order than the one that is searched and quoted.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
# Terminal escape sequences pasted from a console ("\x1b[31m", "\x1b]0;title\x07"): removed whole,
# or dropping the ESC alone would leave "[31m" in the searched text. CSI (ESC [ or the 8-bit
# U+009B), then OSC (ESC ]) up to its terminator, then any other two-character escape.
ANSI_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]{0,512}(?:\x07|\x1b\\)|\x1b[@-Z\\^_]")

MAX_HEADING_CHARS = 40
# Headings stacked deeper than this are layout debris (a run of stranded titles), not a path.
MAX_SECTION_DEPTH = 2


@dataclass(frozen=True)
class Cleaned:
    title: str
    text: str
    sections: tuple[Section, ...]


@dataclass
class _Unit:
    text: str
    heading: bool
    item: bool
    indented: bool  # first line of a block with leading indentation: a new article starts


def normalise_space(text: str) -> str:
    """Collapse whitespace, dropping it entirely next to Chinese characters."""
    text = re.sub(r"\s+", " ", text).strip()
    return _SPACE_NEAR_CJK.sub("", text)


def _join(a: str, b: str) -> str:
    if not a or not b:
        return a + b
    # Only Latin words and numbers need a space where a line broke; Chinese never does.
    sep = " " if a[-1].isascii() and a[-1].isalnum() and b[0].isascii() and b[0].isalnum() else ""
    return a + sep + b


def _undouble(text: str) -> str:
    compact = re.sub(r"\s+", "", text)
    if len(compact) >= 4 and _DOUBLED.fullmatch(compact):
        return "".join(m.group(1) for m in re.finditer(r"(.+?)\1", compact))
    return text


# "2019年3月15日第十三届全国人民代表大会第二次会议通过": a dated line (adoption, amendment,
# issue date) is a paragraph of its own, never a heading and never glued to the next line.
_DATED_LINE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?")
# Markdown and HTML comments ("<!-- INFO END -->") are markup, not text.
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def is_heading(text: str) -> bool:
    if text.startswith("#"):
        return True
    if not text or len(text) > MAX_HEADING_CHARS or _CAPTION.search(text) or _DATED_LINE.match(text):
        return False
    if text.startswith("【") and text.endswith("】"):
        return True
    if _LIST_ITEM.match(text):
        # "二、基本原则", "（一）安全可控": a numbered line with no sentence punctuation is a
        # heading of an official document; "(8)研究开展高铁快运。" is a list item.
        return len(text) <= 30 and not re.search(r"[。；，,;！!？?]", text)
    body = re.sub(r"^\d{1,2}\s*[.．、]\s*|\s*\d{1,2}\s*[.．]$", "", text)
    # Sentence or clause punctuation means body text (a lead-in ending with a colon included).
    if re.search(r"[。，、；：:;,!！.]", body):
        return False
    return "？" not in body[:-1] and "?" not in body[:-1]


# Ranks compare only with each other: a part (编) holds chapters, a chapter sections (节).
_LEVELS = (
    (re.compile(r"^第[一二三四五六七八九十百零0-9]+编"), 0.5),
    (re.compile(r"^第[一二三四五六七八九十百零0-9]+章"), 1),
    (re.compile(r"^第[一二三四五六七八九十百零0-9]+节"), 1.5),
    (re.compile(r"^[一二三四五六七八九十]+、"), 2),
    (re.compile(r"^[(（]\s*[一二三四五六七八九十]+\s*[)）]"), 3),
    (re.compile(r"^\d{1,2}\s*[.．、](?!\d)"), 4),
    (re.compile(r"^[(（]\s*\d{1,2}\s*[)）]"), 5),
    (re.compile(r"^第[一二三四五六七八九十百零0-9]+条"), 6),
)


def heading_level(text: str) -> float:
    """Rank of an official-document heading (一、 above （一） above 1. above （1）), 0 if unnumbered."""
    return next((level for pattern, level in _LEVELS if pattern.match(text)), 0)


def _units(raw: str) -> list[_Unit]:
    units: list[_Unit] = []
    for block in re.split(r"\n\s*\n", raw):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        groups: list[list[str]] = []
        for ln in lines:
            # Leading indentation, a list marker or a Markdown heading starts a new paragraph.
            if (
                not groups
                or ln[:1].isspace()
                or _LIST_ITEM.match(ln)
                or ln.lstrip().startswith("#")
                or _DATED_LINE.match(ln.strip())
            ):
                groups.append([ln])
            else:
                groups[-1].append(ln)
        for g in groups:
            joined = ""
            for ln in g:
                joined = _join(joined, ln.strip())
            text = normalise_space(_undouble(joined))
            if not text:
                continue
            units.append(_Unit(text, is_heading(text), bool(_LIST_ITEM.match(text)), g[0][:1].isspace()))
    return units


# A table row rendered "表头：值；表头：值" (see qa.formats): rows stay one per paragraph.
TABLE_ROW = re.compile(r"^[^：；。]{1,20}：[^；]*(?:；[^：；。]{1,20}：[^；]*)+$")


def _merge_broken(units: list[_Unit]) -> list[_Unit]:
    """Re-join a paragraph that a column break split in two (no closing punctuation before it)."""
    out: list[_Unit] = []
    for u in units:
        prev = out[-1] if out else None
        if (
            prev is not None
            and not prev.heading
            and not u.heading
            and not u.item
            and not u.indented
            and not prev.text.endswith(_TERMINAL)
            and not _CAPTION.search(prev.text)
            and not (TABLE_ROW.match(prev.text) and TABLE_ROW.match(u.text))
            and not _DATED_LINE.match(u.text)
        ):
            prev.text = _join(prev.text, u.text)
            continue
        out.append(u)
    return out


def clean(raw: str, default_title: str = "") -> Cleaned:
    """Turn raw (newspaper or plain) text into a title, clean paragraphs and sections."""
    raw = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    # Escapes and controls go here, on the raw text, before any offset exists: the cleaned text
    # is what chunks slice, so they still rebuild it exactly.
    raw = CONTROL_CHARS.sub("", ANSI_ESCAPES.sub("", _COMMENT.sub("", raw)).replace("\t", " "))
    title = default_title
    lines = raw.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].lstrip().startswith("# "):
        title = lines[first].strip()[2:].strip()
        lines = lines[first + 1 :]
    units = _merge_broken(_units("\n".join(lines)))
    # An unnumbered heading before any body text is the document's title (official documents).
    if title == default_title and units and units[0].heading and not heading_level(units[0].text):
        title = units[0].text.lstrip("#").strip()
        units = units[1:]

    paragraphs: list[str] = []
    sections: list[Section] = []
    path: list[tuple[int, str]] = []
    pending_heading = False
    offset = 0
    for u in units:
        if u.heading:
            name = u.text.lstrip("#").strip()
            level = heading_level(name)
            if level:
                # A numbered heading replaces its siblings and children, keeps its parents.
                path = [(lv, t) for lv, t in path if 0 < lv < level] + [(level, name)]
            else:
                path = ((path if pending_heading else []) + [(0, name)])[-MAX_SECTION_DEPTH:]
            pending_heading = True
            continue
        if u.indented and not pending_heading and paragraphs:
            # A new article in the layout: the previous heading no longer applies.
            path = []
            sections.append(Section("", offset))
        elif pending_heading:
            sections.append(Section(" › ".join(t for _, t in path), offset))
        pending_heading = False
        paragraphs.append(u.text)
        offset += len(u.text) + 1
    return Cleaned(title=title, text="\n".join(paragraphs), sections=tuple(sections))
