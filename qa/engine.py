"""The question-answering engine: one loaded model and index, many questions.

It wires the stages together — resolve the conversation (chat), embed the query (embed),
retrieve (retrieve), judge answerability (answerability), compose the cited answer (answer) —
and times each step. It holds no UI and prints nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from qa import answer as answering
from qa.answerability import Evidence, decide
from qa.chat import Turn, clean_question, split_turns
from qa.embed import Embedder, load_crosslingual, load_embedder
from qa.indexer import BuildReport, open_or_build
from qa.lang import detect_lang
from qa.records import Answer
from qa.retrieve import Query, Retriever
from qa.settings import Settings
from qa.store import StoredIndex

log = logging.getLogger(__name__)

# How much of the ranking an Answer carries beyond the k passages read (for MRR in the eval).
RANKING_DEPTH = 10


@dataclass(frozen=True)
class Resolved:
    """The question as typed (cleaned) and what is searched for after follow-up resolution."""

    text: str
    searched_for: str
    lang: str


class Engine:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        second: Embedder | None = None,
        rebuild: bool = False,
    ) -> None:
        self.settings = settings
        t0 = time.perf_counter()
        self.embedder = embedder or load_embedder(settings)
        self.second = second if second is not None or embedder is not None else load_crosslingual(settings)
        self.load_seconds = time.perf_counter() - t0
        self._refresh_lock = threading.Lock()
        stored, self.report = open_or_build(settings, self.embedder, self.second, force=rebuild)
        self.use(stored)

    def use(self, stored: StoredIndex) -> None:
        """Switch to another stored index (all derived state is rebuilt first, then swapped in)."""
        retriever = Retriever(stored, self.settings.fusion_depth, self.settings.rrf_k)
        rows = {c.chunk_id: i for i, c in enumerate(stored.chunks)}
        self._state = (stored, retriever, rows)

    def refresh(self) -> BuildReport:
        """Bring the index up to date with the corpus; questions keep using the old index until
        the new one is complete, then the swap is a single assignment."""
        with self._refresh_lock:
            stored, report = open_or_build(self.settings, self.embedder, self.second)
            if report.rebuilt:
                self.use(stored)
            self.report = report
            return report

    @property
    def stored(self) -> StoredIndex:
        return self._state[0]

    def resolve(self, turns: list[Turn]) -> Resolved:
        last, _earlier = split_turns(turns)
        text = clean_question(last, self.settings.max_question_chars)
        return Resolved(text, text, detect_lang(text))

    def query(self, text: str, lang: str, retriever: Retriever) -> Query:
        e5 = self.embedder.encode_queries([text])[0]
        if lang != "en":
            return Query(text, lang, e5)
        x = self.second.encode_queries([text])[0] if self.second is not None else None
        return Query(text, lang, e5, x, tuple(retriever.glossary.expand(text)))

    def ask(self, question: str | None = None, turns: list[Turn] | None = None, k: int | None = None) -> Answer:
        t_start = time.perf_counter()
        turns = turns if turns is not None else [Turn("user", question or "")]
        stored, retriever, rows = self._state
        k = k or self.settings.top_k
        resolved = self.resolve(turns)
        t0 = time.perf_counter()
        query = self.query(resolved.searched_for, resolved.lang, retriever)
        t1 = time.perf_counter()
        hits = retriever.hits(query)
        ranking = [
            answering.Passage(stored.chunks[h.index], h.fused, r) for r, h in enumerate(hits[:RANKING_DEPTH], start=1)
        ]
        passages = ranking[:k]
        t2 = time.perf_counter()
        sims = [(stored.arrays["sentence_vectors"], query.e5)]
        if query.x is not None and "x_sentence_vectors" in stored.arrays:
            sims.append((stored.arrays["x_sentence_vectors"], query.x))
        sentences = answering.candidate_sentences(passages, stored.arrays["sentence_spans"], rows, sims)
        evidence = Evidence.gather(query, hits[:k], sentences, retriever)
        outcome = decide(evidence)
        chosen = answering.select(query.keyword_text, sentences, retriever.bm25) if outcome != "not_found" else []
        result = answering.compose(resolved.text, resolved.searched_for, resolved.lang, outcome, passages, chosen)
        t3 = time.perf_counter()
        timings = {
            "embed": (t1 - t0) * 1000,
            "retrieve": (t2 - t1) * 1000,
            "answer": (t3 - t2) * 1000,
            "total": (t3 - t_start) * 1000,
        }
        return Answer(
            text=result.text,
            outcome=result.outcome,
            citations=result.citations,
            searched_for=result.searched_for,
            lang=result.lang,
            timings_ms={k_: round(v, 2) for k_, v in timings.items()},
            passages=tuple(ranking),
            k=k,
            note=f"{evidence}",
        )

    def status(self) -> dict[str, object]:
        m = self.stored.manifest
        return {
            "documents": len(m.get("documents", {})),
            "chunks": len(self.stored.chunks),
            "built_at": m.get("built_at", ""),
            "model": m.get("model", ""),
            "skipped": m.get("skipped", {}),
        }


def unit_vector(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n else v
