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

from qa.answer_types import ANSWER_TYPE_BONUS, QUOTE_MARKS, answer_type_bonus
from qa.gist import gist
from qa.keywords import BM25, word_set
from qa.lang import message
from qa.records import Answer, Citation, Passage

MAX_SENTENCES = 3
# A sentence is quoted when it scores at least this share of the best sentence's score. At 0.85
# the sentence that held the answer was often the second best and left out ("他是国家图书馆首位
# 副馆长…" quoted, the sentence naming 宋建成 not); at 0.7 answers grew from 89 to 110 characters
# on average and held the answer more often, on the CMRC trial set (facts 0.901 -> 0.915) and on
# the seed eval (Chinese facts 0.889 -> 0.903, English 0.703 -> 0.781). See the README.
RELATIVE_KEEP = 0.7
# Beside a whole list ("共 4 条"), only sentences nearly as good as the best: the list is the
# answer, and at 0.7 the report's general lead-in sentences joined it.
LIST_KEEP = 0.85
DENSE_WEIGHT = 0.6


@dataclass(frozen=True)
class Sentence:
    passage: Passage
    start: int  # offsets into the document text
    end: int
    text: str
    sims: tuple[float, ...]  # similarity to the question under each model

    @property
    def is_heading(self) -> bool:
        """The chunk's heading (an empty span at its start), not a sentence of its text."""
        return self.start == self.end


# A Chinese question's text, or an English question's words as groups of Chinese senses
# (retrieve.Query.keywords).
Keywords = str | tuple[tuple[str, ...], ...]


def keyword_coverage(keywords: Keywords, text: str, bm25: BM25) -> float:
    """IDF-weighted share of the question's words found in `text` (0..1). An English question's
    word counts as found when any of its senses is (weighted by their mean IDF): counting the
    senses themselves made a word with many senses weigh more, and every sentence's share fall
    as the collection, and with it each word's senses, grew."""
    return keyword_coverages(keywords, [text], bm25)[0]


def keyword_coverages(keywords: Keywords, texts: list[str], bm25: BM25) -> list[float]:
    """`keyword_coverage` of each text; the question's weights are worked out once for all."""
    if isinstance(keywords, str):
        groups = tuple((w,) for w in word_set(keywords))
        weights = [bm25.idf_of(w) for (w,) in groups]
    else:
        groups = keywords
        weights = [sum(bm25.idf_of(w) for w in g) / len(g) for g in groups]
    total = sum(weights)
    if not groups or not total:
        return [0.0] * len(texts)
    out = []
    for text in texts:
        compact = re.sub(r"\s+", "", text.lower())
        found = sum(wt for wt, g in zip(weights, groups) if any(contains_word(compact, w) for w in g))
        out.append(found / total)
    return out


def contains_word(text: str, word: str) -> bool:
    """`word` occurs in `text`; a number only as a whole number (the 4 of "1992年4月" is not in
    "1984年")."""
    if word.isdigit():
        return re.search(rf"(?<!\d){word}(?!\d)", text) is not None
    return word in text


def candidate_sentences(
    passages: list[Passage], spans: np.ndarray, chunk_rows: dict[str, int], vectors: np.ndarray, query: np.ndarray
) -> list[Sentence]:
    """The quotable sentences of the given passages, with their similarity to the query vector
    (`spans` rows are (chunk row, start, end), sorted by chunk row; `vectors` row i <-> spans[i])."""
    out = []
    rows = spans[:, 0]
    for p in passages:
        row = chunk_rows[p.chunk.chunk_id]
        lo, hi = np.searchsorted(rows, row, "left"), np.searchsorted(rows, row, "right")
        sims = np.asarray(vectors[lo:hi], np.float32) @ query
        for j, (_, s, e) in enumerate(spans[lo:hi]):
            # The empty span at a chunk's start is its heading (see indexer.quote_spans).
            text = p.chunk.heading if s == e else p.chunk.text[s - p.chunk.start : e - p.chunk.start].strip()
            out.append(Sentence(p, int(s), int(e), text, (float(sims[j]),)))
    return out


def _minmax(xs: np.ndarray) -> np.ndarray:
    span = float(xs.max() - xs.min())
    return (xs - xs.min()) / span if span > 0 else np.ones_like(xs)


# A sentence holding the name the question asks about (name_bonuses), as much as the kind of answer.
NAME_BONUS = ANSWER_TYPE_BONUS
# Above this share of the candidate sentences holding it, a name singles none out.
NAMED_SHARE = 0.5


