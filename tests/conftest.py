from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fakes import HashingEmbedder  # noqa: E402

from qa import store  # noqa: E402
from qa.settings import Settings  # noqa: E402

PAGE = ROOT / "corpus" / "hunan-ftz-zhuzhou.txt"
SEED_INDEX = ROOT / "index"


def reuse_seed_vectors(index_dir: Path, source: Path = SEED_INDEX) -> None:
    """Hard-link the embeddings the repository's own index holds (`make test` builds it before
    pytest) into `index_dir`'s cache, so a test that builds an index over the seed page does not
    embed its 23 chunks with three models again (~10 s each time).

    Sound because the cache is keyed by everything that shapes a vector (the folder: models,
    libraries, recipe) and by a hash of each embedded text (the record): these are the vectors of
    the same text by the same models, exactly what the build would compute. For tests about
    serving, not embedding: never where a test counts what was embedded or reused. Safe for the
    source: a cache writes new batch files and unlinks old ones, never writes into one
    (tests/test_seed_vectors.py). Without the repository's index it does nothing: slower, not wrong."""
    store.link_cache(source, index_dir)


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "# 测试文件\n\n岳阳突出临港经济，打造长江中游综合性航运物流中心。\n\n长沙片区突出临空经济。\n", "utf-8"
    )
    (corpus / "b.md").write_text("# Notes\n\nZhuzhou links up with the free trade zone in four ways.\n", "utf-8")
    return corpus


@pytest.fixture
def settings(tmp_path: Path, small_corpus: Path) -> Settings:
    return Settings(
        corpus_dir=small_corpus,
        index_dir=tmp_path / "index",
        cache_dir=ROOT / ".cache",
        data_dir=tmp_path / "data",
        embed_model="fake",
        crosslingual_model="",
        latent_terms="",
    )


@pytest.fixture(scope="session")
def real_engine(tmp_path_factory: pytest.TempPathFactory):
    """The real model and a real FAISS index on disk, built from the real corpus (once per run)."""
    from qa.engine import Engine

    s = Settings.from_env(index_dir=tmp_path_factory.mktemp("real-index"), data_dir=tmp_path_factory.mktemp("data"))
    reuse_seed_vectors(s.index_dir)  # the tests read answers, not what was embedded
    return Engine(s)
