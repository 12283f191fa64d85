"""Turn a conversation into the query to search: the last user message, resolved against earlier turns.

Follow-ups such as "那岳阳呢？" or "And Chenzhou?" are elliptical: on their own they would
retrieve noise. With no LLM offline, the resolution is rule-based and visible to the user as
`searched_for`. Standalone questions are never rewritten. It does not retrieve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qa.text import normalise_space

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\ufeff]")


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
    text = normalise_space(_CONTROL.sub(" ", text))
    if not text:
        raise BadQuestion("empty")
    return text


def parse_messages(messages: object) -> list[Turn]:
    """Validate a list of {"role", "content"} dicts (the JSON-lines and UI contract)."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list of {role, content} objects")
    turns = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant") or not isinstance(m.get("content"), str):
            raise ValueError("each message needs 'role' ('user' or 'assistant') and string 'content'")
        turns.append(Turn(m["role"], m["content"]))
    if not any(t.role == "user" for t in turns):
        raise ValueError("'messages' has no user message")
    return turns


def split_turns(turns: list[Turn]) -> tuple[str, list[str]]:
    """The last user message and the earlier user messages (most recent last)."""
    users = [t.content for t in turns if t.role == "user"]
    return users[-1], users[:-1]
