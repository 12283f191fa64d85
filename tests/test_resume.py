"""A build killed at any moment resumes: work done is kept in the index's cache as it is done,
the previous index keeps serving meanwhile, and the rerun embeds only what was left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from fakes import CountingPassages, HashingEmbedder

from qa import store
from qa.indexer import BATCH, cache_key, open_or_build

ROOT = Path(__file__).resolve().parent.parent

# Builds the index of QA_CORPUS_DIR with the hashing fake, slowed down so a kill lands mid-way.
SLOW_BUILD = """
import sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from fakes import HashingEmbedder
from qa.indexer import open_or_build
from qa.settings import Settings

class Slow(HashingEmbedder):
    def encode_passages(self, texts, spans):
        time.sleep(0.02 * len(texts))
        return super().encode_passages(texts, spans)

s = Settings.from_env(embed_model="fake", crosslingual_model="", latent_terms="")
open_or_build(s, Slow())
"""


def test_a_build_killed_half_way_resumes_embedding_only_what_was_left(settings, tmp_path):
    before, _ = open_or_build(settings, HashingEmbedder())  # the index that must keep serving
    for i in range(160):
        text = f"# 文件{i}\n\n第{i}号文件讲述园区第{i}项政策。\n"
        (settings.corpus_dir / f"doc{i:03d}.txt").write_text(text, "utf-8")
    env = {**os.environ, "QA_CORPUS_DIR": str(settings.corpus_dir), "QA_INDEX_DIR": str(settings.index_dir)}
    script = SLOW_BUILD.format(root=str(ROOT), tests=str(ROOT / "tests"))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    cache_dir = settings.index_dir / "cache" / cache_key(settings, HashingEmbedder().dim)
    deadline = time.monotonic() + 120
    while len(list(cache_dir.glob("b-*.npz"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the build finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # Killed mid-way: the previous index still serves, whole.
    serving = store.load(settings.index_dir)
    assert serving.version == before.version and len(serving.chunks) == len(before.chunks)
    cached = len(store.VectorCache(settings.index_dir, cache_key(settings, HashingEmbedder().dim)))
    total = 160 + len(before.chunks)
    assert BATCH <= cached < total  # some batches done, not all

    counting = CountingPassages(HashingEmbedder())
    resumed, report = open_or_build(settings, counting)
    # The rerun embeds exactly what no finished batch held, and nothing it already had.
    assert len(counting.seen) == report.embedded == total - cached
    assert report.reused == cached and len(resumed.chunks) == total
    fresh, _ = open_or_build(settings, HashingEmbedder(), force=True)
    assert np.allclose(np.asarray(fresh.vectors), np.asarray(resumed.vectors), atol=1e-6)
    assert [c.chunk_id for c in fresh.chunks] == [c.chunk_id for c in resumed.chunks]


def test_a_damaged_cache_file_is_recomputed_not_served(settings):
    open_or_build(settings, HashingEmbedder())
    key = cache_key(settings, HashingEmbedder().dim)
    files = list((settings.index_dir / "cache" / key).glob("b-*.npz"))
    assert files
    files[0].write_bytes(b"not a zip file")
    counting = CountingPassages(HashingEmbedder())
    _, report = open_or_build(settings, counting, force=True)
    assert counting.seen and report.embedded == len(counting.seen)
