"""The web app: chat with cited answers beside their sources, feedback, and a staff area.

The only module that imports gradio. Handlers are thin: they call the engine, render with
`qa.render`, log feedback with `qa.feedback`, and turn every failure into a message in the
user's language (the stack trace goes to the log, never to the page). A question can be limited
to some documents (a document, a folder, or a pattern; `Engine.ask(docs=...)`); staff, behind the
password, upload documents, see the list of documents and remove one. Programs get clean
endpoints: `/ask` (question + earlier turns as JSON + optional documents pattern -> the
`qa.output.to_json` record) and `/feedback`, and for staff `/upload`, `/remove` and `/status`.
Every user-supplied field has a size limit checked before anything is stored, wrong staff
passwords are throttled per client and overall (`Throttle`), and an upload never replaces a
document of the same name unless staff tick "replace". It does not answer questions or build
indexes itself.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import json
import logging
import math
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from qa import page, render
from qa.chat import BadQuestion, Turn, parse_messages
from qa.feedback import FeedbackLog, FieldTooLong
from qa.gist import warm as warm_gist
from qa.lang import detect_lang, message
from qa.load import DocumentError, clean_leftovers, same_name, save_upload
from qa.output import shared_titles, to_json
from qa.settings import Settings

log = logging.getLogger(__name__)

# Example questions in the interface language (both languages can still be asked either way).
EXAMPLES = {
    "zh": ["岳阳片区的重点是什么？", "湖南自贸区在全国首次提出了哪些改革事项？", "株洲如何对接湖南自贸区？"],
    "en": [
        "What are Yueyang's priorities?",
        "How large is the Hunan Free Trade Zone?",
        "How does Zhuzhou link up with the free trade zone?",
    ],
}
# A short pause between streamed sentences, so the answer visibly builds up instead of the
# updates being merged into one; the answer itself is already complete (it is extractive).
STREAM_PAUSE = 0.04
# Slows password guessing down without bothering a member of staff who mistyped once.
WRONG_PASSWORD_PAUSE = 1.0

LANGS = [("中文", "zh"), ("English", "en")]
# After a vote: on a phone the reason box opens below the fold; bring it into view.
SHOW_REASON_JS = """() => { setTimeout(() => { const box = document.querySelector('#qa-reason-row');
  if (box && box.offsetParent) box.scrollIntoView({block: 'nearest', behavior: 'smooth'}); }, 150); }"""


# Messages of this module's refusals; the page's other strings are render.LABELS.
_LABELS: dict[str, dict[str, str]] = {
    "name_taken": {
        "zh": "文件库中已有同名文件“{name}”（文件名不区分大小写）。"
        "如要替换，请勾选“替换同名文件”后重新上传，旧版本会被保留。",
        "en": "There is already a document named “{name}” (names are compared ignoring case). To replace it, "
        "tick “Replace documents with the same name” and upload again; the old version is kept.",
    },
    "name_too_long": {
        "zh": "文件名太长（最多 {chars} 个字符、{limit} 字节，约 60 个汉字），请改短后再上传。",
        "en": "The file name is too long (at most {chars} characters and {limit} bytes, about 60 Chinese "
        "characters); please shorten it.",
    },
    "parse_budget": {
        "zh": "文件结构过于庞杂（超过 {limit} 个元素），无法读取。",
        "en": "The file has too many elements to read (more than {limit}).",
    },
    "parse_timeout": {
        "zh": "读取这个文件超过了 {seconds} 秒，已停止。",
        "en": "Reading this file took longer than {seconds} s; stopped.",
    },
    "too_large": {
        "zh": "文件太大（{size} 字节，上限 {limit} 字节）。",
        "en": "too large ({size} bytes; limit {limit})",
    },
    "replace": {
        "zh": "替换同名文件（旧版本会保留）",
        "en": "Replace documents with the same name (the old version is kept)",
    },
    "replaced": {"zh": "已替换：{name}（旧版本已保留）", "en": "Replaced: {name} (the old version is kept)"},
    "too_many_attempts": {
        "zh": "密码错误次数过多，请 {minutes} 分钟后再试。",
        "en": "Too many wrong passwords; please try again in {minutes} min.",
    },
    "bad_text": {
        "zh": "问题中有无效的字符（如单独的代理字符 U+D800），请删除后再试。",
        "en": "The question contains an invalid character (such as a lone surrogate, U+D800); please remove it.",
    },
    "reason_for": {
        "zh": "谢谢，您对“{question}”的回答的评价已记录。愿意的话，请补充原因：",
        "en": "Thank you, your rating of the answer to “{question}” is saved. If you like, tell us why:",
    },
    "reason_too_long": {
        "zh": "原因太长了（最多 {limit} 个字符），请简短一些。",
        "en": "The reason is too long (at most {limit} characters); please shorten it.",
    },
}


def t(key: str, lang: str, **kw: object) -> str:
    if key not in _LABELS:
        return render.label(key, lang, **kw)
    options = _LABELS[key]
    text = options.get(lang, options["en"])
    return text.format(**kw) if kw else text


def refusal(exc: DocumentError, lang: str) -> str:
    """Why a document was refused, in the user's language where the reason has a message."""
    return t(exc.key, lang, **exc.params) if exc.key in _LABELS else str(exc)


# A lone surrogate ("\ud800" in JSON) is no character: the page cannot show it and the
# models cannot read it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def bad_text(*texts: str) -> bool:
    return any(_SURROGATE.search(x or "") for x in texts)


def _short(text: str, n: int = 200) -> str:
    """For log lines: a question is logged, a megabyte of one is not."""
    return text if len(text) <= n else f"{text[:n]}… ({len(text):,} characters)"


def client_of(request: Any) -> str:
    """The client's address (not X-Forwarded-For, which the client can write itself); behind
    a proxy every user shares the proxy's address, so the per-client limit becomes global."""
    client = getattr(request, "client", None)
    return str(getattr(client, "host", "") or "local")


