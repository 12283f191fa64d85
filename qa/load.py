"""Read the documents in the corpus folder: the only module that reads corpus files.

It decodes each `.txt`/`.md` file (UTF-8, UTF-16 with a byte-order mark, or GB18030/GBK),
cleans it with `qa.text`, and returns `Document`s plus a per-file reason for every file it
skipped (binary, undecodable, empty, too large). It never raises for one bad file: the rest of
the collection still loads. It does not chunk or embed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from qa.records import Document
from qa.text import clean

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".md")


def supported() -> tuple[str, ...]:
    """Plain-text suffixes plus those qa.formats extracts (PDF, Word, HTML).

    Imported on use: qa.formats itself uses this module's decoder."""
    from qa.formats import EXTRACTORS

    return TEXT_SUFFIXES + tuple(EXTRACTORS)


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class LoadResult:
    documents: tuple[Document, ...]
    skipped: tuple[Skipped, ...]


class DocumentError(ValueError):
    """A file that cannot become a document; the message says why, for the report."""


def decode(data: bytes) -> str:
    """Decode document bytes, detecting UTF-8, UTF-16 (BOM) and GB18030/GBK."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise DocumentError("binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise DocumentError("not valid UTF-8, UTF-16 or GB18030/GBK text") from exc
    # GB18030 decodes almost any byte soup; accept it only when it reads as Chinese text.
    han = len(re.findall(r"[\u4e00-\u9fff]", text))
    if han < 0.3 * len(text.strip() or "x") and not text.isascii():
        raise DocumentError("not valid UTF-8, and not plausible GB18030/GBK Chinese text")
    return text


def _page_offsets(raw: str, pages: tuple[int, ...], cleaned: str) -> tuple[int, ...]:
    """Where each raw page starts in the cleaned text.

    Cleaning drops whitespace and headings, so offsets cannot be carried over; instead a short
    probe of each page's opening text is looked up in the cleaned text (whitespace ignored).
    """
    keep = [i for i, ch in enumerate(cleaned) if not ch.isspace()]
    squashed = "".join(cleaned[i] for i in keep)
    out: list[int] = []
    last = 0
    for start in pages:
        body = re.sub(r"\s+", "", raw[start : start + 400])
        found = -1
        # A page may open with a heading (not in the body text): try probes further in.
        for at in range(0, max(1, len(body) - 12), 12):
            found = squashed.find(body[at : at + 12], last)
            if found != -1:
                break
        last = found if found != -1 else last
        out.append(keep[last] if keep and found != -1 else (out[-1] if out else 0))
    # Whatever precedes the first probe (a title, a heading) is on page 1 too.
    return (0, *out[1:]) if out else ()


def parse(name: str, data: bytes) -> Document:
    """Turn one file's bytes into a cleaned Document, or raise DocumentError."""
    if not data.strip():
        raise DocumentError("empty file")
    pages: tuple[int, ...] = ()
    if Path(name).suffix.lower() in TEXT_SUFFIXES:
        text = decode(data)
    else:
        from qa.formats import extract

        extracted = extract(name, data)
        text, pages = extracted.text, extracted.pages
    cleaned = clean(text, default_title=Path(name).stem)
    if not cleaned.text.strip():
        raise DocumentError("no text left after cleaning")
    return Document(
        doc_id=name,
        title=cleaned.title or Path(name).stem,
        text=cleaned.text,
        sections=cleaned.sections,
        sha256=hashlib.sha256(data).hexdigest(),
        pages=_page_offsets(text, pages, cleaned.text) if pages else (),
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Supported files under the corpus folder, sorted; hidden files and outside links excluded."""
    if not corpus_dir.is_dir():
        return []
    root = corpus_dir.resolve()
    out = []
    for p in sorted(corpus_dir.rglob("*")):
        rel = p.relative_to(corpus_dir)
        if any(part.startswith(".") for part in rel.parts) or p.suffix.lower() not in supported():
            continue
        if not p.is_file() or not p.resolve().is_relative_to(root):
            continue
        out.append(p)
    return out


def load_corpus(corpus_dir: Path, max_bytes: int) -> LoadResult:
    docs: list[Document] = []
    skipped: list[Skipped] = []
    for path in corpus_files(corpus_dir):
        name = path.relative_to(corpus_dir).as_posix()
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise DocumentError(f"too large ({size:,} bytes; limit {max_bytes:,})")
            docs.append(parse(name, path.read_bytes()))
        except (DocumentError, OSError) as exc:
            log.warning("skipped %s: %s", name, exc)
            skipped.append(Skipped(name, str(exc)))
    return LoadResult(tuple(docs), tuple(skipped))


def fingerprint(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every supported corpus file, by name: what the index manifest must match."""
    out = {}
    for path in corpus_files(corpus_dir):
        try:
            out[path.relative_to(corpus_dir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            out[path.relative_to(corpus_dir).as_posix()] = f"unreadable: {exc}"
    return out


_SAFE_NAME = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff .()（）-]{0,120}$")


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """Validate an uploaded document; returns the safe file name or raises DocumentError."""
    if not name or name != Path(name).name or "/" in name or "\\" in name or name in {".", ".."}:
        raise DocumentError("file names must not contain folders or path components")
    if not _SAFE_NAME.match(name):
        raise DocumentError("file name has characters that are not allowed")
    if Path(name).suffix.lower() not in supported():
        raise DocumentError(f"unsupported file type; allowed: {', '.join(supported())}")
    if len(data) > max_bytes:
        raise DocumentError(f"too large ({len(data):,} bytes; limit {max_bytes:,})")
    parse(name, data)  # raises DocumentError when it is not a readable document
    return name


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int) -> Path:
    """Write a validated upload into the corpus atomically (never a half-written document)."""
    safe = check_upload(name, data, max_bytes)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / safe
    tmp = corpus_dir / f".{safe}.uploading"
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


def remove_document(corpus_dir: Path, name: str) -> None:
    """Delete one document of the corpus by its name (as listed in the index), never a path
    outside the corpus folder; raises DocumentError when there is no such document."""
    listed = {p.relative_to(corpus_dir).as_posix(): p for p in corpus_files(corpus_dir)}
    if name not in listed:  # exactly as listed: no "..", no absolute paths, no other spelling
        raise DocumentError(f"no such document: {name!r}")
    listed[name].unlink()
