"""Outside benchmark: the CMRC 2018 trial set, asked through the public CLI, beside a dense baseline.

Usage:
  python -m eval.bench_cmrc                        # all 256 articles, 1,002 questions (~15 min here)
  python -m eval.bench_cmrc --sample 7 --check     # a fixed subset (what `make test` runs)
  python -m eval.bench_cmrc --report out.json --keep /tmp/cmrc   # keep corpus + index (a rerun reuses it)
  python -m eval.bench_cmrc --lang en --sample 30  # the same articles, asked in English (eval/cmrc_en.jsonl)

Nobody on the project wrote these questions, so they measure what a hand-tuned eval cannot.
Each `data[]` entry of the file is one Wikipedia article with exactly one paragraph (the
paragraph id is the article id, and the 256 titles are distinct): one article = one document,
a UTF-8 .txt file whose first line is `# title`. Every 7th article in id order is held out of
the corpus, so its questions are honestly unanswerable.

Ours: `python -m qa index` then `python -m qa ask --jsonl` in fresh processes, at the product's
default k. The ranking does not depend on k (qa.engine slices one ranking), so R@5 comes from a
second `ask --jsonl --k 5` pass over only the answerable questions missed in the top 3: asking
everything at k=5 would change the answers and refusals that users get at the default k.

Baseline, the plain LangChain recipe: the same e5 model, a recursive character splitter
(chunk_size 250, overlap 50, Chinese sentence punctuation added to the separators), exact FAISS
inner-product search; its top chunk is its answer and it never refuses.

Scoring (identical for both): a hit is a returned passage from the gold article's document that
contains the gold answer (text compared after NFC and with whitespace removed); MRR is over the
top 5. A fact is an answer text containing the gold answer once citation markers ([1]) are
removed. Refused means the system said the documents do not cover the question (outcome
not_found); a 'partial' answer (it names terms the documents lack, then quotes what they say)
is not a refusal, so it is reported separately as "refused or partial" for held-out questions.

English (`--lang en`): `eval/cmrc_en.jsonl` holds English versions of the questions of the
`--sample 30` articles, written by this project (not part of CMRC; each line says so). They are
asked over the same Chinese corpus with the same held-out articles, and scored against the same
Chinese gold spans; the baseline embeds the English question with e5's query prompt. Questions
without an English version are left out (the count is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from eval.run import _mean, _pct, check
from qa.settings import ROOT, Settings

HERE = Path(__file__).resolve().parent
DATA = ROOT.parent / "shared" / "bench" / "cmrc2018_trial.json"
FLOORS = HERE / "floors_cmrc.json"
ENGLISH = HERE / "cmrc_en.jsonl"
LANGS = ("zh", "en")
# The first question of a process pays one-off costs; latency is for warm questions, so a
# throw-away question in the run's language goes first (an English one also warms the English route).
WARM_UP = {"zh": "预热", "en": "warm-up"}
HOLD_OUT_EVERY = 7
CHUNK_SIZE, CHUNK_OVERLAP = 250, 50
# LangChain's defaults ("\n\n", "\n", " ", "") cut Chinese prose mid-sentence at exactly 250
# characters; the Chinese variant of the recipe adds sentence and clause punctuation.
SEPARATORS = ("\n\n", "\n", "。", "！", "？", "；", "，", " ", "")
MARKER = re.compile(r"\[\d+\]")
DEPTH = 5  # R@5 and MRR@5


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answers: tuple[str, ...]
    article: str


@dataclass(frozen=True)
class Article:
    aid: str
    title: str
    context: str
    questions: tuple[Question, ...]


def _id_key(aid: str) -> tuple[int, str]:
    # TRIAL_11 before TRIAL_106: numeric order, the ids' own.
    digits = re.findall(r"\d+", aid)
    return (int(digits[-1]) if digits else -1, aid)


def load_articles(path: Path) -> list[Article]:
    """The SQuAD-format file's articles in id order, each with its paragraphs joined."""
    out = []
    for entry in json.loads(path.read_text("utf-8"))["data"]:
        aid = str(entry["id"])
        questions = tuple(
            Question(q["id"], q["question"], tuple(a["text"] for a in q["answers"]), aid)
            for p in entry["paragraphs"]
            for q in p["qas"]
            if q["question"].strip()  # two trial questions are empty: nothing to ask
        )
        context = "\n\n".join(p["context"] for p in entry["paragraphs"])
        out.append(Article(aid, entry["title"], context, questions))
    return sorted(out, key=lambda a: _id_key(a.aid))


