"""The question-answering engine: one loaded model and index, many questions.

It wires the stages together — resolve the conversation (chat), embed the query (embed),
retrieve (retrieve), judge answerability (answerability), compose the cited answer (answer) —
and times each step. It holds no UI and prints nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qa import answer as answering
from qa.answerability import Calibration, Evidence, name_runs, topic_quoted
from qa.chat import BadQuestion, Turn, clean_question, resolve_across, resolve_followup, split_turns
from qa.embed import Embedder, Remembered, load_crosslingual, load_embedder, load_latent
from qa.gist import romanise
from qa.indexer import BuildReport, Progress, open_or_build, open_stale
from qa.lang import detect_lang, message
from qa.load import remove_document
from qa.output import source_label
from qa.records import Answer, Passage
from qa.retrieve import Query, Retriever
from qa.settings import Settings
from qa.store import StoredIndex
from qa.structure import Item, colon_list, is_list_question, item_run, named_item, section_overview, stated_counts

if TYPE_CHECKING:
    from qa.crosslingual import Glossary
    from qa.latent import LatentTerms

log = logging.getLogger(__name__)

# How much of the ranking an Answer carries beyond the k passages read (for MRR in the eval).
RANKING_DEPTH = 10
# Candidate sentences, embedded alone, whose similarity the answerability model reads: it was
# fitted (eval/calibrate.py) with QA_RESCORE=3.
EVIDENCE_SENTENCES = 3
# Earlier user turns considered when resolving a follow-up.
MAX_CONTEXT_TURNS = 3


@dataclass(frozen=True)
class Resolved:
    """The question as typed (cleaned) and what is searched for after follow-up resolution."""

    text: str
    searched_for: str
    lang: str  # the question's: the answer is written in it
    # The language of `searched_for` when a follow-up crossed languages ("And Chenzhou?" after
    # a Chinese question searches in Chinese); "" = `lang`.
    search_lang: str = ""

    @property
    def searches_in(self) -> str:
        return self.search_lang or self.lang


@dataclass(frozen=True)
class _Gathered:
    """Everything one question's answer is built from, read from one index state."""

    stored: StoredIndex
    rows: dict[str, int]
    resolved: Resolved
    query: Query
    ranking: list[Passage]
    sentences: list[answering.Sentence]
    evidence: Evidence
    retriever: Retriever
    timings: dict[str, float]
    named: tuple[str, ...]  # quoted_names: worked out once, read by the shortlist and the choice


def quoted_names(q: Query, retriever: Retriever) -> tuple[str, ...]:
    """The names a quoted sentence should hold (answer.name_bonuses): the Chinese names of an
    English question's capitalised names ("Chenzhou" -> 郴州, through the glossary's pinyin).
    A Chinese question's names are among its words, weighed by their IDF in the sentence's
    keyword coverage; an English question reaches a sentence through the cross-lingual model,
    which matches "focus on" to 为重点 and knows nothing of 郴州. Only names the user typed:
    the expansion's name-tagged words come from common words too (session 8 measured them)."""
    if q.lang != "en":
        return ()
    # Only a name whose reading is what the user typed: the glossary's glosses also map "African"
    # to 中非 and "Tonkin" to 东京 (Tokyo), which took quotes to sentences about something else.
    phrases = retriever.glossary.phrases
    found = []
    for run in name_runs(q.text):
        typed = "".join(run).lower()
        found += [t for t in sorted(phrases.get(" ".join(run).lower(), ())) if spelled(t) == typed]
    return tuple(dict.fromkeys(found))


def spelled(name: str) -> str:
    """A Chinese name as the gist romanises it, one lower-case word (郴州 -> chenzhou)."""
    return romanise(name).replace(" ", "").replace("-", "").lower()


