"""The Milvus store: the index in Milvus collections, so replicas of the app can share one.

`QA_MILVUS_URI` names the database: a path ending in `.db` is a milvus-lite file (embedded, one
process at a time: tests and single machines), `http://host:19530` a Milvus server or cluster
(`QA_MILVUS_TOKEN` for authentication). This is the only module that imports `pymilvus`.

One published version is two collections named `<alias>_v_<time>_<id>`:
- the chunks (`row` = the chunk's row, its metadata and text), with the e5 vector and the
  cross-lingual vector (dense, searched by Milvus), the project's BM25 weights and the latent
  terms (sparse fields), and the section + text under Milvus' own jieba analyzer with a BM25
  `Function` into a sparse field (Milvus' full-text search; measured, not used for ranking:
  see `MilvusIndex.keyword_search`);
- `_m`, the manifest and every array the engine reads into memory (the quotable sentences'
  offsets and late-chunked vectors, the BM25 and latent-term matrices, BM25 vocabulary and
  IDF) and JSON blob (glossary), each zlib-compressed and cut into VARCHAR parts. One blob per
  array, not one row per sentence or per chunk: read row by row, the whole laws collection's
  188,536 sentence vectors and 46,749 sparse rows took about four minutes to open.
A build writes and flushes both, then switches the alias `<alias>` (QA_MILVUS_COLLECTION)
to them in one step: until then the old version serves, and a build killed at any moment leaves
it serving. After the switch, versions older than the previous one are dropped (with abandoned
half-built ones): the previous one is kept so replicas that loaded it keep answering until they
restart.

A loaded `MilvusIndex` searches the dense fields in Milvus and holds in memory what the keyword,
latent-term and sentence steps read per question (as the FAISS store maps its files). It does
not decide when to rebuild; the indexer does.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient
from scipy import sparse

from qa.chunk import embed_text
from qa.records import Chunk
from qa.settings import Settings
from qa.store import (
    ANN_THRESHOLD,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_NEIGHBOURS,
    IndexUnreadable,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

VERSION_PREFIX = "v_"
# Rows per insert: a few hundred kB each, far below gRPC's 64 MB message limit.
INSERT_BATCH = 256
# Rows per query page (Milvus caps a query at 16,384 rows).
QUERY_PAGE = 2000
# Characters of a blob per meta row; VARCHAR holds at most 65,535 bytes (base64 is ASCII).
BLOB_PART = 60_000
MAX_TEXT = 65_535
# Blob parts per query page: ~12 MB, well under gRPC's 64 MB message limit.
BLOB_PAGE = 200
# Sparse arrays that are also fields of the chunk collection, for Milvus-side search; the
# engine reads them back from their blobs (one array each), as it reads every other array.
SPARSE_FIELDS = ("bm25", "latent")  # from <name>_indptr/_indices/_data/_shape
# Arrays held only as fields: the cross-lingual vectors, which Milvus searches.
AS_FIELDS = {"x_vectors"}

_clients: dict[tuple[str, str], MilvusClient] = {}
_clients_lock = threading.Lock()


def is_lite(uri: str) -> bool:
    return not uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def _client(uri: str, token: str) -> MilvusClient:
    """One client per database in this process: milvus-lite lets only one process open a file,
    and the indexer, the engine and the app's background refresh all share it."""
    with _clients_lock:
        client = _clients.get((uri, token))
        if client is not None:
            return client
        if is_lite(uri):
            if not uri.endswith(".db"):
                raise ValueError(
                    f"QA_MILVUS_URI={uri!r}: a milvus-lite file must end in .db (or give http://host:19530)"
                )
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = MilvusClient(uri=uri, token=token, timeout=20)
            client.list_collections()  # fails here, not at the first question, when unreachable
        except Exception as exc:  # pymilvus raises several types (connection, config, lock)
            hint = "is another process using this milvus-lite file?" if is_lite(uri) else "is the server up?"
            raise StoreUnavailable(f"cannot open Milvus at QA_MILVUS_URI={uri!r} ({hint}): {exc}") from exc
        _clients[(uri, token)] = client
        return client