# Not 为什么 after a verb that 为 completes: 被称为什么 / 改名为什么 / 被聘为什么职务 ask for a name.
_WHY = r"(?<![称誉成作改列视认名译定封选评聘算])为什么"
_ASKS_WHY = re.compile(_WHY + r"|为何|何以|原因|\bwhy\b", re.I)
# A sentence that opens with "therefore" states a consequence: the cause it follows from is the
# sentence before it ("…肥沃的土壤和河川带来丰富的水源；" "因此，畜牧业发达；").
_THEREFORE = re.compile(r"(?:因此|所以|因而|故而|于是|从而|由此|therefore|thus|hence)", re.I)


# A sentence that opens by pointing back to an event, a time or a contrast (此战…, 赛后…, 次年…,
# 但…) cannot be read alone: "此战奠定了长宗我部元亲在土佐的霸权。" says nothing of which battle.
# Not 他/她/它/其/该: in an article they mostly point to its subject, which the source card names,
# and the sentence before them was seldom what they meant (measured on the CMRC trial set).
_REFERS_BACK = re.compile(
    r"(?:此(?!外)|这|那(?!些)|之后|此后|随后|其后|赛后|战后|会后|事后|不久|同年|次年|翌年|当时|但|然而)"
)


def needs_cause(question: str, chosen: list[Sentence]) -> bool:
    """A why-question answered by a "therefore" sentence: its cause is the sentence before."""
    return bool(chosen and _ASKS_WHY.search(question) and _THEREFORE.match(chosen[0].text))


def needs_antecedent(question: str, chosen: list[Sentence]) -> bool:
    """The first quoted sentence needs the one before it: its cause (`needs_cause`), or what it
    points back to (_REFERS_BACK)."""
    if not chosen or chosen[0].is_heading:
        return False
    first = chosen[0].text
    opens_back = bool(_REFERS_BACK.match(first.lstrip(QUOTE_MARKS)))
    return needs_cause(question, chosen) or opens_back or _refers_inside(first)


# "these territories" inside a sentence: "…被立陶宛击败，割让出这些领土给立陶宛和波兰。" cannot say which
# territories; the sentence before names them.
_THESE = re.compile(r"(?:这些|上述|前述)(\w{2})")


def _refers_inside(sentence: str) -> bool:
    """The sentence speaks of "these X" (这些/上述/前述) and names no X before: what it means
    is in the sentence before it. "由十个城堡组成，这些城堡用作…" names them itself."""
    return any(m.group(1) not in sentence[: m.start()] for m in _THESE.finditer(sentence))


def asks(text: str) -> bool:
    """The sentence is a question (it ends in a question mark, quotes aside)."""
    return text.rstrip().rstrip(QUOTE_MARKS).endswith(("？", "?"))


def _key(s: Sentence) -> tuple[str, int]:
    """Where a sentence is: two Sentence records of the same text are the same sentence."""
    return (s.passage.chunk.doc_id, s.start)


def with_antecedent(question: str, chosen: list[Sentence], passage_sentences: list[Sentence]) -> list[Sentence]:
    """When `needs_antecedent`, the sentence before the first chosen one (its cause, or what it
    points back to) goes in front, from `passage_sentences` (the sentences of the first chosen
    sentence's passage). On the CMRC trial set, pointing back: see the README."""
    if not needs_antecedent(question, chosen):
        return chosen
    before = next((s for s in passage_sentences if not s.is_heading and adjacent(s, chosen[0])), None)
    if before is None or _key(before) in {_key(c) for c in chosen}:
        return chosen
    return [before, *chosen]


# A unit that ends in a semicolon is a clause: the sentence goes on ("…圆形黑斑；" is one of the
# clauses of a description that ends three clauses later with "。").
_CLAUSE_CUT = re.compile(r"[；;][”’」』）)\"']*$")
# Clauses added to finish one sentence at most: a run of semicolons can be a whole paragraph.
MAX_CONTINUATION = 3
# A quotation the source opens inside a sentence ("…解释暴发户为：“一个人从…社会地位。") goes on
# past that sentence's end; a quote that stops inside it misquotes. Units added to close it, at most.
MAX_QUOTATION = 6
_OPENS, _CLOSES = "“「『", "”」』"


def _open_quotation(text: str) -> bool:
    return sum(text.count(c) for c in _OPENS) > sum(text.count(c) for c in _CLOSES)


def _unfinished(text: str, added: int) -> bool:
    """A quoted run of units (`text`, `added` of them after the first) stops mid-sentence or
    mid-quotation, within the limits above."""
    if _CLAUSE_CUT.search(text) and added < MAX_CONTINUATION:
        return True
    return _open_quotation(text) and added < MAX_QUOTATION


