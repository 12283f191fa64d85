"""Hybrid retrieval: dense FAISS search and BM25 on jieba tokens, fused by reciprocal rank.

Rank fusion (RRF) is used because score scales are not comparable (cosine vs BM25, and cosine
ranges differ by model and by query language). Each query language has its route of retrievers,
chosen by measurement (README): Chinese questions use BM25 + e5; English questions, which share
no words with Chinese text, use the cross-lingual USE model, BM25 over the dictionary expansion
of the question, and e5's latent terms (qa.latent); adding e5's dense vector there lowered R@3
on the calibration set. BM25 and the glossary are built once per loaded index. It does not embed
the query (the engine does) and does not decide whether the passages answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.crosslingual import Glossary
from qa.keywords import BM25, tokenize
from qa.store import StoredIndex


def latent_scores(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Dot products of stored latent-term records (qa.latent.ROW) with a dense query vector."""
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    return (query[rows["idx"]] * rows["val"]).sum(axis=1)


RETRIEVERS = ("e5", "bm25", "x", "gloss", "latent")


@dataclass(frozen=True)
class Query:
    """What is searched: the resolved question text and its representations."""

    text: str
    lang: str
    e5: np.ndarray
    x: np.ndarray | None = None  # cross-lingual model vector, English route only
    expansion: tuple[str, ...] = ()  # Chinese words for an English question
    latent: np.ndarray | None = None  # latent-term vector (qa.latent), when the route uses it

    @property
    def keyword_text(self) -> str:
        """Text whose words the passages should contain: the question, or its expansion."""
        return " ".join(self.expansion) if self.lang == "en" else self.text


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


def top(scores: np.ndarray, depth: int, positive: bool = False) -> list[int]:
    order = np.argsort(-scores, kind="stable")[:depth]
    return [int(i) for i in order if not positive or scores[i] > 0]


class Retriever:
    def __init__(
        self, stored: StoredIndex, depth: int = 20, rrf_k: int = 60, routes: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.routes = routes or {"zh": ("e5", "bm25"), "en": ("x", "gloss")}
        unknown = {r for route in self.routes.values() for r in route} - set(RETRIEVERS)
        if unknown:
            raise ValueError(f"unknown retrievers {sorted(unknown)}; choose from {', '.join(RETRIEVERS)}")
        self.stored = stored
        self.chunks = stored.chunks
        self.bm25 = BM25([list(t) for t in stored.tokens])
        self.depth = depth
        self.rrf_k = rrf_k
        self.x_vectors = stored.arrays.get("x_vectors")
        self.latent_rows = stored.arrays.get("latent_terms")
        # For "is this word anywhere in the documents?": substring search tolerates segmentation.
        self.corpus_text = "\n".join(c.text.lower() for c in self.chunks)
        self._glossary: Glossary | None = None

    @property
    def glossary(self) -> Glossary:
        if self._glossary is None:
            self._glossary = Glossary.for_texts(c.text for c in self.chunks)
        return self._glossary

    def route(self, lang: str) -> tuple[str, ...]:
        """The retrievers fused for questions in `lang` (other languages take the Chinese route)."""
        return self.routes.get(lang, self.routes["zh"])

    def dense(self, qvec: np.ndarray, depth: int) -> tuple[list[int], np.ndarray]:
        n = min(depth, len(self.chunks))
        if n == 0:
            return [], np.zeros(0, dtype=np.float32)
        scores, ids = self.stored.faiss_index.search(qvec.reshape(1, -1).astype(np.float32), n)
        return [int(i) for i in ids[0] if i >= 0], scores[0]

    def hits(self, q: Query) -> list[Hit]:
        """All fused candidates, best first."""
        dense_ids, dense_scores = self.dense(q.e5, self.depth)
        dense_by_id = dict(zip(dense_ids, dense_scores.tolist()))
        bm = np.asarray(self.bm25.scores(tokenize(q.keyword_text)), dtype=np.float32)
        rankings = []
        for name in self.route(q.lang):
            if name == "e5":
                rankings.append(dense_ids)
            elif name in ("bm25", "gloss") and len(bm):
                rankings.append(top(bm, self.depth, positive=True))
            elif name == "x" and q.x is not None and self.x_vectors is not None:
                rankings.append(top(self.x_vectors @ q.x, self.depth))
            elif name == "latent" and q.latent is not None and self.latent_rows is not None:
                rankings.append(top(latent_scores(self.latent_rows, q.latent), self.depth, positive=True))
        fused = rrf(rankings, self.rrf_k)
        order = sorted(fused, key=lambda i: (-fused[i], i))
        return [Hit(i, fused[i], dense_by_id.get(i, float("nan")), float(bm[i]) if len(bm) else 0.0) for i in order]
