"""A collection of many documents: questions limited to some of them, citations that tell
documents (and their sections) apart, and the staff's document list and removal.

The slow tests launch the app (real model) on a three-document collection — two versions of one
law, which share a title, and a newspaper page in a folder — and drive it through gradio_client,
as tests/test_ui.py does; removal runs last because it changes the collection. The fast tests
drive the handlers in-process with a stub engine, and the citation labels with plain records.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ui import PASSWORD, RunningApp, running_app, text_of

LAW = "星河市公园管理条例"
OLD_LAW = (
    f"# {LAW}\n\n## 第一章 总则\n\n"
    "第一条 为了加强公园管理，保护公园环境，根据有关法律法规，制定本条例。\n\n"
    "第二条 本市行政区域内公园的规划、建设、保护和管理，适用本条例。\n\n"
    "## 第二章 游园管理\n\n"
    "第三条 公园每日开放时间为早上六点至晚上九点。\n\n"
    "第四条 游客不得在公园内焚烧落叶、燃放烟花爆竹。\n"
)
NEW_LAW = OLD_LAW.replace("早上六点至晚上九点", "早上五点半至晚上十点").replace(
    "焚烧落叶、燃放烟花爆竹", "放风筝、钓鱼和燃放烟花爆竹"
)
PAPER = (
    "星河日报 2024年5月1日 第二版\n\n城市公园迎来游园高峰\n\n"
    "五一假期首日，星河市各公园游客众多。市园林局提醒，假期公园延长开放至晚上十一点，请游客文明游园，不要在园内钓鱼。\n"
)
# "公园条例.md" is part of "新公园条例.md": choosing the first must not search the second.
COLLECTION = {"公园条例.md": OLD_LAW, "新公园条例.md": NEW_LAW, "报纸/星河日报.txt": PAPER}
CHUNKS = {"公园条例.md": 2, "新公园条例.md": 2, "报纸/星河日报.txt": 1}
QUESTION = "公园的开放时间是什么？"
ROW = re.compile(r'<tr><td class="qa-doc-name">(.*?)</td><td>(.*?)</td><td class="qa-doc-chunks">(\d+)</td></tr>')


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("collection-app"), documents=COLLECTION) as a:
        yield a


@pytest.fixture(scope="module")
def client(app: RunningApp):
    from gradio_client import Client

    return Client(app.url, verbose=False)


def ask(client, question: str, docs: str | None = None) -> dict:
    args = (question, "[]") if docs is None else (question, "[]", docs)  # without: an older caller
    return client.predict(*args, api_name="/ask")


def chat(client, question: str, docs: str, lang: str = "zh") -> tuple[str, str, str]:
    """The finished chat turn: the last message's HTML, the sources panel, the question box."""
    history, panel, box = client.predict(question, [], lang, docs, api_name="/chat")
    return text_of(history[-1]), panel, box


def listed(html: str) -> dict[str, tuple[str, int]]:
    return {name: (title, int(n)) for name, title, n in ROW.findall(html)}


def staff_status(client) -> str:
    html, _timer = client.predict(PASSWORD, "zh", api_name="/staff_status")
    return html


# --- limiting a question to some documents --------------------------------------------------------


@pytest.mark.slow
def test_documents_pattern_limits_the_sources(client) -> None:
    everywhere = ask(client, QUESTION)
    assert len({s["doc"] for s in everywhere["sources"]}) >= 2, "without a limit several documents answer"
    for docs, expected in [
        ("报纸/*", {"报纸/星河日报.txt"}),  # a folder
        ("新公园", {"新公园条例.md"}),  # part of a file name
        ("*.md", {"公园条例.md", "新公园条例.md"}),  # a glob
        ("星河日报", {"报纸/星河日报.txt"}),  # part of a title
    ]:
        rec = ask(client, QUESTION, docs)
        assert rec["sources"] and {s["doc"] for s in rec["sources"]} <= expected, (docs, rec["sources"])
    rec = ask(client, QUESTION, "新公园")
    assert "晚上十点" in rec["answer"] and "晚上九点" not in rec["answer"]


@pytest.mark.slow
def test_a_pattern_matching_no_document_gets_a_message(client) -> None:
    assert ask(client, QUESTION, "民法典") == {"error": "没有文件名或标题与“民法典”相符的文档。"}
    # In the chat the message follows the interface language, and the question stays in the box.
    last, _panel, box = chat(client, QUESTION, "民法典", lang="en")
    assert 'No document has a file name or title matching "民法典".' in last and "All documents" in last
    assert box == QUESTION and "Traceback" not in last


