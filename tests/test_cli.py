"""The CLI as a user runs it: real model, real index on disk, real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, reuse_seed_vectors

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = dict(os.environ)
    e["QA_INDEX_DIR"] = str(tmp_path_factory.mktemp("cli-index"))
    # The seed page's vectors: `index` must build and report it, not embed it (no test counts that).
    reuse_seed_vectors(Path(e["QA_INDEX_DIR"]))
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


def test_ask_yueyang_in_chinese_cites_the_passage(answers):
    out = answers["zh"]  # `ask --jsonl` writes what `ask --json` does, one object per line
    assert out["answered"] is True and out["outcome"] == "answered"
    assert "临港经济" in out["answer"] and "航运物流中心" in out["answer"]
    cited = [s for s in out["sources"] if s["n"] is not None]
    assert any("岳阳突出临港经济" in s["text"] for s in cited)
    assert "[1]" in out["answer"]


@pytest.fixture(scope="module")
def answers(env: dict[str, str]) -> dict[str, dict]:
    """Several questions answered by one `ask --jsonl` process (each process loads the models),
    bad lines among them: each gets its error line and the batch goes on."""
    lines = {
        "zh": "岳阳片区的重点是什么？",
        "en": "What are Yueyang's priorities?",
        "hainan": "海南自贸港的个人所得税税率是多少？",
        "control": "岳阳片区\x07的重点\x1b是什么？",
        "heading-zh": "总体方案提出了多少项制度创新试验任务？",
        "heading-en": "How many institutional innovation tasks does the overall plan set out?",
        "partial-en": "What did Governor Xu Dazhe say about the Zhuzhou FTZ?",
        "chenzhou-en": "What will Chenzhou focus on?",
        # Only stdin can carry a NUL byte or a 100,000-character question.
        "nul": "\x00\x00",
        "huge": "岳" * 100_000,
        "nul-inside": "岳阳\x00片区的重点是什么？",
    }
    good = [json.dumps({"id": i, "question": q}, ensure_ascii=False).encode() for i, q in lines.items()]
    # Issue 12: each of these ended the batch with a traceback and exit 1. They are lines
    # len(good) + 1, 2 and 3, and have no id to echo.
    bad = [
        b'{"id": "bytes", "question": "\xb2\xbb\xca\xc7 UTF-8"}',  # GBK, not UTF-8
        b'{"id": "surrogate", "question": "\\ud800"}',
        b'{"question": ' * 100_000,
    ]
    last = json.dumps({"id": "after-bad", "question": "岳阳片区的重点是什么？"}, ensure_ascii=False).encode()
    r = subprocess.run(
        [sys.executable, "-m", "qa", "ask", "--jsonl"],
        cwd=ROOT,
        env=env,
        input=b"\n".join([*good, *bad, last]) + b"\n",
        capture_output=True,
        timeout=600,
    )
    assert r.returncode == 0 and b"Traceback" not in r.stderr, r.stderr
    out = [json.loads(x) for x in r.stdout.decode("utf-8").splitlines()]
    n = len(good)
    assert [o["id"] for o in out] == [*lines, f"line-{n + 1}", f"line-{n + 2}", f"line-{n + 3}", "after-bad"]
    return {o["id"]: o for o in out}


def test_ask_yueyang_in_english_cites_the_same_passage(answers):
    zh, en = answers["zh"], answers["en"]
    assert en["answered"] is True
    assert en["answer"].startswith("From the Chinese sources:")
    assert "临港经济" in en["answer"]
    zh_cited = {s["start"] for s in zh["sources"] if s["n"] is not None and "岳阳突出临港经济" in s["text"]}
    en_cited = {s["start"] for s in en["sources"] if s["n"] is not None and "岳阳突出临港经济" in s["text"]}
    assert zh_cited and zh_cited == en_cited


def test_an_english_question_about_a_named_place_is_answered_first_by_the_sentence_that_names_it(answers):
    """Issue 11: "What will Chenzhou focus on?" quoted the sentences about Zhuzhou's 重点 first."""
    out = answers["chenzhou-en"]
    assert out["answered"], out["answer"]
    first = out["answer"].removeprefix("From the Chinese sources:").strip()
    assert first.startswith("郴州突出湘港澳直通"), out["answer"]


