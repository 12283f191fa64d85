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

import jieba

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
ANSWER_TYPES = frozenset("职务 职位 头衔 身份 名字 名称 称号 叫什么".split())


_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def words(text: str) -> list[str]:
    """jieba search-mode words, lower-cased, without punctuation, stopwords or stray letters."""
    out = []
    for tok in jieba.lcut_for_search(text.lower()):
        tok = tok.strip()
        if not tok or not _WORD.search(tok) or tok in STOPWORDS:
            continue
        if tok.isascii() and len(tok) == 1 and tok.isalpha():
            continue
        out.append(tok)
    return out


# jieba part-of-speech tags for nouns, names, noun-like verbs and idioms: the words that say what
# a question is about (its topic), as opposed to what it asks (verbs, question words).
_TOPIC_TAGS = ("n", "nr", "ns", "nt", "nz", "nrt", "vn", "l", "eng", "j", "i")


def topic_words(text: str) -> list[str]:
    """The question's topic words (nouns and names), lower-cased, without stopwords."""
    import jieba.posseg as pseg

    out = []
    for w in pseg.lcut(text.lower()):
        word = w.word.strip()
        if word and w.flag in _TOPIC_TAGS and word not in STOPWORDS | ANSWER_TYPES and _WORD.search(word):
            if word.isascii() and len(word) == 1:
                continue
            out.append(word)
    return list(dict.fromkeys(out))


def tokenize(text: str) -> list[str]:
    """Search tokens for BM25: jieba words plus Han character bigrams.

    Bigrams catch what the segmenter splits wrongly (三大片区 -> 三/大片/区 loses 片区).
    """
    tokens = words(text)
    for run in _HAN_RUN.findall(text):
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


class BM25:
    """Okapi BM25 over pre-tokenized documents."""

    def __init__(self, corpus: list[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.doc_freqs = [Counter(doc) for doc in corpus]
        self.doc_len = [len(doc) for doc in corpus]
        self.avgdl = (sum(self.doc_len) / len(corpus)) if corpus else 0.0
        df: Counter[str] = Counter()
        for doc in corpus:
            df.update(set(doc))
        n = len(corpus)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.n = n

    def idf_of(self, token: str) -> float:
        """IDF of a token; unseen tokens get the maximum (they are the most specific)."""
        return self.idf.get(token, math.log(1 + (self.n + 0.5) / 0.5))

    def scores(self, query: list[str]) -> list[float]:
        out = []
        for freqs, dl in zip(self.doc_freqs, self.doc_len):
            s = 0.0
            norm = self.k1 * (1 - self.b + self.b * dl / (self.avgdl or 1))
            for t in query:
                f = freqs.get(t)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + norm)
            out.append(s)
        return out
