"""conftest's `reuse_seed_vectors` lends a test's index the repository's embedding cache by hard
links. The vectors are used as if embedded there, and whatever that index's builds then do to
their own cache (drop another model's folder, compact, unlink old batch files), the lending
cache keeps every file, byte for byte. Fake embedder, small corpus: fast."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

from conftest import reuse_seed_vectors
from fakes import CountingPassages

from qa.indexer import cache_key, open_or_build


def batches(cache: Path) -> dict[Path, tuple[int, str]]:
    """Each batch file under `cache`: its inode and a hash of its bytes."""
    return {
        p.relative_to(cache): (p.stat().st_ino, hashlib.sha1(p.read_bytes()).hexdigest())
        for p in sorted(cache.rglob("b-*.npz"))
    }


def test_lent_vectors_are_reused_and_the_lending_cache_is_left_untouched(settings, fake_embedder, tmp_path):
    lender = replace(settings, index_dir=tmp_path / "lender")
    open_or_build(lender, fake_embedder)
    cache = lender.index_dir / "cache"
    key = cache_key(settings, fake_embedder.dim)
    shutil.copytree(cache / key, cache / "another-model")  # a build drops other models' folders
    before = batches(cache)
    assert len(before) == 2

    reuse_seed_vectors(settings.index_dir, lender.index_dir)
    reuse_seed_vectors(settings.index_dir, lender.index_dir)  # again, as a second start does: no error
    lent = settings.index_dir / "cache"
    assert batches(lent) == before  # the same inodes: links, not copies
    counting = CountingPassages(fake_embedder)
    stored, report = open_or_build(settings, counting)
    assert report.embedded == 0 == len(counting.seen) and report.reused == len(stored.chunks) > 0
    assert not (lent / "another-model").exists()

    # Every document replaced: the old vectors are most of the cache, which is rewritten.
    for path in settings.corpus_dir.iterdir():
        path.unlink()
    (settings.corpus_dir / "c.txt").write_text("# 新文件\n\n星河市图书馆每周一闭馆。\n", "utf-8")
    _, report = open_or_build(settings, fake_embedder)
    assert report.rebuilt and report.embedded == 1
    assert not set(batches(lent)) & set(before)  # the lent files are gone from the borrower

    assert batches(cache) == before  # and the lender still has every one, unchanged
    assert all(p.stat().st_nlink == 1 for p in cache.rglob("b-*.npz"))
