"""Scale benchmark: the laws collection plus the seed page, indexed and served as a user would.

Usage:
  python -m eval.bench_scale                 # a fixed slice: 60 laws (every n-th file) + the seed page
  python -m eval.bench_scale --docs 300      # a bigger fixed slice
  python -m eval.bench_scale --all           # all 1,564 laws + the seed page (hours on 2 cores)
  python -m eval.bench_scale --no-resume     # skip the kill-at-50% run (it indexes a second time)
  python -m eval.bench_scale --all --reuse-cache /work/laws-index
      # serve a collection whose vectors an earlier (resumed) build already embedded: the
      # index is assembled from that cache (hard links, left untouched) and only the rest is
      # embedded; throughput and resume are not measured, everything after them is

It prints, measured in this one run on this machine:
  * chunks, end-to-end `python -m qa index` throughput (a fresh process, model load included)
    and its ratio to a bare `SentenceTransformer.encode` of the same chunk texts (an evenly
    spaced sample, timed before and after the build, best batch size 8, the mean of the two);
  * resume: a second build killed (SIGKILL) once half the chunks are cached, then rerun: its
    time and how many chunks it embedded beyond what was left (at most one batch);
  * index size on disk (serving version, and the embedding cache);
  * serving, in a fresh process: cold start (process start -> first answer), the public eval
    (eval/questions.jsonl) with the collection loaded beside the same questions on the seed page
    alone, warm latency p50/p95 of `timings_ms.total`, peak RSS;
  * FAISS: recall@10 of the HNSW index (used above `QA_ANN_THRESHOLD` chunks) against exact search.
Nothing here is a test: the figures go into the issue notes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qa.settings import ROOT, Settings

LAWS = ROOT.parent / "shared" / "corpora" / "laws-zh"
SEED = ROOT / "corpus" / "hunan-ftz-zhuzhou.txt"
BARE_SAMPLE = 300


def make_corpus(folder: Path, docs: int | None) -> int:
    """Seed page + laws (all, or `docs` files taken evenly over the sorted list: deterministic)."""
    folder.mkdir(parents=True)
    shutil.copy(SEED, folder / SEED.name)
    files = sorted(LAWS.rglob("*.md"))
    if docs is not None and docs < len(files):
        step = len(files) / docs
        files = [files[int(i * step)] for i in range(docs)]
    for f in files:
        target = folder / "laws" / f.relative_to(LAWS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    return len(files)


def chunk_texts(settings: Settings) -> list[str]:
    from qa.chunk import chunk_document, embed_text
    from qa.load import load_corpus

    loaded = load_corpus(settings.corpus_dir, settings.max_file_bytes)
    return [embed_text(c) for d in loaded.documents for c in chunk_document(d, settings.chunk_min, settings.chunk_max)]


def bare_rate(texts: list[str], settings: Settings) -> float:
    """Chunks/s of a bare sentence-transformers encode of an evenly spaced sample of the texts."""
    import torch
    from sentence_transformers import SentenceTransformer

    from qa.e5_convert import ensure_e5_folder

    torch.set_num_threads(settings.threads)
    model = SentenceTransformer(str(ensure_e5_folder(settings.cache_dir)), device="cpu", local_files_only=True)
    step = max(1, len(texts) // BARE_SAMPLE)
    sample = texts[::step][:BARE_SAMPLE]
    model.encode(sample[:8], prompt_name="document", batch_size=8)  # warm-up
    t0 = time.perf_counter()
    model.encode(sample, prompt_name="document", batch_size=8, normalize_embeddings=True)
    return len(sample) / (time.perf_counter() - t0)


def env_for(corpus: Path, index: Path) -> dict[str, str]:
    return {**os.environ, "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(index), "HF_HUB_OFFLINE": "1"}


def index_run(corpus: Path, index: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "qa", "index"], env=env_for(corpus, index), capture_output=True, text=True, check=True
    )
    return time.perf_counter() - t0, out.stdout


def cached_chunks(index: Path) -> int:
    from qa import store

    folders = [p for p in (index / "cache").glob("*") if p.is_dir()]
    return sum(len(store.VectorCache(index, p.name)) for p in folders)


def killed_and_resumed(corpus: Path, index: Path, chunks: int) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "index"],
        env=env_for(corpus, index),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while proc.poll() is None:
        time.sleep(2)
        files = list((index / "cache").glob("*/b-*.npz"))
        if len(files) * 32 >= chunks / 2 and cached_chunks(index) >= chunks / 2:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            break
    done = cached_chunks(index)
    seconds, out = index_run(corpus, index)
    embedded = int(out.split("embedded ")[1].split()[0]) if "embedded " in out else -1
    return {"cached_at_kill": done, "rerun_seconds": seconds, "rerun_embedded": embedded, "left": chunks - done}


def link_cache(source: Path, index: Path) -> int:
    """Start `index` from another index's embedding cache (hard links; the source stays as it was)."""
    from qa import store

    if not (source / "cache").is_dir():
        raise SystemExit(f"no embedding cache in {source}")
    store.link_cache(source, index)
    return cached_chunks(index)


