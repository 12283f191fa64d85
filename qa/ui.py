"""The web app: chat with cited answers beside their sources, feedback, and a staff area.

The only module that imports gradio. Handlers are thin: they call the engine, render with
`qa.render`, log feedback with `qa.feedback`, and turn every failure into a message in the
user's language (the stack trace goes to the log, never to the page). Programs get clean
endpoints: `/ask` (question + earlier turns as JSON -> the `qa.output.to_json` record) and
`/feedback`, and for staff, behind the password, `/upload` and `/status`. It does not answer
questions or build indexes itself.
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
from pathlib import Path
from typing import Any

import gradio as gr

from qa import render
from qa.chat import BadQuestion, Turn, parse_messages
from qa.feedback import FeedbackLog
from qa.lang import detect_lang, message
from qa.load import DocumentError, save_upload
from qa.output import to_json
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

    def respond(self, question: str, history: list, convo: list, groups: list, lang: str):  # noqa: ANN201
        """Stream one answer: the question at once, then the answer sentence by sentence, with
        the sources panel already showing the cards its markers point to."""
        history, convo, groups = list(history or []), list(convo or []), list(groups or [])
        question = question or ""
        if not question.strip():
            gr.Warning(message("empty", lang))
            yield history, render.sources_panel(groups, lang), convo, groups, question
            return
        history.append({"role": "user", "content": user_html(question)})
        waiting = {"role": "assistant", "content": f'<div class="qa-wait">{render.label("searching", lang)}</div>'}
        yield history + [waiting], gr.skip(), convo, groups, ""
        try:
            steps, group, panel = self._compose(question, convo, groups, len(history), lang)
        except BadQuestion as exc:
            history.append({"role": "assistant", "content": message(exc.key, lang, **exc.params)})
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
        self, question: str, convo: list, groups: list, index: int, lang: str
    ) -> tuple[list[str], dict[str, Any], str]:
        """Ask the engine and render everything up front, so nothing can fail mid-stream: the
        growing answer's HTML steps, the answer's group (record, turn, chat index, id), the panel."""
        turns = [Turn(m["role"], m["content"]) for m in convo] + [Turn("user", question)]
        rec = to_json(self.engine.ask(turns=turns))
        log.info("answered %r: %s in %s ms", question, rec["outcome"], rec["timings_ms"].get("total"))
        self._log_not_found(question, rec)
        turn = len(groups) + 1
        group = {"turn": turn, "question": question, "record": rec, "index": index, "id": uuid.uuid4().hex}
        steps = [render.answer_html(rec, turn, question, p) for p in render.pieces(rec["answer"])[:-1]]
        steps.append(render.answer_html(rec, turn, question))
        return steps, group, render.sources_panel(groups + [group], lang)

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

    def api_ask(self, question: str, history_json: str = "[]") -> dict:
        """Answer `question`, given the earlier turns as a JSON list of {role, content}; returns
        the same record as `python -m qa ask --json`, or {"error": message}."""
        lang = detect_lang(question or "")
        try:
            earlier = json.loads(history_json or "[]")
            if not isinstance(earlier, list):
                raise ValueError("history_json must be a JSON list of {role, content} objects")
            turns = parse_messages(earlier + [{"role": "user", "content": question}])
            rec = to_json(self.engine.ask(turns=turns))
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
            status["names"] = dict(self.engine.stored.manifest.get("documents", {}))
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
            ok=True, document_names=names, refreshing=self.refresher.running, last_error=self.refresher.last_error
        )
        return status

    # --- language ----------------------------------------------------------------------------

    def relabel(self, lang: str, groups: list) -> list[Any]:
        staff_text = t("staff_intro" if self.settings.staff_password else "staff_disabled", lang)
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
        ]


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
                upload_result = gr.HTML("", elem_id="qa-upload-result")
                status = gr.HTML("", elem_id="qa-status")
                timer = gr.Timer(2.0, active=False)

        chat_io = dict(
            fn=h.respond,
            inputs=[msg, chatbot, convo, groups, lang],
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
            [lang, groups],
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
            ],
            api_visibility="private",
            queue=False,
        )
        upload.click(
            h.upload_files,
            [password, files, lang],
            [upload_result, status, timer],
            api_name="staff_upload",
            api_visibility="undocumented",
        )
        show_status.click(
            h.status, [password, lang], [status, timer], api_name="staff_status", api_visibility="undocumented"
        )
        password.submit(
            h.status, [password, lang], [status, timer], api_name="staff_status_enter", api_visibility="private"
        )
        timer.tick(h.status, [password, lang], [status, timer], api_name="staff_status_tick", api_visibility="private")

        gr.api(_endpoint(h.api_ask), api_name="ask", concurrency_id="engine")
        gr.api(_endpoint(h.api_feedback), api_name="feedback")
        gr.api(_endpoint(h.api_upload), api_name="upload")
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
