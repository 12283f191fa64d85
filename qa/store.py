"""The stored index: the only module that touches `index/`.

Layout: `index/CURRENT` names a complete version folder `index/v-*/` holding `index.faiss`
(inner-product search over the chunk vectors: exact below `ANN_THRESHOLD` vectors, where a flat
index is both exact and fast, HNSW above it, as txtai chooses by size), `chunks.jsonl`, extra
arrays as `.npy` (opened memory-mapped, so float16 sentence vectors and sparse matrices cost
page cache, not heap), and `manifest.json` (model, dimension, chunking settings, corpus file
hashes, library versions). A new version is written in full to its own folder and only then
published by atomically replacing `CURRENT`, so a crash at any moment leaves the previous index
usable. `index/cache/` keeps every embedding as it is computed (`VectorCache`), so a killed build
resumes where it stopped. It does not decide when to rebuild; the indexer does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.records import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: BM25 and latent terms as stored sparse matrices, no tokens in chunks.jsonl

# Above this many vectors an approximate index (HNSW) replaces exact search: a flat scan of
# 100k x 384 floats is ~10 ms on 2 cores, still inside the answer budget below it.
ANN_THRESHOLD = 100_000
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96


class IndexUnreadable(RuntimeError):
    """The stored index is missing a file or a file is damaged."""


@dataclass(frozen=True)
class StoredIndex:
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


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    _atomic_write_text(index_dir / "CURRENT", version + "\n")
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


def load(index_dir: Path) -> StoredIndex:
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
    return StoredIndex(manifest, tuple(chunks), vectors, index, arrays, version, folder)


# ----------------------------------------------------------------------------- embedding cache

CACHE_BATCH_PREFIX = "b-"


class VectorCache:
    """Every embedding the indexer computes, by hash of the embedded text, kept as it is done.

    Each batch is one `.npz` file written whole and published with `os.replace`, so a build
    killed at any moment loses at most the batch in flight, and the rerun embeds only what no
    file holds yet. The folder is named after everything that shapes the vectors (model,
    library versions, recipe), so vectors of another model are never mixed in. The serving
    index is untouched by all of this until the indexer publishes a complete new version.
    """

    def __init__(self, index_dir: Path, key: str) -> None:
        self.folder = index_dir / "cache" / key
        self.records: dict[str, dict[str, np.ndarray]] = {}
        self.files: dict[str, set[str]] = {}
        if self.folder.is_dir():
            for path in sorted(self.folder.glob(f"{CACHE_BATCH_PREFIX}*.npz")):
                try:
                    self._read(path)
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # recomputed
                    log.warning("ignoring damaged cache file %s: %s", path.name, exc)

    def _read(self, path: Path) -> None:
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        keys = [k.decode() for k in data.pop("keys").tolist()]
        bounds = np.concatenate([[0], np.cumsum(data.pop("sentence_counts"))])
        sentences = data.pop("sentences")
        for i, key in enumerate(keys):
            rec = {name: arr[i] for name, arr in data.items()}
            rec["sentences"] = sentences[bounds[i] : bounds[i + 1]]
            self.records[key] = rec
        self.files[path.name] = set(keys)

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, key: str) -> dict[str, np.ndarray]:
        return self.records[key]

    def put(self, records: dict[str, dict[str, np.ndarray]]) -> None:
        """Store one batch durably (write, fsync, rename): all of it or, after a kill, none."""
        if not records:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        keys = list(records)
        first = records[keys[0]]
        arrays: dict[str, np.ndarray] = {
            "keys": np.array([k.encode() for k in keys]),
            "sentence_counts": np.array([len(records[k]["sentences"]) for k in keys], np.int64),
            "sentences": np.concatenate([records[k]["sentences"] for k in keys]),
        }
        for name in first:
            if name != "sentences":
                arrays[name] = np.stack([records[k][name] for k in keys])
        name = f"{CACHE_BATCH_PREFIX}{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".batch-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.records.update(records)
        self.files[name] = set(keys)

    def compact(self, live: set[str]) -> None:
        """Drop what the index no longer uses once it is most of the cache (edited documents
        leave stale vectors behind), and the caches of other models or library versions."""
        parent = self.folder.parent
        for other in parent.iterdir() if parent.is_dir() else ():
            if other.is_dir() and other != self.folder:
                shutil.rmtree(other, ignore_errors=True)
        for tmp in self.folder.glob(".batch-*.tmp") if self.folder.is_dir() else ():
            tmp.unlink(missing_ok=True)  # left by a killed run
        stale = set(self.records) - live
        if len(stale) * 2 < len(self.records):
            return
        old = list(self.files)
        keep = {k: self.records[k] for k in sorted(live) if k in self.records}
        self.records, self.files = {}, {}
        items = list(keep.items())
        for i in range(0, len(items), 4096):
            self.put(dict(items[i : i + 4096]))
        for name in old:
            (self.folder / name).unlink(missing_ok=True)