def load_english(path: Path, articles: list[Article]) -> dict[str, str]:
    """CMRC question id -> our English version. A line whose Chinese original no longer equals
    the CMRC question (a changed data file, a mistyped id) stops the run: it would score an
    English question against another question's gold answer."""
    by_id = {q.qid: q for a in articles for q in a.questions}
    out = {}
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        rec = json.loads(line)
        q = by_id.get(rec["id"])
        if q is None or q.text != rec["question_zh"] or q.article != rec["article"]:
            raise ValueError(f"{path}:{lineno}: {rec['id']} does not match the CMRC question it translates")
        out[q.qid] = rec["question_en"]
    return out


def in_language(questions: list[Question], lang: str, english: dict[str, str]) -> list[Question]:
    """The questions as asked in `lang`: Chinese as CMRC wrote them, or our English versions
    (those without one left out); ids, articles and gold answers stay CMRC's."""
    if lang == "zh":
        return list(questions)
    return [replace(q, text=english[q.qid]) for q in questions if q.qid in english]


def held_out(articles: list[Article]) -> set[str]:
    """Every 7th article in id order (~14%): fixed, whatever subset is then sampled."""
    ordered = sorted(articles, key=lambda a: _id_key(a.aid))
    return {a.aid for i, a in enumerate(ordered) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1}


def _spread(items: list[Article], n: int) -> list[Article]:
    return [items[int(i * len(items) / n)] for i in range(n)] if n < len(items) else list(items)


def sample(articles: list[Article], n: int | None) -> list[Article]:
    """n articles evenly spread over the id order, held-out ones in the full set's proportion
    (spreading over the whole list alone could hit every 7th article always or never)."""
    if n is None or n >= len(articles):
        return list(articles)
    out_ids = held_out(articles)
    kept = [a for a in articles if a.aid not in out_ids]
    gone = [a for a in articles if a.aid in out_ids]
    n_gone = max(1, round(n * len(gone) / len(articles))) if gone and n > 1 else 0
    chosen = {a.aid for a in _spread(kept, n - n_gone) + _spread(gone, n_gone)}
    return [a for a in articles if a.aid in chosen]


def file_name(article: Article) -> str:
    """`<id>_<title>.txt` with anything but letters, digits, - and · replaced: unique by id, and
    no path separators, dots or spaces that a file system or the loader would treat specially."""
    safe = re.sub(r"[^\w\-·]+", "_", article.title).strip("_")[:60]
    return f"{article.aid}_{safe}.txt" if safe else f"{article.aid}.txt"


def document_text(article: Article) -> str:
    # "# " marks the first line as the title for qa.text.clean, as in the project's own corpus.
    return f"# {article.title}\n\n{article.context}\n"


