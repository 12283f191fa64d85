"""Turn PDF, Word (.docx) and HTML files into plain text for the loader.

`extract(name, data)` picks an extractor by the file's suffix and returns `Extracted`: text whose
paragraphs are separated by a blank line, headings on their own paragraph, and for PDFs the
offset where each page starts. Bad input (encrypted, damaged, scanned, zip bomb, unsupported)
raises `DocumentError` with a reason for staff, and nothing else.

Each file has a parse budget (`MAX_ELEMENTS` XML/HTML elements or PDF text lines, and
`PARSE_SECONDS`): a file that needs more is refused with a reason instead of stalling the app.
Word XML is read as a stream, a body paragraph at a time, so memory follows the largest
paragraph or table, not the file.

It does not: run OCR on scanned pages, read legacy .doc/.xls or .pptx, detect PDF running
headers/footers or multi-column layout, render HTML with CSS, or fetch anything from the
network. It does not clean or chunk the text either: that is `qa.text` and `qa.chunk`.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
import statistics
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from qa.load import DocumentError, decode

log = logging.getLogger(__name__)


# The parse budget of one file. A 1,000-page Word book has a few hundred thousand XML elements;
# a 0.5 MB .docx of empty paragraphs has six million (14-19 s and 2.5 GB before this budget).
MAX_ELEMENTS = 1_000_000
PARSE_SECONDS = 60.0


class ParseTimeout(DocumentError):
    """Over the time budget: depends on the machine's load, so it is not cached as a refusal."""


class Budget:
    """Work left for one file: elements (tags, PDF lines) counted one by one, and a deadline
    checked every few thousand of them (a clock read per element would cost more than the tag)."""

    def __init__(self, elements: int | None = None, seconds: float | None = None) -> None:
        # Module constants read at call time, so a test (or an operator) can lower them.
        self.limit = MAX_ELEMENTS if elements is None else elements
        self.seconds = PARSE_SECONDS if seconds is None else seconds
        self.deadline = time.monotonic() + self.seconds
        self.used = 0

    def spend(self, n: int = 1) -> None:
        before, self.used = self.used, self.used + n
        if self.used > self.limit:
            raise DocumentError(
                f"refused: more than {self.limit:,} elements to parse (parse budget)", "parse_budget", limit=self.limit
            )
        if before >> 12 != self.used >> 12:
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ParseTimeout(
                f"refused: parsing took longer than {self.seconds:.0f} s (parse budget)",
                "parse_timeout",
                seconds=round(self.seconds),
            )


@dataclass(frozen=True)
class Extracted:
    text: str  # plain text, paragraphs separated by "\n\n", headings on their own paragraph
    pages: tuple[int, ...] = ()  # PDFs: offset in `text` where page 1, 2, ... start; () otherwise


# CJK ideographs, CJK punctuation, kana and full-width forms: scripts written without spaces.
_CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def _is_cjk(ch: str) -> bool:
    return bool(ch) and bool(_CJK.match(ch))


def _join_paragraphs(paragraphs: list[str]) -> str:
    return "\n\n".join(p for p in (p.strip() for p in paragraphs) if p)


# --------------------------------------------------------------------------------------- PDF
# pdfminer.six rather than pypdf: both return the same Chinese characters from LibreOffice and
# Word PDFs, but pdfminer gives each line's box, which is what tells a wrapped line from the end
# of a paragraph. pypdf is about twice as fast, but its text has only line breaks.


@dataclass(frozen=True)
class _Line:
    text: str
    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _line_text(line: object) -> str:
    """A line's characters. pdfminer adds virtual spaces (LTAnno) wherever glyphs stand apart;
    in justified or auto-spaced Chinese ("2024 年") those are layout gaps, not spaces, so keep
    them only between two non-CJK characters. Real space glyphs are LTChar and always kept."""
    from pdfminer.layout import LTAnno

    items = list(line)  # type: ignore[call-overload]
    out: list[str] = []
    for i, item in enumerate(items):
        ch = item.get_text()
        if isinstance(item, LTAnno):
            if ch != " ":
                continue
            before = out[-1][-1:] if out else ""
            after = items[i + 1].get_text()[:1] if i + 1 < len(items) else ""
            if not before or not after or _is_cjk(before) or _is_cjk(after):
                continue
        out.append(ch)
    return "".join(out).strip()


