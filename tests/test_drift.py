"""Answers about one document do not drift because an unrelated one was added (issue 12, 10).

Seen before: after an unrelated upload, 那郴州呢？ (after 岳阳片区的重点是什么？) began quoting
Changsha's 临空经济 sentence. The real model and real indexes on disk: the seed page alone, and
the seed page with a library notice and a regulation beside it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import reuse_seed_vectors

from qa.chat import Turn
from qa.engine import Engine
from qa.settings import ROOT, Settings

LIBRARY = (
    "# 星河市图书馆开放时间\n\n星河市图书馆每周二至周日开放，开放时间为上午九点至晚上八点，每周一闭馆。\n\n"
    "读者凭身份证可免费办理借书证，每人最多可借十本图书，借期三十天。\n"
)
REGULATION = "# 星河市物业管理条例\n\n" + "".join(
    f"第{n}条 物业服务企业应当按照物业服务合同的约定，提供{item}服务，并公示收费标准和服务内容。\n\n"
    for n, item in zip("一二三四五六七八", ("保洁", "绿化", "秩序维护", "设施设备维修", "电梯", "消防", "停车", "装修"))
)
CONVERSATIONS = [
    [Turn("user", "岳阳片区的重点是什么？"), Turn("assistant", "岳阳突出临港经济。"), Turn("user", "那郴州呢？")],
    [Turn("user", "长沙片区的重点是什么？")],
    [Turn("user", "株洲有哪些外贸平台？")],
    [Turn("user", "What are Yueyang's priorities?")],
    [Turn("user", "湖南自贸区的实施范围有多大？")],
]


@pytest.mark.slow
def test_answers_about_the_seed_page_stay_the_same_when_unrelated_documents_are_added(tmp_path: Path) -> None:
    alone, more = tmp_path / "alone", tmp_path / "more"
    for corpus in (alone, more):
        corpus.mkdir()
        shutil.copy(ROOT / "corpus" / "hunan-ftz-zhuzhou.txt", corpus)
    (more / "library.txt").write_text(LIBRARY, "utf-8")
    (more / "regulation.md").write_text(REGULATION, "utf-8")
    reuse_seed_vectors(tmp_path / "i-alone")  # what drifts or not is answers, not vectors
    first = Engine(Settings.from_env(corpus_dir=alone, index_dir=tmp_path / "i-alone", data_dir=tmp_path / "d"))
    # The seed page's vectors come from the first build's cache: only the new documents are embedded.
    shutil.copytree(tmp_path / "i-alone" / "cache", tmp_path / "i-more" / "cache")
    # The same models, so the only difference is the collection.
    second = Engine(
        Settings.from_env(corpus_dir=more, index_dir=tmp_path / "i-more", data_dir=tmp_path / "d"),
        embedder=first.embedder,
        second=first.second,
        latent=first.latent,
    )
    assert len(second.stored.chunks) > len(first.stored.chunks)
    for turns in CONVERSATIONS:
        a, b = first.ask(turns=turns), second.ask(turns=turns)
        assert (b.outcome, b.text) == (a.outcome, a.text), turns[-1].content
        assert all(c.chunk.doc_id == "hunan-ftz-zhuzhou.txt" for c in b.citations)
