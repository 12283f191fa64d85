"""Compose an extractive answer: the sentences of the top passages that answer the question.

Each quoted sentence is copied verbatim from its passage and carries the marker [n] of that
passage; citations are numbered in order of first use, and a passage that contributed no
sentence is not cited. When the evidence says the documents do not cover the question, the
answer says so in the question's language and offers the nearest passages instead. It does not
retrieve and does not generate text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from qa.keywords import BM25, words
from qa.lang import message
from qa.records import Answer, Citation, Passage

MAX_SENTENCES = 3
# A sentence is quoted when it scores at least this share of the best sentence's score.
RELATIVE_KEEP = 0.8


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    start: int  # offsets into the document text
    end: int
    text: str
    dense: float


def keyword_coverage(question: str, text: str, bm25: BM25) -> float:
    """IDF-weighted share of the question's words that occur in `text` (0..1)."""
    qwords = set(words(question))
    if not qwords:
        return 0.0
    compact = re.sub(r"\s+", "", text.lower())
    total = sum(bm25.idf_of(w) for w in qwords)
    found = sum(bm25.idf_of(w) for w in qwords if w in compact)
    return found / total if total else 0.0


def candidate_sentences(
    passages: list[Passage], spans: np.ndarray, vectors: np.ndarray, chunk_rows: dict[str, int], qvec: np.ndarray
) -> list[Sentence]:
    out = []
    for p in passages:
        row = chunk_rows[p.chunk.chunk_id]
        mask = spans[:, 0] == row
        for (_, s, e), vec in zip(spans[mask], vectors[mask]):
            text = p.chunk.text[s - p.chunk.start : e - p.chunk.start].strip()
            out.append(Sentence(p, int(s), int(e), text, float(vec @ qvec)))
    return out


def select(question: str, sentences: list[Sentence], bm25: BM25) -> list[Sentence]:
    """The best-supported sentences, at most MAX_SENTENCES, in reading order of their passages."""
    if not sentences:
        return []
    dense = np.array([s.dense for s in sentences])
    span = float(dense.max() - dense.min()) or 1.0
    scores = []
    for s, d in zip(sentences, dense):
        lex = keyword_coverage(question, s.text, bm25)
        scores.append(0.5 * (d - dense.min()) / span + 0.5 * lex)
    best = max(scores)
    ranked = sorted(range(len(sentences)), key=lambda i: -scores[i])
    keep = [i for i in ranked if scores[i] >= RELATIVE_KEEP * best][:MAX_SENTENCES]
    chosen = [sentences[i] for i in keep]
    return sorted(chosen, key=lambda s: (s.passage.rank, s.start))


def compose(
    question: str, searched_for: str, lang: str, outcome: str, passages: list[Passage], chosen: list[Sentence]
) -> Answer:
    if outcome == "not_found" or not chosen:
        return Answer(
            text=message("not_found", lang),
            outcome="not_found",
            citations=(),
            searched_for=searched_for,
            lang=lang,
        )
    numbers: dict[str, int] = {}
    quoted: dict[str, list[str]] = {}
    parts = []
    for s in chosen:
        cid = s.passage.chunk.chunk_id
        n = numbers.setdefault(cid, len(numbers) + 1)
        quoted.setdefault(cid, []).append(s.text)
        parts.append(f"{s.text}[{n}]")
    by_id = {s.passage.chunk.chunk_id: s.passage for s in chosen}
    citations = tuple(
        Citation(n, by_id[cid].chunk, by_id[cid].score, tuple(quoted[cid])) for cid, n in numbers.items()
    )
    lead = message("partial", lang) if outcome == "partial" else message("from_chinese", lang)
    sep = " " if lang == "en" else ""
    body = sep.join(parts)
    text = f"{lead}\n{body}" if lead else body
    return Answer(text=text, outcome=outcome, citations=citations, searched_for=searched_for, lang=lang)