def _page_lines(page: object, budget: Budget) -> list[_Line]:
    from pdfminer.layout import LTTextBoxHorizontal, LTTextLineHorizontal

    budget.check_time()  # pdfminer lays a page out before yielding it: check between pages
    lines = []
    for box in page:  # type: ignore[attr-defined]
        if not isinstance(box, LTTextBoxHorizontal):
            continue  # figures, curves; vertical text is out of scope
        for line in box:
            budget.spend()
            if isinstance(line, LTTextLineHorizontal):
                text = _line_text(line)
                if text:
                    lines.append(_Line(text, line.x0, line.x1, line.y0, line.y1))
    return lines


@dataclass(frozen=True)
class _Geometry:
    """Measured over the whole document, since a page of short paragraphs shows neither the
    text width nor the line pitch."""

    width: float  # widest line: the text block's width
    pitch: float  # most common distance between consecutive lines of the same size

    @classmethod
    def of(cls, pages: list[list[_Line]]) -> _Geometry:
        width = max((ln.x1 - ln.x0 for lines in pages for ln in lines), default=0.0)
        pitches = [
            round(a.y0 - b.y0) for lines in pages for a, b in zip(lines, lines[1:])
            if a.y0 > b.y0 and abs(a.height - b.height) < 0.5
        ]  # fmt: skip
        return cls(width, statistics.mode(pitches) if pitches else 0.0)


def _paragraphs(lines: list[_Line], geometry: _Geometry) -> list[str]:
    """Group a page's lines into paragraphs.

    A line break is a wrap unless the line before ended short of the right edge, the next line
    is indented, the font size changes (a heading), or the gap is wider than the document's
    usual line pitch (paragraph spacing)."""
    if not lines:
        return []
    left = min(ln.x0 for ln in lines)  # per page: odd and even pages may have mirrored margins
    right = left + geometry.width
    paragraphs = [lines[0].text]
    for a, b in zip(lines, lines[1:]):
        em = max(statistics.median([a.height, b.height]), 1.0)
        new = (
            b.y1 > a.y0  # not below: another column or an out-of-order box
            or abs(a.height - b.height) > 0.15 * em
            or a.x1 < right - 1.5 * em
            or b.x0 > left + 0.8 * em
            or (geometry.pitch > 0 and a.y0 - b.y0 > 1.2 * geometry.pitch)
        )
        if new:
            paragraphs.append(b.text)
        else:
            # Chinese wraps mid-word with no space; Latin text wraps at a space.
            sep = "" if _is_cjk(paragraphs[-1][-1:]) or _is_cjk(b.text[:1]) else " "
            paragraphs[-1] += sep + b.text
    return paragraphs


def extract_pdf(data: bytes, budget: Budget | None = None) -> Extracted:
    from pdfminer.high_level import extract_pages
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    budget = budget or Budget()
    try:
        page_lines = [_page_lines(page, budget) for page in extract_pages(io.BytesIO(data))]
    except DocumentError:
        raise
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise DocumentError("encrypted PDF") from exc
    except Exception as exc:  # pdfminer raises many types (PSEOF, PDFSyntaxError, KeyError...)
        raise DocumentError(f"damaged PDF: {type(exc).__name__}: {exc}"[:300]) from exc
    if not page_lines:
        raise DocumentError("damaged PDF: no pages")
    geometry = _Geometry.of(page_lines)
    page_texts = [_join_paragraphs(_paragraphs(lines, geometry)) for lines in page_lines]
    if not any(page_texts):
        raise DocumentError("no text layer (scanned PDF?); OCR is not supported")
    text = ""
    pages = []
    for page_text in page_texts:
        if text and page_text:
            text += "\n\n"
        pages.append(len(text))  # an empty page starts where the next one does
        text += page_text
    return Extracted(text, tuple(pages))


