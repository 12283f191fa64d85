"""qa.formats on real LibreOffice-made fixtures (tests/fixtures/formats, see make_fixtures.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from qa.formats import EXTRACTORS, MAX_UNZIPPED, extract
from qa.load import DocumentError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "formats"


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="module")
def policy():
    return extract("policy.pdf", read("policy.pdf"))


def test_pdf_sentences_are_whole_with_no_stray_spaces(policy):
    # Wrapped across three lines in the PDF; "2024年" is auto-spaced there ("2024 年").
    assert (
        "本办法适用于本市行政区域内公共数据、企业数据和个人数据的流通交易及其监督管理活动。"
        "数据流通应当遵循合法、正当、必要的原则，不得危害国家安全、公共利益和个人、组织的合法权益；"
        "法律、行政法规另有规定的，从其规定。2024年全市数据交易额达到35.6亿元，同比增长42%。"
    ) in policy.text
    # A real space (a glyph in the PDF) is kept.
    assert "第一条 数据交易应当在依法设立的数据交易场所进行，交易双方应当签订书面合同。" in policy.text
    assert "\ufffd" not in policy.text


def test_pdf_headings_and_paragraphs_stand_alone(policy):
    paragraphs = policy.text.split("\n\n")
    for heading in ["数据要素流通管理办法（试行）", "一、总体要求", "（一）安全可控", "三、流通规则", "四、监督管理"]:
        assert heading in paragraphs
    assert "第五条 违反本办法规定的，由有关部门责令改正；情节严重的，依法追究法律责任。" in paragraphs
    assert all(p.strip() == p and p for p in paragraphs)


def test_pdf_page_offsets(policy):
    assert len(policy.pages) == 3 and policy.pages[0] == 0
    assert list(policy.pages) == sorted(policy.pages)
    on_page_2 = policy.text.index("第二条 数据提供方")
    assert policy.pages[1] <= on_page_2 < policy.pages[2]
    assert policy.text.startswith("三、流通规则", policy.pages[1])
    assert policy.text.startswith("四、监督管理", policy.pages[2])
    assert policy.text.index("（二）开放共享") < policy.pages[1]


def test_docx_paragraphs_headings_and_table_rows_keep_header():
    got = extract("补贴细则.docx", read("subsidy.docx"))
    assert got.pages == ()
    paragraphs = got.text.split("\n\n")
    # Headings (Heading 1/2 styles) and body paragraphs, then the table rows in document order.
    assert paragraphs == [
        "企业数字化转型补贴实施细则",
        "为支持中小企业数字化转型，现将补贴标准公布如下。",
        "一、补贴标准",
        "项目类别：工业互联网平台；补贴比例：30%；最高金额：200万元",
        "项目类别：智能制造改造；补贴比例：20%；最高金额：500万元",
        "二、申报程序",
        "申报单位应当于每年三月底前通过政务服务网提交申请材料。",
    ]


def test_html_gbk_main_text_without_navigation():
    data = read("notice-gbk.html")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is GBK
    got = extract("notice.HTM", data)
    assert got.text.startswith("关于开展二〇二五年度科技创新券申领工作的通知\n\n各区科技局，各有关单位：")
    assert "在本市注册的科技型中小企业，上年度研发投入不低于五十万元。" in got.text
    assert "\n\n专精特新企业优先支持。\n\n" in got.text
    for noise in ["网站首页", "政务公开", "当前位置", "相关链接", "版权所有", "网站标识码", "首页导航脚本", "SimSun"]:
        assert noise not in got.text


def test_html_without_article_drops_furniture_and_joins_chinese_line_breaks():
    page = """<html><head><title>t</title><script>alert("x")</script></head><body>
    <div role="navigation">菜单</div><nav>导航</nav>
    <div><h2>标题</h2><p>第一行文字
    第二行文字<br>新行</p><p>Hello
    world</p></div><footer>页脚</footer></body></html>"""
    got = extract("page.html", page.encode("utf-8"))
    assert got.text == "标题\n\n第一行文字第二行文字\n新行\n\nHello world"


def test_html_undeclared_gb18030_is_detected():
    got = extract("a.html", "<p>数据安全管理办法</p>".encode("gb18030"))
    assert got.text == "数据安全管理办法"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("encrypted.pdf", "encrypted PDF"),
        ("scanned.pdf", "no text layer (scanned PDF?); OCR is not supported"),
    ],
)
def test_bad_pdf_fixtures(name, reason):
    with pytest.raises(DocumentError) as err:
        extract(name, read(name))
    assert str(err.value) == reason


def test_damaged_pdf(tmp_path):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(read("policy.pdf")[:3000])  # a truncated download
    with pytest.raises(DocumentError, match=r"^damaged PDF: "):
        extract(broken.name, broken.read_bytes())
    with pytest.raises(DocumentError, match=r"^damaged PDF: "):
        extract("junk.pdf", b"%PDF-1.7\n this is not a pdf at all")


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_refused_by_ratio(tmp_path):
    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(zip_bytes({"word/document.xml": b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>"}))
    assert bomb.stat().st_size < 100_000
    with pytest.raises(DocumentError, match=r"^refused: the archive expands to 20,971,527 bytes .*\(zip bomb\?\)$"):
        extract(bomb.name, bomb.read_bytes())


def test_zip_bomb_refused_by_size(monkeypatch):
    # Same check, absolute limit: lower it rather than build a 200 MB archive in a unit test.
    monkeypatch.setattr("qa.formats.MAX_UNZIPPED", 1000)
    data = zip_bytes({"word/document.xml": bytes(range(256)) * 8})  # incompressible, ratio ~1
    with pytest.raises(DocumentError, match=r"^refused: the archive expands to 2,048 bytes"):
        extract("big.docx", data)
    assert MAX_UNZIPPED == 200 * 1024 * 1024


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PK\x03\x04 not really a zip", r"^damaged \.docx \(not a readable zip archive\)"),
        (zip_bytes({"hello.txt": b"hi"}), r"^damaged \.docx: word/document.xml is missing$"),
        (zip_bytes({"word/document.xml": b"<w:document"}), r"^damaged \.docx: "),
        (
            zip_bytes({"word/document.xml": b'<!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>'}),
            r"^refused: word/document.xml declares XML entities$",
        ),
    ],
)
def test_bad_docx(data, reason):
    with pytest.raises(DocumentError, match=reason):
        extract("bad.docx", data)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.xlsx", b"PK", r"^unsupported file type \.xlsx"),
        ("README", b"text", r"^unsupported file type \(none\)"),
        ("a.pdf", b"  \n", r"^empty file$"),
        ("a.html", b"<html><nav>only navigation</nav></html>", r"^no text in the HTML page$"),
        ("a.html", b"\xff\x00\xfe binary \x00\x00", r"binary file"),
    ],
)
def test_other_bad_input(name, data, reason):
    with pytest.raises(DocumentError, match=reason):
        extract(name, data)


def test_deeply_nested_html_is_not_a_crash():
    got = extract("deep.html", b"<div>" * 20_000 + "深层文字".encode() + b"</div>" * 20_000)
    assert got.text == "深层文字"


GARBAGE = [b"\x00\x01\x02garbage" * 100, b"PK\x05\x06" + b"\x00" * 18, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"]


@pytest.mark.parametrize("suffix", sorted(EXTRACTORS))
@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_raises_only_document_error(suffix, data):
    with pytest.raises(DocumentError):
        extract("x" + suffix, data)
    if suffix not in (".html", ".htm"):  # any text is a (poor) HTML page; not so for the others
        with pytest.raises(DocumentError):
            extract("x" + suffix, b"%PDF-1.4\n1 0 obj << /Type /Catalog")


def test_fixtures_are_small():
    for path in FIXTURES.iterdir():
        assert path.stat().st_size < 200_000, path.name
