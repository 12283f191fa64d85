"""The local store (the default): one index version per folder under `index/`, FAISS in process.

Layout: `index/CURRENT` names a complete version folder `index/v-*/` holding `index.faiss`
(inner-product search over the chunk vectors: exact below `ANN_THRESHOLD` vectors, where a flat
index is both exact and fast, HNSW above it, as txtai chooses by size), `chunks.jsonl`, extra
arrays as `.npy` (opened memory-mapped, so float16 sentence vectors and sparse matrices cost
page cache, not heap), and `manifest.json` (model, dimension, chunking settings, corpus file
hashes, library versions). A new version is written in full to its own folder and only then
published by atomically replacing `CURRENT`, so a crash at any moment leaves the previous index
usable. It serves one machine; `qa.store_milvus` is the shared one.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.records import Chunk
from qa.store import (
    ANN_THRESHOLD,
    FORMAT_VERSION,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_NEIGHBOURS,
    IndexUnreadable,
    atomic_write_text,
)


@dataclass(frozen=True)
class FaissIndex:
    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # chunk vectors, row i <-> chunks[i]
    faiss_index: Any
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    version: str = ""
    folder: Path | None = None

    def read_json(self, name: str) -> Any:
        """A JSON file stored beside the arrays (e.g. the glossary), or None."""
        if self.folder is None:
            return None
        try:
            return json.loads((self.folder / f"{name}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def search(
        self, field: str, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[list[int], np.ndarray]:
        """e5: the FAISS top k, or an exact scan of the `allowed` rows. x: an exact scan of the
        cross-lingual vectors (a few hundred bytes a chunk; no ANN index is kept for them)."""
        if field == "x":
            from qa.retrieve import top  # the retriever's tie order (lowest row first)

            x = self.arrays.get("x_vectors")
            if x is None or k <= 0:
                return [], np.zeros(0, np.float32)
            sims = x @ query
            ids = top(sims if allowed is None else np.where(allowed, sims, -np.inf), k, finite=True)
            return ids, np.asarray(sims[ids], np.float32)
        n = min(k, len(self.chunks))
        if n == 0:
            return [], np.zeros(0, dtype=np.float32)
        if allowed is not None:
            rows = np.flatnonzero(allowed)
            sims = np.asarray(self.vectors[rows] @ query, np.float32)
            order = np.argsort(-sims, kind="stable")[:n]
            return [int(rows[i]) for i in order], sims[order]
        scores, ids = self.faiss_index.search(query.reshape(1, -1).astype(np.float32), n)
        keep = ids[0] >= 0
        return [int(i) for i in ids[0][keep]], scores[0][keep]


@dataclass(frozen=True)
class FaissStore:
    """The `Store` over one local folder."""

    index_dir: Path

    @property
    def where(self) -> str:
        return str(self.index_dir)

    def read_manifest(self) -> dict[str, Any] | None:
        return read_manifest(self.index_dir)

    def current_version(self) -> str | None:
        return current_version(self.index_dir)

    def save(
        self,
        manifest: dict[str, Any],
        chunks: list[Chunk],
        vectors: np.ndarray,
        arrays: dict[str, np.ndarray] | None = None,
        blobs: dict[str, Any] | None = None,
        ann_threshold: int = ANN_THRESHOLD,
    ) -> str:
        return save(self.index_dir, manifest, chunks, vectors, arrays, blobs, ann_threshold)

    def load(self) -> FaissIndex:
        return load(self.index_dir)


def build_faiss(vectors: np.ndarray, ann_threshold: int = ANN_THRESHOLD) -> Any:
    """Exact inner-product search up to `ann_threshold` vectors, HNSW above (vectors are
    L2-normalised, so inner product is cosine)."""
    dim = int(vectors.shape[1])
    if len(vectors) > ann_threshold:
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def save(
    index_dir: Path,
    manifest: dict[str, Any],
    chunks: list[Chunk],
    vectors: np.ndarray,
    arrays: dict[str, np.ndarray] | None = None,
    blobs: dict[str, Any] | None = None,
    ann_threshold: int = ANN_THRESHOLD,
) -> str:
    """Write a complete new version and publish it; returns the version name."""
    index_dir.mkdir(parents=True, exist_ok=True)
    version = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    staging = index_dir / f".staging-{version}"
    staging.mkdir()
    try:
        faiss.write_index(build_faiss(vectors, ann_threshold), str(staging / "index.faiss"))
        with open(staging / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c in chunks:
                fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
        np.save(staging / "vectors.npy", vectors.astype(np.float32))
        for name, arr in (arrays or {}).items():
            np.save(staging / f"{name}.npy", arr)
        for name, obj in (blobs or {}).items():
            (staging / f"{name}.json").write_text(json.dumps(obj, ensure_ascii=False), "utf-8")
        full = {**manifest, "format": FORMAT_VERSION, "chunks": len(chunks), "arrays": sorted(arrays or {})}
        (staging / "manifest.json").write_text(json.dumps(full, ensure_ascii=False, indent=2), "utf-8")
        for p in staging.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(staging, index_dir / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    atomic_write_text(index_dir / "CURRENT", version + "\n")
    _prune(index_dir, keep=version)
    return version


def _prune(index_dir: Path, keep: str) -> None:
    """Remove superseded versions and abandoned staging folders (from killed runs)."""
    for p in index_dir.iterdir():
        if p.is_dir() and p.name != keep and (p.name.startswith(("v-", ".staging-"))):
            shutil.rmtree(p, ignore_errors=True)


def current_version(index_dir: Path) -> str | None:
    try:
        name = (index_dir / "CURRENT").read_text("utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return name or None


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    version = current_version(index_dir)
    if not version:
        return None
    try:
        return json.loads((index_dir / version / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None


def load(index_dir: Path) -> FaissIndex:
    version = current_version(index_dir)
    if not version:
        raise IndexUnreadable(f"no index in {index_dir}")
    folder = index_dir / version
    try:
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        with open(folder / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [Chunk(**json.loads(line)) for line in fh]
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        index = faiss.read_index(str(folder / "index.faiss"))
        # Memory-mapped: the big arrays are read from the page cache as they are touched.
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in manifest.get("arrays", [])}
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexUnreadable(f"index {folder} is damaged: {exc}") from exc
    if index.ntotal != len(chunks) or len(vectors) != len(chunks):
        raise IndexUnreadable(f"index {folder} is inconsistent: {index.ntotal} vectors, {len(chunks)} chunks")
    return FaissIndex(manifest, tuple(chunks), vectors, index, arrays, version, folder)
