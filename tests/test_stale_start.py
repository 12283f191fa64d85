"""An index that is only out of date keeps answering while its successor is built (issue 12, 9).

Before: the app rebuilt before serving anything, so after a crash mid-refresh (or any change to
the corpus while it was down) it answered nothing until the build ended (127 s measured).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_ui import UNIQUE, ask, cited, running_app, wait_until_indexed

from qa import store
from qa.engine import Engine
from qa.indexer import open_stale
from qa.settings import Settings

OLD = "# 临港经济\n\n岳阳突出临港经济，打造长江中游综合性航运物流中心。\n\n长沙片区突出临空经济。\n"


def test_an_out_of_date_index_is_served_at_once_and_the_refresh_brings_the_new_document(
    settings: Settings, fake_embedder
) -> None:
    Engine(settings, embedder=fake_embedder)  # the index of a.txt and b.md
    (settings.corpus_dir / "c.txt").write_text("# 新文件\n\n星河市图书馆每周一闭馆。\n", "utf-8")
    engine = Engine(settings, embedder=fake_embedder, serve_stale=True)
    assert engine.stale == "corpus changed"
    assert engine.status()["stale"] == "corpus changed"
    assert {c.doc_id for c in engine.stored.chunks} == {"a.txt", "b.md"}  # the previous index, as it was
    assert engine.ask("岳阳突出什么经济？").passages[0].chunk.doc_id == "a.txt"  # and it is searched
    report = engine.refresh()
    assert report.rebuilt and engine.stale == ""
    assert "c.txt" in {c.doc_id for c in engine.stored.chunks}


def test_an_index_of_another_model_is_never_served_meanwhile(settings: Settings, fake_embedder) -> None:
    Engine(settings, embedder=fake_embedder)
    other = replace(settings, chunk_max=settings.chunk_max + 50)  # other chunks: the old rows do not fit
    assert open_stale(other) is None
    engine = Engine(other, embedder=fake_embedder, serve_stale=True)
    assert engine.stale == "" and engine.report.rebuilt


def test_a_current_or_missing_index_is_not_stale(settings: Settings, fake_embedder) -> None:
    assert open_stale(settings) is None  # nothing built yet: the caller must build
    Engine(settings, embedder=fake_embedder)
    assert open_stale(settings) is None  # current: served as it is
    assert store.current_version(settings.index_dir)


@pytest.mark.slow
def test_the_app_answers_from_the_previous_index_while_it_rebuilds_at_start(tmp_path: Path, real_engine) -> None:
    """The real app: its index built over one document, a document added while it was down,
    started: it serves at once from the previous index, then picks the new one up."""
    # The app's first life, its index over old.txt, is built here by the models the test run
    # has loaded already (the app's settings, the same models: the same index it would build).
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "old.txt").write_text(OLD, "utf-8")
    first = Settings.from_env(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", data_dir=tmp_path / "data")
    Engine(first, embedder=real_engine.embedder, second=real_engine.second, latent=real_engine.latent)
    (tmp_path / "corpus" / "xinghe-library.txt").write_bytes(UNIQUE)
    from gradio_client import Client

    with running_app(tmp_path, documents={"old.txt": OLD}) as app:
        client = Client(app.url, verbose=False)
        assert "serving the previous index while it is rebuilt" in app.log.read_text("utf-8")
        rec = ask(client, "岳阳要打造什么中心？")
        assert rec["outcome"] != "not_found" and any(s["doc"] == "old.txt" for s in cited(rec)), rec["answer"]
        assert "航运物流中心" in rec["answer"]
        assert not wait_until_indexed(client, "xinghe-library.txt")["last_error"]
        rec = ask(client, "星河市图书馆的开放时间是什么？")
        assert rec["outcome"] == "answered" and any(s["doc"] == "xinghe-library.txt" for s in cited(rec))
