"""Command line: `python -m qa index | ask | eval | feedback`.

Every command exits non-zero with a one-line message on bad input; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

from qa.chat import BadQuestion, Turn, parse_messages
from qa.lang import detect_lang, message
from qa.output import shared_titles, to_json, to_text
from qa.settings import Settings

log = logging.getLogger(__name__)


def _engine(settings: Settings, rebuild: bool = False):  # noqa: ANN202 - heavy import kept lazy
    from qa.engine import Engine

    return Engine(settings, rebuild=rebuild)


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from qa.embed import load_crosslingual, load_embedder, load_latent
    from qa.indexer import open_or_build

    bar = ProgressBar()
    e5 = load_embedder(settings)
    latent = load_latent(settings, e5)
    _, report = open_or_build(settings, e5, load_crosslingual(settings), args.rebuild, bar, latent)
    if bar.drawn:
        sys.stderr.write("\n")
    did = f"built ({report.reason})" if report.rebuilt else "up to date"
    print(f"index {did}: {report.documents} documents, {report.chunks} chunks, {report.seconds:.1f} s")
    if report.rebuilt:
        print(f"documents: {report.summary()}")
    for s in report.skipped:
        print(f"skipped {s.name}: {s.reason}")
    return 0


class ProgressBar:
    """One self-rewriting stderr line per stage: done/total, rate and time left."""

    def __init__(self) -> None:
        self.stage, self.t0, self.drawn = "", time.perf_counter(), False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            if self.stage:
                sys.stderr.write("\n")
            self.stage, self.t0 = stage, time.perf_counter()
        elapsed = max(time.perf_counter() - self.t0, 1e-6)
        rate = done / elapsed
        eta = f"{(total - done) / rate:.0f}s" if rate > 0 else "?"
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(
            f"\r{stage:>24} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:.1f}/s ETA {eta} "
        )
        sys.stderr.flush()
        self.drawn = True


def _bad_question(exc: BadQuestion, text: str) -> str:
    return message(exc.key, detect_lang(text or ""), **exc.params)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    if args.jsonl:
        # Bytes, decoded line by line: one line of invalid UTF-8 must not end the batch.
        engine = _engine(settings)
        # Loaded before the first line: a model that cannot load is one message, not an error per line.
        engine.warm()
        return ask_jsonl(engine, sys.stdin.buffer, sys.stdout, args.k, args.doc)
    if args.question is None:
        print("error: give a question, or --jsonl to read questions from stdin", file=sys.stderr)
        return 2
    from qa.chat import clean_question

    try:
        clean_question(args.question, settings.max_question_chars)
    except BadQuestion as exc:
        print(f"error: {_bad_question(exc, args.question)}", file=sys.stderr)
        return 2
    engine = _engine(settings)
    try:
        answer = engine.ask(args.question, k=args.k, docs=args.doc)
    except BadQuestion as exc:  # e.g. a --doc pattern that names no document
        print(f"error: {_bad_question(exc, args.question)}", file=sys.stderr)
        return 2
    shared = shared_titles(engine.documents())
    if args.json:
        print(json.dumps(to_json(answer, shared=shared), ensure_ascii=False, indent=2))
    else:
        print(to_text(answer, shared=shared))
    return 0


def _line_docs(rec: dict[str, Any], default: str | None) -> str | None:
    """A line's own "doc" overrides --doc ("" = all documents); null or absent keeps --doc, the
    way a table exported with an empty cell means "not set"."""
    doc = rec.get("doc")
    if doc is None:
        return default
    if not isinstance(doc, str):
        raise ValueError("'doc' must be a string: a document name, part of one, or a pattern such as 刑法/*")
    return doc


class BadLine(ValueError):
    """A JSON line that cannot be a question; the message says why."""


def _decode_line(line: str | bytes, lineno: int) -> str:
    if isinstance(line, str):
        return line
    try:
        return line.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise BadLine(f"not valid UTF-8 (byte {exc.start + 1}); save the file as UTF-8") from exc


def _read_line(text: str) -> dict[str, Any]:
    try:
        rec = json.loads(text)
    except RecursionError as exc:  # "[[[[..." 100,000 deep
        raise BadLine("JSON nested too deeply") from exc
    except ValueError as exc:  # json.JSONDecodeError
        raise BadLine(f"not valid JSON: {exc}") from exc
    if not isinstance(rec, dict):
        raise BadLine("each line must be a JSON object")
    try:
        # JSON can spell a lone surrogate ("\\ud800"), which is no character: it cannot be
        # written out as UTF-8 and the text models choke on it.
        json.dumps(rec, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(exc.object[exc.start])
        raise BadLine(f"text with a lone surrogate (U+{code:04X}), which is not a character") from exc
    return rec


def ask_jsonl(
    engine: Any, stdin: TextIO | Iterable[bytes] | Iterable[str], stdout: TextIO, k: int | None, docs: str | None = None
) -> int:
    """One JSON line in, one JSON line out; a bad line gets an error line naming it and the batch
    goes on: invalid UTF-8 (when `stdin` yields bytes), malformed or too deeply nested JSON, a
    non-object, a lone surrogate, and any error answering it. `docs` limits every question to
    some documents unless the line says otherwise. Returns 0: the error lines are the report
    (the batch's contract since the first version; a caller checks each line's "error")."""
    shared = shared_titles(engine.documents())
    for lineno, raw in enumerate(stdin, start=1):
        qid: Any = f"line-{lineno}"
        turns: list[Turn] = []
        try:
            line = _decode_line(raw, lineno)
            if not line.strip():
                continue
            rec = _read_line(line)
            qid = rec.get("id", qid)
            if "messages" in rec:
                turns = parse_messages(rec["messages"])
            elif isinstance(rec.get("question"), str):
                turns = [Turn("user", rec["question"])]
            else:
                raise ValueError("each line needs a string 'question' or a 'messages' list")
            out = to_json(engine.ask(turns=turns, k=k, docs=_line_docs(rec, docs)), qid, shared)
        except BadQuestion as exc:
            last = next((t.content for t in reversed(turns) if t.role == "user"), "")
            out = {"id": qid, "error": _bad_question(exc, last)}
        except (ValueError, RecursionError) as exc:  # BadLine, parse_messages, a bad "doc"
            out = {"id": qid, "error": f"bad input line {lineno}: {exc}"}
        except Exception:  # a bug answering one line must not cost the rest of the batch
            log.exception("answering line %d failed", lineno)
            out = {"id": qid, "error": f"line {lineno}: {message('error', 'en')}"}
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from eval.run import main as eval_main

    return eval_main(settings, args.questions, args.report, check_floors=args.check)


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from qa.feedback import FeedbackLog

    for rec in FeedbackLog(settings.data_dir).candidates():
        print(json.dumps(rec, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m qa", description="Q&A over the documents in corpus/")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)
    pi = sub.add_parser("index", help="build or refresh the index")
    pi.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    pa = sub.add_parser("ask", help="answer a question")
    pa.add_argument("question", nargs="?")
    pa.add_argument("--k", type=int, default=None, help="passages to retrieve")
    pa.add_argument("--json", action="store_true")
    pa.add_argument("--jsonl", action="store_true", help="batch: JSON lines on stdin")
    pa.add_argument(
        "--doc",
        metavar="PATTERN",
        default=None,
        help="search only some documents: a glob over the file name relative to the corpus folder "
        "('刑法/*', '*.pdf'), or text that the file name or title contains ('刑法'); "
        "a pattern matching no document is an error (exit 2). With --jsonl, a line's own "
        '"doc" overrides it ("" = all documents)',
    )
    pe = sub.add_parser("eval", help="run the evaluation")
    pe.add_argument("--questions", default=None)
    pe.add_argument("--report", default=None, help="write the metrics as JSON here")
    pe.add_argument("--check", action="store_true", help="exit 1 if a metric is below its floor")
    sub.add_parser("feedback", help="list 👎 and not-found questions (eval candidates)")
    return p


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "eval": cmd_eval, "feedback": cmd_feedback}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # transformers draws a "Loading weights" bar on stderr whenever the model loads, which would
    # bury the one-line error of a bad question; our own progress bar (index) is unaffected.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings.from_env()
        if getattr(args, "k", None) is not None and not 1 <= args.k <= 50:
            print("error: --k must be between 1 and 50", file=sys.stderr)
            return 2
        return COMMANDS[args.cmd](args, settings)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