# -------------------------------------------------------------------------------------- DOCX
# A zipfile + ElementTree reader rather than python-docx: it needs no lxml, it must open the
# archive itself anyway to check sizes before inflating anything, and python-docx adds nothing
# for reading paragraphs, heading styles and tables in order.

MAX_UNZIPPED = 200 * 1024 * 1024
MAX_RATIO = 100  # ordinary .docx XML compresses 5-15x; hundreds means a crafted archive

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _check_zip(archive: zipfile.ZipFile, size: int) -> None:
    total = sum(info.file_size for info in archive.infolist())
    ratio = total / max(size, 1)
    if total > MAX_UNZIPPED or ratio > MAX_RATIO:
        raise DocumentError(f"refused: the archive expands to {total:,} bytes ({ratio:.0f}x its size) (zip bomb?)")


_READ = 1 << 16


def _scan(f: io.BufferedIOBase, name: str, budget: Budget) -> None:
    """Check a Word XML part before parsing it: its real inflated size (the directory's sizes
    can lie), no DTD, and its number of elements against the budget. Counting "<" at C speed
    refuses six million empty paragraphs in a fraction of a second, where parsing them first
    took 14-19 s and 2.5 GB."""
    read = 0
    tail = b""
    while chunk := f.read(_READ):
        read += len(chunk)
        if read > MAX_UNZIPPED:
            raise DocumentError(f"refused: {name} expands past {MAX_UNZIPPED:,} bytes (zip bomb?)")
        # Word never writes a DTD; one in a .docx can only be there for entity expansion.
        window = tail + chunk
        if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
            raise DocumentError(f"refused: {name} declares XML entities")
        tail = chunk[-16:]
        # Every element has one start tag ("<w:p/>" or "<w:p>...</w:p>"); end tags start "</".
        budget.spend(max(0, chunk.count(b"<") - chunk.count(b"</")))


def _stream_body(f: io.BufferedIOBase, budget: Budget) -> list[str]:
    """The blocks of a WordprocessingML document read as a stream: each child of w:body is
    turned into text when it closes and then dropped, so memory follows the largest paragraph or
    table, not the file."""
    parser = ElementTree.XMLPullParser(events=("start", "end"))
    out: list[str] = []
    body: ElementTree.Element | None = None
    depth = 0
    while chunk := f.read(_READ):
        budget.check_time()
        parser.feed(chunk)
        for event, el in parser.read_events():
            if event == "start":
                depth += 1
                if depth == 2 and el.tag == f"{_W}body":
                    body = el
                continue
            if depth == 3 and body is not None:
                out.extend(_block(el))
                body.clear()  # the block just closed is body's only child: drop it
            elif depth == 2:
                body = None if el.tag == f"{_W}body" else body
            depth -= 1
    parser.close()  # raises ParseError for a truncated document
    return out


def _read_body(archive: zipfile.ZipFile, name: str, budget: Budget) -> list[str] | None:
    """The document's blocks, None when the archive has no such part. Inflated twice (a scan,
    then the parse): inflating is fast, building elements is what costs."""
    try:
        f = archive.open(name)
    except KeyError:
        return None
    with f:
        _scan(f, name, budget)  # type: ignore[arg-type]
    with archive.open(name) as f:
        return _stream_body(f, budget)  # type: ignore[arg-type]


def _para_text(p: ElementTree.Element) -> str:
    parts = []
    for el in p.iter():
        if el.tag == f"{_W}t":
            parts.append(el.text or "")
        elif el.tag == f"{_W}tab":
            parts.append("\t")
        elif el.tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        # w:delText (deleted revisions) and w:instrText (field codes) are not document text.
    return "".join(parts).strip()


