"""Issue 12, hostile input: no line stops a batch, no field fills the disk, no invisible
control reaches the searched text. In-process, with stub engines: no model, no server."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from test_cli import RecordingEngine
from test_ui import StubEngine

from qa.chunk import chunk_document
from qa.cli import ask_jsonl
from qa.load import parse
from qa.text import clean

# --- ask --jsonl -------------------------------------------------------------------------------


def test_a_batch_survives_every_kind_of_bad_line() -> None:
    lines = [
        b'{"id": 1, "question": "q"}',
        b'{"id": 2, "question": "\xff\xfe not UTF-8"}',
        b'{"id": 3, "question": "\\ud800"}',  # a lone surrogate, as JSON spells it
        b"[" * 100_000,
        b"{not json",
        b'["a list"]',
        b'{"id": 7, "question": "q"}',
    ]
    stdout = io.StringIO()
    code = ask_jsonl(RecordingEngine(), io.BytesIO(b"\n".join(lines) + b"\n"), stdout, None)
    out = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert [o["id"] for o in out] == [1, "line-2", "line-3", "line-4", "line-5", "line-6", 7]
    assert out[0]["outcome"] == out[6]["outcome"] == "not_found"  # answered, before and after
    errors = [o["error"] for o in out[1:6]]
    assert errors == [
        "bad input line 2: not valid UTF-8 (byte 24); save the file as UTF-8",
        "bad input line 3: text with a lone surrogate (U+D800), which is not a character",
        "bad input line 4: JSON nested too deeply",
        errors[3],
        "bad input line 6: each line must be a JSON object",
    ]
    assert errors[3].startswith("bad input line 5: not valid JSON: ")
    assert code == 0  # the batch's convention: answered; each bad line says so in its own "error"


def test_a_failure_answering_one_line_is_that_lines_error(caplog: pytest.LogCaptureFixture) -> None:
    class Flaky(RecordingEngine):
        def ask(self, question=None, turns=None, k=None, docs=None):  # noqa: ANN202
            if turns[-1].content == "boom":
                raise KeyError("an engine bug")
            return super().ask(question, turns, k, docs)

    stdout = io.StringIO()
    lines = [{"id": 1, "question": "boom"}, {"id": 2, "question": "q"}]
    ask_jsonl(Flaky(), io.StringIO("\n".join(map(json.dumps, lines))), stdout, None)
    out = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert out[0] == {"id": 1, "error": "line 1: Sorry, something went wrong while answering; please try again."}
    assert out[1]["outcome"] == "not_found"


# --- the web app --------------------------------------------------------------------------------


def handlers(tmp_path: Path, engine=None):  # noqa: ANN201
    from qa.settings import Settings
    from qa.ui import Handlers

    settings = Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data", staff_password="pw")
    return Handlers(engine or StubEngine(), Settings(**{**settings.__dict__, "max_file_bytes": 1000}))


@pytest.mark.parametrize(("lang", "expected"), [("zh", "问题中有无效的字符"), ("en", "invalid character")])
def test_a_lone_surrogate_in_the_question_box_gets_a_message_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, lang: str, expected: str
) -> None:
    import gradio as gr

    warnings: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda text, *a, **k: warnings.append(text))
    engine = StubEngine()
    h = handlers(tmp_path, engine)
    with caplog.at_level(logging.INFO):
        updates = list(h.respond("岳阳\ud800片区的重点是什么？", [], [], [], lang))
    assert warnings and expected in warnings[0]
    assert updates[-1][-1] == "岳阳片区的重点是什么？"  # the question stays, without the bad character
    assert engine.calls == [] and not any(r.exc_info for r in caplog.records)
    out = h.api_ask("What is \ud800?", "[]")
    assert set(out) == {"error"} and "invalid character" in out["error"]
    assert "error" in h.api_ask("q", "[" * 100_000 + "]" * 100_000)  # no RecursionError


# --- size limits on what users send -------------------------------------------------------------


def answer(h) -> list:  # noqa: ANN001
    """One answered question; returns its groups (what a vote refers to)."""
    return list(h.respond("岳阳片区的重点是什么？", [], [], [], "zh"))[-1][3]


def test_a_feedback_reason_over_the_limit_is_refused_with_a_message_and_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradio as gr

    warnings: list[str] = []
    monkeypatch.setattr(gr, "Warning", lambda text, *a, **k: warnings.append(text))
    h = handlers(tmp_path)
    groups = answer(h)
    pending = {"id": groups[0]["id"], "vote": "down", "index": 1}
    row, kept, _box = h.reason("太长" * 1001, pending, groups, "zh")
    assert warnings == ["原因太长了（最多 2000 个字符），请简短一些。"]
    assert kept == pending and row == gr.update()  # the box stays open, to shorten the reason
    assert not (tmp_path / "data" / "feedback.jsonl").exists()
    h.reason("引用不对" * 500, pending, groups, "zh")  # 2,000 characters: accepted
    assert [r["reason"] for r in h.feedback.candidates()] == ["引用不对" * 500]


def test_the_feedback_endpoint_refuses_oversized_fields_before_storing_them(tmp_path: Path) -> None:
    h = handlers(tmp_path)
    rec = json.dumps({"answer": "x", "sources": []})
    assert h.api_feedback("q", rec, "down", "r" * 40_000) == {
        "ok": False,
        "error": "The reason is too long (at most 2000 characters); please shorten it.",
    }
    assert "问题太长了" in h.api_feedback("长" * 3000, rec, "down")["error"]
    huge = json.dumps({"answer": "x" * 2_000_000})
    assert h.api_feedback("q", huge, "down")["error"].startswith("bad input: record too long")
    many = json.dumps({"answer": "x", "sources": [{"doc": "d" * 1000}] * 1000})  # 1 MB stored line
    assert h.api_feedback("q", many, "down")["error"].startswith("bad input: record too long")
    assert not (tmp_path / "data" / "feedback.jsonl").exists()
    assert h.api_feedback("q", rec, "down", "ok") == {"ok": True}


def test_an_oversized_upload_is_refused_before_it_is_read_or_decoded(tmp_path: Path, monkeypatch) -> None:
    h = handlers(tmp_path)
    h.wrong_password_pause = 0
    big = tmp_path / "big.txt"
    big.write_bytes("大".encode() * 1000)  # 3,000 bytes; the limit is 1,000
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read {self.name} whole"))
    html, _status, _timer = h.upload_files("pw", [str(big)], "zh")
    assert "未接受 big.txt：文件太大（3,000 字节，上限 1,000 字节）" in html
    monkeypatch.setattr(base64, "b64decode", lambda *a, **k: pytest.fail("decoded"))
    out = h.api_upload("pw", "big.txt", "QUJD" * 1000)
    assert out["ok"] is False and "too large (~3,000 bytes; limit 1,000)" in out["error"]


def test_the_app_stops_uploads_at_the_file_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gradio counts an upload's bytes as they stream in and stops at max_file_size, before
    any handler (or password check) runs: that limit is the documents' own limit now, not 4x."""
    from qa import ui
    from qa.settings import Settings

    seen = {}

    class Demo:
        def queue(self, **kw) -> None:  # noqa: ANN003
            pass

        def launch(self, **kw):  # noqa: ANN003, ANN202
            seen.update(kw)

    ui.launch(Demo(), Settings(max_file_bytes=5_000_000))
    assert seen["max_file_size"] == 5_000_000


# --- invisible controls in documents -------------------------------------------------------------

TRICKY = (
    "# 通知\n\n"
    "第一条\u202e 本办法\u202c自公布之日起施行。\x1b[31m重要\x1b[0m内容\u2066隔离\u2069在此。\n\n"
    "第二条 终端标题\x1b]0;title\x07之后的正文，以及 \x9b1m 八位转义。\n"
)


def test_bidi_controls_and_terminal_escapes_are_removed_at_load_and_chunks_still_rebuild_the_text() -> None:
    doc = parse("tricky.md", TRICKY.encode())
    assert doc.text == "第一条本办法自公布之日起施行。重要内容隔离在此。\n第二条终端标题之后的正文，以及八位转义。"
    assert not any(ch in doc.text for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\x1b\x9b")
    assert "[31m" not in doc.text and "[0m" not in doc.text
    chunks = chunk_document(doc, 10, 20)
    assert "".join(c.text for c in chunks) == doc.text
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)


def test_an_unterminated_escape_does_not_swallow_text() -> None:
    assert clean("开头\x1b]没有结束的标题，正文照常。").text == "开头]没有结束的标题，正文照常。"
