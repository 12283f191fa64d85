"""Render answers and their sources as HTML for the chat UI: pure functions of the public JSON record.

It takes the `qa.output.to_json` record (never the engine's internals), so what the page shows is
exactly what programs get from the API. Every piece of document or user text is HTML-escaped;
the only markup is ours: citation markers become links to the numbered source cards
(`#a{turn}-s{n}`), quoted sentences are wrapped in <mark>, long passages fold into <details>.
It also holds the page's strings in Chinese and English (`LABELS`), its CSS and its small script.
It does not import gradio, answer questions, or decide anything about the outcome.
"""

from __future__ import annotations

import html
import re
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
    "hide_full": {"zh": "收起", "en": "Show less"},
    "for_question": {"zh": "问题：", "en": "Question: "},
    "searching": {"zh": "正在检索文档…", "en": "Searching the documents…"},
    # The page around the answers (qa.ui).
    "header": {
        "zh": "<h1>文件问答</h1><p>答案只取自已收录的公开文件，每句都标注来源 [n]，点击标注查看原文。</p>",
        "en": "<h1>Document Q&amp;A</h1><p>Answers come only from the published documents; every sentence "
        "cites its source [n] — click a marker to see the passage.</p>",
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
        "zh": "上传 .txt / .md 文件加入文件库，或从文件库删除文件；索引在后台更新，期间问答照常使用旧索引。"
        "输入密码后按回车，可查看文件列表。",
        "en": "Upload .txt / .md files to the collection, or remove documents from it; the index updates in the "
        "background while questions are still answered from the current one. Press Enter after the password "
        "to see the list of documents.",
    },
    "password": {"zh": "员工密码", "en": "Staff password"},
    "files": {"zh": "文件（.txt / .md）", "en": "Files (.txt / .md)"},
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
    return f"a{turn}-s{n}"


def answer_body(text: str, turn: int, cited: set[int]) -> str:
    """The answer text, escaped, with each cited [n] turned into a link to its source card."""
    text = text.strip()
    out = []
    pos = 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1))
        if n not in cited:
            continue  # a bracketed number that is part of the quoted text, not our marker
        out.append(_text_html(text[pos : m.start()]))
        a = anchor(turn, n)
        out.append(f'<a class="qa-cite" href="#{a}">[{n}]</a>')
        pos = m.end()
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


