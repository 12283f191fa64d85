"""The web app: chat with cited answers beside their sources, feedback, and a staff area.

The only module that imports gradio. Handlers are thin: they call the engine, render with
`qa.render`, log feedback with `qa.feedback`, and turn every failure into a message in the
user's language (the stack trace goes to the log, never to the page). A question can be limited
to some documents (a document, a folder, or a pattern; `Engine.ask(docs=...)`); staff, behind the
password, upload documents, see the list of documents and remove one. Programs get clean
endpoints: `/ask` (question + earlier turns as JSON + optional documents pattern -> the
`qa.output.to_json` record) and `/feedback`, and for staff `/upload`, `/remove` and `/status`.
It does not answer questions or build indexes itself.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import json
import logging
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import gradio as gr

from qa import render
from qa.chat import BadQuestion, Turn, parse_messages
from qa.feedback import FeedbackLog
from qa.lang import detect_lang, message
from qa.load import DocumentError, save_upload
from qa.output import shared_titles, to_json
from qa.settings import Settings

log = logging.getLogger(__name__)

EXAMPLES = [
    "岳阳片区的重点是什么？",
    "What are Yueyang's priorities?",
    "湖南自贸区在全国首次提出了哪些改革事项？",
    "株洲如何对接湖南自贸区？",
    "How large is the Hunan Free Trade Zone?",
]
# A short pause between streamed sentences, so the answer visibly builds up instead of the
# updates being merged into one; the answer itself is already complete (it is extractive).
STREAM_PAUSE = 0.04
# Slows password guessing down without bothering a member of staff who mistyped once.
WRONG_PASSWORD_PAUSE = 1.0

LANGS = [("中文", "zh"), ("English", "en")]


t = render.label


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
        self.feedback = FeedbackLog(settings.data_dir)
        self.refresher = Refresher(engine)

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
            yield history, render.sources_panel(groups, lang), convo, groups, question
            return
        history.append({"role": "user", "content": user_html(question)})
        waiting = {"role": "assistant", "content": f'<div class="qa-wait">{render.label("searching", lang)}</div>'}
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
            log.exception("answering failed for %r", question)
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
        # A document chosen from the menu means that document alone (see exact_pattern).
        pattern = exact_pattern(docs) if docs in {d["doc"] for d in documents} else docs
        rec = to_json(self.engine.ask(turns=turns, docs=pattern or None), shared=shared_titles(documents))
        log.info("answered %r in %r: %s in %s ms", question, docs, rec["outcome"], rec["timings_ms"].get("total"))
        self._log_not_found(question, rec)
        turn = len(groups) + 1
        group = {"turn": turn, "question": question, "record": rec, "index": index, "id": uuid.uuid4().hex}
        steps = [render.answer_html(rec, turn, question, p, docs) for p in render.pieces(rec["answer"])[:-1]]
        steps.append(render.answer_html(rec, turn, question, scope=docs))
        return steps, group, render.sources_panel(groups + [group], lang)

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
        return gr.update(visible=True), pending, gr.update(value="", placeholder=hint)

    def reason(self, text: str, pending: dict | None, groups: list, lang: str) -> tuple[Any, Any, Any]:
        g = next((g for g in groups or [] if pending and g["id"] == pending["id"]), None)
        if g is not None and (text or "").strip():
            try:
                self.feedback.record(g["question"], g["record"], pending["vote"], text, answer_id=g["id"])
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
        lang = detect_lang(question or "")
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
        except Exception:
            log.exception("api ask failed for %r", question)
            return {"error": message("error", lang)}
        self._log_not_found(question, rec)
        return rec

    def api_feedback(self, question: str, answer_json: str, vote: str, reason: str = "") -> dict:
        """Store a vote ('up' or 'down', optional reason) on an answer returned by /ask."""
        try:
            rec = json.loads(answer_json)
            if not isinstance(rec, dict) or vote not in ("up", "down"):
                raise ValueError("answer_json must be the /ask record and vote 'up' or 'down'")
            self.feedback.record(question, rec, vote, reason)
        except ValueError as exc:
            return {"ok": False, "error": f"bad input: {exc}"}
        except Exception:
            log.exception("storing feedback failed")
            return {"ok": False, "error": message("error", detect_lang(question or ""))}
        return {"ok": True}

    # --- staff -----------------------------------------------------------------------------

    def check_password(self, password: str, lang: str) -> str:
        """'' when the password is right, else the message to show (area disabled / wrong)."""
        expected = self.settings.staff_password
        if not expected:
            return t("staff_disabled", lang)
        if not hmac.compare_digest((password or "").encode("utf-8"), expected.encode("utf-8")):
            time.sleep(WRONG_PASSWORD_PAUSE)
            return t("wrong_password", lang)
        return ""

    def store(self, name: str, data: bytes, lang: str) -> tuple[bool, str]:
        try:
            save_upload(self.settings.corpus_dir, name, data, self.settings.max_file_bytes)
        except DocumentError as exc:
            return False, t("refused", lang, name=name, reason=exc)
        except OSError:
            log.exception("could not save upload %r", name)
            return False, t("refused", lang, name=name, reason=message("error", lang))
        log.info("staff uploaded %s (%d bytes)", name, len(data))
        return True, t("saved", lang, name=name)

    def upload_files(self, password: str, files: list | None, lang: str) -> tuple[str, str, Any]:
        """The staff form: save each file (or say why not), then refresh the index in the background.
        Returns what happened to each file, the index status, and whether to keep polling it."""
        denied = self.check_password(password, lang)
        if denied:
            return render.notice([denied], ok=False), "", gr.Timer(active=False)
        if not files:
            return render.notice([t("no_files", lang)], ok=False), "", gr.Timer(active=False)
        results = []
        for f in files:
            path = Path(str(f))  # Gradio keeps the uploaded file's own name, without any folders
            try:
                data = path.read_bytes()
            except OSError:
                log.exception("could not read upload %s", path)
                results.append((False, t("refused", lang, name=path.name, reason=message("error", lang))))
                continue
            results.append(self.store(path.name, data, lang))
        if any(ok for ok, _ in results):
            self.refresher.request()
        notes = "".join(render.notice([m], ok=ok) for ok, m in results)
        return notes, self._status_html(lang), gr.Timer(active=self.refresher.running)

    def status(self, password: str, lang: str) -> tuple[str, Any]:
        denied = self.check_password(password, lang)
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

    def api_upload(self, password: str, name: str, content_base64: str) -> dict:
        """Add one document (its bytes base64-encoded) to the corpus and refresh the index."""
        lang = "en"
        denied = self.check_password(password, lang)
        if denied:
            return {"ok": False, "error": denied}
        try:
            data = base64.b64decode(content_base64, validate=True)
        except (binascii.Error, ValueError):
            return {"ok": False, "error": "content_base64 is not valid base64"}
        ok, note = self.store(name, data, lang)
        if not ok:
            return {"ok": False, "error": note}
        self.refresher.request()
        return {"ok": True, "message": note}

    def api_status(self, password: str) -> dict:
        """Index status and whether a refresh is running (staff only)."""
        denied = self.check_password(password, "en")
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

    def remove(self, password: str, name: str | None, lang: str, progress: Any = gr.Progress()) -> tuple[str, Any]:  # noqa: B008 - gradio injects its tracker through this default
        """The staff form: delete the chosen document and re-index at once (the old index keeps
        serving meanwhile); says what the collection holds afterwards. Returns the message and
        the index status with the refreshed list."""
        denied = self.check_password(password, lang)
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

    def api_remove(self, password: str, name: str) -> dict:
        """Delete one document (by its name in /status document_names) and re-index; returns the
        documents and chunks the collection holds afterwards."""
        denied = self.check_password(password, "en")
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
        return bool(expected) and hmac.compare_digest((password or "").encode("utf-8"), expected.encode("utf-8"))

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
        staff_text = t("staff_intro" if self.settings.staff_password else "staff_disabled", lang)
        documents = self._documents()
        return [
            t("header", lang),
            gr.Tab(label=t("tab_ask", lang)),
            gr.Tab(label=t("tab_staff", lang)),
            gr.Chatbot(label=t("chat", lang), placeholder=t("placeholder", lang)),
            gr.Textbox(label=t("input", lang), placeholder=t("input_hint", lang)),
            gr.Button(value=t("send", lang)),
            gr.Button(value=t("clear", lang)),
            render.sources_panel(groups or [], lang),
            gr.Textbox(label=t("reason", lang)),
            gr.Button(value=t("reason_send", lang)),
            gr.Radio(label=t("language", lang)),
            staff_text,
            gr.Textbox(label=t("password", lang)),
            gr.File(label=t("files", lang)),
            gr.Button(value=t("upload", lang)),
            gr.Button(value=t("show_status", lang)),
            # The menu's "all documents" and folder entries are labelled in the language too.
            _filter_menu(documents, lang, value, label=t("doc_filter", lang), info=t("doc_filter_info", lang)),
            gr.Dropdown(label=t("remove_choice", lang)),
            gr.Button(value=t("remove", lang)),
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
            header = gr.HTML(t("header", lang0), elem_id="qa-header", min_width=300)
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
                            examples=[{"text": q} for q in EXAMPLES],
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
                            send = gr.Button(t("send", lang0), variant="primary", scale=1, min_width=60)
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
                with gr.Group(visible=bool(settings.staff_password)):
                    password = gr.Textbox(label=t("password", lang0), type="password", elem_id="qa-password")
                    files = gr.File(label=t("files", lang0), file_count="multiple", elem_id="qa-files")
                    with gr.Row():
                        upload = gr.Button(t("upload", lang0), variant="primary")
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
        chatbot.like(h.vote, [groups, lang], [reason_row, pending, reason], api_visibility="private")
        reason_io = dict(fn=h.reason, inputs=[reason, pending, groups, lang], outputs=[reason_row, pending, reason])
        reason_send.click(**reason_io, api_visibility="private")
        reason.submit(**reason_io, api_visibility="private")
        reset = dict(
            fn=lambda lg: ([], render.sources_panel([], lg), [], [], None, gr.update(visible=False)),
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
                upload,
                show_status,
                doc_filter,
                remove_choice,
                remove,
            ],
            api_visibility="private",
            queue=False,
        )
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
            [password, files, lang],
            [upload_result, status, timer],
            api_name="staff_upload",
            api_visibility="undocumented",
        ).then(**menus)
        show_status.click(
            h.status, [password, lang], [status, timer], api_name="staff_status", api_visibility="undocumented"
        ).then(**menus)
        password.submit(
            h.status, [password, lang], [status, timer], api_name="staff_status_enter", api_visibility="private"
        ).then(**menus)
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
        css=render.CSS,
        head=render.HEAD,
        # Far larger uploads are stopped at the door; anything nearer the limit reaches
        # save_upload, which refuses it with a message naming the limit.
        max_file_size=settings.max_file_bytes * 4 + 1024 * 1024,
        footer_links=["api"],
        show_error=False,
        **kwargs,
    )


def main() -> gr.Blocks:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from qa.engine import Engine

    settings = Settings.from_env()
    engine = Engine(settings)
    log.info("index: %s", engine.status())
    demo = build_app(engine, settings)
    launch(demo, settings)
    return demo
