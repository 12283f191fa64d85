"""A real-looking mixed collection (PDF, Word, HTML, GBK text, bad files) answered with citations
that name the document and, for PDFs, the page. Real models, real index on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, reuse_seed_vectors

from qa.output import to_json
from qa.settings import Settings

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).parent / "fixtures" / "formats"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory):
    from qa.engine import Engine

    corpus = tmp_path_factory.mktemp("mixed-corpus")
    for name in ("policy.pdf", "subsidy.docx", "notice-gbk.html", "encrypted.pdf", "scanned.pdf"):
        shutil.copy(FIXTURES / name, corpus / name)
    (corpus / "library-gbk.txt").write_bytes(
        "本市公共图书馆每周一闭馆，周二至周日开放，开放时间为九点至二十一点。".encode("gbk")
    )
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "bomb.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (corpus / "page.txt").write_bytes((ROOT / "corpus" / "hunan-ftz-zhuzhou.txt").read_bytes())
    settings = Settings.from_env(
        corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("mixed-index"), data_dir=tmp_path_factory.mktemp("d")
    )
    reuse_seed_vectors(settings.index_dir)  # page.txt's vectors; the other documents are embedded here
    return Engine(settings)


def cited(answer) -> list[dict]:
    return [s for s in to_json(answer)["sources"] if s["n"] is not None]


def test_bad_files_are_skipped_with_a_reason_and_the_rest_indexed(engine):
    skipped = {s.name: s.reason for s in engine.report.skipped}
    assert "encrypted" in skipped["encrypted.pdf"]
    assert "no text layer" in skipped["scanned.pdf"]
    assert "empty" in skipped["empty.txt"]
    assert "damaged" in skipped["bomb.docx"]
    docs = {c.doc_id for c in engine.stored.chunks}
    assert docs == {"policy.pdf", "subsidy.docx", "notice-gbk.html", "library-gbk.txt", "page.txt"}


@pytest.mark.parametrize(
    "question,doc,page,needle",
    [
        ("数据交易场所应当建立哪些机制？", "policy.pdf", 2, "纠纷调解"),
        ("数据流通应当遵循什么原则？", "policy.pdf", 1, "合法、正当、必要"),
        ("工业互联网平台的补贴比例是多少？", "subsidy.docx", None, "30%"),
        ("科技创新券的申领时间到什么时候截止？", "notice-gbk.html", None, "六月三十日"),
        ("公共图书馆哪天闭馆？", "library-gbk.txt", None, "周一闭馆"),
        ("岳阳片区的重点是什么？", "page.txt", None, "临港经济"),
    ],
)
def test_each_format_is_answered_with_a_citation_naming_document_and_page(engine, question, doc, page, needle):
    answer = engine.ask(question)
    assert answer.outcome != "not_found", answer.note
    assert needle in answer.text
    sources = [s for s in cited(answer) if s["doc"] == doc]
    assert sources, f"no citation of {doc}: {answer.text}"
    assert any(needle in q for s in sources for q in s["quoted"])
    assert sources[0]["page"] == page


def test_pdf_sections_come_from_official_headings(engine):
    answer = engine.ask("数据交易场所应当建立哪些机制？")
    src = next(s for s in cited(answer) if s["doc"] == "policy.pdf")
    assert src["section"] == "三、流通规则 › （一）交易场所"
    assert src["title"] == "数据要素流通管理办法（试行）"
