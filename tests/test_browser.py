"""What a person sees: headless Chromium against the launched app (real model), desktop and phone.

Screenshots go to test-output/browser/ (desktop.png 1280x900, phone.png 390x844, and the phone
view after following a marker) so a human can look at them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-output" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION = "岳阳片区的重点是什么？"
EXPECTED = "临港经济"  # in the answer, and highlighted in its source
ANSWER_TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.slow, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(
        "!!! BROWSER TEST SKIPPED: /usr/bin/chromium is not installed, so nobody checked what a person "
        "sees. Install it with `apt-get install -y chromium` (or `make browser`). !!!",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    from test_ui import running_app

    with running_app(tmp_path_factory.mktemp("browser-app")) as a:
        yield a


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def ask_in_page(page, question: str) -> None:
    before = page.locator("#qa-chat .qa-answer.qa-done").count()
    box = page.locator("#qa-input textarea")
    box.fill(question)
    box.press("Enter")
    # Done when one more answer has finished streaming (it carries "qa-done" only at the end).
    page.wait_for_function(
        "n => document.querySelectorAll('#qa-chat .qa-answer.qa-done').length > n",
        arg=before,
        timeout=ANSWER_TIMEOUT_MS,
    )


def test_desktop_answer_sources_marker_and_feedback(app, browser) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.url)
    # A first-time visitor sees the title, the example questions and an explanation of the panel.
    expect(page.get_by_text("文件问答", exact=True)).to_be_visible()
    expect(page.get_by_text("What are Yueyang's priorities?")).to_be_visible()
    expect(page.locator("#qa-sources .qa-empty")).to_be_visible()

    ask_in_page(page, QUESTION)
    answer = page.locator("#qa-chat .qa-answer").last
    expect(answer).to_contain_text(EXPECTED)
    expect(answer.locator(".qa-badge")).to_have_text("已回答")
    mark = page.locator("#qa-sources mark", has_text=EXPECTED).first
    expect(mark).to_be_visible()
    expect(page.locator("#qa-sources .qa-src").first).to_contain_text("对接湖南自贸区")

    marker = answer.locator("a.qa-cite", has_text="[1]").first
    card = page.locator("#a1-s1")
    marker.click()
    expect(card).to_be_in_viewport()
    expect(card).to_have_class(re.compile(r"\bqa-flash\b"))  # the card lights up
    page.mouse.move(0, 0)
    page.screenshot(path=str(SHOTS / "desktop.png"))

    # 👎 with a reason, through the chat's own thumbs: it lands in the feedback log.
    page.locator("#qa-chat button[aria-label='Dislike']").last.click()
    reason = page.locator("#qa-reason textarea")
    expect(reason).to_be_visible()
    reason.fill("第二句和岳阳无关")
    page.get_by_role("button", name="提交原因").click()
    expect(reason).to_be_hidden()
    log = app.data / "feedback.jsonl"
    records = [json.loads(x) for x in log.read_text("utf-8").splitlines()]
    assert records[-1]["question"] == QUESTION
    assert records[-1]["vote"] == "down" and records[-1]["reason"] == "第二句和岳阳无关"

    # The interface follows the chosen language.
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator("#qa-header h1")).to_have_text("Document Q&A")
    expect(page.locator("#qa-sources .qa-group-h").first).to_have_text("Sources")
    assert not errors, errors
    page.close()


def test_phone_layout_stacks_and_markers_lead_to_the_source(app, browser) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(app.url)
    ask_in_page(page, QUESTION)
    answer = page.locator("#qa-chat .qa-answer").last
    expect(answer).to_contain_text(EXPECTED)
    # Nothing is wider than the screen, and the sources sit under the chat, not beside it.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    chat_box = page.locator("#qa-chat").bounding_box()
    sources_box = page.locator("#qa-sources").bounding_box()
    assert chat_box and sources_box and sources_box["y"] >= chat_box["y"] + chat_box["height"]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "phone.png"))

    card = page.locator("#a1-s1")
    expect(card).not_to_be_in_viewport()  # below the chat, out of sight
    answer.locator("a.qa-cite", has_text="[1]").first.tap()
    expect(card).to_be_in_viewport(ratio=0.9)
    expect(card.locator("mark", has_text=EXPECTED).first).to_be_visible()
    page.screenshot(path=str(SHOTS / "phone-source.png"))
    page.close()


def test_no_stack_trace_reaches_the_page(app, browser) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(app.url)
    box = page.locator("#qa-input textarea")
    box.fill("长" * 2100)  # over the question length limit
    box.press("Enter")
    reply = page.locator("#qa-chat").get_by_text("问题太长了")
    expect(reply).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert "Traceback" not in page.content()
    page.close()


def test_document_menu_limits_the_question_and_staff_see_the_list(app, browser) -> None:
    """The ask tab's document menu offers the documents; a chosen one shows in the answer, a
    typed name that matches nothing gets the message; staff see the documents with passage counts."""
    from playwright.sync_api import expect
    from test_ui import PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(app.url)
    menu = page.locator("#qa-docs input")
    expect(menu).to_have_value("全部文件")
    menu.click()
    menu.fill("自贸区")  # typing filters the menu by title and file name
    page.get_by_text("hunan-ftz-zhuzhou.txt", exact=False).first.click()
    expect(menu).to_have_value(re.compile(r"hunan-ftz-zhuzhou\.txt$"))
    ask_in_page(page, QUESTION)
    answer = page.locator("#qa-chat .qa-answer").last
    expect(answer.locator(".qa-scope")).to_have_text("范围：hunan-ftz-zhuzhou.txt")
    page.screenshot(path=str(SHOTS / "document-menu.png"))

    menu.click()
    menu.fill("民法典")
    menu.press("Enter")
    box = page.locator("#qa-input textarea")
    box.fill(QUESTION)
    box.press("Enter")
    expect(page.locator("#qa-chat").get_by_text("没有文件名或标题与“民法典”相符的文档。")).to_be_visible(
        timeout=ANSWER_TIMEOUT_MS
    )

    page.get_by_role("tab", name="员工区").click()
    password = page.locator("#qa-password input")
    password.fill(PASSWORD)
    password.press("Enter")
    row = page.locator("#qa-status tr", has_text="hunan-ftz-zhuzhou.txt")
    expect(row).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(row.locator(".qa-doc-chunks")).to_have_text(re.compile(r"^[1-9]\d*$"))
    page.locator("#qa-remove-choice input").click()
    expect(page.get_by_text("hunan-ftz-zhuzhou.txt · 对接湖南自贸区", exact=False).first).to_be_visible()
    page.keyboard.press("Escape")
    page.screenshot(path=str(SHOTS / "staff-documents.png"), full_page=True)
    assert not errors, errors
    page.close()