def answer_html(rec: dict[str, Any], turn: int, typed: str, text: str | None = None, scope: str = "") -> str:
    """One assistant chat message: outcome badge, what was searched (when it differs from what
    was typed) and in which documents (`scope`, when the question was limited to some), the
    answer with linked markers, and for not_found the passages offered instead.
    `text` is a prefix of the answer while it streams."""
    lang = rec.get("lang", "zh")
    outcome = rec.get("outcome", "not_found")
    cited = {s["n"] for s in rec.get("sources", []) if s.get("n") is not None}
    meta = [f'<span class="qa-badge qa-{esc(outcome)}">{esc(label(outcome, lang))}</span>']
    if searched_differs(typed, rec.get("searched_for", "")):
        meta.append(f'<span class="qa-searched">{esc(label("searched_for", lang))}{esc(rec["searched_for"])}</span>')
    if scope:
        # A "not found" inside a scope the user forgot about must say where it looked.
        meta.append(f'<span class="qa-scope">{esc(label("scope", lang))}{esc(scope)}</span>')
    body = answer_body(rec["answer"] if text is None else text, turn, cited)
    # "qa-done" marks the finished answer (for people: the typing cursor goes; for tests: done).
    state = "qa-done" if text is None else "qa-streaming"
    parts = [
        f'<div class="qa-answer {state}"><div class="qa-meta">{"".join(meta)}</div><div class="qa-text">{body}</div>'
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
    parts.append("</div>")
    return "".join(parts)


def highlight(text: str, quoted: list[str]) -> str:
    """The passage, escaped, with every occurrence of a quoted sentence wrapped in <mark>."""
    spans: list[tuple[int, int]] = []
    for q in quoted:
        q = q.strip()
        if not q:
            continue
        start = text.find(q)
        while start != -1:
            spans.append((start, start + len(q)))
            start = text.find(q, start + len(q))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    out = []
    pos = 0
    for s, e in merged:
        out.append(_text_html(text[pos:s]))
        out.append(f"<mark>{_text_html(text[s:e])}</mark>")
        pos = e
    out.append(_text_html(text[pos:]))
    return "".join(out)


def excerpt(text: str, quoted: list[str]) -> str:
    """What a folded passage shows: the quoted sentences (marked), or else its opening words."""
    found = [q.strip() for q in quoted if q.strip() and q.strip() in text]
    if not found:
        return esc(text[:EXCERPT_CHARS].replace("\n", " ")) + "…"
    marks = "…".join(f"<mark>{esc(q.replace(chr(10), ' '))}</mark>" for q in found)
    lead = "" if text.startswith(found[0]) else "…"
    tail = "" if text.endswith(found[-1]) else "…"
    return f"{lead}{marks}{tail}"


def source_card(src: dict[str, Any], number: int, turn: int, lang: str) -> str:
    text = src.get("text", "").strip()
    quoted = list(src.get("quoted", []))
    doc, title = src.get("doc", ""), src.get("title") or ""
    # The file name tells apart documents that share a title (two versions of one law); it is
    # always there on hover, for staff who know the collection by file.
    file = f' <span class="qa-file">{esc(doc)}</span>' if doc and title and src.get("title_shared") else ""
    head = (
        f'<div class="qa-src-head" title="{esc(doc)}"><span class="qa-num">{number}</span>'
        f'<span class="qa-doc">{esc(title or doc)}{file}</span></div>'
    )
    where = " · ".join(
        part for part in (src.get("section") or "", f"p. {src['page']}" if src.get("page") else "") if part
    )
    section = f'<div class="qa-sec">{esc(where)}</div>' if where else ""
    if len(text) <= FOLD_CHARS:
        passage = f'<div class="qa-passage">{highlight(text, quoted)}</div>'
    else:
        passage = (
            '<details class="qa-fold"><summary>'
            f'<span class="qa-excerpt">{excerpt(text, quoted)}</span>'
            f'<span class="qa-more">{esc(label("show_full", lang))}</span>'
            f'<span class="qa-less">{esc(label("hide_full", lang))}</span>'
            f'</summary><div class="qa-passage">{highlight(text, quoted)}</div></details>'
        )
    return f'<div class="qa-src" id="{anchor(turn, number)}">{head}{section}{passage}</div>'


def sources_group(rec: dict[str, Any], turn: int, question: str, lang: str) -> str:
    """The cards of one answer: its cited sources by number, or its nearest passages if not found."""
    if rec.get("outcome") == "not_found":
        heading = label("nearest", lang)
        cards = [source_card(s, i, turn, lang) for i, s in enumerate(rec.get("sources", []), start=1)]
    else:
        heading = label("sources", lang)
        cited = sorted((s for s in rec.get("sources", []) if s.get("n") is not None), key=lambda s: s["n"])
        cards = [source_card(s, s["n"], turn, lang) for s in cited]
    return (
        f'<div class="qa-group-q">{esc(label("for_question", lang))}{esc(question)}</div>'
        f'<div class="qa-group-h">{esc(heading)}</div>{"".join(cards)}'
    )


def sources_panel(groups: list[dict[str, Any]], lang: str) -> str:
    """All answers' sources, newest first and open; earlier ones folded, so the markers of an
    earlier answer still lead somewhere (the page script opens the fold on click)."""
    if not groups:
        return f'<div class="qa-sources"><div class="qa-empty">{esc(label("sources_empty", lang))}</div></div>'
    out = []
    for i, g in enumerate(reversed(groups)):
        inner = sources_group(g["record"], g["turn"], g["question"], lang)
        if i == 0:
            out.append(f'<section class="qa-group qa-latest">{inner}</section>')
        else:
            out.append(f'<details class="qa-group qa-earlier"><summary>{esc(g["question"])}</summary>{inner}</details>')
    return f'<div class="qa-sources">{"".join(out)}</div>'


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
        built_at=esc(str(status.get("built_at", "")) or "—"),
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


# Styles for the markup above. Colours come from the theme's variables, so dark mode works too.
CSS = """
#qa-top { align-items: center; }
#qa-header h1 { margin: 0 0 4px 0; font-size: 1.5rem; }
#qa-header p { margin: 0; color: var(--body-text-color-subdued); }
.qa-user { white-space: normal; }
.qa-answer .qa-meta { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; margin-bottom: 6px;
  font-size: 0.85em; }
.qa-badge { border-radius: 999px; padding: 1px 10px; font-weight: 600; border: 1px solid currentColor; }
.qa-badge.qa-answered { color: #15803d; }
.qa-badge.qa-partial { color: #b45309; }
.qa-badge.qa-not_found { color: #b91c1c; }
.qa-searched, .qa-scope { color: var(--body-text-color-subdued); }
.qa-text { line-height: 1.7; }
.qa-streaming .qa-text::after { content: "▍"; margin-left: 2px; animation: qa-blink 1s steps(1) infinite; }
@keyframes qa-blink { 50% { opacity: 0; } }
a.qa-cite { text-decoration: none; font-weight: 600; padding: 0 1px; border-radius: 4px;
  color: var(--color-accent); cursor: pointer; }
a.qa-cite:hover, a.qa-cite:focus { background: var(--color-accent-soft); }
.qa-maybe { margin-top: 8px; }
.qa-maybe ul { list-style: none; margin: 4px 0 0 0; padding: 0; }
.qa-maybe li { margin: 2px 0; }
.qa-snippet { color: var(--body-text-color-subdued); }
.qa-wait { color: var(--body-text-color-subdued); font-style: italic; }
.qa-sources { display: flex; flex-direction: column; gap: 10px; }
.qa-empty { color: var(--body-text-color-subdued); padding: 16px; border: 1px dashed var(--border-color-primary);
  border-radius: 8px; }
.qa-group-q { font-size: 0.85em; color: var(--body-text-color-subdued); margin-bottom: 2px; }
.qa-group-h { font-weight: 700; margin-bottom: 6px; }
details.qa-earlier > summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: 0.9em; }
.qa-src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin-bottom: 8px;
  background: var(--block-background-fill); scroll-margin: 12px; transition: box-shadow .2s, border-color .2s; }
.qa-src.qa-hover, .qa-src.qa-flash { border-color: var(--color-accent);
  box-shadow: 0 0 0 3px var(--color-accent-soft); }
.qa-src-head { display: flex; gap: 8px; align-items: baseline; }
.qa-num { flex: none; min-width: 1.6em; text-align: center; border-radius: 6px; font-weight: 700;
  background: var(--color-accent); color: white; font-size: 0.85em; }
.qa-doc { font-weight: 600; }
.qa-file { font-weight: normal; font-size: 0.8em; color: var(--body-text-color-subdued); overflow-wrap: anywhere; }
.qa-sec { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 2px 0 0 2.2em; }
.qa-passage, .qa-fold { margin-top: 6px; line-height: 1.7; font-size: 0.95em; }
.qa-fold > summary { cursor: pointer; list-style: none; }
.qa-fold > summary::-webkit-details-marker { display: none; }
.qa-more, .qa-less { display: inline-block; margin-left: 6px; font-size: 0.85em; color: var(--color-accent); }
.qa-fold[open] .qa-excerpt, .qa-fold[open] .qa-more, .qa-fold:not([open]) .qa-less { display: none; }
.qa-src mark { background: #fde68a; color: inherit; padding: 0 1px; border-radius: 2px; }
.qa-notice { padding: 8px 12px; border-radius: 8px; margin-bottom: 8px; }
.qa-doclist { max-height: 360px; overflow: auto; border: 1px solid var(--border-color-primary); border-radius: 8px; }
.qa-doclist table { width: 100%; border-collapse: collapse; font-size: 0.9em; }
.qa-doclist th { position: sticky; top: 0; background: var(--block-background-fill); text-align: left; }
.qa-doclist th, .qa-doclist td { padding: 4px 8px; border-bottom: 1px solid var(--border-color-primary); }
.qa-doc-name { overflow-wrap: anywhere; }
.qa-doc-chunks { text-align: right; }
.qa-notice.qa-ok { background: var(--color-accent-soft); }
.qa-notice.qa-bad, p.qa-bad { background: #fee2e2; color: #991b1b; }
/* Phones: the header, and the question box with its buttons, stack instead of squeezing. */
@media (max-width: 640px) {
  #qa-top { flex-wrap: wrap; }
  #qa-top > * { flex: 1 1 100% !important; min-width: 100% !important; }
  #qa-lang { flex-grow: 1 !important; }
  #qa-ask-row { flex-wrap: wrap; }
  #qa-ask-row > .form { flex: 1 1 100% !important; min-width: 100% !important; }
  #qa-ask-row > button { flex: 1 1 40% !important; }
  #qa-header h1 { font-size: 1.3rem; }
}
@media (min-width: 900px) {
  #qa-sources-col { position: sticky; top: 8px; align-self: flex-start; max-height: calc(100vh - 16px);
    overflow-y: auto; }
}
"""

# Marker behaviour: a click scrolls its source card into view (opening an earlier answer's
# folded group first) and flashes it; hovering highlights the card, and on wide screens, where
# the sources sit beside the chat, scrolls the panel to it. Document-level listeners, because
# the chat re-renders its messages.
HEAD = """
<script>
(function () {
  function card(a) {
    var id = (a.getAttribute("href") || "").replace(/^#/, "");
    return id ? document.getElementById(id) : null;
  }
  function cite(ev) { return ev.target && ev.target.closest ? ev.target.closest("a.qa-cite") : null; }
  document.addEventListener("click", function (ev) {
    var a = cite(ev); if (!a) return;
    var el = card(a); if (!el) return;
    ev.preventDefault(); ev.stopPropagation();
    var group = el.closest("details"); if (group) group.open = true;
    el.scrollIntoView({behavior: "smooth", block: "center"});
    el.classList.remove("qa-flash"); void el.offsetWidth; el.classList.add("qa-flash");
    setTimeout(function () { el.classList.remove("qa-flash"); }, 2000);
  }, true);
  document.addEventListener("mouseover", function (ev) {
    var a = cite(ev); if (!a) return;
    var el = card(a); if (!el) return;
    el.classList.add("qa-hover");
    if (window.matchMedia("(min-width: 900px)").matches && !el.closest("details:not([open])")) {
      el.scrollIntoView({behavior: "smooth", block: "nearest"});
    }
  });
  document.addEventListener("mouseout", function (ev) {
    var a = cite(ev); if (!a) return;
    var el = card(a); if (el) el.classList.remove("qa-hover");
  });
})();
</script>
"""