@pytest.mark.slow
def test_a_document_chosen_from_the_menu_is_searched_alone(client) -> None:
    last, panel, _box = chat(client, QUESTION, "公园条例.md")
    assert "范围：公园条例.md" in last  # the answer says where it looked
    assert 'title="公园条例.md"' in panel and 'title="新公园条例.md"' not in panel
    assert "晚上九点" in last and "晚上十点" not in last


# --- citations --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_citations_name_the_file_when_titles_are_shared_and_the_section_path(client) -> None:
    rec = ask(client, QUESTION, "*.md")
    for s in rec["sources"]:
        assert s["title"] == LAW and s["title_shared"] is True
        assert s["label"] == f"{LAW} ({s['doc']}) › {s['section']}", s
    assert any(s["section"] == "第二章游园管理 › 第三条—第四条" for s in rec["sources"])
    [paper] = ask(client, QUESTION, "报纸/*")["sources"]
    assert paper["title_shared"] is False and paper["label"] == f"{paper['title']} › {paper['section']}"
    # The source cards say the same: title, the file name beside it, the section path under it.
    _last, panel, _box = chat(client, QUESTION, "*.md")
    card = re.search(r'<div class="qa-src".*?class="qa-back".*?</div>', panel, re.S)  # a card ends with "back"
    assert card and f'<span class="qa-doc">{LAW} <span class="qa-file">' in card.group()
    assert "第二章游园管理 › 第三条—第四条" in panel


# --- staff: the document list, uploads and removal ----------------------------------------------------


@pytest.mark.slow
def test_staff_list_shows_each_document_with_title_and_chunk_count(client) -> None:
    rows = listed(staff_status(client))
    assert {name: n for name, (_title, n) in rows.items()} == CHUNKS
    assert rows["公园条例.md"][0] == rows["新公园条例.md"][0] == LAW
    html, _timer = client.predict("wrong", "zh", api_name="/staff_status")
    assert "密码不正确" in html and not listed(html)


@pytest.mark.slow
def test_removing_needs_the_password(client, app: RunningApp) -> None:
    note, status = client.predict("wrong", "公园条例.md", "zh", api_name="/staff_remove")
    assert "密码不正确" in note and not listed(status)
    assert client.predict("", "公园条例.md", api_name="/remove") == {"ok": False, "error": "Wrong password."}
    assert (app.corpus / "公园条例.md").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("民法典.md", "文件库中没有“民法典.md”这个文件。"),
        ("../app.log", "文件库中没有“../app.log”这个文件。"),  # a file outside the collection
        ("", "请先选择要删除的文件。"),
    ],
)
@pytest.mark.slow
def test_removing_an_unknown_name_gets_a_message(client, app: RunningApp, name: str, expected: str) -> None:
    note, _status = client.predict(PASSWORD, name, "zh", api_name="/staff_remove")
    assert expected in note and "Traceback" not in note
    assert (app.corpus.parent / "app.log").exists()
    assert sorted(listed(staff_status(client))) == sorted(CHUNKS)


@pytest.mark.slow
def test_an_upload_appears_in_the_list_once_indexed_and_can_be_removed(client, app: RunningApp, tmp_path) -> None:
    from gradio_client import handle_file

    notice = tmp_path / "闭园通知.txt"
    notice.write_text("# 闭园通知\n\n星河公园东门因施工自六月一日起暂停开放，请游客从西门入园。\n", "utf-8")
    note, _status, _timer = client.predict(PASSWORD, [handle_file(str(notice))], "zh", api_name="/staff_upload")
    assert "已保存：闭园通知.txt" in note
    deadline = time.monotonic() + 300
    while "闭园通知.txt" not in (rows := listed(staff_status(client))):
        assert time.monotonic() < deadline, rows
        time.sleep(1)
    assert rows["闭园通知.txt"] == ("闭园通知", 1)
    # Programs remove through /remove, and hear what is left.
    out = client.predict(PASSWORD, "闭园通知.txt", api_name="/remove")
    assert out["ok"] is True and out["documents"] == len(CHUNKS) and out["chunks"] == sum(CHUNKS.values()), out
    assert "闭园通知.txt" not in listed(staff_status(client))


@pytest.mark.slow
def test_removing_a_document_takes_it_out_of_answers_and_the_list(client, app: RunningApp) -> None:
    note, status = client.predict(PASSWORD, "公园条例.md", "zh", api_name="/staff_remove")
    assert "已删除：公园条例.md。文件库现有文件 2 篇、段落 3 个。" in note, note
    assert sorted(listed(status)) == ["报纸/星河日报.txt", "新公园条例.md"]
    assert not (app.corpus / "公园条例.md").exists()
    rec = ask(client, QUESTION, "*.md")
    assert {s["doc"] for s in rec["sources"]} == {"新公园条例.md"}
    assert all("晚上九点" not in s["text"] for s in rec["sources"]) and "晚上九点" not in rec["answer"]
    # Its title is no longer shared, so the citation no longer needs the file name.
    assert all(s["title_shared"] is False and s["label"].startswith(f"{LAW} › ") for s in rec["sources"])