def close(uri: str | None = None) -> None:
    """Close the clients (of one URI, or all) and release milvus-lite files, so another process
    can open them (a build in a subprocess, a benchmark)."""
    with _clients_lock:
        for key in [k for k in _clients if uri is None or k[0] == uri]:
            client = _clients.pop(key)
            client.close()
            if is_lite(key[0]):
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(key[0])


def _pack(data: bytes) -> list[str]:
    text = base64.b64encode(zlib.compress(data, 6)).decode("ascii")
    return [text[i : i + BLOB_PART] for i in range(0, len(text), BLOB_PART)] or [""]


def _unpack(parts: list[str]) -> bytes:
    return zlib.decompress(base64.b64decode("".join(parts)))


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def _sparse_rows(arrays: dict[str, np.ndarray], name: str) -> list[dict[int, float]] | None:
    """Per chunk {feature: weight} of a stored (features x chunks) CSR matrix. Milvus refuses an
    empty sparse vector, so an empty row holds one weight at feature `features` (outside the
    vocabulary: no query ever has it); the engine reads the matrix itself from its blob."""
    if f"{name}_data" not in arrays:
        return None
    shape = tuple(int(x) for x in arrays[f"{name}_shape"])
    m = sparse.csr_matrix(
        (arrays[f"{name}_data"], arrays[f"{name}_indices"], arrays[f"{name}_indptr"]), shape=shape
    ).tocsc()
    rows = []
    for j in range(shape[1]):
        lo, hi = m.indptr[j], m.indptr[j + 1]
        row = {int(t): float(v) for t, v in zip(m.indices[lo:hi], m.data[lo:hi])}
        rows.append(row or {shape[0]: 1.0})
    return rows


