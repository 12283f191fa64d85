"""The CLI as a user runs it: real model, real index on disk, real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = dict(os.environ)
    e["QA_INDEX_DIR"] = str(tmp_path_factory.mktemp("cli-index"))
    e["QA_DATA_DIR"] = str(tmp_path_factory.mktemp("cli-data"))
    return e


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=600
    )


def test_index_reports_what_it_did(env):
    first = run(env, "index")
    assert first.returncode == 0, first.stderr
    assert "built" in first.stdout and "1 documents" in first.stdout and "chunks" in first.stdout
    second = run(env, "index")
    assert "up to date" in second.stdout


def test_ask_yueyang_in_chinese_cites_the_passage(env):
    r = run(env, "ask", "岳阳片区的重点是什么？", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["answered"] is True and out["outcome"] == "answered"
    assert "临港经济" in out["answer"] and "航运物流中心" in out["answer"]
    cited = [s for s in out["sources"] if s["n"] is not None]
    assert any("岳阳突出临港经济" in s["text"] for s in cited)
    assert "[1]" in out["answer"]


def test_ask_yueyang_in_english_cites_the_same_passage(env):
    zh = json.loads(run(env, "ask", "岳阳片区的重点是什么？", "--json").stdout)
    en = json.loads(run(env, "ask", "What are Yueyang's priorities?", "--json").stdout)
    assert en["answered"] is True
    assert en["answer"].startswith("From the Chinese sources:")
    assert "临港经济" in en["answer"]
    zh_cited = {s["start"] for s in zh["sources"] if s["n"] is not None and "岳阳突出临港经济" in s["text"]}
    en_cited = {s["start"] for s in en["sources"] if s["n"] is not None and "岳阳突出临港经济" in s["text"]}
    assert zh_cited and zh_cited == en_cited


def test_question_the_documents_do_not_cover_is_refused(env):
    r = run(env, "ask", "海南自贸港的个人所得税税率是多少？")
    assert r.returncode == 0
    assert "文档中没有找到" in r.stdout
    out = json.loads(run(env, "ask", "海南自贸港的个人所得税税率是多少？", "--json").stdout)
    assert out["answered"] is False and out["outcome"] == "not_found"
    assert all(s["n"] is None for s in out["sources"])


@pytest.mark.parametrize(
    "question,expect",
    [
        ("", "请输入"),
        ("   \t ", "请输入"),
        ("\x01\x02\x1b", "请输入"),
        ("岳" * 30_000, "太长"),
        ("x" * 100_000, "too long"),
    ],
)
def test_bad_questions_exit_non_zero_with_a_clear_message(env, question, expect):
    r = run(env, "ask", question)
    assert r.returncode == 2
    assert expect in r.stderr and "Traceback" not in r.stderr


def test_inputs_argv_cannot_carry_get_clear_messages_in_batch_mode(env):
    """A NUL byte and a 100,000-character question only arrive through stdin."""
    lines = [
        json.dumps({"id": "nul", "question": "\x00\x00"}),
        json.dumps({"id": "huge", "question": "岳" * 100_000}, ensure_ascii=False),
        json.dumps({"id": "ok", "question": "岳阳\x00片区的重点是什么？"}, ensure_ascii=False),
    ]
    r = run(env, "ask", "--jsonl", stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    out = {o["id"]: o for o in map(json.loads, r.stdout.splitlines())}
    assert "请输入" in out["nul"]["error"]
    assert "太长" in out["huge"]["error"]
    assert out["ok"]["answered"] and "临港经济" in out["ok"]["answer"]


def test_control_characters_inside_a_question_are_ignored(env):
    out = json.loads(run(env, "ask", "岳阳片区\x07的重点\x1b是什么？", "--json").stdout)
    assert out["answered"] and "临港经济" in out["answer"]


def test_jsonl_batch_keeps_its_contract_and_survives_bad_lines(env):
    lines = [
        {"id": "a", "question": "岳阳片区的重点是什么？"},
        "{not json",
        {"id": "b", "messages": [{"role": "user", "content": "长沙片区的重点是什么？"}]},
        {"id": "c", "question": ""},
        {"id": "d", "question": 42},
        {"id": "e", "messages": [{"role": "robot", "content": "x"}]},
        {"id": "f", "question": "What are Yueyang's priorities?"},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    r = run(env, "ask", "--jsonl", "--k", "3", stdin=stdin)
    assert r.returncode == 0, r.stderr
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "line-2", "b", "c", "d", "e", "f"]
    for o in (out[0], out[2], out[6]):
        assert set(o) >= {"id", "answer", "answered", "outcome", "searched_for", "sources", "timings_ms"}
        assert isinstance(o["answered"], bool) and len(o["sources"]) == 3
        assert all(set(s) >= {"doc", "section", "text", "score"} for s in o["sources"])
        scores = [s["score"] for s in o["sources"]]
        assert scores == sorted(scores, reverse=True)
        assert o["timings_ms"]["total"] > 0
    for o in (out[1], out[3], out[4], out[5]):
        assert set(o) == {"id", "error"} and o["error"]
    assert "请输入" in out[3]["error"]


def test_bad_k_is_refused(env):
    r = run(env, "ask", "岳阳", "--k", "0")
    assert r.returncode == 2 and "--k" in r.stderr


def test_binary_and_non_utf8_files_in_the_corpus_are_skipped_and_the_index_survives(env, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.txt").write_bytes((ROOT / "corpus" / "hunan-ftz-zhuzhou.txt").read_bytes())
    (corpus / "photo.txt").write_bytes(bytes(range(256)) * 40)
    (corpus / "latin1.md").write_bytes("Überblick über die Freihandelszone".encode("latin-1"))
    e = {**env, "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(tmp_path / "index")}
    r = run(e, "index")
    assert r.returncode == 0, r.stderr
    assert "skipped photo.txt: binary" in r.stdout and "skipped latin1.md" in r.stdout
    out = json.loads(run(e, "ask", "岳阳片区的重点是什么？", "--json").stdout)
    assert out["answered"] and all(s["doc"] == "page.txt" for s in out["sources"])