# --- in-process: handlers with a stub engine, labels from plain records (fast) ---------------------


@pytest.mark.parametrize("name", ["公园条例.md", "报纸/星河日报.txt", "a[1]*?.md", "!x.md", "]b.md", "-c.md"])
def test_exact_pattern_matches_that_document_alone(name: str) -> None:
    from qa.ui import exact_pattern

    others = ["新公园条例.md", "x" + name, name + ".bak", name.upper() + "x", "a1xy.md", "x.md", "b.md"]
    pattern = exact_pattern(name).lower()  # the engine lowercases patterns and names
    assert any(c in pattern for c in "*?[")  # a glob, so the engine does not read it as "contains"
    assert fnmatch.fnmatchcase(name.lower(), pattern)
    assert not [o for o in others if o != name and fnmatch.fnmatchcase(o.lower(), pattern)]


def test_the_menu_lists_all_documents_every_folder_then_each_document() -> None:
    from qa.ui import filter_choices

    docs = [
        {"doc": "法律/刑法/刑法.md", "title": "中华人民共和国刑法", "chunks": 9},
        {"doc": "法律/民法典.md", "title": "中华人民共和国民法典", "chunks": 30},
        {"doc": "note.txt", "title": "note.txt", "chunks": 1},
    ]
    assert filter_choices(docs, "zh") == [
        ("全部文件", ""),
        ("法律/*（文件夹，2 篇）", "法律/*"),
        ("法律/刑法/*（文件夹，1 篇）", "法律/刑法/*"),
        ("中华人民共和国刑法 · 法律/刑法/刑法.md", "法律/刑法/刑法.md"),
        ("中华人民共和国民法典 · 法律/民法典.md", "法律/民法典.md"),
        ("note.txt", "note.txt"),
    ]
    assert filter_choices(docs, "en")[1] == ("法律/* (folder, 2 documents)", "法律/*")


class CollectionStub:
    """Two documents; answers from the first, removes what it is asked to, or raises."""

    def __init__(self, exc: Exception | None = None) -> None:
        from test_ui import StubEngine

        self.inner = StubEngine(exc=exc)
        self.removed: list[str] = []

    def documents(self) -> list[dict]:
        return [{"doc": "a.txt", "title": "测试文件", "chunks": 1}, {"doc": "ba.txt", "title": "测试文件", "chunks": 2}]

    def ask(self, **kw):
        return self.inner.ask(**kw)

    def remove_document(self, doc_id: str, progress=None):
        from qa.indexer import BuildReport
        from qa.load import DocumentError

        if doc_id not in {d["doc"] for d in self.documents()}:
            raise DocumentError(f"no such document: {doc_id!r}")
        self.removed.append(doc_id)
        return BuildReport(documents=1, chunks=2, seconds=0.1, rebuilt=True)

    def status(self) -> dict:
        return {"documents": 1, "chunks": 2, "built_at": "2026-01-01T00:00:00", "model": "stub", "skipped": {}}


def stub_handlers(tmp_path: Path, engine: CollectionStub):
    from qa.settings import Settings
    from qa.ui import Handlers

    settings = Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data", staff_password=PASSWORD)
    return Handlers(engine, settings)


def test_a_menu_choice_is_searched_exactly_and_typed_text_as_the_engine_reads_it(tmp_path: Path) -> None:
    from qa.ui import exact_pattern

    engine = CollectionStub()
    h = stub_handlers(tmp_path, engine)
    for docs in ("a.txt", " a.txt ", "a", "*.txt", "", None):
        list(h.respond("岳阳片区的重点是什么？", [], [], [], "zh", docs))
    assert engine.inner.docs == [exact_pattern("a.txt"), exact_pattern("a.txt"), "a", "*.txt", None, None]
    # Programs get the engine's own pattern rules, as the CLI does; an older caller all documents.
    h.api_ask("岳阳片区的重点是什么？", "[]", "a.txt")
    h.api_ask("岳阳片区的重点是什么？")
    assert engine.inner.docs[-2:] == ["a.txt", None]


def test_no_matching_document_is_said_in_the_interface_language(tmp_path: Path) -> None:
    from qa.chat import BadQuestion

    h = stub_handlers(tmp_path, CollectionStub(exc=BadQuestion("no_such_document", pattern="[m]x")))
    chat_ = list(h.respond("岳阳片区的重点是什么？", [], [], [], "en", "mx"))[-1][0]
    assert chat_[-1]["content"] == (
        'No document has a file name or title matching "mx".Change the search scope above, or choose “All documents”.'
    )