def folder_mb(path: Path, skip: str = "") -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and (not skip or skip not in p.parts)) / 1e6


def serve(corpus: Path, index: Path, **env: str) -> dict:
    t0 = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "eval.bench_scale", "--serve", str(t0)],
        env={**env_for(corpus, index), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def serve_main(t_launch: float) -> int:
    """In a fresh process: open the index, answer one question (cold start), then the eval."""
    from eval.run import DEFAULT_QUESTIONS, evaluate, load_questions
    from qa.engine import Engine

    engine = Engine(Settings.from_env())
    engine.ask("岳阳片区的重点是什么？")
    cold = time.time() - t_launch
    m = evaluate(engine, load_questions(DEFAULT_QUESTIONS))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cold_start_s": cold, "rss_mb": rss_mb, **{k: v for k, v in m.items() if k != "failures"}}))
    return 0


def ann_recall(index: Path, queries: int = 500) -> dict[str, float]:
    """recall@10 of HNSW against exact inner-product search, sentence vectors as queries."""
    from qa import store

    stored = store.load(index)
    vectors = np.ascontiguousarray(stored.vectors, np.float32)
    rng = np.random.default_rng(0)
    sents = stored.arrays["sentence_vectors"]
    q = np.ascontiguousarray(sents[rng.choice(len(sents), min(queries, len(sents)), replace=False)], np.float32)
    exact = store.build_faiss(vectors, ann_threshold=len(vectors) + 1)
    t0 = time.perf_counter()
    approx = store.build_faiss(vectors, ann_threshold=0)
    build_s = time.perf_counter() - t0
    _, want = exact.search(q, 10)
    t0 = time.perf_counter()
    _, got = approx.search(q, 10)
    ann_ms = (time.perf_counter() - t0) * 1000 / len(q)
    t0 = time.perf_counter()
    exact.search(q, 10)
    exact_ms = (time.perf_counter() - t0) * 1000 / len(q)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)]))
    return {"recall_at_10": recall, "hnsw_build_s": build_s, "hnsw_ms": ann_ms, "exact_ms": exact_ms}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.bench_scale")
    ap.add_argument("--docs", type=int, default=60, help="laws taken (evenly over the sorted list)")
    ap.add_argument("--all", action="store_true", help="all of laws-zh")
    ap.add_argument("--no-resume", action="store_true", help="skip the kill-at-50%% run")
    ap.add_argument("--keep", help="folder to build in and keep (default: a temporary one, removed)")
    ap.add_argument("--reuse-cache", metavar="INDEX_DIR", help="start from this index's embedding cache")
    ap.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve is not None:
        return serve_main(args.serve)
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    corpus, index = base / "corpus", base / "index"
    n = make_corpus(corpus, None if args.all else args.docs)
    settings = Settings.from_env(corpus_dir=corpus, index_dir=index)
    texts = chunk_texts(settings)
    print(f"collection: {n} laws + the seed page, {len(texts)} chunks, {sum(map(len, texts)):,} characters")
    if args.reuse_cache:
        reused = link_cache(Path(args.reuse_cache), index)
        seconds, out = index_run(corpus, index)
        print(f"index from {reused} cached chunk vectors: {seconds:.1f} s ({out.strip().splitlines()[0]})")
    else:
        bare_before = bare_rate(texts, settings)
        seconds, out = index_run(corpus, index)
        bare_after = bare_rate(texts, settings)
        bare = (bare_before + bare_after) / 2
        rate = len(texts) / seconds
        print(f"index: {seconds:.1f} s end to end, {rate:.2f} chunks/s ({out.strip().splitlines()[0]})")
        print(
            f"bare SentenceTransformer.encode (sample of {min(BARE_SAMPLE, len(texts))}): {bare_before:.2f} / "
            f"{bare_after:.2f} chunks/s before / after -> ratio {rate / bare:.2f}"
        )
    print(f"index on disk: {folder_mb(index, skip='cache'):.1f} MB serving, {folder_mb(index / 'cache'):.1f} MB cache")
    if not args.no_resume and not args.reuse_cache:
        resumed = killed_and_resumed(corpus, base / "index-resume", len(texts))
        extra = resumed["rerun_embedded"] - resumed["left"]
        print(
            f"resume: killed with {resumed['cached_at_kill']}/{len(texts)} chunks cached; rerun "
            f"{resumed['rerun_seconds']:.1f} s, embedded {resumed['rerun_embedded']} "
            f"({extra:+d} beyond what was left; a batch is 32)"
        )
        shutil.rmtree(base / "index-resume", ignore_errors=True)
    ann = ann_recall(index)
    print(
        f"FAISS HNSW vs exact ({len(texts)} vectors): recall@10 {ann['recall_at_10']:.3f}, "
        f"{ann['hnsw_ms']:.2f} vs {ann['exact_ms']:.2f} ms a query, built in {ann['hnsw_build_s']:.1f} s"
    )
    seed_corpus, seed_index = base / "seed-corpus", base / "seed-index"
    seed_corpus.mkdir(exist_ok=True)
    shutil.copy(SEED, seed_corpus / SEED.name)
    index_run(seed_corpus, seed_index)
    alone = serve(seed_corpus, seed_index)
    big = serve(corpus, index)
    # Refusal evidence read from the whole collection (as before: "does the word occur anywhere").
    anywhere = serve(corpus, index, QA_EVIDENCE_DEPTH=str(10**9))
    print(
        f"refusal evidence from the whole collection instead of the retrieved passages, with the laws: "
        f"refused {anywhere['refusal_rate']:.3f}, flagged {anywhere['flagged_rate']:.3f}, "
        f"false refusals {anywhere['false_refusal_rate']:.3f}"
    )
    print("public eval questions (eval/questions.jsonl): seed page alone | with the laws")
    for key in ("zh_r1", "zh_r3", "zh_mrr", "en_r1", "en_r3", "en_mrr", "refusal_rate", "flagged_rate"):
        print(f"  {key}: {alone[key]:.3f} | {big[key]:.3f}")
    for key in ("false_refusal_rate", "list_item_recall", "followup_r3", "citations_ok"):
        print(f"  {key}: {alone[key]:.3f} | {big[key]:.3f}")
    for label, m in (("seed page alone", alone), ("with the laws", big)):
        print(
            f"serving, {label}: cold start {m['cold_start_s']:.1f} s, warm p50 {m['latency_p50_ms']:.1f} ms, "
            f"p95 {m['latency_p95_ms']:.1f} ms, peak RSS {m['rss_mb']:.0f} MB"
        )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
