"""The Milvus store against the real milvus-lite (never a mock): the seed page indexed with the
real models answers as the FAISS store does, in Chinese and English; a changed document is
re-indexed by text hash; a build killed mid-way leaves the alias serving the old collection.

The real models and the embedding cache come from the session's FAISS engine (`real_engine`):
the Milvus builds embed only what that build has not (a new small document), so this file
costs little beyond milvus-lite itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import PAGE
from fakes import HashingEmbedder

from qa import store, store_milvus
from qa.engine import Engine
from qa.indexer import open_or_build
from qa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# Questions about the seed page in both languages (from eval/questions.jsonl), and one that the
# page does not answer.
QUESTIONS = [
    "湖南自贸区总共有多大？",
    "岳阳片区主要发展什么经济？",
    "郴州片区的特色是什么？",
    "是谁把开放型经济比喻成谈恋爱的？",
    "How large is the Hunan Free Trade Zone?",
    "What are Yueyang's priorities?",
    "What type of economy will the Changsha area emphasise?",
    "火星基地什么时候建成？",
]


def _milvus(settings: Settings, uri: Path, **changes: object) -> Settings:
    return replace(settings, vector_store="milvus", milvus_uri=str(uri), **changes)


def _engine(real_engine: Engine, settings: Settings) -> Engine:
    return Engine(settings, real_engine.embedder, real_engine.second, latent=real_engine.latent)


@pytest.fixture(scope="module")
def milvus_engine(real_engine, tmp_path_factory):
    """The seed page in milvus-lite; the same index folder, so the FAISS build's embedding cache."""
    uri = tmp_path_factory.mktemp("milvus") / "seed.db"
    engine = _engine(real_engine, _milvus(real_engine.settings, uri))
    assert engine.report.rebuilt and engine.report.embedded == 0  # every vector from the cache
    yield engine
    store_milvus.close(str(uri))


def _shape(answer):
    return answer.text, answer.outcome, [p.chunk.chunk_id for p in answer.passages]


@pytest.mark.parametrize("question", QUESTIONS)
def test_milvus_answers_as_the_faiss_store_does(real_engine, milvus_engine, question):
    local, shared = real_engine.ask(question), milvus_engine.ask(question)
    assert _shape(shared) == _shape(local)
    assert [c.chunk.chunk_id for c in shared.citations] == [c.chunk.chunk_id for c in local.citations]


def test_the_milvus_index_holds_what_the_local_one_does(real_engine, milvus_engine):
    import numpy as np

    local, shared = real_engine.stored, milvus_engine.stored
    assert shared.chunks == local.chunks
    assert shared.manifest["corpus"] == local.manifest["corpus"]
    for name in ("sentence_spans", "sentence_vectors", "bm25_data", "bm25_indices", "latent_data", "latent_indices"):
        assert np.array_equal(np.asarray(shared.arrays[name]), np.asarray(local.arrays[name])), name
    # Milvus' own BM25 (jieba analyzer + BM25 function) is there and finds the page's words.
    rows = shared.keyword_search("岳阳 临港经济", 3)
    assert rows and "岳阳" in shared.chunks[rows[0]].text