def test_an_english_answer_carries_a_gist_per_quoted_sentence_and_a_chinese_one_none(answers):
    """Issue 11: under each quoted Chinese sentence an English reader gets a dictionary gloss."""
    from qa.gist import LABEL

    for key in ("en", "heading-en"):
        cited = [s for s in answers[key]["sources"] if s["n"] is not None]
        assert cited and answers[key]["lang"] == "en"
        for s in cited:
            assert [g["sentence"] for g in s["gists"]] == s["quoted"], s
            assert all(g["gloss"] and g["label"] == LABEL for g in s["gists"])
    yueyang = next(g for s in answers["en"]["sources"] for g in s["gists"] if "岳阳突出临港经济" in g["sentence"])
    assert (
        yueyang["gloss"].startswith("Yueyang · ")
        and {"zh": "岳阳", "en": "Yueyang", "kind": "name"} in yueyang["parts"]
    )
    heading = next(g for s in answers["heading-en"]["sources"] for g in s["gists"] if "121" in g["sentence"])
    assert "7 major" in heading["gloss"] and "121" in heading["gloss"]
    for key in ("zh", "heading-zh", "hainan"):
        assert all(s["gists"] == [] for s in answers[key]["sources"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_fact_stated_by_a_heading_is_quoted_and_cited_to_its_section(answers, lang):
    """Issue 10: 【知多点】's heading is the only place that says 121; the answer quotes it."""
    out = answers[f"heading-{lang}"]
    assert out["answered"] and "提出7大领域121项制度创新试验任务[1]" in out["answer"]
    cited = next(s for s in out["sources"] if s["n"] == 1)
    assert "【知多点】" in cited["section"] and cited["heading"] == "提出7大领域121项制度创新试验任务"
    assert cited["quoted"][0] == cited["heading"] and cited["heading"] not in cited["text"]


def test_an_english_partial_answer_names_the_english_words_the_page_lacks(answers):
    """Issue 11 part 2: the page never names a governor Xu Dazhe; the answer says so in the
    question's own words (the name whole), not with a Chinese expansion the user never typed."""
    out = answers["partial-en"]
    assert out["outcome"] == "partial", out["answer"]
    named = re.search(r'they do not mention "([^"]+)"', out["answer"])
    assert named, out["answer"]
    missing = named.group(1).split(", ")
    assert "Xu Dazhe" in named.group(1)
    assert all(m in out["searched_for"] and re.fullmatch(r"[A-Za-z][A-Za-z ]*", m) for m in missing)


def test_question_the_documents_do_not_cover_is_refused(env, answers):
    r = run(env, "ask", "海南自贸港的个人所得税税率是多少？")
    assert r.returncode == 0
    assert "文档中没有找到" in r.stdout
    out = answers["hainan"]
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


def test_inputs_argv_cannot_carry_get_clear_messages_in_batch_mode(answers):
    """A NUL byte and a 100,000-character question only arrive through stdin."""
    assert "请输入" in answers["nul"]["error"]
    assert "太长" in answers["huge"]["error"]
    ok = answers["nul-inside"]
    assert ok["answered"] and "临港经济" in ok["answer"]


def test_control_characters_inside_a_question_are_ignored(answers):
    out = answers["control"]
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
    reuse_seed_vectors(tmp_path / "index")  # page.txt is the seed page: the same text, the same vectors
    r = run(e, "index")
    assert r.returncode == 0, r.stderr
    assert "skipped photo.txt: binary" in r.stdout and "skipped latin1.md" in r.stdout
    out = json.loads(run(e, "ask", "岳阳片区的重点是什么？", "--json").stdout)
    assert out["answered"] and all(s["doc"] == "page.txt" for s in out["sources"])


# --- limiting questions to some documents (--doc) ----------------------------------------------------


@pytest.fixture(scope="module")
def collection_env(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A small collection (two versions of one law, which share a title, and a newspaper page
    in a folder), indexed once with the real model."""
    from test_collection_ui import COLLECTION

    base = tmp_path_factory.mktemp("cli-collection")
    for name, text in COLLECTION.items():
        (base / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        (base / "corpus" / name).write_text(text, "utf-8")
    e = {**env, "QA_CORPUS_DIR": str(base / "corpus"), "QA_INDEX_DIR": str(base / "index")}
    r = run(e, "index")
    assert r.returncode == 0 and "3 documents" in r.stdout, r.stderr
    return e


def test_doc_limits_a_question_to_the_matching_documents(collection_env):
    from test_collection_ui import LAW, QUESTION

    text = run(collection_env, "ask", QUESTION, "--doc", "*.md")
    assert text.returncode == 0, text.stderr
    # Both laws carry the same title: every citation names its file, then the section path.
    cited = re.findall(rf"^(?:\[\d+\]|-) {LAW} \((新?公园条例\.md)\) › 第.章\S+ › 第.条", text.stdout, re.M)
    assert cited, text.stdout
    assert "报纸" not in text.stdout


def test_doc_matching_nothing_is_a_one_line_error(collection_env):
    r = run(collection_env, "ask", "--doc", "民法典", "公园的开放时间是什么？")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "error: 没有文件名或标题与“民法典”相符的文档。\n"


def test_jsonl_lines_override_doc_and_a_bad_pattern_does_not_stop_the_batch(collection_env):
    from test_collection_ui import LAW

    lines = [
        {"id": "flag", "question": "公园的开放时间是什么？"},
        {"id": "own", "question": "公园的开放时间是什么？", "doc": "新公园"},
        {"id": "none", "question": "公园的开放时间是什么？", "doc": "民法典"},
        {"id": "all", "question": "公园的开放时间是什么？", "doc": ""},
        {"id": "null", "question": "公园的开放时间是什么？", "doc": None},
        {"id": "bad", "question": "公园的开放时间是什么？", "doc": ["新公园"]},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    r = run(collection_env, "ask", "--jsonl", "--doc", "报纸/*", "--k", "5", stdin=stdin)
    assert r.returncode == 0, r.stderr
    out = {o["id"]: o for o in map(json.loads, r.stdout.splitlines())}
    assert list(out) == [x["id"] for x in lines]
    assert {s["doc"] for s in out["flag"]["sources"]} == {"报纸/星河日报.txt"}
    assert {s["doc"] for s in out["null"]["sources"]} == {"报纸/星河日报.txt"}  # null: not set
    own = out["own"]
    assert {s["doc"] for s in own["sources"]} == {"新公园条例.md"}
    assert "晚上十点" in own["answer"] and "晚上九点" not in own["answer"]
    # Its title is shared with the other law's: the label names the file, then the section path.
    assert all(s["label"] == f"{LAW} (新公园条例.md) › {s['section']}" for s in own["sources"])
    assert len({s["doc"] for s in out["all"]["sources"]}) == 3
    assert out["none"] == {"id": "none", "error": "没有文件名或标题与“民法典”相符的文档。"}
    assert set(out["bad"]) == {"id", "error"} and "'doc' must be a string" in out["bad"]["error"]


class RecordingEngine:
    """Records what each question was limited to; raises BadQuestion for an unknown pattern."""

    def __init__(self) -> None:
        self.docs: list[str | None] = []

    def documents(self) -> list[dict]:
        return [{"doc": "a.txt", "title": "A", "chunks": 1}]

    def ask(self, question=None, turns=None, k=None, docs=None):
        from qa.chat import BadQuestion
        from qa.records import Answer

        if docs and docs.startswith("none"):
            raise BadQuestion("no_such_document", pattern=docs)
        self.docs.append(docs)
        return Answer(text="x", outcome="not_found", citations=(), searched_for=turns[-1].content, lang="en")


def test_jsonl_doc_contract_with_a_recording_engine():
    import io

    from qa.cli import ask_jsonl

    engine = RecordingEngine()
    lines = [{"id": 1, "question": "q"}, {"id": 2, "question": "q", "doc": "b*"}, {"id": 3, "question": "q", "doc": ""}]
    lines += [{"id": 4, "question": "What?", "doc": "none1"}, {"id": 5, "question": "q", "doc": 7}]
    stdout = io.StringIO()
    assert ask_jsonl(engine, io.StringIO("\n".join(map(json.dumps, lines))), stdout, None, "a*") == 0
    out = [json.loads(x) for x in stdout.getvalue().splitlines()]
    assert engine.docs == ["a*", "b*", ""]
    assert out[3] == {"id": 4, "error": 'No document has a file name or title matching "none1".'}
    assert set(out[4]) == {"id", "error"}
    assert [o["id"] for o in out] == [1, 2, 3, 4, 5]


def test_jsonl_invalid_utf8_a_lone_surrogate_and_deep_nesting_do_not_stop_the_batch(answers):
    """Issue 12: each of these lines ended the batch with a traceback and exit 1."""
    utf8, surrogate, deep = (answers[k]["error"] for k in answers if k.startswith("line-"))  # in line order
    assert "not valid UTF-8" in utf8 and "lone surrogate" in surrogate and "nested too deeply" in deep
    last = answers["after-bad"]
    assert last["answered"] and "临港经济" in last["answer"]
