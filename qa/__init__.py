"""Document Q&A over Chinese public documents: chunk, embed, index, retrieve, answer with citations."""

from __future__ import annotations

__version__ = "0.1.0"
