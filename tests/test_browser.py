"""What a person sees: headless Chromium against the launched app (real model), desktop and phone.

One app for the whole module, both sizes in it: 1366x900 and 390x844 (touch). Checked: a marker
leads to exactly its sentence (highlighted, unfolded, in view, focused) and back; the contrast of
the page's text, computed from the styles the page really has; target sizes; the `lang`
attribute; votes kept per answer; the plain text that "copy" puts on the clipboard; the staff
sign-in, upload, list and removal. Screenshots go to test-output/browser/ (desktop-start.png,
desktop-marker.png, desktop.png, phone-start.png, phone.png, phone-source.png, staff.png, ...)
so a human can look at them, and the contrast measured to contrast.json.
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
LIST_QUESTION = "株洲如何对接湖南自贸区？"  # several sentences quoted from one folded passage
NOT_FOUND = "海南自贸港的个人所得税税率是多少？"
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
AA_TEXT = 4.5
AFTER = "e => getComputedStyle(e, '::after').content"
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


# Contrast of each visible element matching a selector: its computed colour over the first opaque
# background behind it (translucent layers composited), by the WCAG 2 formula.
CONTRAST_JS = """(sel) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) throw new Error("colour not understood: " + c);
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (!el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const bg = background(el);
    const [a, b] = [lum(over(parse(getComputedStyle(el).color), bg)), lum(bg)].sort((x, y) => y - x);
    out.push(Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100);
  }
  return out;
}"""
CONTRASTS: dict[str, dict[str, float]] = {}  # width -> element -> lowest ratio, kept in contrast.json


def check_contrast(page, where: str, names: dict[str, str]) -> None:
    for name, selector in names.items():
        ratios = page.evaluate(CONTRAST_JS, selector)
        assert ratios, f"{name} ({selector}) is not on the page"
        CONTRASTS.setdefault(where, {})[name] = min(ratios)
        (SHOTS / "contrast.json").write_text(json.dumps(CONTRASTS, ensure_ascii=False, indent=1), "utf-8")
        assert min(ratios) >= AA_TEXT, f"{name} ({selector}) contrast {min(ratios)}:1 at {where}"


def boxes(page, selector: str) -> list[dict]:
    return [b for b in (el.bounding_box() for el in page.locator(selector).all()) if b and b["width"]]


def check_targets(page, selector: str, least: float) -> None:
    found = boxes(page, selector)
    assert found, f"no {selector}"
    small = [b for b in found if b["width"] < least or b["height"] < least]
    assert not small, f"{selector} smaller than {least} px: {small}"


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


def new_page(browser, viewport: dict, **kw):
    context = browser.new_context(viewport=viewport, **kw)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def test_desktop_marker_sentence_contrast_feedback_copy_and_language(app, browser) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = new_page(browser, DESKTOP)
    page.goto(app.url)
    # A first-time visitor sees the title, what the collection holds, examples in the page's language.
    expect(page.locator("#qa-header h1")).to_have_text("文件问答")
    expect(page.locator("#qa-header .qa-collection")).to_contain_text("文件库：1 篇文件")
    expect(page.get_by_text("岳阳片区的重点是什么？", exact=True)).to_be_visible()
    expect(page.get_by_text("What are Yueyang's priorities?")).to_have_count(0)
    expect(page.locator("#qa-sources .qa-empty")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    # The language radios show where the keyboard is.
    page.locator("#qa-lang input").first.focus()
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.querySelector('#qa-lang label:has(input:focus)'));"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert ring[0] != "none" and ring[1] >= 2, ring
    check_contrast(page, "1366", {"subtitle": "#qa-header p", "发送": "#qa-send", "empty sources": ".qa-empty"})
    page.screenshot(path=str(SHOTS / "desktop-start.png"))

    ask_in_page(page, LIST_QUESTION)
    answer = page.locator("#qa-chat .qa-answer").last
    expect(answer.locator(".qa-badge")).to_have_text("已回答")
    markers = answer.locator("a.qa-cite")
    hrefs = [m.get_attribute("href") for m in markers.all()]
    assert len(hrefs) >= 2 and len(set(hrefs)) == len(hrefs), hrefs  # one marker per quoted sentence
    # Two quoted sentences of one card, folded away: the second one's marker unfolds the card
    # and lights up only that sentence.
    cards = [page.locator(h).evaluate("e => e.closest('.qa-src').id") for h in hrefs]
    n = next(i for i in range(1, len(cards)) if cards[i] == cards[i - 1])
    first, second = page.locator(hrefs[n - 1]), page.locator(hrefs[n])
    expect(second).to_be_hidden()
    markers.nth(n).click()
    expect(second).to_be_visible()
    expect(second).to_be_in_viewport()
    expect(second).to_have_class(re.compile(r"\bqa-current\b"))
    expect(first).not_to_have_class(re.compile(r"\bqa-current\b"))
    assert page.evaluate("document.activeElement.id") == hrefs[n].lstrip("#")
    paint = "e => getComputedStyle(e).backgroundColor"
    assert second.evaluate(paint) != first.evaluate(paint)  # stronger than the card's other sentence
    check_targets(page, "#qa-chat a.qa-cite", 24)
    check_targets(page, "#qa-chat button[aria-label='Like'], #qa-chat button[aria-label='Dislike']", 24)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SHOTS / "desktop-marker.png"))
    # The card leads back to the marker that was followed.
    page.locator(f"#{cards[n]} a.qa-back").click()
    assert page.evaluate("document.activeElement.getAttribute('href')") == hrefs[n]

    # Copy: plain text with the markers and a numbered source list, not the message's HTML.
    page.locator("#qa-chat .message-row").last.hover()
    page.locator("#qa-chat .message-buttons-left button[aria-label='Copy message']").last.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "<" not in copied and "[1]" in copied and "[2]" in copied, copied
    # One line per source card, the numbers of the sentences it holds together ("[2, 3] …").
    assert re.search(r"\n\n来源：\n(?:\[[\d, –]+\] [^\n]*\n)*\[\d+, \d+(–\d+)?\] 对接湖南自贸区", copied), copied

    # 👍 on the first answer; an English follow-up in the Chinese interface is answered with
    # English labels and an English gist under each quote, and the first answer keeps its 👍.
    page.locator("#qa-chat button[aria-label='Like']").last.click()
    expect(page.locator("#qa-reason textarea")).to_be_visible()
    expect(page.locator("#qa-reason")).to_contain_text(LIST_QUESTION)
    box = page.locator("#qa-input textarea")
    box.fill("And Yueyang?")
    box.press("Enter")
    expect(page.locator("#qa-reason textarea")).to_be_hidden()  # the box went with its answer
    liked = page.locator("#qa-chat button[aria-label='Liked']")
    page.wait_for_function(
        "() => document.querySelectorAll('#qa-chat .qa-answer.qa-done').length > 1", timeout=ANSWER_TIMEOUT_MS
    )
    second_answer = page.locator("#qa-chat .qa-answer").last
    expect(second_answer.locator(".qa-badge")).to_have_text(re.compile("^(Answered|Partly covered)$"))
    expect(second_answer.locator(".qa-searched")).to_contain_text("Searched for: ")
    gists = second_answer.locator(".qa-gist")
    expect(gists.first).to_be_visible()
    expect(gists.first).to_contain_text("Word-by-word dictionary gloss, not a translation:")
    assert gists.count() == second_answer.locator("a.qa-cite").count(), "one gist under each quoted sentence"
    expect(page.locator("#qa-sources .qa-group-h").first).to_have_text("Sources")
    expect(page.locator("#qa-sources .qa-group-q").first).to_contain_text("Question: And Yueyang?")
    expect(page.locator("#qa-chat .qa-answer").first.locator(".qa-badge")).to_have_text("已回答")
    expect(liked).to_have_count(1)
    expect(page.locator("#qa-chat button[aria-label='Like']")).to_have_count(1)  # the new answer's, unfilled
    check_contrast(
        page,
        "1366",
        {
            "检索 line": ".qa-searched",
            "earlier questions": "details.qa-earlier > summary",
            "markers": "#qa-chat a.qa-cite",
            "展开全文": ".qa-more",
            "section and date": ".qa-sec",
            "question of the sources": ".qa-group-q",
            "gist": "#qa-chat .qa-gist",
            "gist label": "#qa-chat .qa-gist-label",
        },
    )
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "desktop.png"))

    # The interface follows the chosen language, lang attribute and examples included.
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.locator("#qa-header h1")).to_have_text("Document Q&A")
    expect(page.locator("#qa-header .qa-collection")).to_contain_text("Collection: 1 document")
    expect(page.locator("#qa-sources .qa-group-h").first).to_have_text("Sources")
    assert page.evaluate("document.documentElement.lang") == "en"
    # Each answer keeps the labels of its question's language, and its vote.
    expect(page.locator("#qa-chat .qa-badge").first).to_have_text("已回答")
    expect(page.locator("#qa-chat .qa-below").first).to_contain_text("来源")
    expect(page.locator("#qa-chat .qa-badge").last).to_have_text(re.compile("^(Answered|Partly covered)$"))
    expect(liked).to_have_count(1)
    page.get_by_role("button", name="New chat").click()
    expect(page.get_by_text("What are Yueyang's priorities?")).to_be_visible()
    expect(page.get_by_text("岳阳片区的重点是什么？", exact=True)).to_have_count(0)
    assert not errors, errors
    page.close()


def test_phone_fits_the_screen_and_markers_lead_to_the_sentence(app, browser) -> None:
    from playwright.sync_api import expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = new_page(browser, PHONE, is_mobile=True, has_touch=True)
    page.goto(app.url)
    expect(page.locator("#qa-header .qa-collection")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    # 发送 is on the first screen; the language switch sits beside the title, not on a row of its own.
    send = page.locator("#qa-send").bounding_box()
    assert send and send["y"] + send["height"] <= PHONE["height"], send
    title = page.locator("#qa-header h1").bounding_box()
    lang = page.locator("#qa-lang label").first.bounding_box()
    assert title and lang and lang["y"] < title["y"] + title["height"], (title, lang)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    check_contrast(page, "390", {"发送": "#qa-send", "collection": "#qa-header .qa-collection"})
    page.screenshot(path=str(SHOTS / "phone-start.png"))

    ask_in_page(page, NOT_FOUND)
    expect(page.locator("#qa-chat .qa-answer").last.locator(".qa-badge")).to_have_text("未找到")
    ask_in_page(page, QUESTION)
    answer = page.locator("#qa-chat .qa-answer").last
    expect(answer).to_contain_text(EXPECTED)
    # Nothing is wider than the screen, and the sources sit under the chat, not beside it.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chat_box = page.locator("#qa-chat").bounding_box()
    sources_box = page.locator("#qa-sources").bounding_box()
    assert chat_box and sources_box and sources_box["y"] >= chat_box["y"] + chat_box["height"]
    expect(answer.locator(".qa-below")).to_be_visible()  # ...and the answer says so
    check_targets(page, "#qa-chat a.qa-cite", 44)
    check_targets(page, "#qa-chat button[aria-label='Like'], #qa-chat button[aria-label='Dislike']", 44)
    check_contrast(
        page,
        "390",
        {
            "snippets": ".qa-snippet",
            "markers": "#qa-chat a.qa-cite",
            "earlier questions": "details.qa-earlier > summary",
            "sources-below hint": ".qa-below a",
            "section and date": ".qa-sec",
            "展开全文": ".qa-more",
        },
    )
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.qa-latest .qa-passage')).fontSize)")
    assert size >= 16, size
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / "phone.png"))

    sentence = page.locator("#a2-q1")
    expect(sentence).not_to_be_in_viewport()  # below the chat, out of sight
    answer.locator("a.qa-cite", has_text="[1]").first.tap()
    expect(sentence).to_be_in_viewport()
    expect(sentence).to_have_class(re.compile(r"\bqa-current\b"))
    expect(sentence).to_contain_text(EXPECTED)
    assert page.evaluate("document.activeElement.id") == "a2-q1"
    page.screenshot(path=str(SHOTS / "phone-source.png"))
    page.locator("#a2-s1 a.qa-back").tap()
    expect(answer.locator("a.qa-cite").first).to_be_in_viewport()

    # 👎 with a reason, through the chat's own thumbs: the box comes into view, the vote is logged.
    page.locator("#qa-chat button[aria-label='Dislike']").last.tap()
    reason = page.locator("#qa-reason textarea")
    expect(reason).to_be_in_viewport()
    reason.fill("第二句和岳阳无关")
    page.get_by_role("button", name="提交原因").tap()
    expect(reason).to_be_hidden()
    log = app.data / "feedback.jsonl"
    records = [json.loads(x) for x in log.read_text("utf-8").splitlines()]
    assert records[-1]["question"] == QUESTION
    assert records[-1]["vote"] == "down" and records[-1]["reason"] == "第二句和岳阳无关"
    assert not errors, errors
    page.close()


def test_no_stack_trace_reaches_the_page(app, browser) -> None:
    from playwright.sync_api import expect

    page = browser.new_page(viewport=DESKTOP)
    page.goto(app.url)
    box = page.locator("#qa-input textarea")
    box.fill("长" * 2100)  # over the question length limit
    box.press("Enter")
    reply = page.locator("#qa-chat").get_by_text("问题太长了")
    expect(reply).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert "Traceback" not in page.content()
    # Thumbs only under finished answers: not under a message like this (nor "searching…").
    expect(page.locator("#qa-chat button[aria-label='Dislike']")).to_be_hidden()
    page.close()


def test_document_menu_and_staff_sign_in_upload_list_and_delete(app, browser, tmp_path: Path) -> None:
    """The ask tab's document menu offers the documents; a chosen one shows in the answer, a
    typed name that matches nothing gets the message. Staff sign in once, then upload a document,
    see it listed with its passages, and delete it."""
    from playwright.sync_api import expect
    from test_ui import PASSWORD

    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=DESKTOP)
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

    # Sign in first: nothing but the password box until then.
    page.get_by_role("tab", name="员工区").click()
    expect(page.locator("#qa-staff-note")).to_contain_text("PDF")
    expect(page.locator("#qa-files")).to_be_hidden()
    password = page.locator("#qa-password input")
    password.fill("wrong")
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#qa-status")).to_contain_text("密码不正确")
    expect(page.locator("#qa-files")).to_be_hidden()
    password.fill(PASSWORD)
    password.press("Enter")
    row = page.locator("#qa-status tr", has_text="hunan-ftz-zhuzhou.txt")
    expect(row).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    expect(row.locator(".qa-doc-chunks")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(password).to_be_hidden()
    status = page.locator("#qa-status").inner_text()
    assert "+0000" not in status and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", status), status
    # The drop zone speaks the page's language, not the browser's (which is English here).
    drop = page.locator("#qa-files button .wrap").first
    assert "拖放文件" in drop.evaluate(AFTER), drop.evaluate(AFTER)
    page.get_by_text("English", exact=True).click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert "Drop files here" in drop.evaluate(AFTER), drop.evaluate(AFTER)
    page.get_by_text("中文", exact=True).click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()

    # Upload: the new document is indexed in the background and appears in the list.
    notice = tmp_path / "闭园通知.txt"
    notice.write_text("# 闭园通知\n\n公园于十二月五日起闭园维修，为期三天。\n", "utf-8")
    page.locator("#qa-files input[type=file]").set_input_files(str(notice))
    page.get_by_role("button", name="上传并更新索引").click()
    expect(page.locator("#qa-upload-result")).to_contain_text("已保存：闭园通知.txt")
    new_row = page.locator("#qa-status tr", has_text="闭园通知.txt")
    expect(new_row).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    page.screenshot(path=str(SHOTS / "staff.png"), full_page=True)

    # Delete it again from the list.
    choice = page.locator("#qa-remove-choice input")
    choice.click()
    choice.fill("闭园通知")
    page.get_by_role("option", name=re.compile("闭园通知.txt")).first.click()
    page.get_by_role("button", name="删除文件并更新索引").click()
    expect(page.locator("#qa-upload-result")).to_contain_text("已删除：闭园通知.txt", timeout=ANSWER_TIMEOUT_MS)
    expect(new_row).to_have_count(0)
    expect(row).to_be_visible()
    assert not errors, errors
    page.close()