def _table_rows(tbl: ElementTree.Element) -> list[str]:
    """Each row as "header1：cell1；header2：cell2", so a row read alone keeps its meaning."""
    rows = []
    for tr in tbl.findall(f"{_W}tr"):
        cells = []
        for tc in tr.findall(f"{_W}tc"):
            texts = [_para_text(p) for p in tc.iter(f"{_W}p")]
            cells.append(" ".join(t for t in texts if t))
        rows.append(cells)
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    if not body:
        return ["；".join(c for c in header if c)]
    out = []
    for cells in body:
        pairs = []
        for i, cell in enumerate(cells):
            if not cell:
                continue
            head = header[i] if i < len(header) else ""
            pairs.append(f"{head}：{cell}" if head else cell)
        out.append("；".join(pairs))
    return out


def _block(el: ElementTree.Element) -> list[str]:
    """A body element's paragraphs and table rows in document order. Every w:p is its own
    paragraph, so a heading (whatever its style is called in the author's Word language) stands
    alone."""
    if el.tag == f"{_W}p":
        text = _para_text(el)
        return [text] if text else []
    if el.tag == f"{_W}tbl":
        return _table_rows(el)
    if el.tag == f"{_W}sdt":  # content controls wrap ordinary paragraphs and tables
        content = el.find(f"{_W}sdtContent")
        if content is not None:
            return [text for child in content for text in _block(child)]
    return []


def extract_docx(data: bytes, budget: Budget | None = None) -> Extracted:
    budget = budget or Budget()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(f"damaged .docx (not a readable zip archive): {exc}") from exc
    with archive:
        _check_zip(archive, len(data))
        try:
            blocks = _read_body(archive, "word/document.xml", budget)
        except DocumentError:
            raise
        except (zipfile.BadZipFile, ElementTree.ParseError, EOFError, OSError, ValueError) as exc:
            raise DocumentError(f"damaged .docx: {exc}") from exc
    if blocks is None:
        raise DocumentError("damaged .docx: word/document.xml is missing")
    text = _join_paragraphs(blocks)
    if not text:
        raise DocumentError("no text in the .docx")
    return Extracted(text)


# -------------------------------------------------------------------------------------- HTML

# Page furniture, not content. Dropped with everything inside.
_DROP = {
    "script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template",
    "svg", "iframe", "button", "select", "head", "object", "canvas",
}  # fmt: skip
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
_BLOCK = {
    "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol",
    "dl", "dt", "dd", "table", "tr", "blockquote", "pre", "figure", "figcaption", "address", "hr",
    "body", "html", "center", "caption", "thead", "tbody",
}  # fmt: skip
_VOID = {"br", "img", "meta", "link", "input", "hr", "area", "base", "col", "embed", "source", "wbr", "param"}


class _Node:
    __slots__ = ("tag", "children", "dropped")

    def __init__(self, tag: str, dropped: bool = False) -> None:
        self.tag = tag
        self.children: list[_Node | str] = []
        self.dropped = dropped


class _TreeBuilder(HTMLParser):
    """A forgiving tree: real pages leave <p> and <li> unclosed and close tags they never opened.

    `open` counts the open elements by tag, so a closing tag nothing matches is ignored at once:
    searching the stack for it made 40,000 <div>s followed by 40,000 stray </p>s quadratic
    (0.24 MB took 24 s). A matching close pops what it scans, so each element is scanned once."""

    def __init__(self, budget: Budget) -> None:
        super().__init__(convert_charrefs=True)
        self.budget = budget
        self.root = _Node("#root")
        self.stack = [self.root]
        self.open: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.budget.spend()
        a = dict(attrs)
        dropped = tag in _DROP or "hidden" in a or (a.get("role") or "") in _DROP_ROLES
        node = _Node(tag, dropped)
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)
            self.open[tag] += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.budget.spend()
        self.stack[-1].children.append(_Node(tag, tag in _DROP))

    def handle_endtag(self, tag: str) -> None:
        self.budget.spend()
        if not self.open[tag]:
            return  # closes nothing that is open
        while True:
            node = self.stack.pop()
            self.open[node.tag] -= 1
            if node.tag == tag:
                return

    def handle_data(self, data: str) -> None:
        self.budget.spend()
        self.stack[-1].children.append(data)