def write_corpus(folder: Path, articles: list[Article], out_ids: set[str]) -> dict[str, str]:
    """Write the kept articles; returns document name -> article id. A file already holding the
    same text is left alone, so a kept folder's index stays up to date between runs."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = {}
    for a in articles:
        if a.aid in out_ids:
            continue
        name, text = file_name(a), document_text(a)
        target = folder / name
        if not target.exists() or target.read_text("utf-8") != text:
            target.write_text(text, "utf-8")
        docs[name] = a.aid
    for stale in folder.glob("*.txt"):  # from an earlier run with another sample
        if stale.name not in docs:
            stale.unlink()
    return docs


# --- the baseline's splitter: LangChain's RecursiveCharacterTextSplitter, on character spans ---


def _pieces(text: str, start: int, end: int, sep: str) -> list[tuple[int, int]]:
    """text[start:end] cut after each separator (keep_separator="end"): the pieces tile it."""
    if not sep:
        return [(i, i + 1) for i in range(start, end)]
    out, s = [], start
    i = text.find(sep, s, end)
    while i != -1:
        out.append((s, i + len(sep)))
        s = i + len(sep)
        i = text.find(sep, s, end)
    if s < end:
        out.append((s, end))
    return out


def _merge(pieces: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    """LangChain's _merge_splits over contiguous pieces: fill up to `size`, then drop pieces from
    the front until at most `overlap` characters carry over into the next chunk."""
    out: list[tuple[int, int]] = []
    current: deque[tuple[int, int]] = deque()
    total = 0
    for a, b in pieces:
        n = b - a
        if current and total + n > size:
            out.append((current[0][0], current[-1][1]))
            while current and (total > overlap or total + n > size):
                x = current.popleft()
                total -= x[1] - x[0]
        current.append((a, b))
        total += n
    if current:
        out.append((current[0][0], current[-1][1]))
    return out


def _split(text: str, start: int, end: int, seps: tuple[str, ...], size: int, overlap: int) -> list[tuple[int, int]]:
    sep, rest = seps[-1], ()
    for i, s in enumerate(seps):
        if not s or text.find(s, start, end) != -1:
            sep, rest = s, seps[i + 1 :]
            break
    chunks: list[tuple[int, int]] = []
    good: list[tuple[int, int]] = []
    for a, b in _pieces(text, start, end, sep):
        if b - a < size:
            good.append((a, b))
            continue
        if good:
            chunks += _merge(good, size, overlap)
            good = []
        chunks += _split(text, a, b, rest, size, overlap) if rest else [(a, b)]
    if good:
        chunks += _merge(good, size, overlap)
    return chunks


def split_spans(
    text: str, size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP, separators: tuple[str, ...] = SEPARATORS
) -> list[tuple[int, int]]:
    """Chunk spans of the recursive character splitter; unlike LangChain's default it does not
    strip the chunks, so together they hold every character of the text."""
    return _split(text, 0, len(text), separators, size, overlap)


# --- scoring, the same for both systems ---


def norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFC", text))


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    have = norm(text)
    return any(norm(a) and norm(a) in have for a in answers)


def is_fact(answer_text: str, answers: tuple[str, ...]) -> bool:
    """The answer states a gold answer; markers are dropped first because one may sit inside it
    when the answer runs across two quoted sentences."""
    return contains_answer(MARKER.sub("", answer_text), answers)


def hit_rank(sources: list[dict[str, Any]], gold_doc: str, answers: tuple[str, ...]) -> int | None:
    """Rank of the first source (rank, doc, text) from the gold document containing a gold answer.
    Rank 0 marks a cited passage beyond the ranked ones: not part of the ranking."""
    for s in sorted((s for s in sources if s.get("rank")), key=lambda s: s["rank"]):
        if s["rank"] <= DEPTH and s["doc"] == gold_doc and contains_answer(s["text"], answers):
            return int(s["rank"])
    return None


def rank_of(sources: list[dict[str, Any]], q: Question, gold_docs: dict[str, str], out_ids: set[str]) -> int | None:
    # A held-out question has no gold document in the corpus: nothing to rank.
    return None if q.article in out_ids else hit_rank(sources, gold_docs[q.article], q.answers)


def metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows: held_out, rank (None = no hit in the top 5), fact, refused, partial, ms."""
    ans = [r for r in rows if not r["held_out"]]
    held = [r for r in rows if r["held_out"]]
    ranks = [r["rank"] for r in ans]
    top3 = [r for r in ans if r["rank"] is not None and r["rank"] <= 3]
    lat = [r["ms"] for r in rows]
    return {
        "answerable_n": len(ans),
        "held_out_n": len(held),
        "r1": _mean([1.0 if r == 1 else 0.0 for r in ranks]),
        "r3": _mean([1.0 if r is not None and r <= 3 else 0.0 for r in ranks]),
        "r5": _mean([1.0 if r is not None else 0.0 for r in ranks]),
        "mrr": _mean([1.0 / r if r else 0.0 for r in ranks]),
        "facts": _mean([1.0 if r["fact"] else 0.0 for r in ans]),
        "facts_top3": _mean([1.0 if r["fact"] else 0.0 for r in top3]),
        "top3_n": len(top3),
        "refused_answerable": _mean([1.0 if r["refused"] else 0.0 for r in ans]),
        "partial_answerable": _mean([1.0 if r["partial"] else 0.0 for r in ans]),
        "refused_held_out": _mean([1.0 if r["refused"] else 0.0 for r in held]),
        "refused_or_partial_held_out": _mean([1.0 if r["refused"] or r["partial"] else 0.0 for r in held]),
        "latency_p50_ms": _pct(lat, 0.5),
        "latency_p95_ms": _pct(lat, 0.95),
    }


