"""Fakes for the seams, used by unit tests only."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from qa.embed import Encoded


class HashingEmbedder:
    """Deterministic bag-of-characters embedder for unit tests of the seams (not for features)."""

    def __init__(self, dim: int = 64) -> None:
        self.name = f"hashing-{dim}"
        self.dim = dim

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for tok in re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower()):
            v[int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    encode_documents = encode_queries

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> list[Encoded]:
        """Each passage's vector, its spans' vectors, and one state row per word (as HashingTokenStates)."""
        states = HashingTokenStates().token_states(texts)
        return [
            Encoded(self._vec(t), self.encode_queries([t[s:e] for s, e in sp]).reshape(-1, self.dim), st)
            for t, sp, st in zip(texts, spans, states)
        ]


class HashingTokenStates:
    """Deterministic per-token states (one per word or Han character), standing in for e5's
    token states in unit tests of the latent-term seam."""

    def __init__(self, hidden: int = 384) -> None:
        self.hidden = hidden
        self.calls: list[str] = []

    def token_states(self, texts: list[str]) -> list[np.ndarray]:
        self.calls.extend(texts)
        out = []
        for text in texts:
            toks = re.findall(r"[a-z0-9]+|[\u4e00-\u9fff]", text.lower())
            seeds = [int(hashlib.md5(t.encode()).hexdigest()[:8], 16) for t in toks]
            rows = [np.random.default_rng(seed).normal(size=self.hidden) for seed in seeds]
            out.append(np.asarray(rows, np.float32).reshape(len(toks), self.hidden))
        return out

    def query_and_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(8, np.float32), self.token_states([text])[0]


class CountingPassages:
    """Wraps an embedder (the hashing fake), recording every passage it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.seen = inner, inner.name, inner.dim, []

    def encode_passages(self, texts, spans):
        self.seen.extend(texts)
        return self.inner.encode_passages(texts, spans)

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)


class CountingDocuments:
    """Wraps an embedder (the hashing fake), recording every text it is asked to embed as a
    document (the seam qa.embed.Remembered sits on)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.seen = inner, inner.name, inner.dim, []

    def encode_documents(self, texts):
        self.seen.extend(texts)
        return self.inner.encode_documents(texts)

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)
