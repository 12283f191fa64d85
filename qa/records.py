"""The small immutable records that travel between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.gist import Gist


@dataclass(frozen=True)
class Section:
    """A heading and where its body starts in the cleaned document text."""

    title: str
    start: int


@dataclass(frozen=True)
class Document:
    """A cleaned document: `text` is what chunk offsets point into."""

    doc_id: str  # file name relative to the corpus folder
    title: str
    text: str
    sections: tuple[Section, ...] = ()
    sha256: str = ""
    # Offsets in `text` where page 1, 2, ... begin (paged formats such as PDF); () otherwise.
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int:
        """1-based page of an offset, or 0 for documents without pages."""
        page = 0
        for number, start in enumerate(self.pages, start=1):
            if start <= offset:
                page = number
            else:
                break
        return page

    def section_at(self, offset: int) -> str:
        title = ""
        for s in self.sections:
            if s.start <= offset:
                title = s.title
            else:
                break
        return title


@dataclass(frozen=True)
class Chunk:
    """A passage of one document: text == document.text[start:end]."""

    chunk_id: str
    doc_id: str
    title: str
    section: str
    start: int
    end: int
    text: str
    page: int = 0  # page where the chunk starts; 0 when the document has no pages
    # The heading printed right above this chunk when the chunk opens its section and the heading
    # says something ("提出7大领域121项制度创新试验任务", not "第一章 总则"): it is quoted and
    # cited like a sentence of the chunk. It is not part of `text`, which the document rebuilds from.
    heading: str = ""


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its fused score and 1-based rank."""

    chunk: Chunk
    score: float
    rank: int


@dataclass(frozen=True)
class Citation:
    """A numbered source shown to the user, with the sentences quoted from it."""

    number: int
    chunk: Chunk
    score: float
    quoted: tuple[str, ...] = ()
    # For an English answer, the English gist of each quoted sentence (same order as `quoted`);
    # () for a Chinese answer.
    gists: tuple[Gist, ...] = ()


@dataclass(frozen=True)
class Answer:
    text: str
    outcome: str  # "answered" | "partial" | "not_found"
    citations: tuple[Citation, ...]
    searched_for: str
    lang: str
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    # The retrieval ranking, best first: the first `k` were read for the answer (and are the
    # "you may mean" passages when nothing answers); the rest serve evaluation (MRR).
    passages: tuple[Passage, ...] = ()
    k: int = 3
    note: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome != "not_found"
