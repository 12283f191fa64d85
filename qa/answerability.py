"""Decide whether the retrieved passages answer the question: answered, partial or not found.

Raw cosine thresholds do not carry across models or query languages, so the decision is a
logistic score over evidence, with coefficients and thresholds per query language fitted on the
labelled calibration set `eval/dev.jsonl` by `python -m eval.calibrate` (stored in
`qa/calibration.json`, never fitted on the test questions). The evidence: how much of the
question's vocabulary the best passages contain (IDF-weighted), how much of it occurs in the
retrieved passages (the whole candidate list, not the whole collection: in a collection of
thousands of laws nearly every word occurs somewhere, which says nothing about this question),
and the similarity of the best passage and sentence. The question's topic words (nouns, names)
that no retrieved passage holds are reported, so a partial answer can say what is missing.
It does not compose the answer.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.answer import Sentence, keyword_coverage
from qa.crosslingual import STOP, content_words
from qa.keywords import ANSWER_TYPES, topic_opening, topic_words, words
from qa.retrieve import Hit, Query, Retriever

log = logging.getLogger(__name__)

CALIBRATION = Path(__file__).with_name("calibration.json")
# Capitalised words in a row (not the question's first word), hyphens split: "Pan Cailiang", "China-Europe".
_NAME_RUN = re.compile(r"(?<!^)\b[A-Z][A-Za-z]+(?:[ ][A-Z][A-Za-z]+)*")
FEATURES = ("coverage", "corpus_coverage", "topic_coverage", "dense_top", "sentence_top")


@dataclass(frozen=True)
class Evidence:
    lang: str
    coverage: float  # best IDF-weighted keyword coverage of a top passage
    corpus_coverage: float  # IDF-weighted share of the question's terms found in the retrieved passages
    topic_coverage: float  # share of the question's topic words (nouns, names) in the retrieved passages
    dense_top: float  # best passage cosine (e5)
    sentence_top: float  # best sentence similarity (last model of the route)
    missing: tuple[str, ...] = ()  # question topic words no retrieved passage holds
    # The opening of the topic a Chinese question starts with (严长…, 六耳…), when no retrieved
    # passage or its document's title holds it: the documents do not speak of that topic.
    unmentioned: str = ""
    # The title of a document read for the answer that the question names as a word of its own
    # (牡蒿在什么季节开花？ over the article 牡蒿): the question is about that document.
    named: str = ""
    # The first characters of the topic a Chinese question opens with (`question_opening`),
    # which the documents an answer quotes must hold (`topic_quoted`).
    opening: str = ""

    def vector(self) -> list[float]:
        return [float(getattr(self, f)) for f in FEATURES]

    @classmethod
    def gather(
        cls, q: Query, hits: list[Hit], sentences: list[Sentence], retriever: Retriever, candidates: list[Hit]
    ) -> Evidence:
        """Evidence from the `hits` read for the answer and all retrieval `candidates`."""
        cov = max(
            (keyword_coverage(q.keyword_text, retriever.chunks[h.index].text, retriever.bm25) for h in hits),
            default=0.0,
        )
        dense = max((h.dense for h in hits if h.dense == h.dense), default=0.0)
        sent = max((s.sims[-1] for s in sentences), default=0.0)
        context = "\n".join(retriever.chunks[h.index].text.lower() for h in candidates)
        # English names are looked up once: both coverages use them.
        runs = _known_runs(q.text, retriever, context) if q.lang == "en" else []
        corpus_cov = _corpus_coverage(q, retriever, runs, context)
        topic_cov, missing_topics = _topic_coverage(q, retriever, runs, context)
        opening = question_opening(q.text, q.lang)
        return cls(
            q.lang,
            round(cov, 4),
            round(corpus_cov, 4),
            round(topic_cov, 4),
            round(dense, 4),
            round(sent, 4),
            missing_topics,
            _unmentioned(opening, retriever, candidates, context),
            _named_title(q.text, [retriever.chunks[h.index].title for h in hits]),
            opening,
        )


def question_opening(text: str, lang: str) -> str:
    """The topic opening of a Chinese question (keywords.topic_opening), "" for an English one
    or one that opens with no topic."""
    return "" if lang == "en" else topic_opening(text) or ""


def _unmentioned(opening: str, retriever: Retriever, candidates: list[Hit], context: str) -> str:
    """The question's topic `opening` when neither the retrieved passages nor their titles hold it.

    Topic words alone miss this: jieba cuts an unknown name into pieces that are not topic words
    or that occur anyway (严长寿 -> 严 / 长寿, and 长寿王 is in the passages), so a question about
    an article left out of the collection was answered from a neighbour. Measured on the CMRC
    trial benchmark: held-out questions refused 102 -> 112 of 134, answerable refused 11 -> 12 of 866."""
    if not opening:
        return ""
    titles = {retriever.chunks[h.index].title.lower() for h in candidates}
    needle = opening.lower()
    return "" if needle in context or any(needle in t for t in titles) else opening


def _named_title(question: str, titles: list[str]) -> str:
    """The first of `titles` (two characters or more) that the question holds as a name of its
    own: at its start or after punctuation, so that a longer name ending in it does not count
    (软枝黄蝉 is not the plant 黄蝉), and a Latin title not followed by a letter (Mono is not
    MonoDevelop)."""
    for t in titles:
        if len(t) < 2:
            continue
        for m in re.finditer(re.escape(t), question):
            before = question[m.start() - 1] if m.start() else " "
            after = question[m.end()] if m.end() < len(question) else " "
            if not before.isalnum() and not (_latin(t[-1]) and _latin(after)):
                return t
    return ""


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def topic_quoted(ev: Evidence, documents: Iterable[str]) -> bool:
    """The topic the question opens with (`ev.opening`) is in a document the answer quotes from
    (each of `documents` is one's title and text), or the question opens with no topic, or it
    names a document read for the answer (`ev.named`: then that document is its topic).

    `_unmentioned` asks this of all retrieved passages, and one that names the topic in passing
    let the answer quote documents that never do: "男子100米跑赛事什么时候举行？" was answered
    with the date of a badminton championship. Not the quoted passage alone: a report's passage
    seldom repeats the city the whole report is about (株洲). Measured on the CMRC trial
    benchmark: see the README."""
    if ev.named or not ev.opening:
        return True
    needle = ev.opening.lower()
    return any(needle in d.lower() for d in documents)


def _corpus_coverage(q: Query, retriever: Retriever, runs: list[tuple[list[str], bool]], context: str) -> float:
    if q.lang == "en":
        # An English term "occurs" when the dictionary maps it onto words of the passages.
        terms = content_words(q.text)
        named = {w.lower() for run, known in runs if known for w in run}
        found = [w for w in terms if w in named or any(z in context for z in retriever.glossary.senses(w))]
        return len(found) / len(terms) if terms else 0.0
    qwords = [w for w in dict.fromkeys(words(q.text)) if w not in ANSWER_TYPES]
    total = sum(retriever.bm25.idf_of(w) for w in qwords)
    found = sum(retriever.bm25.idf_of(w) for w in qwords if w in context)
    return found / total if total else 0.0


# Capitalised by English convention, not because they name something the documents must contain.
_CALENDAR = frozenset(
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)


def name_runs(text: str) -> list[list[str]]:
    """An English question's runs of capitalised words (not its first word, calendar words
    and stopwords left out): the names and places it is about."""
    skip = STOP | _CALENDAR
    runs = [[w for w in r.split() if w.lower() not in skip] for r in _NAME_RUN.findall(text.strip())]
    return [run for run in runs if run]


def _known_runs(text: str, retriever: Retriever, context: str) -> list[tuple[list[str], bool]]:
    """The question's name runs, each with whether the passages hold it as a whole."""
    return [(run, _known(" ".join(run), retriever, context)) for run in name_runs(text)]