def _find_all(root: _Node, tag: str) -> list[_Node]:
    found, todo = [], [root]
    while todo:
        node = todo.pop()
        if node.dropped:
            continue
        if node.tag == tag:
            found.append(node)
            continue  # an article's own nested articles are part of it
        todo.extend(reversed([c for c in node.children if isinstance(c, _Node)]))
    return found


def _squash(text: str) -> str:
    # Source line breaks inside Chinese text are not spaces (browsers render them as nothing
    # between ideographs); other whitespace runs become one space.
    text = re.sub(r"(?<=[\u2e80-\u9fff\uff00-\uffef])\s*\n\s*(?=[\u2e80-\u9fff\uff00-\uffef])", "", text)
    return re.sub(r"[ \t\r\n\f\v]+", " ", text).strip()


_BR = "\ue000"  # a <br> until whitespace is squashed; a private-use code point no page contains


def _render(roots: list[_Node]) -> list[str]:
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            lines = (_squash(part) for part in "".join(current).split(_BR))
            paragraphs.append("\n".join(line for line in lines if line))
            current.clear()

    # Iterative walk: deeply nested markup must not hit the recursion limit.
    todo: list[_Node | str | None] = list(reversed(roots))
    while todo:
        item = todo.pop()
        if item is None:  # end of a block element
            flush()
        elif isinstance(item, str):
            current.append(item)
        elif item.dropped:
            continue
        elif item.tag == "br":
            current.append(_BR)
        elif item.tag in ("td", "th"):
            current.append(" ")
            todo.extend(reversed(item.children))
        elif item.tag in _BLOCK:
            flush()
            todo.append(None)
            todo.extend(reversed(item.children))
        else:
            todo.extend(reversed(item.children))
    flush()
    return paragraphs


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _decode_html(data: bytes) -> str:
    match = _META_CHARSET.search(data[:4096])
    if match:
        label = match.group(1).decode("ascii", "replace").lower()
        try:
            codec = codecs.lookup(label).name
        except LookupError:
            codec = ""
        # Pages labelled gb2312 or gbk routinely use characters only GB18030 has (a superset).
        if codec in ("gb2312", "gbk", "gb18030"):
            codec = "gb18030"
        if codec:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                log.info("HTML declares %s but does not decode as it; detecting instead", label)
    return decode(data)


def extract_html(data: bytes, budget: Budget | None = None) -> Extracted:
    parser = _TreeBuilder(budget or Budget())
    parser.feed(_decode_html(data))
    parser.close()
    # The main text: <main>, else the <article>s, else the whole page less its furniture.
    roots = _find_all(parser.root, "main") or _find_all(parser.root, "article") or [parser.root]
    text = _join_paragraphs(_render(roots))
    if not text:
        raise DocumentError("no text in the HTML page")
    return Extracted(text)


# ------------------------------------------------------------------------------- dispatching

EXTRACTORS: dict[str, Callable[[bytes, Budget], Extracted]] = {
    ".pdf": extract_pdf,
    ".docx": extract_docx,
    ".html": extract_html,
    ".htm": extract_html,
}


def extract(name: str, data: bytes) -> Extracted:
    """Text of a PDF, .docx or HTML file; raises DocumentError (and only that) when it has none."""
    suffix = Path(name).suffix.lower()
    extractor = EXTRACTORS.get(suffix)
    if extractor is None:
        raise DocumentError(f"unsupported file type {suffix or '(none)'}; allowed: {', '.join(EXTRACTORS)}")
    if not data.strip():
        raise DocumentError("empty file")
    try:
        return extractor(data, Budget())
    except DocumentError:
        raise
    except Exception as exc:  # a library bug or input nobody foresaw: still one file's reason
        log.warning("could not extract %s", name, exc_info=True)
        raise DocumentError(f"unreadable {suffix} file: {type(exc).__name__}: {exc}"[:300]) from exc
