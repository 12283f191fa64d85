"""Keyword search: jieba tokens and an Okapi BM25 index built once per index.

Chinese text is segmented with jieba's search mode (so 自贸试验区 also yields 自贸, 试验区),
Latin words are lower-cased, punctuation and a small set of function words are dropped.
Like rank_bm25, the BM25 class takes already-tokenized documents; tokenization is `tokenize`.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import jieba
import numpy as np
from scipy import sparse

jieba.setLogLevel(logging.WARNING)

_WORD = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]")
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 等 也 都 就 而 对 将 为 把 被 从 到 以 之 其 这 那 哪 哪些 什么 怎么 如何 怎样 "
    "吗 呢 吧 啊 有 有没有 有哪些 是什么 多少 几 个 一 我 你 他 她 它 我们 请问 请 "
    # Question words say what kind of answer is wanted, not what it is about.
    "哪里 哪儿 哪个 哪一年 哪一天 哪年 哪天 谁 什么时候 时候 何时 为什么 为何 怎样 怎么样 怎样才能 是否 "
    "多久 多 大 多大 一共 总共 主要 具体 目前 现在 还有 别的 其他 方面 情况 "
    "a an the of in on at to for and or is are was were be by with what which who whom how why when "
    "where does do did its it this that these those there their about from as into can i me my you "
    "your please tell".split()
)


# Nouns that name the kind of answer wanted ("担任什么职务？", "叫什么名字？"), not its topic: the
# passage that answers gives the post or the name itself, rarely the word 职务 or 名字. Kept out
# of the answerability evidence only; they stay searchable (no index change).
# Likewise the kind of description asked for ("有什么特点？", "是什么形状的？", "有哪些功效？"): an
# encyclopedia's answer describes the leaves or the seed without the word 特点.
ANSWER_TYPES = frozenset(
    "职务 职位 头衔 身份 名字 名称 称号 叫什么 "
    "特点 特征 作用 功效 用途 原因 理由 意义 含义 目的 形状 外形 样子 来历 由来 地点 位置".split()
)


_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def words(text: str) -> list[str]:
    """jieba search-mode words, lower-cased, without punctuation, stopwords or stray letters."""
    out = []
    for tok in jieba.lcut_for_search(text.lower()):
        tok = tok.strip()
        # 哪位, 哪所, 哪种…: "which <kind>" asks for an answer, like 哪个 (the list cannot hold them all).
        if not tok or not _WORD.search(tok) or tok in STOPWORDS or tok.startswith("哪"):
            continue
        if tok.isascii() and len(tok) == 1 and tok.isalpha():
            continue
        out.append(tok)
    return out


@lru_cache(maxsize=1024)
def word_set(text: str) -> frozenset[str]:
    """`words(text)` as a set, remembered: the question's words are scored against every
    candidate sentence (~60 times a question), and jieba took ~10 ms of each answer for it."""
    return frozenset(words(text))


# jieba's tags for person, place, organisation and other proper names.
NAME_TAGS = frozenset(("nr", "ns", "nt", "nz", "nrt", "nrfg"))

# jieba part-of-speech tags for nouns, names, noun-like verbs and idioms: the words that say what
# a question is about (its topic), as opposed to what it asks (verbs, question words).
_TOPIC_TAGS = ("n", "nr", "ns", "nt", "nz", "nrt", "vn", "l", "eng", "j", "i")


# A word that holds a question word asks rather than names a topic: jieba tags 哪些地方 and 多长
# as nouns, and "the documents do not mention 哪些地方" was said of questions they answer.
_ASKING = re.compile(r"[哪几谁]|多少|什么|多[长大久高远重宽深]")


def topic_words(text: str) -> list[str]:
    """The question's topic words (nouns and names), lower-cased, without stopwords."""
    import jieba.posseg as pseg

    out = []
    for w in pseg.lcut(text.lower()):
        word = w.word.strip()
        if w.flag not in NAME_TAGS and _ASKING.search(word):  # a name may hold one: 几内亚
            continue
        if word and w.flag in _TOPIC_TAGS and word not in STOPWORDS | ANSWER_TYPES and _WORD.search(word):
            if word.isascii() and len(word) == 1:
                continue
            out.append(word)
    return list(dict.fromkeys(out))


def tokenize(text: str, segmented: list[str] | None = None) -> list[str]:
    """Search tokens for BM25: jieba words (`segmented`, when already computed) plus Han
    character bigrams.

    Bigrams catch what the segmenter splits wrongly (三大片区 -> 三/大片/区 loses 片区).
    """
    tokens = list(words(text) if segmented is None else segmented)
    for run in _HAN_RUN.findall(text):
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