# --- ours, through the public CLI ---


def env_for(corpus: Path, index: Path) -> dict[str, str]:
    return {**os.environ, "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}


def run_cli(args: list[str], env: dict[str, str], stdin: str = "") -> str:
    out = subprocess.run(
        [sys.executable, "-m", "qa", *args], env=env, input=stdin, capture_output=True, text=True, encoding="utf-8"
    )
    if out.returncode != 0:
        raise RuntimeError(f"python -m qa {' '.join(args)} exited {out.returncode}: {out.stderr.strip()[-2000:]}")
    return out.stdout


def ask_all(
    questions: list[Question], env: dict[str, str], k: int | None = None, warm_up: str = WARM_UP["zh"]
) -> dict[str, dict[str, Any]]:
    """One `ask --jsonl` process for all the questions; a warm-up line first, because the first
    question pays one-off costs and latency is for warm questions (as in eval/run.py)."""
    lines = [{"id": "warm-up", "question": warm_up}] + [{"id": q.qid, "question": q.text} for q in questions]
    stdin = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines)
    stdout = run_cli(["ask", "--jsonl", *(["--k", str(k)] if k else [])], env, stdin)
    out = {}
    for line in stdout.splitlines():
        if line.strip():
            rec = json.loads(line)
            out[str(rec.get("id"))] = rec
    return out


