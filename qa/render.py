"""Render answers and their sources as HTML for the chat UI: pure functions of the public JSON record.

It takes the `qa.output.to_json` record (never the engine's internals), so what the page shows is
exactly what programs get from the API. Every piece of document or user text is HTML-escaped;
the only markup is ours: citation markers become links to the numbered source cards
(`#a{turn}-s{n}`), quoted sentences are wrapped in <mark>, long passages fold into <details>, and
an English answer shows each quoted sentence's English gist (a dictionary gloss) under it.
An answer and its sources are labelled in the answer's language (the question's), whatever the
interface language: an English question asked in the Chinese interface reads "Answered".
It also holds the page's strings in Chinese and English (`LABELS`); the styles and the small page
script that go with this markup are in `qa.page`. It does not import gradio, answer questions, or
decide anything about the outcome.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from qa.lang import message
from qa.text import normalise_space

# Passages longer than this fold: the quoted sentences stay visible, the rest opens on request.
FOLD_CHARS = 160
EXCERPT_CHARS = 90
SNIPPET_CHARS = 36

_MARKER = re.compile(r"\[(\d+)\]")
# Streaming unit: a run of text closed by a citation marker or a line break (one quoted sentence).
_PIECE = re.compile(r".*?(?:\[\d+\]|\n|$)", re.S)

LABELS: dict[str, dict[str, str]] = {
    "answered": {"zh": "已回答", "en": "Answered"},
    "partial": {"zh": "部分涵盖", "en": "Partly covered"},
    "not_found": {"zh": "未找到", "en": "Not found"},
    "searched_for": {"zh": "检索：", "en": "Searched for: "},
    "scope": {"zh": "范围：", "en": "In: "},
    "sources": {"zh": "来源", "en": "Sources"},
    "nearest": {"zh": "相关段落（未直接回答）", "en": "Nearest passages (not an answer)"},
    "sources_empty": {
        "zh": "提问后，答案引用的原文段落会显示在这里，引用的句子会高亮。",
        "en": "Ask a question: the passages the answer cites appear here, with the quoted sentences highlighted.",
    },
    "show_full": {"zh": "展开全文", "en": "Show the whole passage"},
    "back": {"zh": "↑ 回到答案", "en": "↑ Back to the answer"},
    "below": {"zh": "↓ 引用的原文在下方“来源”中", "en": "↓ The quoted passages are below, under “Sources”"},
    "dated": {"zh": "文件日期 {date}", "en": "dated {date}"},
    "collection": {
        "zh": "文件库：{documents} 篇文件，最新文件日期 {newest}",
        "en": "Collection: {documents} documents, the newest dated {newest}",
    },
    "collection_one": {
        "zh": "文件库：1 篇文件，文件日期 {newest}",
        "en": "Collection: 1 document, dated {newest}",
    },
    "collection_empty": {"zh": "文件库中还没有文件。", "en": "The collection has no documents yet."},
    "copy_sources": {"zh": "来源：", "en": "Sources:"},
    "copy_nearest": {"zh": "相关段落：", "en": "Nearest passages:"},
    "hide_full": {"zh": "收起", "en": "Show less"},
    "for_question": {"zh": "问题：", "en": "Question: "},
    "searching": {"zh": "正在检索文档…", "en": "Searching the documents…"},
    "gist": {"zh": "逐词词典释义，并非翻译：", "en": "Word-by-word dictionary gloss, not a translation:"},
    # The page around the answers (qa.ui).
    "title": {"zh": "文件问答", "en": "Document Q&A"},
    "subtitle": {
        "zh": "答案只取自已收录的公开文件，每句都标注来源 [n]，点击标注查看原文。",
        "en": "Answers come only from the published documents; every sentence cites its source [n] — click a "
        "marker to see the passage.",
    },
    "tab_ask": {"zh": "问答", "en": "Ask"},
    "tab_staff": {"zh": "员工区", "en": "Staff"},
    "chat": {"zh": "对话", "en": "Conversation"},
    "placeholder": {
        "zh": "**请提问**　可以用中文或英文提问，也可以追问（如“那岳阳呢？”）。下面是一些例子：",
        "en": "**Ask a question** in Chinese or English; follow-ups like “And Yueyang?” work too. Some examples:",
    },
    "input": {"zh": "您的问题", "en": "Your question"},
    "input_hint": {"zh": "输入问题，按回车发送", "en": "Type a question and press Enter"},
    "send": {"zh": "发送", "en": "Send"},
    "clear": {"zh": "新对话", "en": "New chat"},
    "reason": {
        "zh": "谢谢，您的评价已记录。愿意的话，请补充原因：",
        "en": "Thank you, your rating is saved. If you like, tell us why:",
    },
    "reason_hint_down": {
        "zh": "哪里不对？例如：答非所问、引用不对、文件里明明有却没找到",
        "en": "What was wrong? e.g. off-topic, wrong source, the documents do say it",
    },
    "reason_hint_up": {"zh": "有什么帮助？", "en": "What helped?"},
    "reason_send": {"zh": "提交原因", "en": "Send reason"},
    "staff_disabled": {
        "zh": "员工区未启用：服务器未设置 QA_STAFF_PASSWORD。",
        "en": "The staff area is disabled: QA_STAFF_PASSWORD is not set on the server.",
    },
    "staff_intro": {
        "zh": "上传文件（PDF、Word、HTML、.txt、.md）加入文件库，或从文件库删除文件；索引在后台更新，"
        "期间问答照常使用旧索引。请先输入员工密码登录。",
        "en": "Upload documents (PDF, Word, HTML, .txt, .md) to the collection, or remove documents from it; the "
        "index updates in the background while questions are still answered from the current one. Sign in "
        "with the staff password first.",
    },
    "password": {"zh": "员工密码", "en": "Staff password"},
    "sign_in": {"zh": "登录", "en": "Sign in"},
    "sign_out": {"zh": "退出登录", "en": "Sign out"},
    "signed_in": {"zh": "已登录员工区。", "en": "Signed in to the staff area."},
    "files": {"zh": "文件（PDF、Word、HTML、.txt、.md）", "en": "Files (PDF, Word, HTML, .txt, .md)"},
    "upload": {"zh": "上传并更新索引", "en": "Upload and update the index"},
    "show_status": {"zh": "查看索引状态", "en": "Show index status"},
    "wrong_password": {"zh": "密码不正确。", "en": "Wrong password."},
    "no_files": {"zh": "请先选择要上传的文件。", "en": "Please choose files to upload first."},
    "saved": {"zh": "已保存：{name}", "en": "Saved: {name}"},
    "refused": {"zh": "未接受 {name}：{reason}", "en": "Refused {name}: {reason}"},
    "language": {"zh": "界面语言", "en": "Language"},
    # Limiting a question to some documents (the ask tab).
    "doc_filter": {"zh": "查找范围", "en": "Search in"},
    "doc_filter_info": {
        # Markdown: the patterns go in code spans, or their "*" would turn into italics.
        "zh": "默认查全部文件。可选一个文件或文件夹，也可输入文件名或标题的一部分，或 `刑法/*`、`*.pdf` 这样的模式。",
        "en": "All documents by default. Pick a document or a folder, or type part of a file name or title, "
        "or a pattern such as `刑法/*` or `*.pdf`.",
    },
    "all_documents": {"zh": "全部文件", "en": "All documents"},
    "folder_choice": {"zh": "{folder}/*（文件夹，{n} 篇）", "en": "{folder}/* (folder, {n} documents)"},
    "doc_filter_hint": {
        "zh": "请修改上方的查找范围，或选“全部文件”。",
        "en": "Change the search scope above, or choose “All documents”.",
    },
    # Removing a document (the staff tab).
    "remove_choice": {"zh": "要删除的文件", "en": "Document to remove"},
    "remove": {"zh": "删除文件并更新索引", "en": "Remove it and update the index"},
    "no_doc_chosen": {"zh": "请先选择要删除的文件。", "en": "Please choose a document to remove first."},
    "not_in_collection": {
        "zh": "文件库中没有“{name}”这个文件。",
        "en": "There is no document “{name}” in the collection.",
    },
    "removed": {
        "zh": "已删除：{name}。文件库现有文件 {documents} 篇、段落 {chunks} 个。",
        "en": "Removed {name}. The collection now has {documents} documents and {chunks} passages.",
    },
    "remove_failed": {
        "zh": "删除“{name}”后更新索引失败，正在后台重试；请稍后查看索引状态。",
        "en": "Updating the index after removing “{name}” failed; retrying in the background — check the "
        "index status shortly.",
    },
}


def label(key: str, lang: str, **kw: object) -> str:
    """A user-facing string in the interface language (English when there is no such language)."""
    options = LABELS[key]
    text = options.get(lang, options["en"])
    return text.format(**kw) if kw else text


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def _text_html(text: str) -> str:
    # Escape, then keep the document's line breaks as <br>: no blank line may reach the chat's
    # markdown renderer, which would end our HTML block there and parse the rest as markdown.
    return esc(text).replace("\n", "<br>")


def anchor(turn: int, n: int) -> str:
    """The id of source card `n` of answer `turn`."""
    return f"a{turn}-s{n}"


def sentence_anchor(turn: int, m: int) -> str:
    """The id of the sentence that marker `m` of answer `turn` quotes, inside its card."""
    return f"a{turn}-q{m}"


@dataclass(frozen=True)
class Marker:
    """One citation marker as shown: `m` numbers the quoted sentences of an answer in order (one
    marker per sentence, so two sentences of one passage get two numbers), `n` is the source it
    cites (the record's number), `sentence` the quoted sentence ("" when it cannot be told),
    `gist` its English gist (English answers; "" otherwise)."""

    m: int
    n: int
    sentence: str
    gist: str = ""


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _matching(said: str, quoted: list[str], k: int) -> str:
    """Which of a source's quoted sentences the answer text `said` (before a marker) is: the
    same words, else one containing the other, else the k-th (the engine quotes in order)."""
    s = _squash(said)
    for test in (lambda q: _squash(q) == s, lambda q: s and (_squash(q) in s or s in _squash(q))):
        found = [q for q in quoted if test(q)]
        if found:
            return found[0]
    return quoted[k] if k < len(quoted) else ""


def markers(rec: dict[str, Any]) -> list[Marker]:
    """The answer's citation markers in order, each tied to the sentence it quotes. A bracketed
    number that cites no source is the document's own text and gets no marker."""
    quoted = {
        s["n"]: [q.strip() for q in s.get("quoted", []) if q.strip()]
        for s in rec.get("sources", [])
        if s.get("n") is not None
    }
    glosses = {
        (s["n"], g.get("sentence", "").strip()): g.get("gloss", "")
        for s in rec.get("sources", [])
        if s.get("n") is not None
        for g in s.get("gists") or []
    }
    answer = rec.get("answer", "")
    out: list[Marker] = []
    used: dict[int, int] = {}
    prev = 0
    for mt in _MARKER.finditer(answer):
        n = int(mt.group(1))
        if n not in quoted:
            continue
        # The sentence is what the answer says since the previous marker or line break.
        start = max(prev, answer.rfind("\n", 0, mt.start()) + 1)
        sentence = _matching(answer[start : mt.start()], quoted[n], used.get(n, 0))
        out.append(Marker(len(out) + 1, n, sentence, glosses.get((n, sentence), "")))
        used[n] = used.get(n, 0) + 1
        prev = mt.end()
    return out


def gist_html(gloss: str, lang: str = "en") -> str:
    """An English gist under its quoted sentence, labelled as what it is."""
    return (
        f'<span class="qa-gist" lang="en"><span class="qa-gist-label">{esc(label("gist", lang))}</span> '
        f"{esc(gloss)}</span>"
    )


def answer_body(text: str, turn: int, marks: list[Marker]) -> str:
    """The answer text, escaped, with each citation marker renumbered to its sentence's number
    and linked to that sentence in its source card, and the sentence's gist under it (if any)."""
    text = text.strip()
    cited = {mk.n for mk in marks}
    out = []
    pos = 0
    i = 0
    for mt in _MARKER.finditer(text):
        if int(mt.group(1)) not in cited or i >= len(marks):
            continue  # a bracketed number that is part of the quoted text, not our marker
        m = marks[i].m
        i += 1
        out.append(_text_html(text[pos : mt.start()]))
        out.append(f'<a class="qa-cite" href="#{sentence_anchor(turn, m)}">[{m}]</a>')
        pos = mt.end()
        if marks[i - 1].gist:
            out.append(gist_html(marks[i - 1].gist))
            pos += len(text[pos:]) - len(text[pos:].lstrip(" \n"))  # the next sentence starts under the gist
    out.append(_text_html(text[pos:]))
    return "".join(out)


def pieces(text: str) -> list[str]:
    """Growing prefixes of the answer, one quoted sentence (closed by its marker) at a time."""
    prefixes = []
    pos = 0
    for m in _PIECE.finditer(text):
        if not m.group():
            continue
        pos = m.end()
        if text[:pos].strip():
            prefixes.append(text[:pos])
    return prefixes or [text]


def searched_differs(typed: str, searched_for: str) -> bool:
    return normalise_space(typed) != normalise_space(searched_for)


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 5 -> "1–3, 5": the markers a card answers to, short enough for its corner."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def source_label(src: dict[str, Any], lang: str, dates: dict[str, str] | None = None) -> str:
    """The source as a line of plain text: title (file) › section path (p. n), dated."""
    text = str(src.get("label") or src.get("title") or src.get("doc") or "")
    date = (dates or {}).get(str(src.get("doc", "")), "")
    return (
        f"{text}（{label('dated', lang, date=date)}）"
        if date and lang == "zh"
        else (f"{text} ({label('dated', lang, date=date)})" if date else text)
    )


def answer_lang(rec: dict[str, Any]) -> str:
    """The language an answer is labelled in: its question's."""
    return "en" if rec.get("lang") == "en" else "zh"


def plain_text(rec: dict[str, Any], dates: dict[str, str] | None = None) -> str:
    """What "copy" puts on the clipboard: the answer with its [m] markers (and each quoted
    sentence's gist on the line under it), then the numbered sources (or the nearest passages
    when nothing was found), as plain text in the answer's language."""
    lang = answer_lang(rec)
    marks = markers(rec)
    answer = rec.get("answer", "").strip()
    it = iter(marks)
    cited = {mk.n for mk in marks}

    def renumber(mt: re.Match[str]) -> str:
        if int(mt.group(1)) not in cited:
            return mt.group(0)
        mk = next(it, None)
        if mk and mk.gist:
            return f"[{mk.m}]\n    {label('gist', lang)} {mk.gist}\n"
        return f"[{mk.m}]" if mk else mt.group(0)

    body = _MARKER.sub(renumber, answer)
    # The sentence after a gist starts its own line (the answer runs sentences on with a space).
    lines = [re.sub(r"(\n    [^\n]*\n)[ \n]+", r"\1", body).rstrip("\n")]
    by_n = {s["n"]: s for s in rec.get("sources", []) if s.get("n") is not None}
    if marks:
        lines += ["", label("copy_sources", lang)]
        for n in dict.fromkeys(mk.n for mk in marks):
            numbers = _ranges([mk.m for mk in marks if mk.n == n])
            lines.append(f"[{numbers}] {source_label(by_n[n], lang, dates)}")
    elif rec.get("outcome") == "not_found" and rec.get("sources"):
        lines += ["", label("copy_nearest", lang)]
        for i, s in enumerate(rec["sources"], start=1):
            flat = " ".join(s.get("text", "").split())
            snippet = flat[:SNIPPET_CHARS] + ("…" if len(flat) > SNIPPET_CHARS else "")
            lines.append(f"[{i}] {source_label(s, lang, dates)}: {snippet}")
    return "\n".join(lines)


def answer_html(
    rec: dict[str, Any],
    turn: int,
    typed: str,
    text: str | None = None,
    scope: str = "",
    dates: dict[str, str] | None = None,
) -> str:
    """One assistant chat message: outcome badge, what was searched (when it differs from what
    was typed) and in which documents (`scope`, when the question was limited to some), the
    answer with linked markers (and English gists), and for not_found the passages offered
    instead. `text` is a prefix of the answer while it streams. The labels are in the answer's
    language, not the interface's: an English question in the Chinese interface gets English."""
    lang = answer_lang(rec)
    outcome = rec.get("outcome", "not_found")
    meta = [f'<span class="qa-badge qa-{esc(outcome)}">{esc(label(outcome, lang))}</span>']
    if searched_differs(typed, rec.get("searched_for", "")):
        meta.append(f'<span class="qa-searched">{esc(label("searched_for", lang))}{esc(rec["searched_for"])}</span>')
    if scope:
        # A "not found" inside a scope the user forgot about must say where it looked.
        meta.append(f'<span class="qa-scope">{esc(label("scope", lang))}{esc(scope)}</span>')
    marks = markers(rec)
    body = answer_body(rec["answer"] if text is None else text, turn, marks)
    # "qa-done" marks the finished answer (for people: the typing cursor goes; for tests: done);
    # "qa-t{turn}" lets a source card lead back to its answer.
    state = "qa-done" if text is None else "qa-streaming"
    parts = [
        f'<div class="qa-answer {state}"><div class="qa-meta">{"".join(meta)}</div>'
        f'<div class="qa-text qa-t{turn}">{body}</div>'
    ]
    if text is None and outcome == "not_found" and rec.get("sources"):
        # The offered passages, by the numbers of their cards in the sources panel; the panel
        # carries the titles, so a phone screen is not filled with the same title three times.
        items = []
        for i, s in enumerate(rec["sources"], start=1):
            flat = " ".join(s.get("text", "").split())
            snippet = flat[:SNIPPET_CHARS] + ("…" if len(flat) > SNIPPET_CHARS else "")
            items.append(
                f'<li><a class="qa-cite" href="#{anchor(turn, i)}">[{i}]</a> '
                f'<span class="qa-snippet">{esc(snippet)}</span></li>'
            )
        parts.append(f'<div class="qa-maybe">{esc(message("maybe", lang))}<ul>{"".join(items)}</ul></div>')
    if text is None:
        if marks or rec.get("sources") and outcome == "not_found":
            # Shown only where the sources sit under the chat (phones): the page's CSS decides.
            parts.append(f'<div class="qa-below"><a href="#qa-sources">{esc(label("below", lang))}</a></div>')
        # The clipboard's text (see HEAD): line breaks as entities, so no blank line ends the block.
        plain = esc(plain_text(rec, dates)).replace("\n", "&#10;")
        parts.append(f'<div class="qa-plain">{plain}</div>')
    parts.append("</div>")
    return "".join(parts)


def _find(text: str, sentence: str, start: int = 0) -> tuple[int, int] | None:
    """Where `sentence` occurs in `text` from `start`, also across line breaks and spaces the
    answer dropped (a sentence quoted from a PDF line-wrapped in the middle)."""
    i = text.find(sentence, start)
    if i != -1:
        return i, i + len(sentence)
    chars = _squash(sentence)
    if not chars:
        return None
    m = re.compile(r"\s*".join(re.escape(c) for c in chars)).search(text, start)
    return (m.start(), m.end()) if m else None


def highlight(text: str, quoted: list[str], turn: int = 0, marks: list[Marker] | tuple[Marker, ...] = ()) -> str:
    """The passage, escaped, with each quoted sentence in a <mark>; a sentence a marker quotes
    carries that marker's id and number, so a click on [m] can light up exactly it."""
    spans: list[tuple[int, int, int]] = []  # start, end, marker number (0: quoted, no marker)

    def free(s: int, e: int) -> bool:
        return all(e <= s2 or s >= e2 for s2, e2, _ in spans)

    for mk in marks:
        where = _find(text, mk.sentence) if mk.sentence else None
        if where and free(*where):
            spans.append((*where, mk.m))
    for q in quoted:
        q = q.strip()
        where = _find(text, q) if q else None
        while where:
            if free(*where):
                spans.append((*where, 0))
            where = _find(text, q, where[1])
    out = []
    pos = 0
    for s, e, m in sorted(spans):
        out.append(_text_html(text[pos:s]))
        if m:
            out.append(
                f'<mark class="qa-q" id="{sentence_anchor(turn, m)}" tabindex="-1" data-m="{m}">'
                f"{_text_html(text[s:e])}</mark>"
            )
        else:
            out.append(f'<mark class="qa-q">{_text_html(text[s:e])}</mark>')
        pos = e
    out.append(_text_html(text[pos:]))
    return "".join(out)


def excerpt(text: str, quoted: list[str], marks: list[Marker] | tuple[Marker, ...] = ()) -> str:
    """What a folded passage shows: the quoted sentences (marked, with their marker numbers but
    not their ids, which the unfolded passage carries), or else its opening words."""
    found = [q.strip() for q in quoted if q.strip() and q.strip() in text]
    if not found:
        return esc(text[:EXCERPT_CHARS].replace("\n", " ")) + "…"
    number = {mk.sentence.strip(): mk.m for mk in marks}
    shown = [f' data-m="{number[q]}"' if q in number else "" for q in found]
    marks_html = "…".join(f'<mark class="qa-q"{m}>{esc(q.replace(chr(10), " "))}</mark>' for q, m in zip(found, shown))
    lead = "" if text.startswith(found[0]) else "…"
    tail = "" if text.endswith(found[-1]) else "…"
    return f"{lead}{marks_html}{tail}"


def source_card(
    src: dict[str, Any],
    number: int,
    turn: int,
    lang: str,
    marks: list[Marker] | tuple[Marker, ...] = (),
    date: str = "",
) -> str:
    """One source: its number(s), document title (and file when the title is shared), section
    path, page and date, the passage with the quoted sentences marked, and a link back."""
    text = src.get("text", "").strip()
    quoted = list(src.get("quoted", []))
    heading = (src.get("heading") or "").strip()
    if heading and heading in (q.strip() for q in quoted):
        # A quoted heading is shown where it stands in the document, above the passage.
        text = f"{heading}\n{text}"
    doc, title = src.get("doc", ""), src.get("title") or ""
    # The file name tells apart documents that share a title (two versions of one law); it is
    # always there on hover, for staff who know the collection by file.
    file = f' <span class="qa-file">{esc(doc)}</span>' if doc and title and src.get("title_shared") else ""
    shown = _ranges([mk.m for mk in marks]) if marks else str(number)
    head = (
        f'<div class="qa-src-head" title="{esc(doc)}"><span class="qa-num">{esc(shown)}</span>'
        f'<span class="qa-doc">{esc(title or doc)}{file}</span></div>'
    )
    where = [src.get("section") or "", f"p. {src['page']}" if src.get("page") else ""]
    where.append(label("dated", lang, date=date) if date else "")
    section = f'<div class="qa-sec">{esc(" · ".join(w for w in where if w))}</div>' if any(where) else ""
    body = highlight(text, quoted, turn, marks)
    # A marker whose sentence is not found in the passage still leads to the card.
    lost = "".join(
        f'<span class="qa-q" id="{sentence_anchor(turn, mk.m)}" tabindex="-1"></span>'
        for mk in marks
        if f'id="{sentence_anchor(turn, mk.m)}"' not in body
    )
    if len(text) <= FOLD_CHARS:
        passage = f'<div class="qa-passage">{body}</div>'
    else:
        passage = (
            '<details class="qa-fold"><summary>'
            f'<span class="qa-excerpt">{excerpt(text, quoted, marks)}</span>'
            f'<span class="qa-more">{esc(label("show_full", lang))}</span>'
            f'<span class="qa-less">{esc(label("hide_full", lang))}</span>'
            f'</summary><div class="qa-passage">{body}</div></details>'
        )
    back = f'<a class="qa-back" href="#qa-chat" data-turn="{turn}">{esc(label("back", lang))}</a>'
    return f'<div class="qa-src" id="{anchor(turn, number)}" tabindex="-1">{lost}{head}{section}{passage}{back}</div>'


def sources_group(rec: dict[str, Any], turn: int, question: str, dates: dict[str, str] | None = None) -> str:
    """The cards of one answer: its cited sources by number, or its nearest passages if not found,
    labelled in the answer's language."""
    lang = answer_lang(rec)
    dates = dates or {}
    if rec.get("outcome") == "not_found":
        heading = label("nearest", lang)
        cards = [
            source_card(s, i, turn, lang, date=dates.get(s.get("doc", ""), ""))
            for i, s in enumerate(rec.get("sources", []), start=1)
        ]
    else:
        heading = label("sources", lang)
        marks = markers(rec)
        cited = sorted((s for s in rec.get("sources", []) if s.get("n") is not None), key=lambda s: s["n"])
        cards = [
            source_card(s, s["n"], turn, lang, [mk for mk in marks if mk.n == s["n"]], dates.get(s.get("doc", ""), ""))
            for s in cited
        ]
    return (
        f'<div class="qa-group-q">{esc(label("for_question", lang))}{esc(question)}</div>'
        f'<div class="qa-group-h">{esc(heading)}</div>{"".join(cards)}'
    )


def sources_panel(groups: list[dict[str, Any]], lang: str, dates: dict[str, str] | None = None) -> str:
    """All answers' sources, newest first and open; earlier ones folded, so the markers of an
    earlier answer still lead somewhere (the page script opens the fold on click). `lang`, the
    interface language, labels the empty panel; each answer's cards are in the answer's language."""
    if not groups:
        return f'<div class="qa-sources"><div class="qa-empty">{esc(label("sources_empty", lang))}</div></div>'
    out = []
    for i, g in enumerate(reversed(groups)):
        inner = sources_group(g["record"], g["turn"], g["question"], dates)
        if i == 0:
            out.append(f'<section class="qa-group qa-latest">{inner}</section>')
        else:
            out.append(f'<details class="qa-group qa-earlier"><summary>{esc(g["question"])}</summary>{inner}</details>')
    return f'<div class="qa-sources">{"".join(out)}</div>'


def header_html(lang: str, documents: int, newest: str = "") -> str:
    """The page's title, what it does, and what the collection holds (so a visitor knows what
    can be asked before asking)."""
    if documents == 1:
        line = label("collection_one", lang, newest=newest or "—")
    elif documents:
        line = label("collection", lang, documents=documents, newest=newest or "—")
    else:
        line = label("collection_empty", lang)
    return (
        f"<h1>{esc(label('title', lang))}</h1><p>{esc(label('subtitle', lang))}</p>"
        f'<p class="qa-collection">{esc(line)}</p>'
    )


def local_time(stamp: str, tz: Any = None) -> str:
    """An index time such as "2026-12-01T20:47:38+0000" as local time, "2026-12-02 04:47"
    (`tz`: a tzinfo; default the server's own zone). Text that is no such time is kept."""
    from datetime import datetime

    try:
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")
    except (TypeError, ValueError):
        return stamp
    local = when.astimezone(tz)
    zone = local.strftime("%Z") or local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {zone}".strip()


STATUS_LABELS: dict[str, dict[str, str]] = {
    "title": {"zh": "索引状态", "en": "Index status"},
    "counts": {
        "zh": "文件 {documents} 篇 · 段落 {chunks} 个 · 最近更新 {built_at}",
        "en": "{documents} documents · {chunks} passages · last updated {built_at}",
    },
    "running": {
        "zh": "⏳ 正在后台更新索引；更新完成前，问答继续使用当前索引。",
        "en": "⏳ Updating the index in the background; questions use the current index until it is ready.",
    },
    "idle": {"zh": "✓ 索引与文件库一致。", "en": "✓ The index matches the collection."},
    "failed": {
        "zh": "⚠ 上次更新失败（仍在使用之前的索引）：",
        "en": "⚠ The last update failed (the previous index is still used): ",
    },
    "documents": {"zh": "已收录的文件", "en": "Documents"},
    "doc_name": {"zh": "文件名", "en": "File"},
    "doc_title": {"zh": "标题", "en": "Title"},
    "doc_chunks": {"zh": "段落数", "en": "Passages"},
    "skipped": {"zh": "未收录的文件及原因", "en": "Files left out, and why"},
}


def _s(key: str, lang: str, **kw: object) -> str:
    options = STATUS_LABELS[key]
    text = options.get(lang, options["en"])
    return text.format(**kw) if kw else text


def documents_table(docs: list[dict[str, Any]], lang: str) -> str:
    """The indexed documents (`Engine.documents()` rows: doc, title, chunks), one row each, in a
    box that scrolls: a collection of a thousand laws must not push the status off the page."""
    head = "".join(f"<th>{esc(_s(k, lang))}</th>" for k in ("doc_name", "doc_title", "doc_chunks"))
    rows = "".join(
        f'<tr><td class="qa-doc-name">{esc(str(d.get("doc", "")))}</td><td>{esc(str(d.get("title", "")))}</td>'
        f'<td class="qa-doc-chunks">{int(d.get("chunks", 0))}</td></tr>'
        for d in docs
    )
    return f'<div class="qa-doclist"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def notice(lines: list[str], ok: bool = True) -> str:
    cls = "qa-ok" if ok else "qa-bad"
    return f'<div class="qa-notice {cls}">{"<br>".join(esc(x) for x in lines)}</div>'


def status_html(
    status: dict[str, Any],
    running: bool,
    last_error: str,
    lang: str,
    notes: list[str],
    progress: tuple[str, int, int] | None = None,
) -> str:
    """The staff view of the index: counts, refresh state (with progress while it runs),
    documents, skipped files with reasons."""
    parts = [notice(notes)] if notes else []
    counts = _s(
        "counts",
        lang,
        documents=status.get("documents", 0),
        chunks=status.get("chunks", 0),
        built_at=esc(local_time(str(status.get("built_at", ""))) or "—"),
    )
    state = _s("running", lang) if running else _s("idle", lang)
    parts.append(f'<div class="qa-status"><h3>{esc(_s("title", lang))}</h3><p>{counts}</p><p>{esc(state)}</p>')
    if running and progress:
        stage, done, total = progress
        parts.append(
            f'<p class="qa-progress">{esc(stage)}: {done}/{total} '
            f'<progress value="{done}" max="{max(total, 1)}"></progress></p>'
        )
    if last_error:
        parts.append(f'<p class="qa-bad">{esc(_s("failed", lang))}{esc(last_error)}</p>')
    docs = status.get("docs", [])
    if docs:
        parts.append(f"<h4>{esc(_s('documents', lang))}</h4>{documents_table(docs, lang)}")
    skipped = status.get("skipped", {})
    if skipped:
        items = "".join(f"<li>{esc(name)}: {esc(str(reason))}</li>" for name, reason in sorted(skipped.items()))
        parts.append(f"<h4>{esc(_s('skipped', lang))}</h4><ul>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)
