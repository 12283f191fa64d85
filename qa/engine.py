"""The question-answering engine: one loaded model and index, many questions.

It wires the stages together — resolve the conversation (chat), embed the query (embed),
retrieve (retrieve), judge answerability (answerability), compose the cited answer (answer) —
and times each step. It holds no UI and prints nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from qa import answer as answering
from qa.answerability import Evidence, decide
from qa.chat import Turn, clean_question, split_turns
from qa.embed import Embedder, load_embedder
from qa.indexer import BuildReport, open_or_build
from qa.lang import detect_lang
from qa.records import Answer
from qa.retrieve import Retriever
from qa.settings import Settings
from qa.store import StoredIndex

log = logging.getLogger(__name__)

# How much of the ranking an Answer carries beyond the k passages read (for MRR in the eval).
RANKING_DEPTH = 10


@dataclass(frozen=True)
class Query:
    text: str
    searched_for: str
    lang: str


class Engine:
    def __init__(self, settings: Settings, embedder: Embedder | None = None, rebuild: bool = False) -> None:
        self.settings = settings
        t0 = time.perf_counter()
        self.embedder = embedder or load_embedder(settings)
        self.load_seconds = time.perf_counter() - t0
        stored, self.report = open_or_build(settings, self.embedder, force=rebuild)
        self.use(stored)

    def use(self, stored: StoredIndex) -> None:
        """Switch to another stored index (all derived state is rebuilt first, then swapped in)."""
        retriever = Retriever(stored, self.settings.fusion_depth, self.settings.rrf_k)
        rows = {c.chunk_id: i for i, c in enumerate(stored.chunks)}
        self._state = (stored, retriever, rows)

    @property
    def stored(self) -> StoredIndex:
        return self._state[0]

    def resolve(self, turns: list[Turn]) -> Query:
        last, _earlier = split_turns(turns)
        text = clean_question(last, self.settings.max_question_chars)
        return Query(text, text, detect_lang(text))

    def ask(self, question: str | None = None, turns: list[Turn] | None = None, k: int | None = None) -> Answer:
        t_start = time.perf_counter()
        turns = turns if turns is not None else [Turn("user", question or "")]
        stored, retriever, rows = self._state
        k = k or self.settings.top_k
        query = self.resolve(turns)
        t0 = time.perf_counter()
        qvec = self.embedder.encode_queries([query.searched_for])[0]
        t1 = time.perf_counter()
        hits = retriever.hits(query.searched_for, qvec)
        ranking = [
            answering.Passage(stored.chunks[h.index], h.fused, r) for r, h in enumerate(hits[:RANKING_DEPTH], start=1)
        ]
        passages = ranking[:k]
        t2 = time.perf_counter()
        sentences = answering.candidate_sentences(
            passages, stored.arrays["sentence_spans"], stored.arrays["sentence_vectors"], rows, qvec
        )
        evidence = Evidence.gather(query.searched_for, query.lang, hits[:k], sentences, retriever)
        outcome = decide(evidence)
        chosen = answering.select(query.searched_for, sentences, retriever.bm25) if outcome != "not_found" else []
        result = answering.compose(query.text, query.searched_for, query.lang, outcome, passages, chosen)
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