def ours(
    questions: list[Question],
    gold_docs: dict[str, str],
    out_ids: set[str],
    env: dict[str, str],
    warm_up: str = WARM_UP["zh"],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    first = ask_all(questions, env, warm_up=warm_up)
    rows = []
    for q in questions:
        rec = first.get(q.qid, {"error": "no output line"})
        outcome = rec.get("outcome", "error")
        rows.append(
            {
                "id": q.qid,
                "held_out": q.article in out_ids,
                "rank": rank_of(rec.get("sources", []), q, gold_docs, out_ids),
                "fact": outcome != "not_found" and "error" not in rec and is_fact(rec.get("answer", ""), q.answers),
                "refused": outcome == "not_found",
                "partial": outcome == "partial",
                "ms": float(rec.get("timings_ms", {}).get("total", float("nan"))),
                "outcome": outcome,
                "answer": rec.get("answer", rec.get("error", "")),
            }
        )
    missed = [r["id"] for r in rows if not r["held_out"] and r["rank"] is None]
    extra = {"errors": sum(1 for r in rows if r["outcome"] == "error"), "second_pass": len(missed), "rank_mismatch": 0}
    if missed:
        by_id = {q.qid: q for q in questions}
        second = ask_all([by_id[i] for i in missed], env, k=DEPTH, warm_up=warm_up)
        for r in rows:
            if r["id"] in second:
                q = by_id[r["id"]]
                rank = hit_rank(second[r["id"]].get("sources", []), gold_docs[q.article], q.answers)
                # Ranks 1-3 were seen in the first pass; one here means the ranking is not
                # deterministic between processes, which would make R@5 unsound: counted.
                if rank is not None and rank <= 3:
                    extra["rank_mismatch"] += 1
                else:
                    r["rank"] = rank
    return rows, extra


# --- the baseline ---


def baseline(
    questions: list[Question], corpus: Path, docs: dict[str, str], out_ids: set[str], warm_up: str = WARM_UP["zh"]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import faiss
    import numpy as np

    from qa.embed import load_embedder

    settings = Settings.from_env(corpus_dir=corpus)
    e5 = load_embedder(settings)
    chunks: list[tuple[str, str]] = []  # (document name, chunk text)
    for name in sorted(docs):
        text = (corpus / name).read_text("utf-8")  # what a LangChain TextLoader reads: the whole file
        chunks += [(name, text[s:e]) for s, e in split_spans(text) if text[s:e].strip()]
    t0 = time.perf_counter()
    vectors = e5.encode_documents([c[1].strip() for c in chunks])
    index_s = time.perf_counter() - t0
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    gold_docs = {aid: name for name, aid in docs.items()}
    e5.encode_queries([warm_up])
    rows = []
    for q in questions:
        t = time.perf_counter()
        _, ids = index.search(e5.encode_queries([q.text]), DEPTH)
        ms = (time.perf_counter() - t) * 1000
        sources = [{"rank": r, "doc": chunks[i][0], "text": chunks[i][1]} for r, i in enumerate(ids[0], start=1)]
        top = chunks[ids[0][0]][1]
        rows.append(
            {
                "id": q.qid,
                "held_out": q.article in out_ids,
                "rank": rank_of(sources, q, gold_docs, out_ids),
                "fact": is_fact(top, q.answers),
                "refused": False,
                "partial": False,
                "ms": ms,
                "answer": top,
            }
        )
    return rows, {"chunks": len(chunks), "encode_s": round(index_s, 1)}


# --- report ---

LINES = [
    ("R@1", "r1"),
    ("R@3", "r3"),
    ("R@5", "r5"),
    ("MRR@5", "mrr"),
    ("facts (answer holds gold)", "facts"),
    ("facts | gold passage in top 3", "facts_top3"),
    ("answerable refused", "refused_answerable"),
    ("answerable partial", "partial_answerable"),
    ("held-out refused", "refused_held_out"),
    ("held-out refused or partial", "refused_or_partial_held_out"),
    ("latency p50 ms", "latency_p50_ms"),
    ("latency p95 ms", "latency_p95_ms"),
]


def render(m_ours: dict[str, Any], m_base: dict[str, Any]) -> str:
    lines = [f"{'metric':<32}{'ours':>9} | baseline"]
    for label, key in LINES:
        a, b = m_ours[key], m_base[key]
        fmt = "{:.1f}" if key.startswith("latency") else "{:.3f}"
        lines.append(f"{label:<32}{fmt.format(a):>9} | {fmt.format(b)}")
    lines.append(f"{'(n: top-3 hits for facts | top 3)':<32}{m_ours['top3_n']:>9} | {m_base['top3_n']}")
    return "\n".join(lines)


def losses(questions: list[Question], ours_rows: list[dict[str, Any]], base_rows: list[dict[str, Any]]) -> dict:
    """Answerable questions where the baseline's top chunk holds the answer and our answer does
    not, by where ours lost it: refused, gold passage not in our top 3, or a wrong sentence quoted."""
    by_q = {q.qid: q for q in questions}
    lost: dict[str, list[dict[str, Any]]] = {"refused": [], "not_in_top3": [], "wrong_sentence": []}
    won = 0
    for o, b in zip(ours_rows, base_rows):
        if o["held_out"]:
            continue
        won += int(o["fact"] and not b["fact"])
        if b["fact"] and not o["fact"]:
            kind = "refused" if o["refused"] else "not_in_top3" if not o["rank"] or o["rank"] > 3 else "wrong_sentence"
            q = by_q[o["id"]]
            lost[kind].append(
                {"id": q.qid, "question": q.text, "gold": q.answers[0], "ours": o["answer"][:160], "rank": o["rank"]}
            )
    return {"ours_only": won, "baseline_only": {k: len(v) for k, v in lost.items()}, "examples": lost}


def floors_key(n: int | None, lang: str = "zh") -> str:
    key = "all" if n is None else f"sample:{n}"
    return key if lang == "zh" else f"{lang}:{key}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_cmrc")
    ap.add_argument("--data", default=str(DATA), help="the CMRC 2018 file (SQuAD format)")
    ap.add_argument("--sample", type=int, default=None, help="N articles, a fixed subset (default: all)")
    ap.add_argument("--check", action="store_true", help=f"exit 1 if a figure is below its floor in {FLOORS.name}")
    ap.add_argument("--report", default=None, help="write both systems' figures and the losses as JSON here")
    ap.add_argument("--keep", default=None, help="build in this folder and keep it (default: a temporary one)")
    ap.add_argument("--examples", type=int, default=5, help="losses to print per kind")
    ap.add_argument(
        "--lang", choices=LANGS, default="zh", help=f"ask CMRC's Chinese questions or our English ones ({ENGLISH.name})"
    )
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    everything = load_articles(Path(args.data))
    articles, out_ids = sample(everything, args.sample), held_out(everything)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-cmrc-"))
    corpus, index = base / "corpus", base / "index"
    try:
        docs = write_corpus(corpus, articles, out_ids)
        gold_docs = {aid: name for name, aid in docs.items()}
        asked = [q for a in articles for q in a.questions]
        english = load_english(ENGLISH, everything) if args.lang == "en" else {}
        questions = in_language(asked, args.lang, english)
        n_held = sum(1 for q in questions if q.article in out_ids)
        print(
            f"CMRC 2018 trial: {len(docs)} articles indexed, {len(articles) - len(docs)} held out; "
            f"{len(questions) - n_held} answerable questions, {n_held} held-out"
            + (
                f"; asked in English ({ENGLISH.name}, written by this project; "
                f"{len(asked) - len(questions)} sampled questions have no English version)"
                if args.lang == "en"
                else ""
            )
        )
        env = env_for(corpus, index)
        t0 = time.perf_counter()
        print(run_cli(["index"], env).strip().splitlines()[0] + f" ({time.perf_counter() - t0:.1f} s end to end)")
        t0 = time.perf_counter()
        ours_rows, ours_extra = ours(questions, gold_docs, out_ids, env, WARM_UP[args.lang])
        ours_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        base_rows, base_extra = baseline(questions, corpus, docs, out_ids, WARM_UP[args.lang])
        base_s = time.perf_counter() - t0
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    m_ours, m_base = metrics(ours_rows), metrics(base_rows)
    print(
        f"ours: ask --jsonl {ours_s:.1f} s ({ours_extra['second_pass']} re-asked at k={DEPTH} for R@5, "
        f"{ours_extra['errors']} error lines, {ours_extra['rank_mismatch']} rank mismatches); "
        f"baseline: {base_extra['chunks']} chunks, encoded in {base_extra['encode_s']} s, {base_s:.1f} s in all"
    )
    print(render(m_ours, m_base))
    lost = losses(questions, ours_rows, base_rows)
    print(
        f"\nbaseline's top chunk holds the answer, our answer does not: {lost['baseline_only']}; "
        f"the reverse: {lost['ours_only']}"
    )
    for kind, rows in lost["examples"].items():
        for x in rows[: args.examples]:
            print(f"  [{kind}] {x['id']} {x['question']} -> gold {x['gold']!r}; ours: {x['ours'][:80]!r}")
    wall = time.perf_counter() - t_start
    print(f"({wall:.1f} s wall)")
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        report = {
            "sample": args.sample,
            "lang": args.lang,
            "articles_indexed": len(docs),
            "articles_held_out": len(articles) - len(docs),
            "ours": {**m_ours, **ours_extra},
            "baseline": {**m_base, **base_extra},
            "losses": lost,
            # Every question's outcome and answer opening: what a failure analysis reads.
            "rows": [
                {
                    **{k: r[k] for k in ("id", "held_out", "rank", "fact", "outcome")},
                    "question": q.text,
                    "answer": r["answer"][:300],
                }
                for q, r in zip(questions, ours_rows)
            ],
            "wall_s": round(wall, 1),
        }
        Path(args.report).write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    if args.check:
        floors = json.loads(FLOORS.read_text("utf-8"))
        key = floors_key(args.sample, args.lang)
        if key not in floors:
            print(f"FLOOR: no floors for {key!r} in {FLOORS.name} (have: {sorted(floors)})", file=sys.stderr)
            return 2
        bad = check({**m_ours, **ours_extra}, floors[key])
        for b in bad:
            print(f"FLOOR: {b}", file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
