"""Hybrid retrieval: dense FAISS search and BM25 on jieba tokens, fused by reciprocal rank.

Rank fusion (RRF) is used because the two score scales are not comparable (cosine vs BM25, and
cosine ranges differ by model and by query language). BM25 is built once per loaded index. It
does not embed the query (the caller does) and does not decide whether the passages answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.keywords import BM25, tokenize
from qa.records import Passage
from qa.store import StoredIndex


@dataclass(frozen=True)
class Hit:
    """Per-retriever evidence for one chunk, kept for answerability scoring."""

    index: int
    fused: float
    dense: float
    bm25: float


def rrf(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion of ranked id lists (best first)."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, idx in enumerate(ranking):
            scores[idx] = scores.get(idx, 0.0) + 1.0 / (k + rank + 1)
    return scores


class Retriever:
    def __init__(self, stored: StoredIndex, depth: int = 20, rrf_k: int = 60) -> None:
        self.stored = stored
        self.chunks = stored.chunks
        self.bm25 = BM25([list(t) for t in stored.tokens])
        self.depth = depth
        self.rrf_k = rrf_k

    def dense(self, qvec: np.ndarray, depth: int) -> tuple[list[int], np.ndarray]:
        n = min(depth, len(self.chunks))
        if n == 0:
            return [], np.zeros(0, dtype=np.float32)
        scores, ids = self.stored.faiss_index.search(qvec.reshape(1, -1).astype(np.float32), n)
        return [int(i) for i in ids[0] if i >= 0], scores[0]

    def hits(self, query: str, qvec: np.ndarray, extra: list[list[int]] | None = None) -> list[Hit]:
        """All fused candidates, best first. `extra` adds rankings from other retrievers."""
        dense_ids, dense_scores = self.dense(qvec, self.depth)
        bm = np.asarray(self.bm25.scores(tokenize(query)), dtype=np.float32)
        bm_ids = [int(i) for i in np.argsort(-bm, kind="stable")[: self.depth] if bm[i] > 0]
        fused = rrf([dense_ids, bm_ids, *(extra or [])], self.rrf_k)
        dense_by_id = dict(zip(dense_ids, dense_scores.tolist()))
        order = sorted(fused, key=lambda i: (-fused[i], i))
        return [Hit(i, fused[i], dense_by_id.get(i, float("nan")), float(bm[i]) if len(bm) else 0.0) for i in order]

    def search(self, query: str, qvec: np.ndarray, k: int) -> list[Passage]:
        return [
            Passage(self.chunks[h.index], h.fused, rank)
            for rank, h in enumerate(self.hits(query, qvec)[:k], start=1)
        ]
