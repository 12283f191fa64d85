"""The stored index seam: what the indexer writes and the retriever and engine read.

`Store` is a place an index is published to (`save`), read from (`load`, `read_manifest`); a
loaded `StoredIndex` holds the chunks, the manifest, the arrays the keyword, latent-term and
sentence steps read, and answers dense top-k searches (e5 and the cross-lingual model, with an
optional row mask). Two backends, one module each, as txtai keeps one module per ANN backend:
`qa.store_faiss` (the default: files under `index/`, FAISS in process) and `qa.store_milvus`
(a milvus-lite file or a Milvus server/cluster; the only module that imports `pymilvus`).
`open_store(settings)` picks one from `QA_VECTOR_STORE`.

Whatever the backend, `index/cache/` keeps every embedding as it is computed (`VectorCache`): it
is a per-machine cache, so a killed build resumes where it stopped. This module does not decide
when to rebuild; the indexer does.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.records import Chunk

if TYPE_CHECKING:
    from qa.settings import Settings

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


class StoreUnavailable(RuntimeError):
    """The configured store cannot be reached (e.g. no Milvus server at QA_MILVUS_URI)."""


class StoredIndex(Protocol):
    """One published version of the index, as the retriever and the engine read it.

    `chunks[i]` is row i everywhere: in `search` results and in the arrays (`sentence_spans`,
    `sentence_vectors`, the BM25 and latent-term sparse matrices)."""

    @property
    def manifest(self) -> dict[str, Any]: ...

    @property
    def chunks(self) -> tuple[Chunk, ...]: ...

    @property
    def arrays(self) -> dict[str, np.ndarray]: ...

    @property
    def version(self) -> str: ...

    def read_json(self, name: str) -> Any:
        """A JSON blob stored with the index (e.g. the glossary), or None."""
        ...

    def search(
        self, field: str, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[list[int], np.ndarray]:
        """The `k` rows most similar to `query` by inner product on the dense `field` ("e5" or
        "x"), best first, with their scores; only rows where `allowed` (a boolean mask) is true
        when given. Empty when the index has no such field."""
        ...


class Store(Protocol):
    """Where versions of the index are published. A version is written in full and only then
    made current, in one atomic step; a crash at any moment leaves the previous one serving."""

    @property
    def where(self) -> str:
        """For messages: the folder or the Milvus URI and alias."""
        ...

    def read_manifest(self) -> dict[str, Any] | None: ...

    def current_version(self) -> str | None: ...

    def save(
        self,
        manifest: dict[str, Any],
        chunks: list[Chunk],
        vectors: np.ndarray,
        arrays: dict[str, np.ndarray] | None = None,
        blobs: dict[str, Any] | None = None,
        ann_threshold: int = ANN_THRESHOLD,
    ) -> str:
        """Write a complete new version and publish it; returns the version name."""
        ...

    def load(self) -> StoredIndex:
        """The current version; IndexUnreadable when there is none or it is damaged."""
        ...


def open_store(settings: Settings) -> Store:
    """The backend `settings.vector_store` names. Milvus is imported only when chosen, so the
    default install never loads pymilvus."""
    if settings.vector_store == "milvus":
        from qa.store_milvus import MilvusStore

        return MilvusStore.connect(settings)
    from qa.store_faiss import FaissStore

    return FaissStore(settings.index_dir)


def atomic_write_text(path: Path, text: str) -> None:
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


def link_cache(source: Path, index_dir: Path) -> None:
    """Lend `source`'s embedding cache (an index folder) to `index_dir` by hard links, a copy
    where links cannot be made. Safe for the source: a cache writes new batch files and unlinks
    old ones, never writes into one. Nothing to lend: nothing done."""
    src = source / "cache"
    for path in sorted(src.rglob(f"{CACHE_BATCH_PREFIX}*.npz")) if src.is_dir() else ():
        target = index_dir / "cache" / path.relative_to(src)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:  # another filesystem, or no hard links
            shutil.copyfile(path, target)


# The FAISS store's functions under their old names (`store.load(index_dir)` ...), for callers
# that predate the seam (tests, eval/bench_scale.py). Imported last: qa.store_faiss reads the
# names above.
from qa.store_faiss import (  # noqa: E402
    FaissIndex,
    FaissStore,
    build_faiss,
    current_version,
    load,
    read_manifest,
    save,
)

__all__ = [
    "FaissIndex",
    "FaissStore",
    "build_faiss",
    "current_version",
    "load",
    "read_manifest",
    "save",
]
