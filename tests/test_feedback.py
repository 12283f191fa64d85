"""FeedbackLog: append-only, survives restarts, latest vote per answer wins, candidates for the eval."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qa.feedback import FeedbackLog

ROOT = Path(__file__).resolve().parent.parent

ANSWER = {
    "answer": "岳阳突出临港经济。[1]",
    "answered": True,
    "outcome": "answered",
    "searched_for": "岳阳片区的重点是什么？",
    "lang": "zh",
    "sources": [
        {
            "doc": "a.txt",
            "title": "测试",
            "section": "",
            "text": "岳阳突出临港经济。",
            "n": 1,
            "rank": 1,
            "quoted": ["岳阳突出临港经济。"],
            "start": 0,
            "end": 9,
            "score": 0.5,
        },
    ],
    "timings_ms": {"total": 3.0},
}
NOT_FOUND = {
    **ANSWER,
    "answer": "文档中没有找到这个问题的答案。",
    "answered": False,
    "outcome": "not_found",
    "searched_for": "海南自贸港的个人所得税税率是多少？",
}


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text("utf-8").splitlines()]


def test_record_creates_the_folder_and_appends_one_complete_line(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path / "new" / "data")
    log.record("岳阳片区的重点是什么？", ANSWER, "down", "  引用不对  ")
    [rec] = lines(tmp_path / "new" / "data" / "feedback.jsonl")
    assert rec["question"] == "岳阳片区的重点是什么？"
    assert rec["answer"] == ANSWER["answer"]
    assert rec["outcome"] == "answered" and rec["searched_for"] == ANSWER["searched_for"]
    assert rec["vote"] == "down" and rec["reason"] == "引用不对"
    assert rec["sources"][0]["doc"] == "a.txt" and rec["sources"][0]["quoted"] == ["岳阳突出临港经济。"]
    assert rec["time"] and rec["id"]


def test_the_log_is_never_truncated_and_survives_a_new_instance(tmp_path: Path) -> None:
    FeedbackLog(tmp_path).record("q1", ANSWER, "up")
    FeedbackLog(tmp_path).record("q2", ANSWER, "down", "wrong")  # as after a restart
    assert [r["question"] for r in lines(tmp_path / "feedback.jsonl")] == ["q1", "q2"]


def test_candidates_are_current_downvotes_then_not_found_questions(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path)
    log.record("liked", ANSWER, "up")
    log.record("changed my mind", ANSWER, "down", answer_id="a1")
    log.record("changed my mind", ANSWER, "down", "missed the Yueyang part", answer_id="a1")  # reason added
    log.record("withdrawn", ANSWER, "down", answer_id="a2")
    log.record("withdrawn", ANSWER, None, answer_id="a2")
    log.record_not_found("海南自贸港的个人所得税税率是多少？", NOT_FOUND)
    got = list(log.candidates())
    assert [(r["question"], r["vote"], r["reason"]) for r in got] == [
        ("changed my mind", "down", "missed the Yueyang part"),
        ("海南自贸港的个人所得税税率是多少？", None, ""),
    ]
    assert got[1]["outcome"] == "not_found"
    # Every change is a new line: nothing was rewritten.
    assert len(lines(tmp_path / "feedback.jsonl")) == 5


def test_a_torn_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path)
    log.record("first", ANSWER, "down")
    with open(tmp_path / "feedback.jsonl", "a", encoding="utf-8") as f:
        f.write('{"question": "half a li')  # a crash mid-write
    assert [r["question"] for r in log.candidates()] == ["first"]


def test_a_bad_vote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FeedbackLog(tmp_path).record("q", ANSWER, "meh")
    assert not (tmp_path / "feedback.jsonl").exists()


def test_no_files_yet_means_no_candidates(tmp_path: Path) -> None:
    assert list(FeedbackLog(tmp_path / "missing").candidates()) == []


def test_the_cli_lists_the_candidates(tmp_path: Path) -> None:
    FeedbackLog(tmp_path).record("岳阳片区的重点是什么？", ANSWER, "down", "引用不对")
    env = {"QA_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "qa", "feedback"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    [rec] = [json.loads(x) for x in out.stdout.splitlines()]
    assert rec["question"] == "岳阳片区的重点是什么？" and rec["reason"] == "引用不对"


# --- issue 12: an append log that can never glue two records ------------------------------------


def test_a_torn_tail_is_moved_aside_so_the_next_vote_is_kept(tmp_path: Path) -> None:
    log = FeedbackLog(tmp_path)
    log.record("first", ANSWER, "down", answer_id="a1")
    with open(tmp_path / "feedback.jsonl", "a", encoding="utf-8") as f:
        f.write('{"question": "half a li')  # a full disk mid-write: no newline
    log.record("second", ANSWER, "down", answer_id="a2")  # was glued to the torn line and lost
    assert [r["question"] for r in log.candidates()] == ["first", "second"]
    assert [r["id"] for r in lines(tmp_path / "feedback.jsonl")] == ["a1", "a2"]  # every line whole
    assert (tmp_path / "feedback.jsonl.torn").read_text("utf-8") == '{"question": "half a li\n'


def test_a_whole_record_missing_only_its_newline_is_kept(tmp_path: Path) -> None:
    (tmp_path / "not_found.jsonl").write_text(json.dumps({"id": "x", "question": "kept"}), "utf-8")
    FeedbackLog(tmp_path).record_not_found("next", NOT_FOUND)
    assert [r["question"] for r in lines(tmp_path / "not_found.jsonl")] == ["kept", "next"]
    assert not (tmp_path / "not_found.jsonl.torn").exists()


def test_a_failed_write_is_cut_off_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    log = FeedbackLog(tmp_path)
    log.record("first", ANSWER, "down")
    real_write = os.write

    def half_then_full_disk(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full_disk)
    with pytest.raises(OSError):
        log.record("lost", ANSWER, "down")
    monkeypatch.setattr(os, "write", real_write)
    log.record("third", ANSWER, "down")
    assert [r["question"] for r in lines(tmp_path / "feedback.jsonl")] == ["first", "third"]


def test_each_record_is_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    writes: list[bytes] = []
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(bytes(data)) or real_write(fd, data))
    FeedbackLog(tmp_path).record("问" * 2000, {**ANSWER, "answer": "答" * 20_000}, "down", "因" * 2000)
    assert len(writes) == 1 and writes[0].endswith(b"\n") and writes[0].count(b"\n") == 1