def _known(name: str, retriever: Retriever, context: str) -> bool:
    """A name the passages contain: through the glossary, or written as is ("CE", "5G")."""
    literal = re.search(rf"(?<![a-z]){re.escape(name.lower())}(?![a-z])", context)
    return bool(literal) or any(z in context for z in retriever.glossary.targets(name))


def _as_typed(text: str, gone: set[str]) -> tuple[str, ...]:
    """The question's own words for what the passages lack: each stretch of uncovered words of
    a name run as the user typed it ("Du Jiahao", not "Du" and "Jiahao" apart), in question order."""
    out = []
    for run in _NAME_RUN.finditer(text.strip()):
        stretch: list[str] = []
        for w in [*run.group().split(), ""]:  # "" ends the last stretch
            if w and w in gone:
                stretch.append(w)
            elif stretch:
                out.append(" ".join(stretch))
                stretch = []
    return tuple(dict.fromkeys(out))


def _topic_coverage(
    q: Query, retriever: Retriever, runs: list[tuple[list[str], bool]], context: str
) -> tuple[float, tuple[str, ...]]:
    if q.lang == "en":
        # Without an English tagger, runs of capitalised words past the first word are the names
        # and places a question is about ("Hainan", "Pan Cailiang"); a name the documents lack is
        # strong evidence. A run is known as a whole (a romanised name) or word by word.
        if not runs:
            return 1.0, ()
        gone = [w for run, known in runs if not known for w in run if not _known(w, retriever, context)]
        total = sum(len(run) for run, _ in runs)
        return 1 - len(gone) / total, _as_typed(q.text, set(gone))
    topics = topic_words(q.text)
    if not topics:
        return 1.0, ()
    gone = [w for w in topics if w not in context]
    return 1 - len(gone) / len(topics), tuple(gone)


