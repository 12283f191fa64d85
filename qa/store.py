"""The stored index: the only module that touches `index/`.

Layout: `index/CURRENT` names a complete version folder `index/v-*/` holding `index.faiss`
(exact inner-product search over the chunk vectors: at this size a flat index is both exact and
fast), `chunks.jsonl`, extra arrays as `.npy`, and `manifest.json` (model, dimension, chunking
settings, corpus file hashes, library versions). A new version is written in full to its own
folder and only then published by atomically replacing `CURRENT`, so a crash at any moment
leaves the previous index usable. It does not decide when to rebuild; the indexer does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.records import Chunk

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class IndexUnreadable(RuntimeError):
    """The stored index is missing a file or a file is damaged."""


@dataclass(frozen=True)
class StoredIndex:
    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # chunk vectors, row i <-> chunks[i]
    faiss_index: Any
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: tuple[tuple[str, ...], ...] = ()
    version: str = ""


def build_faiss(vectors: np.ndarray) -> Any:
    index = faiss.IndexFlatIP(int(vectors.shape[1]))
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
    tokens: list[list[str]],
    arrays: dict[str, np.ndarray] | None = None,
) -> str:
    """Write a complete new version and publish it; returns the version name."""
    index_dir.mkdir(parents=True, exist_ok=True)
    version = f"v-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    staging = index_dir / f".staging-{version}"
    staging.mkdir()
    try:
        faiss.write_index(build_faiss(vectors), str(staging / "index.faiss"))
        with open(staging / "chunks.jsonl", "w", encoding="utf-8") as fh:
            for c, toks in zip(chunks, tokens):
                fh.write(json.dumps({**asdict(c), "tokens": toks}, ensure_ascii=False) + "\n")
        np.save(staging / "vectors.npy", vectors.astype(np.float32))
        for name, arr in (arrays or {}).items():
            np.save(staging / f"{name}.npy", arr)
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
        if p.is_dir() and p.name != keep and (p.name.startswith("v-") or p.name.startswith(".staging-")):
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
        chunks, tokens = [], []
        with open(folder / "chunks.jsonl", encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                tokens.append(tuple(rec.pop("tokens")))
                chunks.append(Chunk(**rec))
        vectors = np.load(folder / "vectors.npy")
        index = faiss.read_index(str(folder / "index.faiss"))
        arrays = {name: np.load(folder / f"{name}.npy") for name in manifest.get("arrays", [])}
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexUnreadable(f"index {folder} is damaged: {exc}") from exc
    if index.ntotal != len(chunks) or len(vectors) != len(chunks):
        raise IndexUnreadable(f"index {folder} is inconsistent: {index.ntotal} vectors, {len(chunks)} chunks")
    return StoredIndex(manifest, tuple(chunks), vectors, index, arrays, tuple(tokens), version)
