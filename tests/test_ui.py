"""The launched app, driven like a program would drive it: gradio_client against `python app.py`.

The app runs in a subprocess with the real default model, a copy of the corpus, and the index and
data folders in tmp dirs, so the tests can upload documents without touching the repository.
`running_app` is shared with the browser test.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import reuse_seed_vectors

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
MAX_FILE_BYTES = 100_000  # small, so the oversized-file test does not need megabytes
START_TIMEOUT = 600  # first run may convert the model and build the index
YUEYANG = "岳阳突出临港经济"


@dataclass(frozen=True)
class RunningApp:
    url: str
    corpus: Path
    data: Path
    log: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def running_app(base: Path, password: str = PASSWORD, documents: dict[str, str] | None = None) -> Iterator[RunningApp]:
    """Start `python app.py` on a free port; yield once it serves pages; stop it afterwards.
    The corpus is a copy of the repository's, or `documents` (relative file name -> text)."""
    corpus = base / "corpus"
    if documents is None:
        shutil.copytree(ROOT / "corpus", corpus)
        # The repository's corpus: its vectors are in the repository's index. What is tested is
        # the app serving it; uploads are still embedded by the app.
        reuse_seed_vectors(base / "index")
    else:
        for name, text in documents.items():
            (corpus / name).parent.mkdir(parents=True, exist_ok=True)
            (corpus / name).write_text(text, "utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "QA_HOST": "127.0.0.1",
        "QA_PORT": str(port),
        "QA_CORPUS_DIR": str(corpus),
        "QA_INDEX_DIR": str(base / "index"),
        "QA_DATA_DIR": str(base / "data"),
        "QA_STAFF_PASSWORD": password,
        "QA_MAX_FILE_BYTES": str(MAX_FILE_BYTES),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = base / "app.log"
    url = f"http://127.0.0.1:{port}/"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app exited with {proc.returncode} before serving:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(url + "gradio_api/info", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"app did not start within {START_TIMEOUT} s:\n{_tail(log)}")
            time.sleep(1)
        yield RunningApp(url, corpus, base / "data", log, env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("ui-app")) as a:
        yield a


@pytest.fixture(scope="module")
def client(app: RunningApp):
    from gradio_client import Client

    return Client(app.url, verbose=False)


def ask(client, question: str, history: list[dict] | None = None) -> dict:
    return client.predict(question, json.dumps(history or [], ensure_ascii=False), api_name="/ask")


def wait_until_indexed(client, name: str, seconds: float = 300) -> dict:
    """Poll the staff status until no refresh runs and `name` is indexed; returns the status."""
    deadline = time.monotonic() + seconds
    while True:
        status = client.predict(PASSWORD, api_name="/status")
        if not status["refreshing"] and name in status["document_names"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(1)


def text_of(message: dict) -> str:
    """A chat message's content as HTML text (Gradio returns it as a list of typed parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def cited(rec: dict) -> list[dict]:
    return [s for s in rec["sources"] if s["n"] is not None]


# --- questions ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_chinese_question_is_answered_from_the_yueyang_passage(client) -> None:
    rec = ask(client, "岳阳片区的重点是什么？")
    assert rec["outcome"] == "answered" and rec["lang"] == "zh"
    assert "临港经济" in rec["answer"]
    assert any(YUEYANG in s["text"] and any("临港经济" in q for q in s["quoted"]) for s in cited(rec))
    assert "[1]" in rec["answer"]


@pytest.mark.slow
def test_english_question_is_answered_from_the_same_passage(client) -> None:
    rec = ask(client, "What are Yueyang's priorities?")
    assert rec["lang"] == "en"
    assert rec["outcome"] == "answered", rec["answer"]
    assert any(YUEYANG in s["text"] for s in cited(rec))


@pytest.mark.slow
def test_follow_up_is_resolved_against_the_conversation(client) -> None:
    first = ask(client, "长沙片区的重点是什么？")
    history = [{"role": "user", "content": "长沙片区的重点是什么？"}, {"role": "assistant", "content": first["answer"]}]
    rec = ask(client, "那岳阳呢？", history)
    assert rec["outcome"] == "answered", f"searched for {rec['searched_for']!r}: {rec['answer']}"
    assert any(YUEYANG in s["text"] for s in cited(rec))


@pytest.mark.slow
def test_question_outside_the_documents_is_refused_in_chinese(client, app: RunningApp) -> None:
    rec = ask(client, "海南自贸港的个人所得税税率是多少？")
    assert rec["outcome"] == "not_found" and rec["answered"] is False
    assert rec["answer"] == "文档中没有找到这个问题的答案。"
    assert rec["sources"], "the nearest passages are offered instead"
    logged = [json.loads(x) for x in (app.data / "not_found.jsonl").read_text("utf-8").splitlines()]
    assert any(r["question"] == "海南自贸港的个人所得税税率是多少？" for r in logged)


@pytest.mark.parametrize(
    ("question", "history", "expected"),
    [
        ("   ", "[]", "请输入一个问题。"),
        ("x" * 5000, "[]", "The question is too long"),
        ("岳阳？", "not json", "bad input"),
        ("岳阳？", '[{"role": "robot", "content": 1}]', "bad input"),
    ],
)
@pytest.mark.slow
def test_bad_input_gets_a_message_not_a_traceback(client, question: str, history: str, expected: str) -> None:
    rec = client.predict(question, history, api_name="/ask")
    assert set(rec) == {"error"} and expected in rec["error"]
    assert "Traceback" not in rec["error"]


@pytest.mark.slow
def test_the_chat_streams_and_shows_highlighted_sources(client) -> None:
    # The chat's own (undocumented) endpoint takes every input of the page: "" searches all documents.
    job = client.submit("岳阳片区的重点是什么？", [], "zh", "", api_name="/chat")
    updates = list(job)
    chats = [u[0] for u in updates]
    final_chat, sources_html, box = updates[-1]
    answer_html = text_of(final_chat[-1])
    assert final_chat[-1]["role"] == "assistant" and "已回答" in answer_html
    assert "qa-wait" in text_of(chats[0][-1]), "the question shows at once, with a searching placeholder"
    sentences = answer_html.count('class="qa-cite"')
    assert sentences >= 1 and len(chats) >= 1 + sentences, "then the answer builds up sentence by sentence"
    assert 'href="#a1-q1"' in answer_html  # the marker links to its sentence, in its card
    assert 'id="a1-q1"' in sources_html and 'id="a1-s1"' in sources_html
    assert any(YUEYANG in m for m in sources_html.split("<mark")[1:]), "the quoted sentence is highlighted"
    assert box == ""


# --- feedback -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_downvote_with_reason_is_stored_and_listed_by_the_cli(client, app: RunningApp) -> None:
    rec = ask(client, "株洲如何对接湖南自贸区？")
    out = client.predict(
        "株洲如何对接湖南自贸区？",
        json.dumps(rec, ensure_ascii=False),
        "down",
        "漏了贸易平台联动",
        api_name="/feedback",
    )
    assert out == {"ok": True}
    stored = [json.loads(x) for x in (app.data / "feedback.jsonl").read_text("utf-8").splitlines()]
    assert stored[-1]["vote"] == "down" and stored[-1]["reason"] == "漏了贸易平台联动"
    assert stored[-1]["answer"] == rec["answer"] and stored[-1]["outcome"] == rec["outcome"]
    cli = subprocess.run(
        [sys.executable, "-m", "qa", "feedback"], cwd=ROOT, env=app.env, capture_output=True, text=True, timeout=120
    )
    assert cli.returncode == 0, cli.stderr
    listed = [json.loads(x) for x in cli.stdout.splitlines()]
    assert any(r["question"] == "株洲如何对接湖南自贸区？" and r["reason"] == "漏了贸易平台联动" for r in listed)


@pytest.mark.slow
def test_a_bad_vote_is_refused(client) -> None:
    out = client.predict("q", "{}", "meh", "", api_name="/feedback")
    assert out["ok"] is False


# --- staff: uploads -------------------------------------------------------------------------------

UNIQUE = (
    "# 星河市图书馆开放时间\n\n"
    "星河市图书馆每周二至周日开放，开放时间为上午九点至晚上八点，每周一闭馆。\n\n"
    "读者凭身份证可免费办理借书证，每人最多可借十本图书，借期三十天。\n"
).encode()


def upload(client, password: str, name: str, data: bytes) -> dict:
    return client.predict(password, name, base64.b64encode(data).decode(), api_name="/upload")


@pytest.mark.parametrize(
    ("password", "name", "data", "expected"),
    [
        ("", "ok.txt", b"some text", "Wrong password"),
        ("wrong", "ok.txt", b"some text", "Wrong password"),
        (PASSWORD, "../x.txt", b"some text", "path components"),
        (PASSWORD, "tool.exe", b"MZ\x90\x00binary", "unsupported file type"),
        (PASSWORD, "big.txt", "很长的文件。".encode() * (MAX_FILE_BYTES // 10), "too large"),
    ],
    ids=["no-password", "wrong-password", "path-traversal", "exe", "oversized"],
)
@pytest.mark.slow
def test_upload_is_refused_with_a_clear_message(client, app, password, name, data, expected) -> None:
    before = sorted(p.name for p in app.corpus.iterdir())
    out = upload(client, password, name, data)
    assert out["ok"] is False and expected in out["error"], out
    assert sorted(p.name for p in app.corpus.iterdir()) == before
    assert not (app.corpus.parent / "x.txt").exists()


@pytest.mark.slow
def test_upload_form_refuses_wrong_password_and_exe(client, app, tmp_path: Path) -> None:
    from gradio_client import handle_file

    good = tmp_path / "note.txt"
    good.write_text("一个普通的文件。", "utf-8")
    html, _status, _timer = client.predict("wrong", [handle_file(str(good))], "zh", api_name="/staff_upload")
    assert "密码不正确" in html
    exe = tmp_path / "setup.exe"
    exe.write_bytes(b"MZ\x90\x00binary")
    html, _status, _timer = client.predict(PASSWORD, [handle_file(str(exe))], "zh", api_name="/staff_upload")
    assert "未接受 setup.exe" in html and "unsupported file type" in html
    assert not (app.corpus / "note.txt").exists() and not (app.corpus / "setup.exe").exists()


@pytest.mark.slow
def test_accepted_upload_is_indexed_in_the_background_and_answers(client, app, tmp_path: Path) -> None:
    from gradio_client import handle_file

    doc = tmp_path / "xinghe-library.txt"
    doc.write_bytes(UNIQUE)
    html, _status, _timer = client.predict(PASSWORD, [handle_file(str(doc))], "zh", api_name="/staff_upload")
    assert "已保存：xinghe-library.txt" in html
    assert (app.corpus / "xinghe-library.txt").read_bytes() == UNIQUE
    # While the index rebuilds, questions are still answered (from the old index).
    assert ask(client, "岳阳片区的重点是什么？")["outcome"] == "answered"
    status = wait_until_indexed(client, "xinghe-library.txt")
    assert status["documents"] == 2 and not status["last_error"]
    rec = ask(client, "星河市图书馆的开放时间是什么？")
    assert rec["outcome"] == "answered", rec["answer"]
    assert any(s["doc"] == "xinghe-library.txt" for s in cited(rec))
    assert "上午九点至晚上八点" in rec["answer"]


@pytest.mark.slow
def test_status_needs_the_password(client) -> None:
    assert client.predict("wrong", api_name="/status") == {"ok": False, "error": "Wrong password."}


def test_staff_area_is_off_without_a_configured_password(tmp_path: Path) -> None:
    """No QA_STAFF_PASSWORD, no staff area: not even an empty password gets in."""
    from qa.settings import Settings
    from qa.ui import Handlers

    h = Handlers(engine=None, settings=Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path, staff_password=""))
    for password in ("", "anything"):
        out = h.api_upload(password, "ok.txt", base64.b64encode(b"text").decode())
        assert out == {"ok": False, "error": "The staff area is disabled: QA_STAFF_PASSWORD is not set on the server."}
    assert "员工区未启用" in h.check_password("", "zh")
    assert not (tmp_path / "corpus").exists()


# --- handlers in-process, with a stub engine (fast: no model, no server) ---------------------------


class StubEngine:
    """Answers every question with one cited sentence, or raises what it is told to."""

    def __init__(self, exc: Exception | None = None, outcome: str = "answered") -> None:
        self.exc = exc
        self.outcome = outcome
        self.calls: list[list] = []
        self.docs: list[str | None] = []

    def documents(self) -> list[dict]:
        return [{"doc": "a.txt", "title": "测试文件", "chunks": 1}]

    def ask(self, question=None, turns=None, k=None, docs=None):
        from qa.gist import gist
        from qa.lang import detect_lang
        from qa.records import Answer, Chunk, Citation, Passage

        self.calls.append(list(turns))
        self.docs.append(docs)
        if self.exc:
            raise self.exc
        one, two = "岳阳突出临港经济，", "打造长江中游综合性航运物流中心。"
        chunk = Chunk("c1", "a.txt", "测试文件", "", 0, len(one + two), one + two)
        found = self.outcome != "not_found"
        lang = detect_lang(turns[-1].content)
        gists = (gist(one), gist(two)) if lang == "en" else ()
        return Answer(
            text=f"{one}[1]{two}[1]" if found else "文档中没有找到这个问题的答案。",
            outcome=self.outcome,
            citations=(Citation(1, chunk, 0.9, (one, two), gists),) if found else (),
            searched_for=turns[-1].content,
            lang=lang,
            passages=(Passage(chunk, 0.9, 1),),
            k=1,
        )


def handlers(tmp_path: Path, engine: StubEngine):
    from qa.settings import Settings
    from qa.ui import Handlers

    return Handlers(engine, Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data"))


def run_chat(h, question: str, history: list, convo: list, groups: list) -> list[tuple]:
    return list(h.respond(question, history, convo, groups, "zh"))


def test_engine_failure_shows_a_message_and_no_details(tmp_path: Path) -> None:
    h = handlers(tmp_path, StubEngine(exc=RuntimeError("secret internals at /srv/x.py line 3")))
    updates = run_chat(h, "岳阳片区的重点是什么？", [], [], [])
    chat, _panel, convo, groups, box = updates[-1]
    assert chat[-1] == {"role": "assistant", "content": "抱歉，处理这个问题时出错了，请稍后再试。"}
    assert "secret" not in repr(updates)
    assert convo == [] and groups == [] and box == "岳阳片区的重点是什么？"  # kept, to try again


def test_bad_question_gets_its_own_message(tmp_path: Path) -> None:
    from qa.chat import BadQuestion

    h = handlers(tmp_path, StubEngine(exc=BadQuestion("too_long", limit=2000)))
    chat = run_chat(h, "长" * 3000, [], [], [])[-1][0]
    assert chat[-1]["content"] == "问题太长了（最多 2000 个字符），请简短一些。"


def test_the_whole_conversation_goes_to_the_engine_and_votes_find_their_answer(tmp_path: Path) -> None:
    import gradio as gr

    from qa.chat import Turn

    engine = StubEngine()
    h = handlers(tmp_path, engine)
    updates = run_chat(h, "长沙片区的重点是什么？", [], [], [])
    assert len(updates) == 3  # the question at once, then the answer one quoted sentence at a time
    chat, panel, convo, groups, _ = updates[-1]
    updates = run_chat(h, "那岳阳呢？", chat, convo, groups)
    chat, panel, convo, groups, _ = updates[-1]
    assert engine.calls[-1] == [
        Turn("user", "长沙片区的重点是什么？"),
        Turn("assistant", "岳阳突出临港经济，[1]打造长江中游综合性航运物流中心。[1]"),
        Turn("user", "那岳阳呢？"),
    ]
    # One marker per quoted sentence, leading to that sentence inside its card (issue 13).
    assert 'href="#a2-q1"' in chat[-1]["content"] and 'href="#a2-q2"' in chat[-1]["content"]
    assert 'id="a2-q1"' in panel and 'id="a2-s1"' in panel and 'id="a1-s1"' in panel
    # 👎 on the second answer (index 3 in the chat), then a reason: both land in the log.
    like = gr.LikeData(None, {"index": 3, "value": chat[3]["content"], "liked": False})
    row, pending, _box = h.vote(groups, "zh", like)
    assert row["visible"] is True and pending["vote"] == "down"
    h.reason("没有说岳阳", pending, groups, "zh")
    [candidate] = list(h.feedback.candidates())
    assert candidate["question"] == "那岳阳呢？" and candidate["reason"] == "没有说岳阳"
    # Withdrawing the vote takes it off the candidate list.
    h.vote(groups, "zh", gr.LikeData(None, {"index": 3, "value": "", "liked": ""}))
    assert list(h.feedback.candidates()) == []


def test_not_found_answers_are_logged_as_candidates(tmp_path: Path) -> None:
    h = handlers(tmp_path, StubEngine(outcome="not_found"))
    chat = run_chat(h, "海南自贸港的个人所得税税率是多少？", [], [], [])[-1][0]
    assert "未找到" in chat[-1]["content"] and "您可能想问的相关段落" in chat[-1]["content"]
    [candidate] = list(h.feedback.candidates())
    assert candidate["question"] == "海南自贸港的个人所得税税率是多少？" and candidate["outcome"] == "not_found"


def test_votes_stay_with_their_answers_and_each_answer_keeps_its_questions_language(tmp_path: Path) -> None:
    """Issue 13: the page is given every answer's vote after each vote (so a filled 👍 survives
    later questions). Issue 11: an English question in the Chinese interface is answered with
    English labels and a gist under each quote; a change of interface language leaves answers be."""
    import gradio as gr

    from qa.ui import feedback_values

    h = handlers(tmp_path, StubEngine())
    chat, _panel, convo, groups, _ = run_chat(h, "长沙片区的重点是什么？", [], [], [])[-1]
    updates = run_chat(h, "And Yueyang?", chat, convo, groups)
    assert "Searching the documents" in updates[0][0][-1]["content"]  # the placeholder too
    chat, panel, convo, groups, _ = updates[-1]
    update, groups = h.keep_vote(groups, chat, gr.LikeData(None, {"index": 1, "value": "", "liked": True}))
    assert update.feedback_value == ["Like", None] and feedback_values(chat, groups) == ["Like", None]
    assert "已回答" in chat[1]["content"] and "qa-gist" not in chat[1]["content"]
    english = chat[3]["content"]
    assert "Answered" in english and "已回答" not in english
    assert english.count('class="qa-gist"') == 2 and "not a translation" in english and "Yueyang ·" in english
    latest = panel[: panel.index("qa-earlier")]
    assert "Question: And Yueyang?" in latest and "Sources" in latest and "来源" in panel
    # Switching the interface to English relabels the page, not the answers.
    relabelled = h.relabel("en", groups, "")
    chatbot = next(u for u in relabelled if isinstance(u, gr.Chatbot))
    assert chatbot.label == "Conversation" and not chatbot.value