def stops_short(chosen: list[Sentence]) -> bool:
    """A chosen unit stops mid-sentence (at a semicolon) or mid-quotation."""
    return any(_unfinished(s.text, 0) for s in chosen if not s.is_heading)


def whole_sentences(chosen: list[Sentence], passage_sentences: list[Sentence]) -> list[Sentence]:
    """Each chosen clause that ends in a semicolon brings the clauses after it up to the end of
    its sentence (at most MAX_CONTINUATION), and a sentence that opens a quotation brings the
    units up to its close (at most MAX_QUOTATION), from `passage_sentences` (the units of the
    chosen sentences' passages): a quote stops where its sentence or quotation stops, not
    mid-description. On the CMRC trial set the clauses changed 43 answers and completed 6 (none
    lost); quotations: see the README."""
    if not stops_short(chosen):
        return chosen
    pool = [t for t in passage_sentences if not t.is_heading]
    out: list[Sentence] = []
    seen: set[tuple[str, int]] = set()
    for s in chosen:
        if _key(s) in seen:
            continue
        out.append(s)
        seen.add(_key(s))
        cur, text, added = s, s.text, 0
        while not cur.is_heading and _unfinished(text, added):
            nxt = next((t for t in pool if adjacent(cur, t)), None)
            if nxt is None or _key(nxt) in seen:
                break
            out.append(nxt)
            seen.add(_key(nxt))
            cur, text, added = nxt, text + nxt.text, added + 1
    return out


# "How", "why" and "which ones" ask for an account, which a source seldom gives in one sentence:
# "印度野驴与非洲野驴有些分别。" goes on with what the differences are, "…是一个全新设计。" with
# what is new. So do "respectively" (分别: several values at once, 五个指标分别为… follows the
# count) and "what did X do" (做了什么: an action told over the sentences that follow).
# Not "how many / how large": those ask for one figure.
_ASKS_ACCOUNT = re.compile(
    r"怎样|怎么|如何|什么样|哪些|分别|做了什么|" + _WHY + r"|为何|原因|\bwhy\b|\brespectively\b|\bwhat did\b[^?]*\bdo\b"
    r"|\bhow\b(?! (?:many|much|large|big|long|old|far|often|soon|high|tall|wide)\b)",
    re.I,
)


def asks_account(question: str) -> bool:
    return bool(_ASKS_ACCOUNT.search(question))


def _same_paragraph(a: Sentence, b: Sentence) -> bool:
    """`b` follows `a` directly, in the same chunk and paragraph (no line break between)."""
    chunk = a.passage.chunk
    if chunk.chunk_id != b.passage.chunk.chunk_id or not adjacent(a, b):
        return False
    return "\n" not in chunk.text[a.end - chunk.start : b.start - chunk.start]


def with_continuation(question: str, chosen: list[Sentence], passage_sentences: list[Sentence]) -> list[Sentence]:
    """For a question that `asks_account`, or a leading sentence that `announces` details, a
    leading sentence quoted alone brings the sentence that follows it in its paragraph: the
    answering sentence first, the source's next sentence (the detail, the rest of the reason)
    right after it. A leading run of two or more adjacent sentences (a cause and its
    consequence) already tells its account and is left as it is: adding to it too quoted what
    came next in the article (measured on the CMRC trial set, see the README)."""
    lead = _lead(chosen)
    if lead is None or not _wants_next(question, chosen[lead]):
        return chosen
    if lead + 1 < len(chosen) and adjacent(chosen[lead], chosen[lead + 1]):
        return chosen
    nxt = next((t for t in passage_sentences if not t.is_heading and _same_paragraph(chosen[lead], t)), None)
    if nxt is None or asks(nxt.text) or _key(nxt) in {_key(c) for c in chosen}:
        return chosen
    return [*chosen[: lead + 1], nxt, *chosen[lead + 1 :]]


# A sentence that only announces what comes next: "印度野驴与非洲野驴有些分别。", "其特点如下：",
# "…陷入了类似以下的状况。" (如下 / 以下 / 下列 and up to four words that end the sentence).
_ANNOUNCES = re.compile(
    r"(?:(?:如下|以下|下列)(?:[的之几][\u4e00-\u9fff]{0,3})?|分别|区别|不同之处|差异|几点|几个方面)[。：:]?$"
)


def announces(sentence: str) -> bool:
    """The sentence announces the details the next sentence gives; alone it answers nothing."""
    return bool(_ANNOUNCES.search(sentence.rstrip()))