def test_a_changed_document_is_reindexed_by_text_hash(real_engine, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(PAGE, corpus / PAGE.name)
    doc = corpus / "notice.txt"
    doc.write_text("# 通知\n\n株洲片区的服务窗口设在天元区神农大道一号，每周二下午办理备案。\n", "utf-8")
    uri = tmp_path / "refresh.db"
    settings = _milvus(real_engine.settings, uri, corpus_dir=corpus, milvus_collection="refresh")
    engine = _engine(real_engine, settings)
    try:
        assert engine.report.embedded == 1  # the page's chunks are cached: only the notice is new
        first = engine.ask("株洲片区的服务窗口设在哪里？")
        assert "神农大道" in first.text
        # Limited to one document: Milvus searches only its rows (a filter on the row ids).
        only = engine.ask("自贸区的发展重点是什么？", docs="notice.txt")
        assert only.passages and {p.chunk.doc_id for p in only.passages} == {"notice.txt"}
        old_version = engine.stored.version

        doc.write_text("# 通知\n\n株洲片区的服务窗口已迁至芦淞区建设南路八号，每周四上午办理备案。\n", "utf-8")
        report = engine.refresh()
        assert report.rebuilt and report.changes["changed"] == ("notice.txt",) and report.embedded == 1
        assert engine.stored.version != old_version
        texts = "".join(c.text for c in engine.stored.chunks)
        assert "建设南路" in texts and "神农大道" not in texts
        assert "建设南路" in engine.ask("株洲片区的服务窗口设在哪里？").text
        # The alias names the new version; the one before is kept for replicas still on it.
        names = engine.stored.client.list_collections()
        versions = {n for n in names if not n.endswith(("_s", "_m"))}
        assert versions == {f"refresh_{old_version}", engine.stored.collection}
    finally:
        store_milvus.close(str(uri))


# Builds the index with the hashing fake into the milvus-lite file, and stops for good once the
# new version's collections are written (before the alias switch), so the kill lands mid-build.
SLOW_BUILD = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from fakes import HashingEmbedder
from qa import store_milvus
from qa.indexer import build
from qa.settings import Settings

real = store_milvus.MilvusStore._write_meta
def slow(self, *a, **k):
    real(self, *a, **k)
    print("writing", flush=True)
    time.sleep(60)
store_milvus.MilvusStore._write_meta = slow
build(Settings.from_env(embed_model="fake", crosslingual_model="", latent_terms=""), HashingEmbedder())
"""


def test_a_build_killed_mid_way_leaves_the_alias_serving_the_old_collection(settings, tmp_path):
    uri = tmp_path / "kill.db"
    s = _milvus(settings, uri)
    before, _ = open_or_build(s, HashingEmbedder())
    store_milvus.close(str(uri))  # milvus-lite: one process at a time on a file

    (settings.corpus_dir / "c.txt").write_text("新增的文件内容。", "utf-8")
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(settings.corpus_dir),
        "QA_INDEX_DIR": str(settings.index_dir),
        "QA_VECTOR_STORE": "milvus",
        "QA_MILVUS_URI": str(uri),
    }
    script = SLOW_BUILD.format(root=str(ROOT), tests=str(ROOT / "tests"))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.kill()
        proc.wait()

    backend = store.open_store(s)
    abandoned = [n for n in backend.client.list_collections() if before.version not in n]
    assert abandoned  # the killed build's collections exist, but the alias never moved
    serving = backend.load()
    assert serving.version == before.version and serving.chunks == before.chunks
    assert all(c.doc_id != "c.txt" for c in serving.chunks)

    # The next build publishes the new document and drops the abandoned collections.
    stored, report = open_or_build(s, HashingEmbedder())
    assert report.rebuilt and any(c.doc_id == "c.txt" for c in stored.chunks)
    left = set(backend.client.list_collections())
    assert not left & set(abandoned)
    store_milvus.close(str(uri))


def test_arrays_longer_than_a_query_page_read_back_whole_and_a_lost_part_means_a_rebuild(
    settings, tmp_path, monkeypatch
):
    """Arrays are blobs cut into parts and read a page of parts at a time (the whole laws
    collection's sentence vectors are ~190 MB, more than one gRPC message). Here parts are tiny,
    so every array spans many pages."""
    import numpy as np

    monkeypatch.setattr(store_milvus, "BLOB_PART", 16)
    monkeypatch.setattr(store_milvus, "BLOB_PAGE", 2)
    local, _ = open_or_build(settings, HashingEmbedder())  # the FAISS store, same fake vectors
    uri = tmp_path / "pages.db"
    s = _milvus(settings, uri)
    try:
        shared, _ = open_or_build(s, HashingEmbedder())
        meta = f"{shared.collection}_m"
        parts = shared.client.query(meta, filter='name == "npy:sentence_vectors"', output_fields=["part"])
        assert len(parts) > 3 * store_milvus.BLOB_PAGE  # several pages
        assert shared.chunks == local.chunks
        for name in ("sentence_spans", "sentence_vectors", "bm25_data", "bm25_indices", "bm25_indptr"):
            assert np.array_equal(np.asarray(shared.arrays[name]), np.asarray(local.arrays[name])), name

        # A lost part, the last one too: the index is damaged, not silently short; the next open
        # rebuilds it.
        last = len(parts) - 1
        shared.client.delete(meta, filter=f'name == "npy:sentence_vectors" and part == {last}')
        with pytest.raises(store.IndexUnreadable, match="missing parts"):
            store.open_store(s).load()
        again, report = open_or_build(s, HashingEmbedder())
        assert report.rebuilt and again.version != shared.version
        vectors = np.asarray(again.arrays["sentence_vectors"])
        assert np.array_equal(vectors, np.asarray(local.arrays["sentence_vectors"]))
    finally:
        store_milvus.close(str(uri))


def test_an_unreachable_milvus_is_a_clear_error(settings):
    with pytest.raises(store.StoreUnavailable, match="QA_MILVUS_URI='http://127.0.0.1:1'"):
        store.open_store(replace(settings, vector_store="milvus", milvus_uri="http://127.0.0.1:1"))
    with pytest.raises(ValueError, match="QA_VECTOR_STORE"):
        Settings.from_env({"QA_VECTOR_STORE": "qdrant"})
