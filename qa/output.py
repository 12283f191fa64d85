"""Render an Answer for people (plain text) and for programs (the public JSON contract)."""

from __future__ import annotations

from typing import Any

from qa.records import Answer, Passage


def source_label(doc_title: str, section: str, page: int = 0) -> str:
    label = f"{doc_title} › {section}" if section else doc_title
    return f"{label} (p. {page})" if page else label


def to_json(answer: Answer, qid: Any = None) -> dict[str, Any]:
    """The `ask --json/--jsonl` record. Keep this contract stable.

    `sources` are the k passages read for the answer, ranked best first, then any other passage
    the answer cites (rank 0: parts of a list beyond the first k); `n` is the marker
    number of a passage the answer cites (null when it contributed nothing), `quoted` the
    sentences taken from it. When the outcome is not_found they are the nearest passages.
    """
    cited = {c.chunk.chunk_id: c for c in answer.citations}
    shown = list(answer.passages[: answer.k])
    # A list answer quotes the whole list, which can reach past the k passages read first.
    seen = {p.chunk.chunk_id for p in shown}
    shown += [Passage(c.chunk, c.score, 0) for c in answer.citations if c.chunk.chunk_id not in seen]
    sources = []
    for p in shown:
        c = cited.get(p.chunk.chunk_id)
        sources.append(
            {
                "doc": p.chunk.doc_id,
                "title": p.chunk.title,
                "section": p.chunk.section,
                "page": p.chunk.page or None,
                "text": p.chunk.text.strip(),
                "score": round(p.score, 6),
                "rank": p.rank,
                "n": c.number if c else None,
                "quoted": list(c.quoted) if c else [],
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


def to_text(answer: Answer) -> str:
    lines = [answer.text]
    if answer.citations:
        lines.append("")
        lines.append("来源 / Sources:")
        for c in answer.citations:
            lines.append(f"[{c.number}] {source_label(c.chunk.title, c.chunk.section, c.chunk.page)}")
            lines.append(f"    {c.chunk.text.strip()}")
    elif answer.passages:
        lines.append("")
        lines.append("相关段落 / Nearest passages:")
        for p in answer.passages[: answer.k]:
            lines.append(
                f"- {source_label(p.chunk.title, p.chunk.section, p.chunk.page)}: {p.chunk.text.strip()[:120]}…"
            )
    return "\n".join(lines)
