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

from qa.settings import Settings  # noqa: E402

PAGE = ROOT / "corpus" / "hunan-ftz-zhuzhou.txt"


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
    return Engine(s)
