"""Render an Answer for people (plain text) and for programs (the public JSON contract).

Every source is cited as document › section path (› page): the document by its title, and by
its file name too when the title alone does not tell it apart (two versions of one law share a
title). It does not decide which sources to show; the engine does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from qa.gist import LABEL, Gist
from qa.records import Answer, Citation, Passage


def source_label(doc_title: str, section: str, page: int = 0, doc: str = "") -> str:
    """The citation "title (file) › section path (p. n)": the file name only when `doc` is
    given (callers pass it when the title is shared), and in place of a missing title."""
    name = doc_title or doc
    if doc and doc_title and doc != doc_title:
        name = f"{doc_title} ({doc})"
    label = f"{name} › {section}" if section else name
    return f"{label} (p. {page})" if page else label


def shared_titles(documents: Iterable[dict[str, Any]]) -> set[str]:
    """Titles carried by more than one document (`Engine.documents()` rows): citing one of those
    by title alone would not say which document it is."""
    first: dict[str, str] = {}
    shared = set()
    for d in documents:
        title, doc = str(d.get("title") or ""), str(d.get("doc") or "")
        if first.setdefault(title, doc) != doc:
            shared.add(title)
    return shared


def _ambiguous(passages: Iterable[Passage], shared: Iterable[str]) -> set[str]:
    """The collection's shared titles plus any title two of these passages' documents share, so
    the citations are unambiguous even when the caller knows nothing of the collection."""
    rows = [{"doc": p.chunk.doc_id, "title": p.chunk.title} for p in passages]
    return set(shared) | shared_titles(rows)


def _label(p: Passage, ambiguous: set[str]) -> str:
    c = p.chunk
    return source_label(c.title, c.section, c.page, c.doc_id if (c.title in ambiguous or not c.title) else "")


def gist_json(g: Gist) -> dict[str, Any]:
    return {
        "sentence": g.sentence,
        "gloss": g.text,
        "label": LABEL,
        "parts": [{"zh": p.zh, "en": p.en, "kind": p.kind} for p in g.parts],
    }


def _gists(c: Citation | None) -> list[dict[str, Any]]:
    return [gist_json(g) for g in c.gists] if c else []


def with_gists(answer: Answer) -> str:
    """The answer text with each quoted sentence's gist on its own line under it (English
    answers; the text itself otherwise)."""
    text = answer.text
    for c in answer.citations:
        for q, g in zip(c.quoted, c.gists):
            said = f"{q}[{c.number}]"
            line = f"\n    {LABEL}: {g.text}\n"
            at = text.find(said)
            while at != -1 and text.startswith(line, at + len(said)):  # this one has its gist already
                at = text.find(said, at + 1)
            if at != -1:
                end = at + len(said)
                text = text[:end] + line + text[end:].lstrip(" \n")  # the next quote: on the next line
    return text.rstrip("\n")


def to_json(answer: Answer, qid: Any = None, shared: Iterable[str] = ()) -> dict[str, Any]:
    """The `ask --json/--jsonl` record. Keep this contract stable (fields are added, never renamed).

    `sources` are the k passages read for the answer, ranked best first, then any other passage
    the answer cites (rank 0: parts of a list beyond the first k); `n` is the marker
    number of a passage the answer cites (null when it contributed nothing), `quoted` the
    sentences taken from it. When the outcome is not_found they are the nearest passages.
    `gists` (English answers only, else []) holds, for each quoted sentence in order, its English
    gist: {"sentence", "gloss" (the text shown), "label" (it is a dictionary gloss, not a
    translation), "parts": [{"zh", "en", "kind"}...]} (see qa.gist).
    `label` is the citation as people read it (see `source_label`); `title_shared` says that
    another document has the same title (from `shared`, the collection's shared titles, or
    among these sources), so the file name `doc` is what tells them apart.
    """
    cited = {c.chunk.chunk_id: c for c in answer.citations}
    shown = list(answer.passages[: answer.k])
    # A list answer quotes the whole list, which can reach past the k passages read first.
    seen = {p.chunk.chunk_id for p in shown}
    shown += [Passage(c.chunk, c.score, 0) for c in answer.citations if c.chunk.chunk_id not in seen]
    ambiguous = _ambiguous(shown, shared)
    sources = []
    for p in shown:
        c = cited.get(p.chunk.chunk_id)
        sources.append(
            {
                "doc": p.chunk.doc_id,
                "title": p.chunk.title,
                "section": p.chunk.section,
                "label": _label(p, ambiguous),
                "title_shared": p.chunk.title in ambiguous,
                "page": p.chunk.page or None,
                "text": p.chunk.text.strip(),
                # The heading printed above the passage when it opens its section ("" otherwise):
                # an answer may quote it like a sentence.
                "heading": p.chunk.heading,
                "score": round(p.score, 6),
                "rank": p.rank,
                "n": c.number if c else None,
                "quoted": list(c.quoted) if c else [],
                "gists": _gists(c),
                "start": p.chunk.start,
                "end": p.chunk.end,
            }
        )
    out: dict[str, Any] = {} if qid is None else {"id": qid}
    out.update(
        {
            "answer": answer.text,
            "answered": answer.answered,
            "outcome": answer.outcome,
            "searched_for": answer.searched_for,
            "lang": answer.lang,
            "sources": sources,
            "timings_ms": answer.timings_ms,
        }
    )
    return out


def to_text(answer: Answer, shared: Iterable[str] = ()) -> str:
    """The answer and its sources for a terminal; `shared` as for `to_json`."""
    lines = [with_gists(answer)]
    cited = [Passage(c.chunk, c.score, 0) for c in answer.citations]
    nearest = list(answer.passages[: answer.k])
    ambiguous = _ambiguous(cited or nearest, shared)
    if answer.citations:
        lines.append("")
        lines.append("来源 / Sources:")
        for c, p in zip(answer.citations, cited):
            lines.append(f"[{c.number}] {_label(p, ambiguous)}")
            lines.append(f"    {c.chunk.text.strip()}")
    elif nearest:
        lines.append("")
        lines.append("相关段落 / Nearest passages:")
        for p in nearest:
            lines.append(f"- {_label(p, ambiguous)}: {p.chunk.text.strip()[:120]}…")
    return "\n".join(lines)