def _lead(chosen: list[Sentence]) -> int | None:
    """Where the first quoted sentence (not a heading) is."""
    return next((i for i, s in enumerate(chosen) if not s.is_heading), None)


def _wants_next(question: str, lead: Sentence | None) -> bool:
    """The leading sentence should bring the next one (`with_continuation`)."""
    return asks_account(question) or (lead is not None and announces(lead.text))


def wants_passage(question: str, chosen: list[Sentence]) -> bool:
    """The chosen sentences need other sentences of their passages (`complete`)."""
    if not chosen:
        return False
    lead = _lead(chosen)
    return (
        needs_antecedent(question, chosen)
        or stops_short(chosen)
        or _wants_next(question, chosen[lead] if lead is not None else None)
    )


def complete(question: str, chosen: list[Sentence], passage_sentences: list[Sentence]) -> list[Sentence]:
    """The chosen sentences with what they cannot stand without: a consequence's cause before
    it, the rest of an account after it, a clause's or a quotation's end after it."""
    chosen = with_antecedent(question, chosen, passage_sentences)
    return whole_sentences(with_continuation(question, chosen, passage_sentences), passage_sentences)


def name_bonuses(names: tuple[str, ...], sentences: list[Sentence]) -> np.ndarray:
    """NAME_BONUS for each sentence that holds a name the question asks about, when that name
    singles sentences out (at most NAMED_SHARE of the candidates hold it).

    Asked "What will Chenzhou focus on?", the sentences with 重点 ("focus") about Zhuzhou
    outscored the one that says what 郴州 stresses: the cross-lingual model matches "focus on"
    to 为重点 and knows nothing of the name. The place, person or law asked about is what the
    quoted sentence must be about."""
    texts = [s.text for s in sentences]
    specific = [n for n in names if 0 < sum(n in t for t in texts) <= len(texts) * NAMED_SHARE]
    return np.array([NAME_BONUS if any(n in t for n in specific) else 0.0 for t in texts])


def sentence_scores(
    keywords: Keywords, sentences: list[Sentence], bm25: BM25, question: str = "", names: tuple[str, ...] = ()
) -> list[float]:
    """Rank-free score per sentence: similarity (scaled within the candidates, per model, since
    scales differ by model and language) blended with keyword coverage, plus a bonus when the
    sentence holds the kind of answer asked for (a date, a number) and one when it holds the
    name asked about."""
    if not sentences:
        return []
    sims = np.array([s.sims for s in sentences], dtype=np.float64).reshape(len(sentences), -1)
    dense = (
        np.mean([_minmax(sims[:, m]) for m in range(sims.shape[1])], axis=0) if sims.size else np.zeros(len(sentences))
    )
    # A sentence under the heading "二、申领时间" of "…科技创新券申领工作的通知" answers
    # "科技创新券的申领时间到什么时候": its title and heading count as its context.
    contexts = [f"{s.passage.chunk.title}{s.passage.chunk.section}{s.text}" for s in sentences]
    cover = np.array(keyword_coverages(keywords, contexts, bm25))
    bonus = np.array([answer_type_bonus(question, s.text) for s in sentences]) + name_bonuses(names, sentences)
    return list(DENSE_WEIGHT * dense + (1 - DENSE_WEIGHT) * cover + bonus)


def select(
    keywords: Keywords,
    sentences: list[Sentence],
    bm25: BM25,
    question: str = "",
    names: tuple[str, ...] = (),
    keep: float = RELATIVE_KEEP,
) -> list[Sentence]:
    """The sentence that answers best first, then at most MAX_SENTENCES - 1 other sentences
    scoring at least `keep` of the best, in reading order of their passages. A reader takes the
    first sentence for the answer: general context ("湖南自贸区涵盖长沙、岳阳、郴州三大片区…") in
    front of the sentence about 郴州 buried it."""
    body = [s for s in sentences if not s.is_heading]
    # A question in the source ("株洲为何要积极对接湖南自贸区？", a report's own lead-in) shares the
    # user's words and answers nothing: it is quoted only when nothing else is there.
    body = [s for s in body if not asks(s.text)] or body
    scores = sentence_scores(keywords, body, bm25, question, names)
    if not scores:
        return []
    best = max(scores)
    ranked = sorted(range(len(body)), key=lambda i: -scores[i])
    kept = [i for i in ranked if scores[i] >= keep * best][:MAX_SENTENCES]
    rest = sorted((body[i] for i in kept[1:]), key=lambda s: (s.passage.rank, s.start))
    chosen = [*_run_around(body[kept[0]], rest), *rest]
    # A heading that outscores every sentence leads the answer ("提出7大领域121项制度创新试验任务"),
    # but never takes a sentence's place: it sums its section up, the sentences give the detail.
    if len(body) < len(sentences):
        joint = sentence_scores(keywords, sentences, bm25, question, names)
        top = max(range(len(sentences)), key=lambda i: joint[i])
        if sentences[top].is_heading:
            chosen.insert(0, sentences[top])
    return chosen


