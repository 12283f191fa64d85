"""Load benchmark: many users asking at once through the real app, with an upload in the middle.

Usage:
  python -m eval.bench_load                      # 20 users x 20 questions, one upload half-way
  python -m eval.bench_load --users 5 --questions 4

It starts `python app.py` on a copy of the corpus (a fresh index folder, built at start), then
runs `--users` threads; each asks `--questions` questions of the public eval (its own slice,
Chinese and English mixed) through the `/ask` API of `gradio_client`, one after another, and
checks that every reply answers its own question (no mixed-up conversations). When half of all
questions are done, staff upload a new document through `/upload`; the index rebuilds in the
background while the questions go on. It prints errors, mixed-up replies, client-side latency
p50/p95 (queueing included) and the engine's own `timings_ms.total` p50/p95, and whether the
upload was indexed and answered. Nothing here is a test: the figures go into the issue notes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from qa.settings import ROOT

PASSWORD = "load-bench-password"
UPLOAD_NAME = "xinghe-library.txt"
UPLOAD = (
    "# 星河市图书馆开放时间\n\n星河市图书馆每周二至周日开放，开放时间为上午九点至晚上八点，每周一闭馆。\n\n"
    "读者凭身份证可免费办理借书证，每人最多可借十本图书，借期三十天。\n"
)
UPLOAD_QUESTION = "星河市图书馆的开放时间是什么？"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(base: Path) -> tuple[subprocess.Popen, str, Path]:
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus, ignore=shutil.ignore_patterns(".*"))
    port = _free_port()
    env = {
        **os.environ,
        "QA_PORT": str(port),
        "QA_HOST": "127.0.0.1",
        "QA_CORPUS_DIR": str(corpus),
        "QA_INDEX_DIR": str(base / "index"),
        "QA_DATA_DIR": str(base / "data"),
        "QA_STAFF_PASSWORD": PASSWORD,
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    log = base / "app.log"
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited before serving; see {log}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):
                return proc, url, log
        except OSError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("the app did not start in 15 minutes")


def questions(n: int) -> list[str]:
    rows = [json.loads(x) for x in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines() if x.strip()]
    return [r["question"] for r in rows if "question" in r][:n]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_load")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--questions", type=int, default=20, help="questions per user")
    args = ap.parse_args(argv)
    from gradio_client import Client

    base = Path(tempfile.mkdtemp(prefix="bench-load-"))
    proc, url, log = start_app(base)
    pool = questions(args.users * args.questions)
    total = args.users * args.questions
    done = 0
    lock = threading.Lock()
    half = threading.Event()
    wall: list[float] = []
    compute: list[float] = []
    errors: list[str] = []
    mixed: list[str] = []

    def user(u: int) -> None:
        nonlocal done
        client = Client(url, verbose=False)
        for i in range(args.questions):
            q = pool[(u * args.questions + i) % len(pool)]
            t0 = time.perf_counter()
            try:
                rec = client.predict(q, "[]", api_name="/ask")
            except Exception as exc:  # a failed request is the figure, not a crash of the bench
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            took = (time.perf_counter() - t0) * 1000
            with lock:
                if "error" in rec:
                    errors.append(rec["error"])
                else:
                    wall.append(took)
                    compute.append(float(rec["timings_ms"]["total"]))
                    if rec.get("searched_for") != q:
                        mixed.append(q)
                done += 1
                if done >= total // 2:
                    half.set()

    threads = [threading.Thread(target=user, args=(u,)) for u in range(args.users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    half.wait()
    staff = Client(url, verbose=False)
    up = staff.predict(PASSWORD, UPLOAD_NAME, base64.b64encode(UPLOAD.encode()).decode(), False, api_name="/upload")
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = staff.predict(PASSWORD, api_name="/status")
        if not status.get("refreshing") and UPLOAD_NAME in status.get("document_names", []):
            break
        time.sleep(1)
    after = staff.predict(UPLOAD_QUESTION, "[]", api_name="/ask")
    proc.terminate()
    proc.wait(timeout=30)
    p = np.percentile
    print(f"{args.users} users x {args.questions} questions ({total}), upload half-way: {seconds:.1f} s")
    print(f"errors: {len(errors)}  mixed-up replies: {len(mixed)}  answered: {len(wall)}")
    for e in sorted(set(errors))[:5]:
        print(f"  error: {e}")
    if wall:
        print(f"client latency (queueing included): p50 {p(wall, 50):.0f} ms, p95 {p(wall, 95):.0f} ms")
        print(f"engine timings_ms.total: p50 {p(compute, 50):.0f} ms, p95 {p(compute, 95):.0f} ms")
    print(f"upload: {up}")
    cited = any(s.get("doc") == UPLOAD_NAME for s in after.get("sources", []) if s.get("n") is not None)
    print(f"after the upload: {UPLOAD_QUESTION} -> {after.get('outcome')}, cites the new document: {cited}")
    shutil.rmtree(base, ignore_errors=True)
    return 1 if errors or mixed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
