"""Turn a conversation into the query to search: the last user message, resolved against earlier turns.

Follow-ups such as "那岳阳呢？" or "And Chenzhou?" are elliptical: on their own they would
retrieve noise. With no LLM offline, the resolution is rule-based and visible to the user as
`searched_for`. Standalone questions are never rewritten. It does not retrieve.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qa.text import CONTROL_CHARS, normalise_space


class BadQuestion(ValueError):
    """A question that cannot be searched; `key` names the user-facing message."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


def clean_question(text: str, limit: int) -> str:
    if not isinstance(text, str):
        raise BadQuestion("empty")
    if len(text) > limit:
        raise BadQuestion("too_long", limit=limit)
    text = normalise_space(CONTROL_CHARS.sub(" ", text))
    if not text:
        raise BadQuestion("empty")
    return text


def parse_messages(messages: object) -> list[Turn]:
    """Validate a list of {"role", "content"} dicts (the JSON-lines and UI contract)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list of {role, content} objects")
    turns = []
    for m in messages:
        if (
            not isinstance(m, dict)
            or m.get("role") not in ("user", "assistant")
            or not isinstance(m.get("content"), str)
        ):
            raise ValueError("each message needs 'role' ('user' or 'assistant') and string 'content'")
        turns.append(Turn(m["role"], m["content"]))
    if not any(t.role == "user" for t in turns):
        raise ValueError("'messages' has no user message")
    return turns


def split_turns(turns: list[Turn]) -> tuple[str, list[str]]:
    """The last user message and the earlier user messages (most recent last)."""
    users = [t.content for t in turns if t.role == "user"]
    return users[-1], users[:-1]


# --- follow-up resolution -------------------------------------------------------------------

_ZH_ELLIPSIS = re.compile(r"^(?:那么?|还有|那它|那他|那她)?(?P<x>[^，。？?！!]{1,16}?)呢[？?]?$")
_ZH_PRONOUN_START = re.compile(r"^(?:那么?|它|它们|其|这个|这些|那个|那些|该|他|她|此|除此之外|除此以外|另外|还有)")
_ZH_PRONOUN = re.compile(r"它|它们|他们|她们|这个|那个|这些|那些|这里|那里|这项|那项|该")
_EN_ELLIPSIS = re.compile(r"^(?:and|what about|how about)\s+(?P<x>.+?)\??$", re.I)
_EN_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|he|she|his|her|these|those|this|that|there)\b", re.I)
_EN_GENERIC_NAMES = {"FTZ", "FTZs", "China", "Chinese", "I", "What", "How", "Which", "Who", "When", "Where", "Why"}


def _kind(flag: str) -> str:
    # jieba tags 岳阳 as a person and 长沙 as a place: proper names are one kind here.
    if flag in ("nr", "ns", "nt", "nz", "nrt", "nrfg"):
        return "name"
    return flag[:1]


def _zh_substitute(prev: str, x: str) -> str | None:
    """Swap the word of `prev` that is of the same kind as `x` (a place for a place...)."""
    import jieba.posseg as pseg

    xs = pseg.lcut(x)
    if len(xs) != 1:
        return None
    kind = _kind(xs[0].flag)
    for w in pseg.lcut(prev):
        if _kind(w.flag) == kind and w.word != x and len(w.word) >= 2:
            return prev.replace(w.word, x, 1)
    return None


def _en_substitute(prev: str, x: str) -> str | None:
    names = re.findall(r"(?<!^)(?<![.?!]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*", prev)
    names = [n for n in names if n not in _EN_GENERIC_NAMES]
    if not names or not x[:1].isupper():
        return None
    return prev.replace(names[0], x.strip(), 1)


def is_followup(question: str, lang: str) -> bool:
    """Elliptical or pronoun-led questions that only make sense after the previous turn."""
    q = question.strip()
    if lang == "zh":
        return bool(_ZH_ELLIPSIS.match(q) or _ZH_PRONOUN_START.match(q) or _ZH_PRONOUN.search(q))
    return bool(_EN_ELLIPSIS.match(q) or _EN_PRONOUN.search(q))


def resolve_followup(question: str, previous: str, lang: str) -> str:
    """The query to search for `question` asked right after `previous` (already resolved).

    "那岳阳呢？" after "长沙片区的重点是什么？" becomes "岳阳片区的重点是什么？"; a pronoun question
    keeps its words and gains the previous question's as context. Standalone questions are
    returned unchanged.
    """
    if not previous or not is_followup(question, lang):
        return question
    x = _ellipsis_subject(question, lang)
    swapped = (_zh_substitute if lang == "zh" else _en_substitute)(previous, x) if x else None
    return swapped or f"{previous} {question.strip()}"


def _ellipsis_subject(question: str, lang: str) -> str | None:
    """What an elliptical follow-up asks about instead ("那岳阳呢？" -> 岳阳, "And Chenzhou?" ->
    Chenzhou); None when the question is not elliptical."""
    m = (_ZH_ELLIPSIS if lang == "zh" else _EN_ELLIPSIS).match(question.strip())
    if not m:
        return None
    return re.sub(r"^(?:那么?|还有)", "", m.group("x")).strip() if lang == "zh" else m.group("x").strip()


def resolve_across(
    question: str, previous: str, lang: str, previous_lang: str, to_chinese: Callable[[str], Iterable[str]]
) -> tuple[str, str] | None:
    """An elliptical follow-up asked in the other language than the question it follows, as
    (the query, its language); None when it is not one or its subject does not map.

    "And Chenzhou?" after "岳阳片区的重点是什么？" searches "郴州片区的重点是什么？" (zh), and
    "那郴州呢？" after "What are Yueyang's priorities?" searches "What are Chenzhou's
    priorities?" (en). Before, the two languages were glued together and the search followed
    the old subject. Only the subject crosses over, as a name: into Chinese through
    `to_chinese` (the collection's glossary: "Chenzhou" -> 郴州), into English in pinyin."""
    if not previous or lang == previous_lang:
        return None
    x = _ellipsis_subject(question, lang)
    if not x:
        return None
    if lang == "zh":
        if not re.fullmatch(r"[\u4e00-\u9fff]{2,6}", x):
            return None
        from qa.gist import romanise

        swapped = _en_substitute(previous, romanise(x))
    else:
        swapped = next((z for z in (_zh_substitute(previous, c) for c in sorted(to_chinese(x))) if z), None)
    return (swapped, previous_lang) if swapped else None