def adjacent(a: Sentence, b: Sentence) -> bool:
    """`b` follows `a` directly in the same document (nothing but white space between them)."""
    chunk = a.passage.chunk
    if chunk.doc_id != b.passage.chunk.doc_id or not a.end <= b.start:
        return False
    if chunk.chunk_id != b.passage.chunk.chunk_id:
        return b.start == a.end
    return not chunk.text[a.end - chunk.start : b.start - chunk.start].strip()


def _run_around(best: Sentence, rest: list[Sentence]) -> list[Sentence]:
    """The best sentence with the chosen sentences right before and after it, in document order
    (they are taken out of `rest`). Two adjacent sentences read as the source wrote them: a
    definition quoted after its own continuation ("指在分娩过程中…" before "羊水栓塞是…") misreads."""
    run = [best]
    while (prev := next((s for s in rest if adjacent(s, run[0])), None)) is not None:
        rest.remove(prev)
        run.insert(0, prev)
    while (nxt := next((s for s in rest if adjacent(run[-1], s)), None)) is not None:
        rest.remove(nxt)
        run.append(nxt)
    return run


def shortlist(
    keywords: Keywords, sentences: list[Sentence], bm25: BM25, question: str, n: int, names: tuple[str, ...] = ()
) -> list[Sentence]:
    """The `n` best-scoring sentences, in their original order."""
    scores = sentence_scores(keywords, sentences, bm25, question, names)
    best = sorted(range(len(sentences)), key=lambda i: -scores[i])[:n]
    return [sentences[i] for i in sorted(best)]


def merge_in_order(first: list[Sentence], extra: list[Sentence]) -> list[Sentence]:
    """`first` plus the sentences of `extra` that do not overlap it, in document order."""
    out = list(first)
    for s in extra:
        doc = s.passage.chunk.doc_id
        if not any(doc == f.passage.chunk.doc_id and s.start < f.end and f.start < s.end for f in out):
            out.append(s)
    return sorted(out, key=lambda s: (s.passage.chunk.doc_id, s.start))


def compose(
    searched_for: str,
    lang: str,
    outcome: str,
    passages: list[Passage],
    chosen: list[Sentence],
    missing: tuple[str, ...] = (),
    coverage: str = "",
    about: str = "",
) -> Answer:
    """The answer text and its citations. A partial answer says what the documents lack
    (`missing`) or, when the question names the document quoted (`about`), that it is that
    document's closest passage: its words may differ from the question's (死因 / 坠楼身亡)."""
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
    said: set[str] = set()
    for s in chosen:
        # A source that repeats a sentence word for word (a copy-edit slip) is quoted once.
        if s.text in said:
            continue
        said.add(s.text)
        cid = s.passage.chunk.chunk_id
        n = numbers.setdefault(cid, len(numbers) + 1)
        quoted.setdefault(cid, []).append(s.text)
        parts.append(f"{s.text}[{n}]")
    by_id = {s.passage.chunk.chunk_id: s.passage for s in chosen}
    citations = tuple(
        Citation(
            n,
            by_id[cid].chunk,
            by_id[cid].score,
            tuple(quoted[cid]),
            # An English reader gets a dictionary gloss under each quoted Chinese sentence.
            tuple(gist(q) for q in quoted[cid]) if lang == "en" else (),
        )
        for cid, n in numbers.items()
    )
    if outcome == "partial" and about:
        lead = message("partial_named", lang, title=about)
    elif outcome == "partial":
        lead = message("partial", lang, missing=("、" if lang == "zh" else ", ").join(missing))
    else:
        lead = message("from_chinese", lang)
    if coverage:
        # A partial answer keeps saying what is missing, even when it quotes a whole list.
        lead = (f"{lead} {coverage}" if lang == "en" else f"{lead}\n{coverage}") if lead else coverage
    # Items of a list read best one per line; prose sentences run on.
    sep = "\n" if coverage else (" " if lang == "en" else "")
    body = sep.join(parts)
    text = f"{lead}\n{body}" if lead else body
    return Answer(text=text, outcome=outcome, citations=citations, searched_for=searched_for, lang=lang)