@dataclass(frozen=True)
class MilvusIndex:
    """One published version: dense search in Milvus, the rest read into memory at load."""

    manifest: dict[str, Any]
    chunks: tuple[Chunk, ...]
    arrays: dict[str, np.ndarray]
    version: str
    collection: str
    client: Any = field(repr=False)
    blobs: dict[str, Any] = field(default_factory=dict, repr=False)
    dense_fields: tuple[str, ...] = ("e5",)
    approximate: bool = False

    def read_json(self, name: str) -> Any:
        return self.blobs.get(name)

    def _filter(self, allowed: np.ndarray | None) -> str | None:
        """A Milvus filter for the allowed rows ('' = all rows, None = no row allowed)."""
        if allowed is None:
            return ""
        rows = np.flatnonzero(allowed)
        if not len(rows):
            return None
        return "" if len(rows) == len(self.chunks) else f"row in [{','.join(map(str, rows.tolist()))}]"

    def _search(self, anns_field: str, data: Any, k: int, flt: str, params: dict[str, Any]) -> list[tuple[int, float]]:
        try:
            res = self.client.search(
                self.collection,
                data=[data],
                anns_field=anns_field,
                limit=k,
                filter=flt,
                search_params=params,
                output_fields=["row"],
            )
        except Exception as exc:
            raise StoreUnavailable(
                f"Milvus search in {self.collection!r} failed ({exc}); if a newer index was published "
                "twice since this one was loaded, its collections are gone: restart the app"
            ) from exc
        return [(int(h["entity"]["row"]), float(h["distance"])) for h in res[0]]

    def search(
        self, field: str, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[list[int], np.ndarray]:
        """Milvus' inner-product top k on `field`; exact (FLAT) unless the collection is larger
        than the ANN threshold, and exact over the allowed rows either way when filtered."""
        n = min(k, len(self.chunks))
        flt = self._filter(allowed)
        if field not in self.dense_fields or n <= 0 or flt is None:
            return [], np.zeros(0, np.float32)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.approximate:
            params["params"] = {"ef": max(HNSW_EF_SEARCH, n)}
        hits = self._search(field, np.asarray(query, np.float32).tolist(), n, flt, params)
        return [r for r, _ in hits], np.asarray([s for _, s in hits], np.float32)

    def keyword_search(self, text: str, k: int, allowed: np.ndarray | None = None) -> list[int]:
        """Rows by Milvus' own BM25 over its jieba analysis of section + text (for comparison
        with the project's BM25, which ranks: see the README)."""
        flt = self._filter(allowed)
        if not text.strip() or flt is None:
            return []
        return [
            r for r, _ in self._search("keywords_bm25", text, min(k, len(self.chunks)), flt, {"metric_type": "BM25"})
        ]


@dataclass(frozen=True)
class MilvusStore:
    """The `Store` in one Milvus database, published under one alias."""

    client: Any
    uri: str
    alias: str

    @classmethod
    def connect(cls, settings: Settings) -> MilvusStore:
        uri = settings.milvus_uri or str(settings.index_dir / "milvus.db")
        return cls(_client(uri, settings.milvus_token), uri, settings.milvus_collection)

    @property
    def where(self) -> str:
        return f"{self.uri} (alias {self.alias})"

    # ------------------------------------------------------------------ reading

    def _collection(self) -> str | None:
        """The collection the alias names, or None before the first publish. Listing first:
        describing a missing alias makes pymilvus log a traceback."""
        try:
            if self.alias not in self.client.list_aliases().get("aliases", []):
                return None
            return str(self.client.describe_alias(self.alias)["collection_name"])
        except Exception as exc:
            raise StoreUnavailable(f"cannot read Milvus at QA_MILVUS_URI={self.uri!r}: {exc}") from exc

    def current_version(self) -> str | None:
        name = self._collection()
        return name[len(self.alias) + 1 :] if name else None

    def _blob(self, meta: str, name: str, count: int | None = None) -> bytes:
        """One blob, its parts read a page at a time: the sentence vectors of a large collection
        are hundreds of MB, more than one gRPC message holds. `count`, the number of parts the
        layout recorded, makes a lost part, the last one too, a damaged index; without it (the
        layout and the manifest themselves, a few parts each) the parts present are counted."""
        flt = f"name == {json.dumps(name)}"
        if count is None:
            count = len(self.client.query(meta, filter=flt, output_fields=["part"], limit=16_384))
        if not count:
            raise KeyError(name)
        parts: list[dict[str, Any]] = []
        for lo in range(0, count, BLOB_PAGE):
            parts.extend(
                self.client.query(
                    meta,
                    filter=f"{flt} and part >= {lo} and part < {lo + BLOB_PAGE}",
                    output_fields=["part", "data"],
                    limit=BLOB_PAGE,
                )
            )
        parts.sort(key=lambda r: r["part"])
        if [r["part"] for r in parts] != list(range(count)):
            raise IndexUnreadable(f"blob {name!r} in {meta!r} has missing parts")
        return _unpack([r["data"] for r in parts])

    def _paged(self, collection: str, fields: list[str], total: int, key: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for lo in range(0, total, QUERY_PAGE):
            hi = min(total, lo + QUERY_PAGE)
            out.extend(
                self.client.query(
                    collection, filter=f"{key} >= {lo} and {key} < {hi}", output_fields=fields, limit=hi - lo
                )
            )
        out.sort(key=lambda r: r[key])
        if [r[key] for r in out] != list(range(total)):
            raise IndexUnreadable(f"Milvus collection {collection!r} holds {len(out)} of {total} rows")
        return out

    def read_manifest(self) -> dict[str, Any] | None:
        name = self._collection()
        if name is None:
            return None
        try:
            self.client.load_collection(f"{name}_m")
            return json.loads(self._blob(f"{name}_m", "json:manifest"))
        except Exception as exc:
            log.warning("cannot read the manifest of %s: %s", name, exc)
            return None

    def load(self) -> MilvusIndex:
        name = self._collection()
        if name is None:
            raise IndexUnreadable(f"no index in Milvus at {self.where}")
        t0 = time.perf_counter()
        try:
            for c in (name, f"{name}_m"):
                self.client.load_collection(c)
            meta = f"{name}_m"
            layout = json.loads(self._blob(meta, "json:layout"))
            if "parts" not in layout:  # written before arrays were blobs with counted parts: rebuild
                raise IndexUnreadable(f"index {name} in Milvus has an older layout")
            blobs: dict[str, Any] = {}
            arrays: dict[str, np.ndarray] = {}
            for blob, count in layout["parts"].items():
                kind, _, key = blob.partition(":")
                raw = self._blob(meta, blob, count)
                if kind == "json":
                    blobs[key] = json.loads(raw)
                else:
                    arrays[key] = np.load(io.BytesIO(raw), allow_pickle=False)
            manifest = blobs.pop("manifest")
            fields = ["row", "chunk_id", "doc", "title", "section", "heading", "start", "end", "page", "text"]
            rows = self._paged(name, fields, int(manifest["chunks"]), "row")
            chunks = tuple(
                Chunk(
                    r["chunk_id"],
                    r["doc"],
                    r["title"],
                    r["section"],
                    r["start"],
                    r["end"],
                    r["text"],
                    r["page"],
                    r["heading"],
                )
                for r in rows
            )
        except (IndexUnreadable, StoreUnavailable):
            raise
        except Exception as exc:
            raise IndexUnreadable(f"index {name} in Milvus at {self.uri} is damaged: {exc}") from exc
        log.info("loaded %s from Milvus: %d chunks in %.1f s", name, len(chunks), time.perf_counter() - t0)
        return MilvusIndex(
            manifest,
            chunks,
            arrays,
            name[len(self.alias) + 1 :],
            name,
            self.client,
            blobs,
            tuple(layout["dense"]),
            bool(layout["approximate"]),
        )

    # ------------------------------------------------------------------ writing

    def _create(self, name: str, schema: Any, index: Any) -> None:
        self.client.create_collection(name, schema=schema)
        # Not waited for here: pymilvus polls every index at 0.5 s a time (and asks milvus-lite
        # for a timestamp it does not implement); loading the collection waits for them.
        self.client.create_index(name, index, sync=False)

    def _insert(self, name: str, rows: list[dict[str, Any]]) -> None:
        for i in range(0, len(rows), INSERT_BATCH):
            self.client.insert(name, rows[i : i + INSERT_BATCH])
        self.client.flush(name)
        self.client.load_collection(name)

    def _dense_index(self, index: Any, field_name: str, approximate: bool) -> None:
        if approximate:
            params = {"M": HNSW_NEIGHBOURS, "efConstruction": HNSW_EF_CONSTRUCTION}
            index.add_index(field_name, index_type="HNSW", metric_type="IP", params=params)
        else:  # exact, as FAISS' flat index below the threshold
            index.add_index(field_name, index_type="FLAT", metric_type="IP")

    def _write_chunks(
        self, name: str, chunks: list[Chunk], vectors: np.ndarray, arrays: dict[str, np.ndarray], approximate: bool
    ) -> tuple[list[str], list[str]]:
        c = self.client
        schema = c.create_schema(auto_id=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("chunk_id", DataType.VARCHAR, max_length=512)
        for f in ("doc", "title", "section", "heading", "text"):
            schema.add_field(f, DataType.VARCHAR, max_length=MAX_TEXT)
        for f in ("start", "end", "page"):
            schema.add_field(f, DataType.INT64)
        # Milvus' own full-text search: jieba (the only Chinese tokenizer milvus-lite has).
        schema.add_field(
            "keywords",
            DataType.VARCHAR,
            max_length=MAX_TEXT,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "jieba"},
        )
        schema.add_field("keywords_bm25", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="keywords_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["keywords"],
                output_field_names=["keywords_bm25"],
            )
        )
        index = c.prepare_index_params()
        index.add_index("keywords_bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        dense = {"e5": np.asarray(vectors, np.float32)}
        if "x_vectors" in arrays:
            dense["x"] = np.asarray(arrays["x_vectors"], np.float32)
        for f, vecs in dense.items():
            schema.add_field(f, DataType.FLOAT_VECTOR, dim=int(vecs.shape[1]))
            self._dense_index(index, f, approximate)
        sparse_rows = {f: rows for f in SPARSE_FIELDS if (rows := _sparse_rows(arrays, f)) is not None}
        for f in sparse_rows:
            schema.add_field(f, DataType.SPARSE_FLOAT_VECTOR)
            index.add_index(f, index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self._create(name, schema, index)
        rows = []
        for i, ch in enumerate(chunks):
            row: dict[str, Any] = {
                "row": i,
                "chunk_id": ch.chunk_id,
                "doc": ch.doc_id,
                "title": ch.title,
                "section": ch.section,
                "heading": ch.heading,
                "text": ch.text,
                "start": ch.start,
                "end": ch.end,
                "page": ch.page,
                "keywords": embed_text(ch),
            }
            for f, vecs in dense.items():
                row[f] = vecs[i].tolist()
            for f, srows in sparse_rows.items():
                row[f] = srows[i]
            rows.append(row)
        self._insert(name, rows)
        return list(dense), list(sparse_rows)

    def _write_meta(self, name: str, blobs: dict[str, list[str]]) -> None:
        """Each blob's parts (`_pack`) as rows of a new collection."""
        c = self.client
        schema = c.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=600)
        schema.add_field("name", DataType.VARCHAR, max_length=512)
        schema.add_field("part", DataType.INT64)
        schema.add_field("data", DataType.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus requires a vector field
        index = c.prepare_index_params()
        index.add_index("unused", index_type="FLAT", metric_type="IP")
        self._create(name, schema, index)
        rows = [
            {"key": f"{blob}#{i:05d}", "name": blob, "part": i, "data": part, "unused": [1.0, 0.0]}
            for blob, parts in blobs.items()
            for i, part in enumerate(parts)
        ]
        self._insert(name, rows)

    def save(
        self,
        manifest: dict[str, Any],
        chunks: list[Chunk],
        vectors: np.ndarray,
        arrays: dict[str, np.ndarray] | None = None,
        blobs: dict[str, Any] | None = None,
        ann_threshold: int = ANN_THRESHOLD,
    ) -> str:
        """Write a complete new version into new collections, then switch the alias to it."""
        from qa.store import FORMAT_VERSION

        arrays = dict(arrays or {})
        version = f"{VERSION_PREFIX}{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:6]}"
        name = f"{self.alias}_{version}"
        approximate = len(chunks) > ann_threshold
        t0 = time.perf_counter()
        try:
            dense, sparse_fields = self._write_chunks(name, chunks, vectors, arrays, approximate)
            arrays.setdefault("sentence_spans", np.zeros((0, 3), np.int64))
            arrays.setdefault("sentence_vectors", np.zeros((0, vectors.shape[1]), np.float16))
            full = {**manifest, "format": FORMAT_VERSION, "chunks": len(chunks), "arrays": sorted(arrays)}
            meta: dict[str, bytes] = {"json:manifest": json.dumps(full, ensure_ascii=False).encode("utf-8")}
            for key, obj in (blobs or {}).items():
                meta[f"json:{key}"] = json.dumps(obj, ensure_ascii=False).encode("utf-8")
            for key, arr in arrays.items():
                if key not in AS_FIELDS:
                    meta[f"npy:{key}"] = _npy(arr)
            packed = {key: _pack(data) for key, data in meta.items()}
            layout = {
                "dense": dense,
                "sparse": sparse_fields,
                "approximate": approximate,
                "parts": {key: len(parts) for key, parts in packed.items()},
            }
            packed["json:layout"] = _pack(json.dumps(layout).encode("utf-8"))
            self._write_meta(f"{name}_m", packed)
        except BaseException:
            self._drop([name, f"{name}_m"])  # a killed process leaves them to _prune
            raise
        previous = self._collection()
        if previous is None:
            self.client.create_alias(name, self.alias)
        else:
            self.client.alter_alias(name, self.alias)  # the switch: one step, readers see old or new
        log.info("published %s in %.1f s (%d chunks)", name, time.perf_counter() - t0, len(chunks))
        self._prune(keep={name, previous} - {None})
        return version

    def _drop(self, names: list[str]) -> None:
        for n in names:
            try:
                if self.client.has_collection(n):
                    self.client.drop_collection(n)
            except Exception as exc:  # cleanup only: the next publish tries again
                log.warning("could not drop %s: %s", n, exc)

    def _prune(self, keep: set[str | None]) -> None:
        """Drop versions other than the current and the previous one, and abandoned builds."""
        prefix = f"{self.alias}_{VERSION_PREFIX}"
        stale = []
        for n in self.client.list_collections():
            base = n[:-2] if n.endswith(("_s", "_m")) else n  # _s: sentences of older versions
            if n.startswith(prefix) and base not in keep:
                stale.append(n)
        self._drop(stale)
