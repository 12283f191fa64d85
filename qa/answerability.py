"""Decide whether the retrieved passages answer the question: answered, partial or not found.

Raw cosine thresholds do not carry across models or query languages, so the decision uses
evidence that is comparable: how much of the question's vocabulary the best passages contain
(IDF-weighted), and the dense similarity of the best sentence. It does not compose the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.answer import Sentence, keyword_coverage
from qa.retrieve import Hit, Query, Retriever


@dataclass(frozen=True)
class Evidence:
    lang: str
    coverage: float  # best IDF-weighted keyword coverage of a top passage
    dense_top: float  # best passage cosine
    sentence_top: float  # best sentence cosine
    bm25_top: float

    @classmethod
    def gather(cls, q: Query, hits: list[Hit], sentences: list[Sentence], retriever: Retriever) -> Evidence:
        cov = max(
            (keyword_coverage(q.keyword_text, retriever.chunks[h.index].text, retriever.bm25) for h in hits),
            default=0.0,
        )
        dense = max((h.dense for h in hits if h.dense == h.dense), default=0.0)
        sent = max((s.sims[-1] for s in sentences), default=0.0)
        bm = max((h.bm25 for h in hits), default=0.0)
        return cls(q.lang, round(cov, 4), round(dense, 4), round(sent, 4), round(bm, 4))


def decide(ev: Evidence) -> str:
    if ev.lang == "zh":
        return "answered" if ev.coverage >= 0.5 else "not_found"
    return "answered" if ev.sentence_top >= 0.80 else "not_found"
