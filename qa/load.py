"""Read the documents in the corpus folder: the only module that reads corpus files.

It decodes each `.txt`/`.md` file (UTF-8, UTF-16 with a byte-order mark, or GB18030/GBK),
cleans it with `qa.text`, and returns `Document`s plus a per-file reason for every file it
skipped (binary, undecodable, empty, too large, over its parse budget). It never raises for one
bad file: the rest of the collection still loads. The text extracted from PDF, Word and HTML
files is cached by the file's hash (`.parsed/` in the corpus folder), so a restart or a refresh
does not parse them again. Uploads never overwrite a document without an explicit replace, and
the replaced version is kept in `.replaced/`. It does not chunk or embed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
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
    """A file that cannot become a document; the message says why, for the report.

    `key` (with `params`) names a message the UI shows in the user's language instead of the
    English reason; "" means the reason itself is shown."""

    def __init__(self, reason: str, key: str = "", **params: object) -> None:
        super().__init__(reason)
        self.key = key
        self.params = params


# Dot-folders in the corpus: never documents (corpus_files skips every dot-name).
PARSED_DIR = ".parsed"  # extracted text of PDF/Word/HTML files, by file hash
REPLACED_DIR = ".replaced"  # documents replaced by an upload, as <timestamp>-<name>
UPLOADING = ".uploading"  # suffix of an upload being written; renamed into place when whole
# An upload file left by a kill or a full disk is older than this; a live one is seconds old.
STALE_UPLOAD_SECONDS = 300
# Bump when qa.formats extracts differently: cached texts of an older version are ignored.
EXTRACT_VERSION = 1


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


def _extract_cached(name: str, data: bytes, sha: str, cache: Path | None) -> tuple[str, tuple[int, ...]]:
    """qa.formats.extract, remembered by file hash: a big PDF or a hostile .docx costs its parse
    (or its refusal) once, not at every refresh and restart. A refusal for running out of time
    is not remembered: it depends on how busy the machine was."""
    from qa.formats import ParseTimeout, extract

    entry = cache / f"{sha}{Path(name).suffix.lower()}.json" if cache is not None else None
    got = _read_cache(entry) if entry is not None else None
    if got is not None:
        if "error" in got:
            raise DocumentError(str(got["error"]), str(got.get("key", "")), **dict(got.get("params") or {}))
        return str(got["text"]), tuple(int(x) for x in got["pages"])
    try:
        extracted = extract(name, data)
    except ParseTimeout:
        raise
    except DocumentError as exc:
        if entry is not None:
            _write_cache(entry, {"v": EXTRACT_VERSION, "error": str(exc), "key": exc.key, "params": exc.params})
        raise
    if entry is not None:
        _write_cache(entry, {"v": EXTRACT_VERSION, "text": extracted.text, "pages": list(extracted.pages)})
    return extracted.text, extracted.pages


def _read_cache(entry: Path) -> dict | None:
    """A cache entry of this extractor version, or None (none yet, unreadable, outdated)."""
    try:
        got = json.loads(entry.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(got, dict) or got.get("v") != EXTRACT_VERSION:
        return None
    ok = isinstance(got.get("error"), str) or (isinstance(got.get("text"), str) and isinstance(got.get("pages"), list))
    return got if ok else None


def _write_cache(entry: Path, result: dict[str, object]) -> None:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(result, ensure_ascii=False), "utf-8")
        os.replace(tmp, entry)
    except (OSError, TypeError, ValueError):  # a cache that cannot be written only costs time
        log.warning("could not cache the parsed text in %s", entry, exc_info=True)


def parse(name: str, data: bytes, cache: Path | None = None) -> Document:
    """Turn one file's bytes into a cleaned Document, or raise DocumentError. With `cache` (a
    folder), PDF/Word/HTML text is read from and written to it by the file's hash."""
    if not data.strip():
        raise DocumentError("empty file")
    pages: tuple[int, ...] = ()
    sha = hashlib.sha256(data).hexdigest()
    if Path(name).suffix.lower() in TEXT_SUFFIXES:
        text = decode(data)
    else:
        text, pages = _extract_cached(name, data, sha, cache)
    cleaned = clean(text, default_title=Path(name).stem)
    if not cleaned.text.strip():
        raise DocumentError("no text left after cleaning")
    return Document(
        doc_id=name,
        title=cleaned.title or Path(name).stem,
        text=cleaned.text,
        sections=cleaned.sections,
        sha256=sha,
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


def load_corpus(corpus_dir: Path, max_bytes: int, cache: Path | None = None) -> LoadResult:
    """Every document of the corpus folder. Parsed PDF/Word/HTML text is cached in `cache`
    (default: the corpus folder's `.parsed/`); entries of files no longer there are dropped."""
    cache = corpus_dir / PARSED_DIR if cache is None else cache
    clean_leftovers(corpus_dir)
    docs: list[Document] = []
    skipped: list[Skipped] = []
    seen: set[str] = set()
    for path in corpus_files(corpus_dir):
        name = path.relative_to(corpus_dir).as_posix()
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise DocumentError(f"too large ({size:,} bytes; limit {max_bytes:,})")
            data = path.read_bytes()
            seen.add(hashlib.sha256(data).hexdigest())
            docs.append(parse(name, data, cache))
        except (DocumentError, OSError) as exc:
            log.warning("skipped %s: %s", name, exc)
            skipped.append(Skipped(name, str(exc)))
    _prune_cache(cache, seen)
    return LoadResult(tuple(docs), tuple(skipped))


def _prune_cache(cache: Path, keep: set[str]) -> None:
    """Drop cached texts (and refusals) of files no longer in the corpus. Only entries older
    than a stale upload go, so the entry an upload wrote while this load ran is kept."""
    if not cache.is_dir():
        return
    cutoff = time.time() - STALE_UPLOAD_SECONDS
    for entry in cache.glob("*.json"):
        try:
            if entry.name.split(".", 1)[0] not in keep and entry.stat().st_mtime <= cutoff:
                entry.unlink()
        except OSError:
            pass


def clean_leftovers(corpus_dir: Path, older_than: float = STALE_UPLOAD_SECONDS) -> list[str]:
    """Delete upload files that a kill or a full disk left half-written (`.NAME.*.uploading`,
    older than `older_than` seconds: a younger one may still be being written); returns their
    names, relative to the corpus folder."""
    removed: list[str] = []
    if not corpus_dir.is_dir():
        return removed
    cutoff = time.time() - older_than
    for path in corpus_dir.rglob(f".*{UPLOADING}"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime <= cutoff:
                path.unlink()
                removed.append(path.relative_to(corpus_dir).as_posix())
        except OSError:
            log.warning("could not delete the leftover upload %s", path, exc_info=True)
    for name in removed:
        log.warning("deleted the leftover upload file %s (a kill or a full disk interrupted it)", name)
    return removed


def fingerprint(corpus_dir: Path) -> dict[str, str]:
    """sha256 of every supported corpus file, by name: what the index manifest must match."""
    out = {}
    for path in corpus_files(corpus_dir):
        try:
            out[path.relative_to(corpus_dir).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            out[path.relative_to(corpus_dir).as_posix()] = f"unreadable: {exc}"
    return out


MAX_NAME_CHARS = 120
# File systems allow 255 bytes per name; the upload's temporary name adds 44 bytes (a dot, a
# random id, ".uploading"), a replaced version 23 (its timestamp). 180 bytes: 60 Chinese characters.
MAX_NAME_BYTES = 180
_SAFE_NAME = re.compile(r"^[\w\u4e00-\u9fff][\w\u4e00-\u9fff .()（）-]*$")


def check_name(name: str) -> str:
    """A bare file name that is safe to create in the corpus folder, or DocumentError."""
    if not name or name != Path(name).name or "/" in name or "\\" in name or name in {".", ".."}:
        raise DocumentError("file names must not contain folders or path components")
    size = len(name.encode("utf-8", "surrogatepass"))
    if len(name) > MAX_NAME_CHARS or size > MAX_NAME_BYTES:
        raise DocumentError(
            f"file name too long ({len(name)} characters, {size} bytes; at most {MAX_NAME_CHARS} "
            f"characters and {MAX_NAME_BYTES} bytes)",
            "name_too_long",
            chars=MAX_NAME_CHARS,
            limit=MAX_NAME_BYTES,
        )
    if not _SAFE_NAME.match(name):
        raise DocumentError("file name has characters that are not allowed")
    if Path(name).suffix.lower() not in supported():
        raise DocumentError(f"unsupported file type; allowed: {', '.join(supported())}")
    return name


def check_upload(name: str, data: bytes, max_bytes: int, cache: Path | None = None) -> str:
    """Validate an uploaded document; returns the safe file name or raises DocumentError."""
    check_name(name)
    if len(data) > max_bytes:
        raise DocumentError(f"too large ({len(data):,} bytes; limit {max_bytes:,})")
    parse(name, data, cache)  # raises DocumentError when it is not a readable document
    return name


def same_name(corpus_dir: Path, name: str) -> str | None:
    """The corpus document (at the top of the folder) whose name is `name` but for case, if any:
    on a case-insensitive disk, or to a reader, 公告.PDF and 公告.pdf are the same document."""
    if not corpus_dir.is_dir():
        return None
    wanted = name.casefold()
    for p in corpus_dir.iterdir():
        if p.name.casefold() == wanted and not p.name.startswith(".") and p.is_file():
            return p.name
    return None


def save_upload(corpus_dir: Path, name: str, data: bytes, max_bytes: int, replace: bool = False) -> Path:
    """Write a validated upload into the corpus atomically (never a half-written document).

    An upload named like an existing document (case aside) is refused unless `replace`; then the
    existing file is kept as `.replaced/<timestamp>-<name>`, which the loader ignores."""
    safe = check_name(name)
    existing = same_name(corpus_dir, safe)
    if existing is not None and not replace:  # before parsing: a refusal costs no parse
        raise DocumentError(
            f"a document named {existing} already exists; choose replace to overwrite it", "name_taken", name=existing
        )
    check_upload(safe, data, max_bytes, corpus_dir / PARSED_DIR)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / safe
    tmp = corpus_dir / f".{safe}.{uuid.uuid4().hex}{UPLOADING}"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        existing = same_name(corpus_dir, safe)  # again: another upload may have come meanwhile
        if existing is not None:
            if not replace:
                raise DocumentError(
                    f"a document named {existing} already exists; choose replace to overwrite it",
                    "name_taken",
                    name=existing,
                )
            kept = corpus_dir / REPLACED_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}-{existing}"
            kept.parent.mkdir(exist_ok=True)
            os.replace(corpus_dir / existing, kept)
            log.info("kept the replaced version of %s as %s", existing, kept.relative_to(corpus_dir))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # after a failed write (full disk): no leftover
    return target


def remove_document(corpus_dir: Path, name: str) -> None:
    """Delete one document of the corpus by its name (as listed in the index), never a path
    outside the corpus folder; raises DocumentError when there is no such document."""
    listed = {p.relative_to(corpus_dir).as_posix(): p for p in corpus_files(corpus_dir)}
    if name not in listed:  # exactly as listed: no "..", no absolute paths, no other spelling
        raise DocumentError(f"no such document: {name!r}")
    listed[name].unlink()
