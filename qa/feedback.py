"""Keep what users tell us about answers, so bad answers become candidate evaluation questions.

Two append-only JSON-lines files in the data folder (which survives restarts and rebuilds):

- `feedback.jsonl`: one line per 👍/👎 (or withdrawn vote, or added reason) on an answer. A vote
  carries the answer's id; a later line with the same id supersedes an earlier one (the user
  changed the vote or added a reason), so the file is never rewritten.
- `not_found.jsonl`: every question the app could not answer from the documents.

`candidates()` yields the current 👎 records, then the not-found questions. Each record is one
line written whole (one write, flushed and fsynced; a failed write is cut off again), and before
each append a torn tail left by a crash or a full disk is moved aside to `<file>.torn`, so a new
record never glues onto half an old one. An unreadable line is skipped with a warning rather
than hiding the rest. Questions and reasons have size limits (`FieldTooLong`), so nobody can
fill the disk through a feedback box. It does not decide what to do with the candidates.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qa.settings import Settings

log = logging.getLogger(__name__)

VOTES = ("up", "down", None)  # None: the user withdrew the vote
MAX_REASON_CHARS = 2000
# A stored line repeats the answer and its sources from the caller's record; a real one is a
# few kilobytes (50 sources at most), so this only stops a record built to fill the disk.
MAX_LINE_BYTES = 256 * 1024


class FieldTooLong(ValueError):
    """A question, reason or record over its limit; `field` and `limit` name it for the message."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field} too long (at most {limit:,} {'bytes' if field == 'record' else 'characters'})")
        self.field = field
        self.limit = limit


class FeedbackLog:
    def __init__(
        self,
        data_dir: Path | str,
        # A longer question was never answered: the same limit as the question box.
        max_question_chars: int = Settings.max_question_chars,
        max_reason_chars: int = MAX_REASON_CHARS,
    ) -> None:
        self.dir = Path(data_dir)
        self.max_question_chars = max_question_chars
        self.max_reason_chars = max_reason_chars
        self.feedback_path = self.dir / "feedback.jsonl"
        self.not_found_path = self.dir / "not_found.jsonl"
        # Gradio serves events from several threads; one line must never interleave with another.
        self._lock = threading.Lock()

    def record(
        self, question: str, answer_json: dict[str, Any], vote: str | None, reason: str = "", answer_id: str = ""
    ) -> dict[str, Any]:
        """Append one vote on an answer; returns the stored record."""
        if vote not in VOTES:
            raise ValueError(f"vote must be 'up', 'down' or None, got {vote!r}")
        self._check(question, reason)
        rec = {"id": answer_id or uuid.uuid4().hex, **_summary(question, answer_json)}
        rec.update({"vote": vote, "reason": (reason or "").strip(), "time": _now()})
        self._append(self.feedback_path, rec)
        return rec

    def record_not_found(self, question: str, answer_json: dict[str, Any]) -> dict[str, Any]:
        self._check(question, "")
        rec = {"id": uuid.uuid4().hex, **_summary(question, answer_json), "vote": None, "reason": "", "time": _now()}
        self._append(self.not_found_path, rec)
        return rec

    def votes(self) -> list[dict[str, Any]]:
        """The current vote of every answer voted on (the last line per id), oldest first."""
        latest: dict[str, dict[str, Any]] = {}
        for rec in _read(self.feedback_path):
            latest.pop(rec.get("id", ""), None)  # re-insert so order follows the latest change
            latest[rec.get("id", "")] = rec
        return list(latest.values())

    def candidates(self) -> Iterator[dict[str, Any]]:
        """👎 answers (with their reasons), then questions that found nothing."""
        for rec in self.votes():
            if rec.get("vote") == "down":
                yield rec
        yield from _read(self.not_found_path)

    def _check(self, question: str, reason: str | None) -> None:
        # Checked before anything is written, and refused rather than cut: a cut reason would
        # be stored as if the user had said less.
        if len(question or "") > self.max_question_chars:
            raise FieldTooLong("question", self.max_question_chars)
        if len(reason or "") > self.max_reason_chars:
            raise FieldTooLong("reason", self.max_reason_chars)

    def _append(self, path: Path, rec: dict[str, Any]) -> None:
        line = _dumps(rec).encode("utf-8") + b"\n"
        if len(line) > MAX_LINE_BYTES:
            raise FieldTooLong("record", MAX_LINE_BYTES)
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                _repair_tail(fd, path)
                start = os.fstat(fd).st_size
                try:
                    # One write of the whole line; a short write (a full disk) is an error, and
                    # what it did write is cut off again so the file still ends with a newline.
                    if os.write(fd, line) != len(line):
                        raise OSError(f"short write to {path}")
                    os.fsync(fd)
                except OSError:
                    try:
                        os.ftruncate(fd, start)
                    except OSError:
                        log.warning("could not cut a failed write from %s; repaired at the next append", path)
                    raise
            finally:
                os.close(fd)


def _dumps(rec: dict[str, Any]) -> str:
    text = json.dumps(rec, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8; its \\u escape is valid JSON
        text = json.dumps(rec, ensure_ascii=True)
    return text


def _repair_tail(fd: int, path: Path) -> None:
    """Make the file end with a whole line: a tail without its newline (a crash or a full disk
    mid-write) is moved to `<file>.torn` and cut off; a tail that is whole JSON just gets its
    newline. Without this the next record would be glued onto it and both lost on reading."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    # Find the start of the last line, reading backwards a block at a time.
    end = size
    start = 0
    while end > 0:
        begin = max(0, end - 65536)
        block = os.pread(fd, end - begin, begin)
        nl = block.rfind(b"\n")
        if nl != -1:
            start = begin + nl + 1
            break
        end = begin
    tail = os.pread(fd, size - start, start)
    try:
        if isinstance(json.loads(tail.decode("utf-8")), dict):
            os.write(fd, b"\n")
            log.warning("%s ended without a newline after a whole record; added it", path)
            return
    except ValueError:
        pass
    torn = path.with_name(path.name + ".torn")
    with open(torn, "ab") as f:
        f.write(tail + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.ftruncate(fd, start)
    log.warning("%s ended with a torn record (%d bytes); moved it to %s", path, len(tail), torn.name)


def _summary(question: str, answer_json: dict[str, Any]) -> dict[str, Any]:
    return {
        "question": question,
        "answer": answer_json.get("answer", ""),
        "sources": [
            {k: s.get(k) for k in ("doc", "title", "section", "n", "rank", "start", "end", "quoted")}
            for s in answer_json.get("sources", [])
        ],
        "outcome": answer_json.get("outcome", ""),
        "searched_for": answer_json.get("searched_for", ""),
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _read(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d is not valid JSON; skipped", path, lineno)
                continue
            if isinstance(rec, dict):
                yield rec
