"""Build the index from the corpus, or open the stored one when it still matches.

The manifest records everything that shapes the index; `open_or_build` compares it with the
corpus on disk and the settings, and rebuilds on any difference, so a stale or mismatched index
is never served. It does not retrieve or answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from qa import store
from qa.chunk import chunk_document, embed_text, sentence_spans
from qa.embed import Embedder
from qa.keywords import tokenize
from qa.load import Skipped, fingerprint, load_corpus
from qa.records import Chunk
from qa.settings import Settings

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


def _lib_versions() -> dict[str, str]:
    out = {}
    for pkg in ("sentence-transformers", "faiss-cpu", "jieba", "torch"):
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


def build(settings: Settings, embedder: Embedder, second: Embedder | None = None) -> BuildReport:
    t0 = time.perf_counter()
    loaded = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    chunks = [c for d in loaded.documents for c in chunk_document(d, settings.chunk_min, settings.chunk_max)]
    texts = [embed_text(c) for c in chunks]
    vectors = embedder.encode_documents(texts) if texts else np.zeros((0, embedder.dim), np.float32)
    units = sentence_units(chunks)
    sent_texts = [chunks[ci].text[s - chunks[ci].start : e - chunks[ci].start].strip() for ci, s, e in units]
    sent_vectors = embedder.encode_documents(sent_texts) if units else np.zeros((0, embedder.dim), np.float32)
    arrays = {
        "sentence_vectors": sent_vectors,
        "sentence_spans": np.asarray(units, dtype=np.int64).reshape(-1, 3),
    }
    if settings.crosslingual_model:
        if second is None:
            raise RuntimeError(f"the cross-lingual model {settings.crosslingual_model!r} is not loaded")
        arrays["x_vectors"] = second.encode_documents(texts) if texts else np.zeros((0, second.dim), np.float32)
        arrays["x_sentence_vectors"] = (
            second.encode_documents(sent_texts) if units else np.zeros((0, second.dim), np.float32)
        )
    manifest = {
        **identity(settings, fingerprint(settings.corpus_dir)),
        "dim": int(embedder.dim),
        "documents": {d.doc_id: d.title for d in loaded.documents},
        "skipped": {s.name: s.reason for s in loaded.skipped},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.save(
        settings.index_dir,
        manifest,
        chunks,
        vectors,
        [tokenize(t) for t in texts],
        arrays,
    )
    return BuildReport(len(loaded.documents), len(chunks), time.perf_counter() - t0, True, loaded.skipped)


def open_or_build(
    settings: Settings, embedder: Embedder, second: Embedder | None = None, force: bool = False
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
    report = build(settings, embedder, second)
    return store.load(settings.index_dir), BuildReport(
        report.documents, report.chunks, report.seconds, True, report.skipped, reason
    )