def in_context(s: answering.Sentence) -> str:
    """A sentence as it is embedded alone: after its document's title.

    Alone, "上部叶小，无柄…" does not say whose leaves; the sentence that names the article's
    subject ("长柄艾纳香为菊科艾纳香属的植物") then looked closest to every question about it. With
    the title in front of every sentence, the name no longer tells them apart and the question's
    other words do. Not the section: it holds the heading, and every sentence under 提出7大领域121项
    制度创新试验任务 then looked as close to "how many tasks" as the heading that answers it."""
    title = s.passage.chunk.title
    return f"{title} {s.text}" if title else s.text


class Engine:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None = None,
        second: Embedder | None = None,
        rebuild: bool = False,
        calibration: Calibration | None = None,
        latent: LatentTerms | None = None,
        serve_stale: bool = False,
    ) -> None:
        """`serve_stale`: when the stored index is only out of date (documents changed, same
        models), serve it at once and leave the rebuild to the caller (the app refreshes it in
        the background): after a crash mid-refresh the app answered nothing for minutes."""
        self.settings = settings
        self.embedder = embedder or load_embedder(settings)
        # A given (fake) embedder brings its own companions; otherwise the configured ones load.
        self.second = second if second is not None or embedder is not None else load_crosslingual(settings)
        self.latent = latent if latent is not None or embedder is not None else load_latent(settings, self.embedder)
        # The sentences embedded alone at answer time (see _rescore), remembered across questions.
        self._alone = Remembered(self.embedder, settings.remember_sentences)
        self._alone_x = Remembered(self.second, settings.remember_sentences) if self.second is not None else None
        self._refresh_lock = threading.Lock()
        self.calibration = calibration or Calibration.load()
        # Why the index served is out of date while a rebuild is pending ("" when it is current).
        self.stale = ""
        found = open_stale(settings) if serve_stale and not rebuild else None
        if found is not None:
            stored, self.stale = found
            log.info("serving the previous index while it is rebuilt (%s)", self.stale)
            self.report = BuildReport(len(stored.manifest.get("documents", {})), len(stored.chunks), 0.0, False)
        else:
            stored, self.report = open_or_build(settings, self.embedder, self.second, force=rebuild, latent=self.latent)
        self.use(stored)

    def warm(self) -> None:
        """Load the models now (they load at their first use): the app and `ask --jsonl` call
        this before serving, so a model that cannot load stops them with its message and the
        first question does not wait ~6 s for the weights."""
        self.embedder.encode_queries(["warm"])
        if self.second is not None:
            self.second.encode_queries(["warm"])

    def use(self, stored: StoredIndex) -> None:
        """Switch to another stored index (all derived state is rebuilt first, then swapped in)."""
        routes = {
            "zh": tuple(r.strip() for r in self.settings.route_zh.split(",") if r.strip()),
            "en": tuple(r.strip() for r in self.settings.route_en.split(",") if r.strip()),
        }
        retriever = Retriever(
            stored, self.settings.fusion_depth, self.settings.rrf_k, routes, self.settings.centre_crosslingual
        )
        rows = {c.chunk_id: i for i, c in enumerate(stored.chunks)}
        self._state = (stored, retriever, rows, retriever.documents)

    def refresh(self, progress: Progress | None = None) -> BuildReport:
        """Bring the index up to date with the corpus; questions keep using the old index until
        the new one is complete, then the swap is a single assignment."""
        with self._refresh_lock:
            stored, report = open_or_build(
                self.settings, self.embedder, self.second, progress=progress, latent=self.latent
            )
            # Another version than the one served: rebuilt here, or published by the indexer
            # that shares this Milvus store (a replica picks it up on its next refresh).
            if report.rebuilt or self.stale or stored.version != self.stored.version:
                self.use(stored)
            self.stale = ""
            self.report = report
            return report

    @property
    def stored(self) -> StoredIndex:
        return self._state[0]

    def resolve(self, turns: list[Turn], glossary: Glossary | None = None) -> Resolved:
        """Clean the last user message and resolve it against the earlier ones, oldest first.
        `glossary` maps an English follow-up's subject onto the documents' Chinese words."""
        last, earlier = split_turns(turns)
        text = clean_question(last, self.settings.max_question_chars)
        lang = detect_lang(text)
        to_chinese = glossary.targets if glossary is not None else (lambda name: ())
        previous, previous_lang = "", ""
        for turn in earlier[-MAX_CONTEXT_TURNS:]:
            try:
                prev = clean_question(turn, self.settings.max_question_chars)
            except BadQuestion:
                continue
            # A follow-up resolved into the earlier question's language keeps that language.
            prev_lang = detect_lang(prev)
            crossed = resolve_across(prev, previous, prev_lang, previous_lang, to_chinese)
            previous, previous_lang = crossed or (resolve_followup(prev, previous, prev_lang), prev_lang)
        crossed = resolve_across(text, previous, lang, previous_lang, to_chinese)
        if crossed:
            return Resolved(text, crossed[0], lang, crossed[1])
        return Resolved(text, resolve_followup(text, previous, lang), lang)

    def query(self, text: str, lang: str, retriever: Retriever) -> Query:
        latent = None
        if self.latent is not None and "latent" in retriever.route(lang):
            e5, latent = self.latent.query(text)  # e5's query vector comes from the same pass
        else:
            e5 = self.embedder.encode_queries([text])[0]
        if lang != "en":
            return Query(text, lang, e5, latent=latent)
        x = self.second.encode_queries([text])[0] if self.second is not None else None
        g = retriever.glossary
        return Query(text, lang, e5, x, tuple(g.expand(text)), latent, senses=g.sense_groups(text))

    def _gather(self, turns: list[Turn], k: int, docs: str | None = None) -> _Gathered:
        stored, retriever, rows, documents = self._state
        t0 = time.perf_counter()
        resolved = self.resolve(turns, retriever.glossary)
        allowed = documents.mask(docs) if docs else None
        if allowed is not None and not allowed.any():
            raise BadQuestion("no_such_document", pattern=docs)
        query = self.query(resolved.searched_for, resolved.searches_in, retriever)
        t1 = time.perf_counter()
        hits = retriever.hits(query, allowed)
        ranking = [Passage(stored.chunks[h.index], h.fused, r) for r, h in enumerate(hits[:RANKING_DEPTH], start=1)]
        t2 = time.perf_counter()
        candidates = answering.candidate_sentences(
            ranking[:k], stored.arrays["sentence_spans"], rows, stored.arrays["sentence_vectors"], query.e5
        )
        named = quoted_names(query, retriever)
        sentences = self._rescore(query, retriever, resolved.searched_for, candidates, named)
        said = [s for s in sentences if not s.is_heading]
        if self.settings.rescore:
            # The answerability model was fitted on the EVIDENCE_SENTENCES best candidates embedded
            # alone: it reads those, however many more are embedded to choose what to quote.
            body = [s for s in candidates if not s.is_heading]
            question = resolved.searched_for
            best = answering.shortlist(query.keywords, body, retriever.bm25, question, EVIDENCE_SENTENCES)
            keep = {(s.passage.chunk.chunk_id, s.start) for s in best}
            said = [s for s in said if (s.passage.chunk.chunk_id, s.start) in keep]
            if query.lang != "en" and said:
                # ... and it read them embedded without their title (see _rescore): with it,
                # two answerable eval questions fell under its threshold.
                plain = self._alone.encode_documents([s.text for s in said]) @ query.e5
                said = [replace(s, sims=(float(v),)) for s, v in zip(said, plain)]
        evidence = Evidence.gather(query, hits[:k], said, retriever, hits[: self.settings.evidence_depth])
        timings = {"embed": (t1 - t0) * 1000, "retrieve": (t2 - t1) * 1000}
        return _Gathered(stored, rows, resolved, query, ranking, sentences, evidence, retriever, timings, named)

    def _rescore(
        self,
        query: Query,
        retriever: Retriever,
        question: str,
        candidates: list[answering.Sentence],
        named: tuple[str, ...] = (),
    ) -> list[answering.Sentence]:
        """The best candidate sentences, each embedded on its own now.

        The stored sentence vectors are pooled from their passage's token states (one pass per
        chunk at index time): good enough to shortlist, but every sentence of a passage carries
        the passage's context, so they hardly tell the overview sentence from the one that
        answers. The shortlist is embedded alone, as a passage, by e5 (and, for English
        questions, by the cross-lingual model): a few short sentences per question instead of
        every sentence of the collection at index time, which tripled indexing."""
        n = self.settings.rescore
        body = [s for s in candidates if not s.is_heading]
        short = answering.shortlist(query.keywords, body, retriever.bm25, question, n, named)
        # A heading that would make the shortlist joins it without taking a sentence's place:
        # the answerability evidence reads the sentences alone, as it was calibrated.
        best = answering.shortlist(query.keywords, candidates, retriever.bm25, question, n, named)
        short += [s for s in best if s.is_heading]
        if not short:
            return candidates  # rescoring off: the stored (late-chunked) similarities
        texts = [s.text for s in short]
        # Chinese only: for English questions the title in front lowered English facts from
        # 0.625 to 0.547 on the eval (the cross-lingual match reads the sentence's own words).
        alone = [in_context(s) for s in short] if query.lang != "en" else texts
        sims = [self._alone.encode_documents(alone) @ query.e5]
        if query.x is not None and self._alone_x is not None:
            sims.append(self._alone_x.encode_documents(texts) @ query.x)
        return [replace(s, sims=tuple(float(m[i]) for m in sims)) for i, s in enumerate(short)]

    @staticmethod
    def _quoted_documents(g: _Gathered, chosen: list[answering.Sentence]) -> Iterator[str]:
        """The title and whole text of each document `chosen` quotes from, as they are needed."""
        for doc_id in dict.fromkeys(s.passage.chunk.doc_id for s in chosen):
            yield g.retriever.documents.text(doc_id)

    def _quote(self, g: _Gathered, keep: float = answering.RELATIVE_KEEP) -> list[answering.Sentence]:
        """The best sentences (those scoring `keep` of the best) with what they cannot stand
        without from their passages (answering.complete)."""
        question = g.resolved.searched_for
        chosen = answering.select(g.query.keywords, g.sentences, g.retriever.bm25, question, g.named, keep)
        if not answering.wants_passage(question, chosen):
            return chosen
        passages = list({s.passage.chunk.chunk_id: s.passage for s in chosen}.values())
        spans, vectors = g.stored.arrays["sentence_spans"], g.stored.arrays["sentence_vectors"]
        around = answering.candidate_sentences(passages, spans, g.rows, vectors, g.query.e5)
        return answering.complete(question, chosen, around)

    def _sentences(self, g: _Gathered, items: list[Item]) -> list[answering.Sentence]:
        """Quotable sentences for structure items, each cited to its own chunk."""
        chunks = g.stored.chunks
        ranked = {p.chunk.chunk_id: p for p in g.ranking}
        out = []
        for it in items:
            c = chunks[it.chunk]
            passage = ranked.get(c.chunk_id) or Passage(c, 0.0, RANKING_DEPTH + 1)
            text = c.text[it.start - c.start : it.end - c.start].strip()
            out.append(answering.Sentence(passage, it.start, it.end, text, ()))
        return out

    def _list_answer(self, g: _Gathered, k: int) -> tuple[list[answering.Sentence], str, bool]:
        """Quote the whole list (or short section) that the best passages belong to; the flag
        says the question named the item(s) quoted, which are then the whole answer. A question
        that says how many items there are ("the four ways") takes the best passage's list of
        that many, when one of the best passages has one: a section of photo captions ranked
        above the four 联动 items had been quoted for it."""
        chunks, rows = g.stored.chunks, g.rows
        question = g.resolved.searched_for
        counts = stated_counts(question)
        lists = []
        for p in g.ranking[:k]:
            i = rows[p.chunk.chunk_id]
            heading, items = named_item(chunks, i, question)
            items = items or item_run(chunks, i) or colon_list(chunks, i) or section_overview(chunks, i)
            if not items:
                continue
            where = source_label(chunks[i].title, chunks[i].section)
            if heading and not lists:
                return self._sentences(g, items), message("list_item", g.resolved.lang, item=heading, where=where), True
            lists.append((sum(not it.lead for it in items), items, where))
            if not counts:
                break  # the best passage's list
        if not lists:
            return [], "", False
        n, items, where = next((x for x in lists if x[0] in counts), lists[0])
        return self._sentences(g, items), message("list_coverage", g.resolved.lang, n=n, where=where), False

    def _complete_lead_ins(self, g: _Gathered, chosen: list[answering.Sentence]) -> list[answering.Sentence]:
        """A chosen sentence that announces what follows ("…要求史无前例：") brings all of it:
        quoting a lead-in with only some of what it introduces misrepresents the passage."""
        out = chosen
        for s in chosen:
            if s.text.rstrip().endswith(("：", ":")):
                items = colon_list(g.stored.chunks, g.rows[s.passage.chunk.chunk_id], at=s.start)
                out = answering.merge_in_order(out, self._sentences(g, items))
        return out

    def evidence(self, turns: list[Turn], k: int | None = None) -> Evidence:
        """The answerability evidence for a conversation (used to calibrate the decision)."""
        return self._gather(turns, k or self.settings.top_k).evidence

    def ask(
        self,
        question: str | None = None,
        turns: list[Turn] | None = None,
        k: int | None = None,
        docs: str | None = None,
    ) -> Answer:
        """Answer the last user turn; `docs` limits the search to the documents it names
        (a file-name pattern such as "刑法/*", or a part of a file name or title)."""
        t_start = time.perf_counter()
        turns = turns if turns is not None else [Turn("user", question or "")]
        k = k or self.settings.top_k
        g = self._gather(turns, k, docs)
        t2 = time.perf_counter()
        outcome = self.calibration.decide(g.evidence)
        chosen: list[answering.Sentence] = []
        coverage = ""
        items: list[answering.Sentence] = []
        named = False
        if outcome != "not_found" and is_list_question(g.resolved.searched_for, g.resolved.searches_in):
            items, coverage, named = self._list_answer(g, k)
        if named:
            chosen = items  # the item asked about, whole: other best sentences only distract
        elif items:
            # The whole list, plus the best sentences where they add to it (a question about
            # one item of a list wants that item's detail too), in document order.
            chosen = answering.merge_in_order(items, self._quote(g, answering.LIST_KEEP))
        elif outcome != "not_found":
            chosen = self._quote(g)
        if not coverage:
            chosen = self._complete_lead_ins(g, chosen)
        quoted = self._quoted_documents(g, chosen)
        if chosen and not topic_quoted(g.evidence, quoted):
            # What would be quoted never names what the question is about: answering with it
            # would answer a question nobody asked.
            outcome, chosen, coverage = "not_found", [], ""
        result = answering.compose(
            g.resolved.searched_for,
            g.resolved.lang,
            outcome,
            g.ranking[:k],
            chosen,
            g.evidence.missing,
            coverage,
            g.evidence.named,
        )
        t3 = time.perf_counter()
        timings = {**g.timings, "answer": (t3 - t2) * 1000, "total": (t3 - t_start) * 1000}
        return replace(
            result,
            timings_ms={name: round(ms, 2) for name, ms in timings.items()},
            passages=tuple(g.ranking),
            k=k,
            note=f"{g.evidence} p={self.calibration.probability(g.evidence):.3f}",
        )

    def documents(self) -> list[dict[str, object]]:
        """The indexed documents, in name order: name, title and number of chunks."""
        return list(self._state[3].listing)

    def remove_document(self, doc_id: str, progress: Progress | None = None) -> BuildReport:
        """Delete a document from the corpus folder and re-index without it."""
        remove_document(self.settings.corpus_dir, doc_id)
        return self.refresh(progress)

    def status(self) -> dict[str, object]:
        m = self.stored.manifest
        return {
            "documents": len(m.get("documents", {})),
            "chunks": len(self.stored.chunks),
            "built_at": m.get("built_at", ""),
            "model": m.get("model", ""),
            "skipped": m.get("skipped", {}),
            "stale": self.stale,
        }