def test_titles_shared_in_the_collection_name_the_file(tmp_path: Path) -> None:
    h = stub_handlers(tmp_path, CollectionStub())
    [src] = h.api_ask("岳阳片区的重点是什么？")["sources"]
    assert src["title_shared"] is True and src["label"] == "测试文件 (a.txt)"


def test_remove_needs_the_password_and_says_what_is_left(tmp_path: Path) -> None:
    engine = CollectionStub()
    h = stub_handlers(tmp_path, engine)
    note, status = h.remove("wrong", "a.txt", "en", progress=lambda *a, **k: None)
    assert "Wrong password." in note and engine.removed == []
    note, status = h.remove(PASSWORD, "nope.txt", "en", progress=lambda *a, **k: None)
    assert "There is no document “nope.txt” in the collection." in note
    note, status = h.remove(PASSWORD, "a.txt", "zh", progress=lambda *a, **k: None)
    assert "已删除：a.txt。文件库现有文件 1 篇、段落 2 个。" in note and engine.removed == ["a.txt"]
    assert "段落数" in status and "ba.txt" in status
    assert h.api_remove(PASSWORD, "ba.txt") == {
        "ok": True,
        "message": "Removed ba.txt. The collection now has 1 documents and 2 passages.",
        "documents": 1,
        "chunks": 2,
    }


def test_staff_menus_are_resent_only_when_the_collection_changed(tmp_path: Path) -> None:
    import gradio as gr

    h = stub_handlers(tmp_path, CollectionStub())
    removal, search, known, staff_known = h.staff_menus(PASSWORD, "zh", "刑法", None, "", "")
    assert [c[1] for c in removal.choices] == ["a.txt", "ba.txt"]
    assert search.choices[0] == ("全部文件", "") and search.value == "刑法"  # what was typed stays
    assert h.staff_menus(PASSWORD, "zh", "", "a.txt", known, staff_known)[:2] == (gr.skip(), gr.skip())
    assert h.staff_menus("wrong", "zh", "", None, "", "")[:2] == (gr.skip(), gr.skip())


# --- citation labels from plain records ---------------------------------------------------------------


def _answer(*chunks):
    from qa.records import Answer, Citation, Passage

    return Answer(
        text="甲。[1]",
        outcome="answered",
        citations=(Citation(1, chunks[0], 0.9, ("甲。",)),),
        searched_for="q",
        lang="zh",
        passages=tuple(Passage(c, 0.5, i) for i, c in enumerate(chunks, start=1)),
        k=len(chunks),
    )


def test_labels_name_document_and_section_path_and_the_file_only_when_needed() -> None:
    from qa.output import source_label, to_json, to_text
    from qa.records import Chunk

    path = "第一编总则 › 第二章犯罪 › 第一节犯罪和刑事责任 › 第十七条"
    old = Chunk("c1", "刑法/1997.md", "中华人民共和国刑法", path, 0, 2, "甲。")
    new = Chunk("c2", "刑法/2020.md", "中华人民共和国刑法", path, 0, 2, "乙。")
    other = Chunk("c3", "民法典.md", "中华人民共和国民法典", "", 0, 2, "丙。", page=3)
    untitled = Chunk("c4", "scan.txt", "", "一、总体", 0, 2, "丁。")
    assert source_label("中华人民共和国刑法", path) == f"中华人民共和国刑法 › {path}"  # the engine's call
    rec = to_json(_answer(old, new, other, untitled))
    labels = [s["label"] for s in rec["sources"]]
    assert labels == [
        f"中华人民共和国刑法 (刑法/1997.md) › {path}",
        f"中华人民共和国刑法 (刑法/2020.md) › {path}",
        "中华人民共和国民法典 (p. 3)",
        "scan.txt › 一、总体",
    ]
    assert [s["title_shared"] for s in rec["sources"]] == [True, True, False, False]
    kept = {"doc", "title", "section", "page", "text", "score", "rank", "n", "quoted", "start", "end"}
    assert all(set(s) >= kept for s in rec["sources"])  # the contract's fields are all still there
    # Alone in an answer, a title another document of the collection carries still needs the file.
    alone = to_json(_answer(old), shared={"中华人民共和国刑法"})["sources"][0]
    assert alone["label"] == f"中华人民共和国刑法 (刑法/1997.md) › {path}"
    assert to_json(_answer(old))["sources"][0]["label"] == f"中华人民共和国刑法 › {path}"
    assert f"[1] 中华人民共和国刑法 (刑法/1997.md) › {path}" in to_text(_answer(old), shared={"中华人民共和国刑法"})