class Throttle:
    """Wrong staff passwords within `window` seconds, per client and over all clients: past
    `per_client` wrong ones a client is refused for `cooldown` seconds, past `overall` everyone
    is for `overall_cooldown` (a guesser with many addresses). A refused attempt is not checked
    at all, so the right password is refused too while locked: otherwise guessing goes on."""

    def __init__(
        self,
        per_client: int = 5,
        overall: int = 30,
        window: float = 300.0,
        cooldown: float = 300.0,
        overall_cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client, self.overall, self.window = per_client, overall, window
        self.cooldown, self.overall_cooldown, self.clock = cooldown, overall_cooldown, clock
        self._lock = threading.Lock()
        self._wrong: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._until: dict[str, float] = {}
        self._all_until = 0.0

    def _expire(self, now: float) -> None:
        while self._all and self._all[0] <= now - self.window:
            self._all.popleft()
        for client in [c for c, times in self._wrong.items() if not times or times[-1] <= now - self.window]:
            del self._wrong[client]  # nobody's old mistakes are kept: memory stays bounded
        for client in [c for c, until in self._until.items() if until <= now]:
            del self._until[client]

    def wait(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        with self._lock:
            now = self.clock()
            return max(self._until.get(client, 0.0), self._all_until) - now if self._blocked(client, now) else 0.0

    def _blocked(self, client: str, now: float) -> bool:
        return self._until.get(client, 0.0) > now or self._all_until > now

    def failed(self, client: str) -> tuple[int, int]:
        """Count a wrong password; returns the wrong ones within the window (client, overall)."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            times = self._wrong.setdefault(client, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            times.append(now)
            self._all.append(now)
            if len(times) >= self.per_client:
                self._until[client] = now + self.cooldown
                times.clear()
            if len(self._all) >= self.overall:
                self._all_until = now + self.overall_cooldown
                self._all.clear()
            return len(times), len(self._all)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._wrong.pop(client, None)


def examples(lang: str) -> list[dict[str, str]]:
    return [{"text": q} for q in EXAMPLES.get(lang, EXAMPLES["en"])]


def html_lang_js(value: str = "l") -> str:
    """Browser code that sets <html lang> to the interface language, so screen readers and
    fonts treat the text as Chinese or English (Gradio writes lang="en" whatever the page)."""
    return f"({value}) => {{ document.documentElement.lang = {value} === 'en' ? 'en' : 'zh-CN'; }}"


def document_dates(corpus: Path, names: list[str]) -> dict[str, str]:
    """Each document's date as far as it is known here: its file's modification day in the
    corpus folder (when it was published to the collection). Missing files are left out."""
    out = {}
    for name in names:
        try:
            out[name] = time.strftime("%Y-%m-%d", time.localtime((corpus / name).stat().st_mtime))
        except (OSError, ValueError):
            continue
    return out


def feedback_values(history: list, groups: list) -> list[str | None]:
    """The chat's feedback_value: one entry per assistant message, in order, with the vote
    ("Like"/"Dislike") given to the answer at that place, or None."""
    votes = {g["index"]: g.get("vote") for g in groups or []}
    return [votes.get(i) for i, m in enumerate(history or []) if _role(m) == "assistant"]


def _role(message: Any) -> str:
    return str(message.get("role", "") if isinstance(message, dict) else getattr(message, "role", ""))


def user_html(question: str) -> str:
    # Wrapped in a block so the chat's markdown renderer shows the text exactly as typed.
    return f'<div class="qa-user">{render.esc(question).replace(chr(10), "<br>")}</div>'


_GLOB = "*?["


def glob_escape(text: str) -> str:
    """`text` as a glob that matches itself only (fnmatch has no escape character: a special
    character is matched literally inside brackets)."""
    return "".join(f"[{c}]" if c in _GLOB else c for c in text)


def exact_pattern(name: str) -> str:
    """A documents pattern that names exactly this document. The engine reads a pattern without
    wildcards as "file name or title contains it", so choosing 民法典.md would also search
    中华人民共和国民法典.md; a glob with one character bracketed matches this name alone."""
    out = glob_escape(name)
    if out != name:
        return out  # already a glob
    # "[!" would open a negated set, so bracket the first character that is not "!".
    i = next((i for i, c in enumerate(name) if c != "!"), None)
    return name if i is None else f"{name[:i]}[{name[i]}]{name[i + 1 :]}"


def filter_choices(documents: list[dict[str, Any]], lang: str) -> list[tuple[str, str]]:
    """The ask tab's document menu: all documents (""), every folder ("folder/*", with its
    number of documents), then each document by title and file name (typing filters on both)."""
    folders: Counter[str] = Counter()
    for d in documents:
        parts = str(d["doc"]).split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders["/".join(parts[:i])] += 1
    choices = [(t("all_documents", lang), "")]
    choices += [(t("folder_choice", lang, folder=f, n=n), f"{glob_escape(f)}/*") for f, n in sorted(folders.items())]
    choices += [(_doc_choice(d["title"], d["doc"]), d["doc"]) for d in documents]
    return choices


def remove_choices(documents: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(_doc_choice(d["doc"], d["title"]), d["doc"]) for d in documents]


def _doc_choice(first: Any, second: Any) -> str:
    first, second = str(first or ""), str(second or "")
    return f"{first} · {second}" if first and second and first != second else first or second


class Refresher:
    """Runs engine.refresh() in one background thread; questions keep using the old index until
    the new one is swapped in. A request while a refresh runs queues exactly one more run, so a
    file saved during a build is never missed."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self.last_report: Any = None
        self.last_error = ""
        self.progress: tuple[str, int, int] | None = None  # (stage, done, total) of the running build

    @property
    def running(self) -> bool:
        return self._running

    def request(self) -> None:
        with self._lock:
            if self._running:
                self._again = True
                return
            self._running = True
        threading.Thread(target=self._run, name="index-refresh", daemon=True).start()

    def _progress(self, stage: str, done: int, total: int) -> None:
        self.progress = (stage, done, total)

    def _run(self) -> None:
        while True:
            try:
                self.last_report = self.engine.refresh(progress=self._progress)
                self.last_error = ""
            except Exception as exc:  # the old index keeps serving; staff see the reason
                log.exception("index refresh failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                if not self._again:
                    self._running = False
                    self.progress = None
                    return
                self._again = False


class Handlers:
    """The app's behaviour, independent of the layout: each method is one event or endpoint."""

    def __init__(self, engine: Any, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.feedback = FeedbackLog(settings.data_dir, max_question_chars=settings.max_question_chars)
        self.refresher = Refresher(engine)
        self.throttle = Throttle()
        self.wrong_password_pause = WRONG_PASSWORD_PAUSE
        # Uploads a kill or a full disk left half-written (not a younger one: another process
        # on the same corpus, such as `python -m qa index`, may be writing it).
        clean_leftovers(settings.corpus_dir)
        if getattr(engine, "stale", ""):  # the engine serves the previous index: bring it up to date
            self.refresher.request()
        # The first English answer would otherwise wait while the dictionary and jieba's tagger
        # load for its gists (~3 s); loaded in the background, questions are answered meanwhile.
        threading.Thread(target=warm_gist, name="gist-warm", daemon=True).start()

    # --- chat -------------------------------------------------------------------------------

    def respond(self, question: str, history: list, convo: list, groups: list, lang: str, docs: str | None = ""):  # noqa: ANN201
        """Stream one answer: the question at once, then the answer sentence by sentence, with
        the sources panel already showing the cards its markers point to. `docs` is the ask tab's
        document menu: "" (all), a folder pattern, a document's file name, or typed text."""
        history, convo, groups = list(history or []), list(convo or []), list(groups or [])
        question = question or ""
        docs = (docs or "").strip()
        if not question.strip():
            gr.Warning(message("empty", lang))
            yield history, self._panel(groups, lang), convo, groups, question
            return
        if bad_text(question, docs):
            log.info("refused a question with a lone surrogate")  # a message, not a traceback
            gr.Warning(t("bad_text", lang))
            yield history, gr.skip(), convo, groups, _SURROGATE.sub("", question)
            return
        history.append({"role": "user", "content": user_html(question)})
        # The answer will be in the question's language: so is the placeholder.
        searching = render.label("searching", detect_lang(question))
        waiting = {"role": "assistant", "content": f'<div class="qa-wait">{searching}</div>'}
        yield history + [waiting], gr.skip(), convo, groups, ""
        try:
            steps, group, panel = self._compose(question, convo, groups, len(history), lang, docs)
        except BadQuestion as exc:
            text = message(exc.key, lang, **exc.params)
            if exc.key == "no_such_document":
                text = f"{message(exc.key, lang, pattern=docs)}{t('doc_filter_hint', lang)}"
            history.append({"role": "assistant", "content": text})
            yield history, gr.skip(), convo, groups, question  # the question stays, to be edited
            return
        except Exception:
            log.exception("answering failed for %r", _short(question))
            history.append({"role": "assistant", "content": message("error", lang)})
            yield history, gr.skip(), convo, groups, question
            return
        groups = groups + [group]
        convo = convo + [
            {"role": "user", "content": question},
            {"role": "assistant", "content": group["record"]["answer"]},
        ]
        for html in steps[:-1]:
            yield history + [{"role": "assistant", "content": html}], panel, convo, groups, ""
            time.sleep(STREAM_PAUSE)
        history.append({"role": "assistant", "content": steps[-1]})
        yield history, panel, convo, groups, ""

    def _compose(
        self, question: str, convo: list, groups: list, index: int, lang: str, docs: str = ""
    ) -> tuple[list[str], dict[str, Any], str]:
        """Ask the engine and render everything up front, so nothing can fail mid-stream: the
        growing answer's HTML steps, the answer's group (record, turn, chat index, id), the panel."""
        turns = [Turn(m["role"], m["content"]) for m in convo] + [Turn("user", question)]
        documents = self._documents()
        dates = self._dates(documents)
        # A document chosen from the menu means that document alone (see exact_pattern).
        pattern = exact_pattern(docs) if docs in {d["doc"] for d in documents} else docs
        rec = to_json(self.engine.ask(turns=turns, docs=pattern or None), shared=shared_titles(documents))
        log.info("answered %r in %r: %s in %s ms", question, docs, rec["outcome"], rec["timings_ms"].get("total"))
        self._log_not_found(question, rec)
        turn = len(groups) + 1
        group = {
            "turn": turn,
            "question": question,
            "record": rec,
            "index": index,
            "id": uuid.uuid4().hex,
            "scope": docs,
        }
        # The answer and its sources are labelled in the question's language (rec["lang"]), not
        # the interface's: an English question asked in the Chinese interface reads "Answered",
        # "Sources", beside the English gists under its quotes.
        steps = [
            render.answer_html(rec, turn, question, p, docs, dates=dates) for p in render.pieces(rec["answer"])[:-1]
        ]
        steps.append(render.answer_html(rec, turn, question, scope=docs, dates=dates))
        return steps, group, render.sources_panel(groups + [group], lang, dates)

    def _dates(self, documents: list[dict[str, Any]] | None = None) -> dict[str, str]:
        documents = self._documents() if documents is None else documents
        return document_dates(self.settings.corpus_dir, [str(d["doc"]) for d in documents])

    def _panel(self, groups: list, lang: str) -> str:
        return render.sources_panel(groups or [], lang, self._dates() if groups else None)

    def header(self, lang: str) -> str:
        """The page header with what the collection holds: documents, the newest date."""
        documents = self._documents()
        dates = self._dates(documents)
        return render.header_html(lang, len(documents), max(dates.values(), default=""))

    def _documents(self) -> list[dict[str, Any]]:
        """The indexed documents; [] if they cannot be listed (answers go on without the menu)."""
        try:
            return list(self.engine.documents())
        except Exception:
            log.exception("listing the documents failed")
            return []

    @staticmethod
    def pick_example(data: gr.SelectData) -> str:
        return data.value["text"] if isinstance(data.value, dict) else str(data.value)

    def _log_not_found(self, question: str, rec: dict[str, Any]) -> None:
        if rec.get("outcome") != "not_found":
            return
        try:
            self.feedback.record_not_found(question, rec)
        except Exception:
            log.exception("could not log a not-found question")  # the user still gets the answer

    def vote(self, groups: list, lang: str, data: gr.LikeData) -> tuple[Any, Any, Any]:
        """👍/👎 on an answer: stored at once; the reason box opens for an optional explanation."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        g = next((g for g in groups or [] if g["index"] == index), None)
        if g is None:  # a vote on a message that is not an answer (e.g. an error message)
            log.info(
                "vote on chat message %s, which is not an answer (answers at %s)",
                index,
                [g["index"] for g in groups or []],
            )
            return gr.update(visible=False), None, gr.update()
        vote = "up" if data.liked is True else "down" if data.liked is False else None
        try:
            self.feedback.record(g["question"], g["record"], vote, "", answer_id=g["id"])
        except Exception:
            log.exception("could not store feedback")
            gr.Warning(message("error", lang))
            return gr.update(visible=False), None, gr.update()
        if vote is None:
            return gr.update(visible=False), None, gr.update(value="")
        pending = {"id": g["id"], "vote": vote, "index": index}
        hint = t("reason_hint_down" if vote == "down" else "reason_hint_up", lang)
        # The box sits under the chat, so it says which answer it is about.
        about = t("reason_for", lang, question=_short(g["question"], 40))
        return gr.update(visible=True), pending, gr.update(value="", placeholder=hint, label=about)

    @staticmethod
    def keep_vote(groups: list, history: list, data: gr.LikeData) -> tuple[Any, list]:
        """Remember the vote with its answer and give the chat every answer's vote, so the page
        shows each answer's filled 👍/👎 after later questions too (it forgets its own)."""
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        vote = "Like" if data.liked is True else "Dislike" if data.liked is False else None
        groups = [{**g, "vote": vote} if g["index"] == index else g for g in groups or []]
        return gr.Chatbot(feedback_value=feedback_values(history, groups)), groups

    def reason(self, text: str, pending: dict | None, groups: list, lang: str) -> tuple[Any, Any, Any]:
        g = next((g for g in groups or [] if pending and g["id"] == pending["id"]), None)
        if g is not None and (text or "").strip():
            try:
                self.feedback.record(g["question"], g["record"], pending["vote"], text, answer_id=g["id"])
            except FieldTooLong as exc:  # the box stays open with the text, to be shortened
                gr.Warning(t("reason_too_long", lang, limit=exc.limit))
                return gr.update(), pending, gr.update()
            except Exception:
                log.exception("could not store feedback")
                gr.Warning(message("error", lang))
                return gr.update(), pending, gr.update()
        return gr.update(visible=False), None, gr.update(value="")

    # --- endpoints for programs ----------------------------------------------------------

    def api_ask(self, question: str, history_json: str = "[]", docs: str = "") -> dict:
        """Answer `question`, given the earlier turns as a JSON list of {role, content}; returns
        the same record as `python -m qa ask --json`, or {"error": message}. `docs` limits the
        search to some documents, as `ask --doc` does: a glob over the file name ("刑法/*",
        "*.pdf") or text the file name or title contains; "" searches them all."""
        if not isinstance(question, str) or not isinstance(history_json, str) or not isinstance(docs, str):
            return {"error": "bad input: question, history_json and docs must be strings"}
        lang = detect_lang(question or "")
        if bad_text(question, history_json, docs):
            return {"error": t("bad_text", lang)}
        # Earlier turns: at most 50 questions' worth, parsed only then.
        if len(history_json) > 50 * self.settings.max_question_chars:
            return {"error": "bad input: history_json too long"}
        try:
            earlier = json.loads(history_json or "[]")
            if not isinstance(earlier, list):
                raise ValueError("history_json must be a JSON list of {role, content} objects")
            turns = parse_messages(earlier + [{"role": "user", "content": question}])
            answer = self.engine.ask(turns=turns, docs=(docs or "").strip() or None)
            rec = to_json(answer, shared=shared_titles(self._documents()))
        except BadQuestion as exc:
            return {"error": message(exc.key, lang, **exc.params)}
        except ValueError as exc:  # includes malformed JSON
            return {"error": f"bad input: {exc}"}
        except RecursionError:
            return {"error": "bad input: history_json nested too deeply"}
        except Exception:
            log.exception("api ask failed for %r", _short(question))
            return {"error": message("error", lang)}
        self._log_not_found(question, rec)
        return rec

    def api_feedback(self, question: str, answer_json: str, vote: str, reason: str = "") -> dict:
        """Store a vote ('up' or 'down', optional reason) on an answer returned by /ask."""
        lang = detect_lang(question or "") if isinstance(question, str) else "en"
        try:
            if not all(isinstance(x, str) for x in (question, answer_json, vote, reason)):
                raise ValueError("question, answer_json, vote and reason must be strings")
            if bad_text(question, reason):
                return {"ok": False, "error": t("bad_text", lang)}
            if len(answer_json) > 1024 * 1024:  # sized before parsing; the stored line is capped too
                raise FieldTooLong("record", 1024 * 1024)
            rec = json.loads(answer_json)
            if not isinstance(rec, dict) or vote not in ("up", "down"):
                raise ValueError("answer_json must be the /ask record and vote 'up' or 'down'")
            self.feedback.record(question, rec, vote, reason)
        except FieldTooLong as exc:
            if exc.field == "reason":
                return {"ok": False, "error": t("reason_too_long", lang, limit=exc.limit)}
            if exc.field == "question":
                return {"ok": False, "error": message("too_long", lang, limit=exc.limit)}
            return {"ok": False, "error": f"bad input: {exc}"}
        except RecursionError:
            return {"ok": False, "error": "bad input: answer_json nested too deeply"}
        except ValueError as exc:
            return {"ok": False, "error": f"bad input: {exc}"}
        except Exception:
            log.exception("storing feedback failed")
            return {"ok": False, "error": message("error", detect_lang(question or ""))}
        return {"ok": True}

    # --- staff -----------------------------------------------------------------------------

    def check_password(self, password: str, lang: str, client: str = "local") -> str:
        """'' when the password is right, else the message to show (area disabled / wrong /
        too many wrong ones). Every wrong attempt and every refusal is logged, never the
        password; an empty password is no guess and is not counted."""
        expected = self.settings.staff_password
        if not expected:
            return t("staff_disabled", lang)
        wait = self.throttle.wait(client)
        if wait > 0:
            log.warning("staff password attempt from %s refused: too many wrong ones (%.0f s left)", client, wait)
            return t("too_many_attempts", lang, minutes=max(1, math.ceil(wait / 60)))
        if not hmac.compare_digest((password or "").encode("utf-8", "surrogatepass"), expected.encode("utf-8")):
            if password:
                mine, overall = self.throttle.failed(client)
                log.warning("wrong staff password from %s (%d from it, %d overall recently)", client, mine, overall)
            time.sleep(self.wrong_password_pause)
            return t("wrong_password", lang)
        self.throttle.succeeded(client)
        return ""

    def store(self, name: str, data: bytes, lang: str, replace: bool = False) -> tuple[bool, str]:
        try:
            existed = bool(replace) and same_name(self.settings.corpus_dir, name) is not None
            save_upload(self.settings.corpus_dir, name, data, self.settings.max_file_bytes, replace=bool(replace))
        except DocumentError as exc:
            return False, t("refused", lang, name=name, reason=refusal(exc, lang))
        except OSError:
            log.exception("could not save upload %r", name)
            return False, t("refused", lang, name=name, reason=message("error", lang))
        log.info("staff uploaded %s (%d bytes)%s", name, len(data), " replacing the old version" if existed else "")
        return True, t("replaced" if existed else "saved", lang, name=name)

    def upload_files(
        self, password: str, files: list | None, lang: str, replace: bool = False, request: gr.Request | None = None
    ) -> tuple[str, str, Any]:
        """The staff form: save each file (or say why not), then refresh the index in the background.
        Returns what happened to each file, the index status, and whether to keep polling it."""
        denied = self.check_password(password, lang, client_of(request))
        if denied:
            return render.notice([denied], ok=False), "", gr.Timer(active=False)
        if not files:
            return render.notice([t("no_files", lang)], ok=False), "", gr.Timer(active=False)
        results = []
        limit = self.settings.max_file_bytes
        for f in files:
            path = Path(str(f))  # Gradio keeps the uploaded file's own name, without any folders
            try:
                # Gradio has stored the file (up to max_file_size, see launch); its size is
                # checked before it is read into memory.
                size = path.stat().st_size
                if size > limit:
                    reason = t("too_large", lang, size=f"{size:,}", limit=f"{limit:,}")
                    results.append((False, t("refused", lang, name=path.name, reason=reason)))
                    continue
                data = path.read_bytes()
            except OSError:
                log.exception("could not read upload %s", path)
                results.append((False, t("refused", lang, name=path.name, reason=message("error", lang))))
                continue
            results.append(self.store(path.name, data, lang, replace))
        if any(ok for ok, _ in results):
            self.refresher.request()
        notes = "".join(render.notice([m], ok=ok) for ok, m in results)
        return notes, self._status_html(lang), gr.Timer(active=self.refresher.running)

    def sign_in(self, password: str, lang: str, request: gr.Request | None = None) -> tuple[Any, ...]:
        """The staff sign-in step: with the right password the box gives way to the staff
        actions and the index status with the document list; a wrong one says so and stays."""
        denied = self.check_password(password, lang, client_of(request))
        if denied:
            return render.notice([denied], ok=False), gr.Timer(active=False), gr.update(), gr.update()
        status = render.notice([t("signed_in", lang)]) + self._status_html(lang)
        return status, gr.Timer(active=self.refresher.running), gr.update(visible=False), gr.update(visible=True)

    @staticmethod
    def sign_out() -> tuple[Any, ...]:
        # The password box empties, so nothing a later visitor of this browser tab does is staff.
        return "", "", "", gr.Timer(active=False), gr.update(visible=True), gr.update(visible=False)

    def status(self, password: str, lang: str, request: gr.Request | None = None) -> tuple[str, Any]:
        denied = self.check_password(password, lang, client_of(request))
        if denied:
            return render.notice([denied], ok=False), gr.Timer(active=False)
        return self._status_html(lang), gr.Timer(active=self.refresher.running)

    def _status_html(self, lang: str) -> str:
        try:
            status = dict(self.engine.status())
            status["docs"] = list(self.engine.documents())
        except Exception:
            log.exception("index status failed")
            return render.notice([message("error", lang)], ok=False)
        return render.status_html(
            status, self.refresher.running, self.refresher.last_error, lang, [], self.refresher.progress
        )

    def api_upload(
        self, password: str, name: str, content_base64: str, replace: bool = False, request: gr.Request | None = None
    ) -> dict:
        """Add one document (its bytes base64-encoded) to the corpus and refresh the index. A
        document of the same name (case aside) is refused unless `replace`; then the old
        version is kept in the corpus folder's .replaced/ folder."""
        lang = "en"
        denied = self.check_password(password, lang, client_of(request))
        if denied:
            return {"ok": False, "error": denied}
        if not isinstance(name, str) or not isinstance(content_base64, str):
            return {"ok": False, "error": "name and content_base64 must be strings"}
        limit = self.settings.max_file_bytes
        if len(content_base64) > 4 * math.ceil(limit / 3) + 4:  # sized before decoding
            reason = t("too_large", lang, size=f"~{len(content_base64) * 3 // 4:,}", limit=f"{limit:,}")
            return {"ok": False, "error": t("refused", lang, name=name, reason=reason)}
        try:
            data = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            return {"ok": False, "error": "content_base64 is not valid base64"}
        ok, note = self.store(name, data, lang, bool(replace))
        if not ok:
            return {"ok": False, "error": note}
        self.refresher.request()
        return {"ok": True, "message": note}

    def api_status(self, password: str, request: gr.Request | None = None) -> dict:
        """Index status and whether a refresh is running (staff only)."""
        denied = self.check_password(password, "en", client_of(request))
        if denied:
            return {"ok": False, "error": denied}
        try:
            status = dict(self.engine.status())
            names = sorted(self.engine.stored.manifest.get("documents", {}))
        except Exception:
            log.exception("index status failed")
            return {"ok": False, "error": message("error", "en")}
        status.update(
            ok=True,
            document_names=names,
            document_list=self._documents(),
            refreshing=self.refresher.running,
            last_error=self.refresher.last_error,
        )
        return status

    def remove(
        self,
        password: str,
        name: str | None,
        lang: str,
        progress: Any = gr.Progress(),  # noqa: B008 - gradio injects its tracker through this default
        request: gr.Request | None = None,
    ) -> tuple[str, Any]:
        """The staff form: delete the chosen document and re-index at once (the old index keeps
        serving meanwhile); says what the collection holds afterwards. Returns the message and
        the index status with the refreshed list."""
        denied = self.check_password(password, lang, client_of(request))
        if denied:
            return render.notice([denied], ok=False), ""  # and no list for a wrong password
        ok, note = self._remove(name, lang, lambda stage, done, total: progress((done, total or None), desc=stage))
        return render.notice([note], ok=ok), self._status_html(lang)

    def _remove(self, name: str | None, lang: str, progress: Any = None) -> tuple[bool, str]:
        name = (name or "").strip()
        if not name:
            return False, t("no_doc_chosen", lang)
        try:
            report = self.engine.remove_document(name, progress=progress)
        except DocumentError:
            return False, t("not_in_collection", lang, name=name)
        except Exception:
            # The file may be gone while the index still holds it: let the background refresh
            # catch up, and let staff watch it in the status.
            log.exception("removing %r failed", name)
            self.refresher.request()
            return False, t("remove_failed", lang, name=name)
        log.info("staff removed %s: %d documents, %d chunks left", name, report.documents, report.chunks)
        return True, t("removed", lang, name=name, documents=report.documents, chunks=report.chunks)

    def api_remove(self, password: str, name: str, request: gr.Request | None = None) -> dict:
        """Delete one document (by its name in /status document_names) and re-index; returns the
        documents and chunks the collection holds afterwards."""
        denied = self.check_password(password, "en", client_of(request))
        if denied:
            return {"ok": False, "error": denied}
        ok, note = self._remove(name, "en")
        if not ok:
            return {"ok": False, "error": note}
        status = self.engine.status()
        return {"ok": True, "message": note, "documents": status["documents"], "chunks": status["chunks"]}

    # --- document menus ------------------------------------------------------------------------

    def _staff_ok(self, password: str) -> bool:
        # For follow-up events the client cannot call: the password was already checked (and
        # a wrong one paid its pause) by the event they follow.
        expected = self.settings.staff_password
        return bool(expected) and hmac.compare_digest(
            (password or "").encode("utf-8", "surrogatepass"), expected.encode("utf-8")
        )

    def filter_menu(self, lang: str, value: str | None) -> tuple[Any, str]:
        """The ask tab's document menu for the collection as it is now (on page load)."""
        documents = self._documents()
        return _filter_menu(documents, lang, value), _signature(documents)

    def staff_menus(  # noqa: ANN201
        self, password: str, lang: str, value: str | None, chosen: str | None, known: str, staff_known: str
    ):
        """After a staff action or a status poll: each document menu (the ask tab's, the staff
        tab's) that the collection changed under since this page last filled it; a thousand
        documents are not resent every two seconds while an upload is indexed."""
        if not self._staff_ok(password):
            return gr.skip(), gr.skip(), known, staff_known
        documents = self._documents()
        signature = _signature(documents)
        names = {d["doc"] for d in documents}
        removal = gr.skip()
        if signature != staff_known:
            removal = gr.Dropdown(
                choices=remove_choices(documents), value=chosen if chosen in names else None, allow_custom_value=True
            )
        search = gr.skip()
        if signature != known:
            search = _filter_menu(documents, lang, value)
        return removal, search, signature, signature

    # --- language ----------------------------------------------------------------------------

    def relabel(self, lang: str, groups: list, value: str | None = "") -> list[Any]:
        """The page in another interface language. The answers stay as they are: each is labelled
        in its own question's language (an English answer reads "Answered" in either interface)."""
        staff_text = t("staff_intro" if self.settings.staff_password else "staff_disabled", lang)
        documents = self._documents()
        chat: dict[str, Any] = {"label": t("chat", lang), "placeholder": t("placeholder", lang)}
        return [
            self.header(lang),
            gr.Tab(label=t("tab_ask", lang)),
            gr.Tab(label=t("tab_staff", lang)),
            gr.Chatbot(examples=examples(lang), **chat),
            gr.Textbox(label=t("input", lang), placeholder=t("input_hint", lang)),
            gr.Button(value=t("send", lang)),
            gr.Button(value=t("clear", lang)),
            self._panel(groups, lang),
            gr.Textbox(label=t("reason", lang)),
            gr.Button(value=t("reason_send", lang)),
            gr.Radio(label=t("language", lang)),
            staff_text,
            gr.Textbox(label=t("password", lang)),
            gr.File(label=t("files", lang)),
            gr.Checkbox(label=t("replace", lang)),
            gr.Button(value=t("upload", lang)),
            gr.Button(value=t("show_status", lang)),
            # The menu's "all documents" and folder entries are labelled in the language too.
            _filter_menu(documents, lang, value, label=t("doc_filter", lang), info=t("doc_filter_info", lang)),
            gr.Dropdown(label=t("remove_choice", lang)),
            gr.Button(value=t("remove", lang)),
            gr.Button(value=t("sign_in", lang)),
            gr.Button(value=t("sign_out", lang)),
        ]


def _filter_menu(documents: list[dict[str, Any]], lang: str, value: str | None, **props: Any) -> Any:
    # The value is sent back with the choices so that new choices never drop what the user
    # picked or typed; allow_custom_value again, or the update warns about a typed value.
    return gr.Dropdown(choices=filter_choices(documents, lang), value=value or "", allow_custom_value=True, **props)


def _signature(documents: list[dict[str, Any]]) -> str:
    """Identifies a state of the collection, to tell whether a page's menus are out of date."""
    return str(hash(tuple((d["doc"], d["title"], d["chunks"]) for d in documents)))


def _endpoint(fn: Any) -> Any:
    """gr.api reads the return type straight from the signature, where this module's postponed
    annotations are still strings; give it a wrapper whose signature holds the real types."""
    signature = inspect.signature(fn, eval_str=True)

    def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    call.__signature__ = signature  # type: ignore[attr-defined]
    call.__annotations__ = {
        **{n: p.annotation for n, p in signature.parameters.items()},
        "return": signature.return_annotation,
    }
    call.__name__, call.__doc__ = fn.__name__, fn.__doc__
    return call


def build_app(engine: Any, settings: Settings) -> gr.Blocks:
    h = Handlers(engine, settings)
    lang0 = "zh"
    with gr.Blocks(title="文件问答 · Document Q&A", analytics_enabled=False) as demo:
        convo = gr.State([])  # raw turns for engine.ask: user questions and plain answer texts
        groups = gr.State([])  # one entry per answer: its record, turn number, chat index, id
        pending = gr.State(None)  # the vote waiting for an optional reason
        # The state of the collection that this page's document menus show (ask tab, staff tab).
        known = gr.State("")
        staff_known = gr.State("")
        with gr.Row(elem_id="qa-top"):
            header = gr.HTML(render.header_html(lang0, 0), elem_id="qa-header", min_width=300)  # filled on load
            lang = gr.Radio(
                LANGS,
                value=lang0,
                label=t("language", lang0),
                show_label=False,
                elem_id="qa-lang",
                scale=0,
                min_width=220,
            )
        with gr.Tabs():
            with gr.Tab(t("tab_ask", lang0), id="ask") as tab_ask:
                with gr.Row(equal_height=False, elem_id="qa-main"):
                    with gr.Column(scale=3, min_width=340, elem_id="qa-chat-col"):
                        doc_filter = gr.Dropdown(
                            [(t("all_documents", lang0), "")],  # filled on page load
                            value="",
                            label=t("doc_filter", lang0),
                            info=t("doc_filter_info", lang0),
                            allow_custom_value=True,  # a typed name, title or pattern
                            filterable=True,
                            elem_id="qa-docs",
                        )
                        chatbot = gr.Chatbot(
                            label=t("chat", lang0),
                            show_label=False,
                            elem_id="qa-chat",
                            height="min(540px, 60vh)",
                            placeholder=t("placeholder", lang0),
                            examples=examples(lang0),
                            # Every answer's vote, sent after each vote (Handlers.keep_vote): on
                            # its own the page forgets a filled 👍/👎 when the next answer comes.
                            feedback_value=[],
                            latex_delimiters=[],  # "$" in a document is money, not maths
                            buttons=["copy"],
                        )
                        with gr.Row(elem_id="qa-ask-row", equal_height=True):
                            msg = gr.Textbox(
                                label=t("input", lang0),
                                show_label=False,
                                placeholder=t("input_hint", lang0),
                                scale=6,
                                min_width=150,
                                max_lines=6,
                                elem_id="qa-input",
                                autofocus=True,
                            )
                            send = gr.Button(
                                t("send", lang0), variant="primary", scale=1, min_width=60, elem_id="qa-send"
                            )
                            clear = gr.Button(t("clear", lang0), variant="secondary", scale=1, min_width=60)
                        with gr.Row(visible=False, elem_id="qa-reason-row") as reason_row:
                            reason = gr.Textbox(label=t("reason", lang0), scale=5, min_width=200, elem_id="qa-reason")
                            reason_send = gr.Button(t("reason_send", lang0), scale=1, min_width=80)
                    with gr.Column(scale=2, min_width=300, elem_id="qa-sources-col"):
                        sources = gr.HTML(render.sources_panel([], lang0), elem_id="qa-sources", padding=False)
            with gr.Tab(t("tab_staff", lang0), id="staff") as tab_staff:
                staff_note = gr.Markdown(
                    t("staff_intro" if settings.staff_password else "staff_disabled", lang0), elem_id="qa-staff-note"
                )
                # Sign in once; the staff actions appear after (the password box then hides, its
                # value still goes with every staff action, which checks it again).
                with gr.Row(
                    visible=bool(settings.staff_password), equal_height=True, elem_id="qa-signin"
                ) as signin_box:
                    password = gr.Textbox(
                        label=t("password", lang0), type="password", elem_id="qa-password", scale=4, min_width=200
                    )
                    sign_in = gr.Button(
                        t("sign_in", lang0), variant="primary", scale=1, min_width=100, elem_id="qa-sign-in"
                    )
                with gr.Group(visible=False, elem_id="qa-staff") as staff_box:
                    files = gr.File(label=t("files", lang0), file_count="multiple", elem_id="qa-files")
                    replace = gr.Checkbox(False, label=t("replace", lang0), elem_id="qa-replace")
                    with gr.Row():
                        upload = gr.Button(t("upload", lang0), variant="primary")
                        upload_api = gr.Button(visible=False)
                        show_status = gr.Button(t("show_status", lang0))
                    with gr.Row(equal_height=True):
                        remove_choice = gr.Dropdown(
                            [],  # filled once the password is right
                            value=None,
                            label=t("remove_choice", lang0),
                            # Typed names reach the handler, which refuses unknown ones with a
                            # message (the server-side choice check would raise instead).
                            allow_custom_value=True,
                            filterable=True,
                            scale=4,
                            elem_id="qa-remove-choice",
                        )
                        remove = gr.Button(t("remove", lang0), variant="stop", scale=1, min_width=120)
                    sign_out = gr.Button(t("sign_out", lang0), variant="secondary", size="sm", elem_id="qa-sign-out")
                upload_result = gr.HTML("", elem_id="qa-upload-result")
                status = gr.HTML("", elem_id="qa-status")
                timer = gr.Timer(2.0, active=False)

        chat_io = dict(
            fn=h.respond,
            inputs=[msg, chatbot, convo, groups, lang, doc_filter],
            outputs=[chatbot, sources, convo, groups, msg],
            concurrency_id="engine",
        )
        msg.submit(**chat_io, api_name="chat", api_visibility="undocumented")
        send.click(**chat_io, api_visibility="private")
        chatbot.example_select(h.pick_example, None, msg, api_visibility="private", queue=False).then(
            **chat_io, api_visibility="private"
        )
        # The reason box belongs to the answer it was opened for: a new question closes it.
        close_reason = dict(
            fn=lambda: (gr.update(visible=False), None),
            outputs=[reason_row, pending],
            queue=False,
            api_visibility="private",
        )
        msg.submit(**close_reason)
        send.click(**close_reason)
        chatbot.like(h.vote, [groups, lang], [reason_row, pending, reason], api_visibility="private").then(
            None, js=SHOW_REASON_JS, api_visibility="private"
        )
        chatbot.like(h.keep_vote, [groups, chatbot], [chatbot, groups], api_visibility="private", queue=False)
        reason_io = dict(fn=h.reason, inputs=[reason, pending, groups, lang], outputs=[reason_row, pending, reason])
        reason_send.click(**reason_io, api_visibility="private")
        reason.submit(**reason_io, api_visibility="private")
        reset = dict(
            fn=lambda lg: (
                gr.Chatbot(value=[], feedback_value=[]),  # the votes go with the conversation
                render.sources_panel([], lg),
                [],
                [],
                None,
                gr.update(visible=False),
            ),
            inputs=[lang],
            outputs=[chatbot, sources, convo, groups, pending, reason_row],
            api_visibility="private",
            queue=False,
        )
        clear.click(**reset)
        chatbot.clear(**reset)  # the chat's own bin icon must forget the conversation too
        lang.change(
            h.relabel,
            [lang, groups, doc_filter],
            [
                header,
                tab_ask,
                tab_staff,
                chatbot,
                msg,
                send,
                clear,
                sources,
                reason,
                reason_send,
                lang,
                staff_note,
                password,
                files,
                replace,
                upload,
                show_status,
                doc_filter,
                remove_choice,
                remove,
                sign_in,
                sign_out,
            ],
            api_visibility="private",
            queue=False,
        )
        lang.change(None, [lang], None, js=html_lang_js(), api_visibility="private")
        demo.load(None, [lang], None, js=html_lang_js(), api_visibility="private")
        demo.load(h.header, [lang], [header], api_visibility="private", queue=False)
        demo.load(h.filter_menu, [lang, doc_filter], [doc_filter, known], api_visibility="private", queue=False)
        # Every staff event ends by bringing the document menus up to date with the collection.
        menus = dict(
            fn=h.staff_menus,
            inputs=[password, lang, doc_filter, remove_choice, known, staff_known],
            outputs=[remove_choice, doc_filter, known, staff_known],
            api_visibility="private",
            queue=False,
        )
        upload.click(
            h.upload_files,
            [password, files, lang, replace],
            [upload_result, status, timer],
            api_name="staff_upload_form",
            api_visibility="private",
        ).then(**menus)
        # Programs that drive the form call /staff_upload with (password, files, lang), as before
        # the replace box existed; an undocumented endpoint gets no defaults filled in by the
        # client, so it keeps its three inputs on a trigger of its own (and never replaces).
        upload_api.click(
            h.upload_files,
            [password, files, lang],
            [upload_result, status, timer],
            api_name="staff_upload",
            api_visibility="undocumented",
        ).then(**menus)
        show_status.click(
            h.status, [password, lang], [status, timer], api_name="staff_status", api_visibility="undocumented"
        ).then(**menus)
        signing_in = dict(
            fn=h.sign_in,
            inputs=[password, lang],
            outputs=[status, timer, signin_box, staff_box],
            api_visibility="private",
        )
        password.submit(**signing_in, api_name="staff_status_enter").then(**menus)
        sign_in.click(**signing_in, api_name="staff_sign_in").then(**menus)
        sign_out.click(
            h.sign_out,
            None,
            [password, status, upload_result, timer, signin_box, staff_box],
            api_visibility="private",
            queue=False,
        )
        timer.tick(
            h.status, [password, lang], [status, timer], api_name="staff_status_tick", api_visibility="private"
        ).then(**menus)
        remove.click(
            h.remove,
            [password, remove_choice, lang],
            [upload_result, status],
            api_name="staff_remove",
            api_visibility="undocumented",
        ).then(**menus)

        gr.api(_endpoint(h.api_ask), api_name="ask", concurrency_id="engine")
        gr.api(_endpoint(h.api_feedback), api_name="feedback")
        gr.api(_endpoint(h.api_upload), api_name="upload")
        gr.api(_endpoint(h.api_remove), api_name="remove")
        gr.api(_endpoint(h.api_status), api_name="status")
    return demo


def launch(demo: gr.Blocks, settings: Settings, **kwargs: Any) -> Any:
    demo.queue(default_concurrency_limit=4)
    return demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        css=page.CSS,
        head=page.HEAD,
        # Gradio's upload route takes files before any handler (and so before the password is
        # checked): it counts the bytes as they stream in and stops a file at this size, and
        # the page refuses a larger file before sending it. Only the limit itself gets in.
        max_file_size=settings.max_file_bytes,
        footer_links=["api"],
        show_error=False,
        **kwargs,
    )


def main() -> gr.Blocks:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from qa.engine import Engine

    settings = Settings.from_env()
    # An index that is only out of date answers at once; the handlers rebuild it in the background.
    engine = Engine(settings, serve_stale=True)
    # The models load at their first use; here, before serving, so that a model that cannot load
    # stops the start with its message and the first question does not wait for the weights.
    engine.warm()
    log.info("index: %s", engine.status())
    demo = build_app(engine, settings)
    launch(demo, settings)
    return demo
