"""Keep what users tell us about answers, so bad answers become candidate evaluation questions.

Two append-only JSON-lines files in the data folder (which survives restarts and rebuilds):

- `feedback.jsonl`: one line per 👍/👎 (or withdrawn vote, or added reason) on an answer. A vote
  carries the answer's id; a later line with the same id supersedes an earlier one (the user
  changed the vote or added a reason), so the file is never rewritten.
- `not_found.jsonl`: every question the app could not answer from the documents.

`candidates()` yields the current 👎 records, then the not-found questions. Each write is one
line, flushed and fsynced; an unreadable line (e.g. a torn write after a crash) is skipped with a
warning rather than hiding the rest. It does not decide what to do with the candidates.
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

log = logging.getLogger(__name__)

VOTES = ("up", "down", None)  # None: the user withdrew the vote


class FeedbackLog:
    def __init__(self, data_dir: Path | str) -> None:
        self.dir = Path(data_dir)
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
        rec = {"id": answer_id or uuid.uuid4().hex, **_summary(question, answer_json)}
        rec.update({"vote": vote, "reason": (reason or "").strip(), "time": _now()})
        self._append(self.feedback_path, rec)
        return rec

    def record_not_found(self, question: str, answer_json: dict[str, Any]) -> dict[str, Any]:
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

    def _append(self, path: Path, rec: dict[str, Any]) -> None:
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())


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