@dataclass(frozen=True)
class Calibration:
    """Per-language logistic model: p(answerable) = sigmoid(bias + weights . features)."""

    weights: dict[str, list[float]]
    bias: dict[str, float]
    answer_at: dict[str, float]  # p >= answer_at: answered
    partial_at: dict[str, float]  # partial_at <= p < answer_at: partly covered

    @classmethod
    def neutral(cls) -> Calibration:
        """Answer everything: only for fitting the first calibration."""
        zero = {"zh": [0.0] * len(FEATURES), "en": [0.0] * len(FEATURES)}
        half = {"zh": 0.0, "en": 0.0}
        return cls(zero, {"zh": 0.0, "en": 0.0}, half, half)

    @classmethod
    def load(cls, path: Path = CALIBRATION) -> Calibration:
        if not path.exists():
            log.warning("no answerability calibration at %s: every question will be answered", path)
            return cls.neutral()
        data = json.loads(path.read_text("utf-8"))
        if data.get("features") != list(FEATURES):
            raise ValueError(f"{path} was fitted on other features; run `python -m eval.calibrate`")
        return cls(data["weights"], data["bias"], data["answer_at"], data["partial_at"])

    def probability(self, ev: Evidence) -> float:
        lang = ev.lang if ev.lang in self.weights else "zh"
        z = self.bias[lang] + sum(w * x for w, x in zip(self.weights[lang], ev.vector()))
        return 1.0 / (1.0 + math.exp(-z))

    def decide(self, ev: Evidence) -> str:
        """answered / partial / not_found.

        A question whose opening topic no retrieved passage mentions is not found. Weak evidence
        is not found, unless the question names a document read for the answer: then it is
        partial. Middling evidence with topic words the documents never
        mention (增值税, "Hainan") is a partial answer that names what is missing; without such
        words it is answered. The lower threshold is set to keep false refusals rare: refusing a
        question the documents answer is the failure users of other systems report most.
        """
        if ev.unmentioned and not ev.named:
            # Quoting passages about something else would answer a question nobody asked.
            return "not_found"
        lang = ev.lang if ev.lang in self.answer_at else "zh"
        p = self.probability(ev)
        if p < self.partial_at[lang]:
            # A question that names a retrieved document asks about it, whatever words it uses
            # (死因 where the article says 坠楼身亡): its best passages are shown as a partial answer.
            return "partial" if ev.named else "not_found"
        if p < self.answer_at[lang] and ev.missing:
            return "partial"
        return "answered"