class BM25:
    """Okapi BM25 over pre-tokenized documents, held as a sparse (terms x documents) matrix of
    per-term weights: a question's scores are the sum of its terms' rows, so the cost follows the
    postings of the question's words, not a Python loop over every document (52 ms at 10k chunks
    and 637 ms at 100k before). Built once at index time and stored with the index (`arrays`,
    `from_arrays`)."""

    def __init__(self, vocab: dict[str, int], weights: sparse.csr_matrix, idf: np.ndarray, n: int) -> None:
        self.vocab, self.weights, self.idf, self.n = vocab, weights, idf, n

    @classmethod
    def fit(cls, corpus: Iterable[list[str]], k1: float = 1.5, b: float = 0.75) -> BM25:
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        lengths: list[int] = []
        for doc, tokens in enumerate(corpus):
            lengths.append(len(tokens))
            for term, f in Counter(tokens).items():
                rows.append(vocab.setdefault(term, len(vocab)))
                cols.append(doc)
                counts.append(f)
        n = len(lengths)
        tf = sparse.csr_matrix(
            (np.asarray(counts, np.float32), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
            shape=(len(vocab), n),
        )
        df = np.diff(tf.indptr).astype(np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        dl = np.asarray(lengths, np.float64)
        norm = k1 * (1 - b + b * dl / (dl.mean() if n and dl.mean() else 1.0))
        f = tf.data.astype(np.float64)
        term_of = np.repeat(np.arange(len(vocab)), np.diff(tf.indptr))
        tf.data = (idf[term_of] * f * (k1 + 1) / (f + norm[tf.indices])).astype(np.float32)
        return cls(vocab, tf, idf, n)

    def arrays(self) -> dict[str, np.ndarray]:
        """The index's stored form (numpy arrays only, so the store needs no pickle)."""
        terms = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        return {
            "bm25_terms": np.asarray(terms.astype(str) if len(terms) else np.zeros(0, "U1")),
            "bm25_indptr": self.weights.indptr.astype(np.int64),
            "bm25_indices": self.weights.indices.astype(np.int32),
            "bm25_data": self.weights.data.astype(np.float32),
            "bm25_idf": self.idf.astype(np.float64),
            "bm25_shape": np.asarray(self.weights.shape, np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> BM25:
        shape = tuple(int(x) for x in arrays["bm25_shape"])
        weights = sparse.csr_matrix((arrays["bm25_data"], arrays["bm25_indices"], arrays["bm25_indptr"]), shape=shape)
        vocab = {str(t): i for i, t in enumerate(arrays["bm25_terms"].tolist())}
        return cls(vocab, weights, np.asarray(arrays["bm25_idf"], np.float64), shape[1])

    def idf_of(self, token: str) -> float:
        """IDF of a token; unseen tokens get the maximum (they are the most specific)."""
        i = self.vocab.get(token)
        return float(self.idf[i]) if i is not None else math.log(1 + (self.n + 0.5) / 0.5)

    def scores(self, query: list[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every document (a repeated query word counts again, as in Okapi BM25);
        documents outside `allowed` (a boolean mask), when given, score 0."""
        ids = [self.vocab[t] for t in query if t in self.vocab]
        if not ids:
            return np.zeros(self.n, np.float32)
        out = np.asarray(self.weights[ids].sum(axis=0), np.float32).ravel()
        if allowed is not None:
            out[~allowed] = 0.0
        return out


# Opening a question with these says nothing about its topic: question words, demonstratives
# (此剧, 本法: the topic is elsewhere), pronouns, and "please".
_NO_TOPIC_START = frozenset("哪什谁何怎几此本该这那其他她它请每各某另")
# The question talks about the document itself ("文章说……"), not a topic.
_META_START = ("文章", "文中", "本文", "文档", "文件", "报道", "原文")
# jieba tags of an opening word that is not a topic: verbs, adverbs, prepositions, time words,
# conjunctions, particles, pronouns, measure words, locatives, distinguishing words.
_NOT_TOPIC_TAGS = frozenset("v vd vg vi vl vf d p t tg c u uj ul uz ug ud uv f r rr rz zg q mq y e o z b".split())
# Characters that end a one-character topic (蓍的…, 蓍分布…) rather than continue a name.
_ENDS_A_TOPIC = frozenset("的是在有所和与为被把从对于之其这那哪谁什怎几多")
_QUOTES = "“”\"'「」『』《》（(【 \t"
_LATIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9\-]*")


@lru_cache(maxsize=1024)
def topic_opening(question: str) -> str | None:
    """The first characters of the topic a Chinese question opens with, or None when it opens
    with something else (a question word, a date, a verb, a preposition).

    Chinese questions usually open with their topic (严长寿曾经担任过哪些职务？, 六耳铃分布在哪些地区？,
    A-135共有几处发射基地？). jieba splits names it does not know into pieces that are no topic
    words (严/长寿, 六/耳/铃), so the topic's first two characters are taken as they are typed:
    a passage about it holds them side by side. A one-character topic (蓍的别名是什么？) is one
    character. Used to refuse a question about something no retrieved passage mentions."""
    import jieba.posseg as pseg

    q = question.strip().lstrip(_QUOTES)
    if not q or q[0] in _NO_TOPIC_START or q.startswith(_META_START):
        return None
    latin = _LATIN_NAME.match(q)
    if latin:
        return latin.group() if len(latin.group()) >= 2 else None
    if not _HAN_RUN.match(q):
        return None
    first, *rest = pseg.lcut(q[:8])
    if first.flag in _NOT_TOPIC_TAGS:
        return None
    if len(first.word) >= 2:
        return q[:2]
    second = rest[0] if rest else None
    if q[1] in _ENDS_A_TOPIC or second is None or second.flag in _NOT_TOPIC_TAGS:
        return q[0]
    return q[:2]
