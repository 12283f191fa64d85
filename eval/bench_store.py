"""Store benchmark: the local FAISS store beside the Milvus store (milvus-lite), in one run.

`python -m eval.bench_store [--files N] [--runs R]` copies the first N files (by path) of
/work/shared/corpora/laws-zh into a temporary corpus, embeds them once (both stores read the
same embedding cache, so the figures compare the stores, not the models), builds each store
with every vector cached, opens each as a restarted app does, and asks a fixed set of legal
questions R times, the two stores taking turns: index time, disk size, open time and warm
answer p50/p95, overall and for retrieval alone (the median over the runs of each run's
percentile). `--workdir DIR` keeps the slice and its embedding cache for the next run.

`python -m eval.bench_store --bm25 URI` compares, on the seed eval (eval/questions.jsonl) over an
existing Milvus index at URI, the project's BM25 ranking (the default) with Milvus' own BM25
function (its jieba analyzer) ranking the keyword list instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from qa.settings import Settings

LAWS = Path("/work/shared/corpora/laws-zh")
QUESTIONS = [
    "盗窃罪怎么处罚？",
    "什么情况下可以从轻或者减轻处罚？",
    "正当防卫的条件是什么？",
    "劳动仲裁的时效是多久？",
    "轻伤的鉴定标准是什么？",
    "犯罪未遂如何处罚？",
    "What is the penalty for theft?",
    "How long is the limitation period for labour arbitration?",
    "累犯的认定条件有哪些？",
    "单位犯罪如何处罚？",
]


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def copy_slice(n: int, dest: Path) -> list[Path]:
    files = sorted(p for p in LAWS.rglob("*") if p.is_file() and p.suffix in {".md", ".txt"} and p.name != "README.md")
    for p in files[:n]:
        target = dest / p.relative_to(LAWS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, target)
    return files[:n]


def latencies(engines: dict[str, Any], runs: int) -> dict[str, dict[str, float]]:
    """Warm answer time per store. The stores take turns question by question, so a busy
    neighbour on the machine slows both alike; `retrieve` is the part the store serves (the
    rest is the models and the answer)."""
    for engine in engines.values():
        engine.ask("warm-up 预热")
    runs_ms: dict[str, list[dict[str, list[float]]]] = {name: [] for name in engines}
    for _ in range(runs):
        ms: dict[str, dict[str, list[float]]] = {name: {"total": [], "retrieve": []} for name in engines}
        for q in QUESTIONS:
            for name, engine in engines.items():
                t0 = time.perf_counter()
                answer = engine.ask(q)
                ms[name]["total"].append((time.perf_counter() - t0) * 1000)
                ms[name]["retrieve"].append(answer.timings_ms["retrieve"])
        for name in engines:
            runs_ms[name].append(ms[name])

    def med(name: str, key: str, pct: int) -> float:
        return round(statistics.median(float(np.percentile(r[key], pct)) for r in runs_ms[name]), 1)

    return {
        name: {
            "p50_ms": med(name, "total", 50),
            "p95_ms": med(name, "total", 95),
            "retrieve_p50_ms": med(name, "retrieve", 50),
            "retrieve_p95_ms": med(name, "retrieve", 95),
        }
        for name in engines
    }


def bench(n_files: int, runs: int, workdir: str | None = None) -> dict[str, Any]:
    from qa import store_milvus
    from qa.embed import load_crosslingual, load_embedder, load_latent
    from qa.engine import Engine
    from qa.indexer import open_or_build

    # A kept work folder keeps its embedding cache: a rerun measures the stores without
    # embedding the slice again.
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="bench-store-"))
    corpus = base / "corpus"
    if not corpus.is_dir():
        corpus.mkdir(parents=True)
        copy_slice(n_files, corpus)
    local = Settings.from_env(corpus_dir=corpus, index_dir=base / "index", vector_store="faiss")
    shared = replace(local, vector_store="milvus", milvus_uri=str(base / "milvus.db"))
    # One version on disk for each store: the FAISS build prunes its old one; a Milvus publish
    # keeps the previous version for replicas, so a reused work folder starts its database anew.
    shutil.rmtree(base / "milvus.db", ignore_errors=True)
    e5 = load_embedder(local)
    x, latent = load_crosslingual(local), load_latent(local, e5)
    t0 = time.perf_counter()
    _, first = open_or_build(local, e5, x, latent=latent)
    embed_s = time.perf_counter() - t0
    out: dict[str, Any] = {"files": n_files, "documents": first.documents, "chunks": first.chunks}
    out["first_build_s"] = round(embed_s, 1)
    out["first_build_embedded"] = first.embedded
    engines = {}
    for name, s in (("faiss", local), ("milvus", shared)):
        t0 = time.perf_counter()
        _, report = open_or_build(s, e5, x, force=True, latent=latent)  # every vector cached
        index_s = time.perf_counter() - t0
        assert report.embedded == 0, report
        if name == "faiss":
            disk = du(base / "index") - du(base / "index" / "cache")
        else:
            store_milvus.close(s.milvus_uri)  # flushes and releases the file before measuring it
            disk = du(Path(s.milvus_uri))
        t0 = time.perf_counter()
        engines[name] = Engine(s, e5, x, latent=latent)  # a restarted app: open the stored index
        open_s = time.perf_counter() - t0
        out[name] = {"index_s": round(index_s, 1), "disk_mb": round(disk / 1e6, 1), "open_s": round(open_s, 1)}
    for name, figures in latencies(engines, runs).items():
        out[name] |= figures
    store_milvus.close()
    if not workdir:
        shutil.rmtree(base, ignore_errors=True)
    return out


def compare_bm25(uri: str) -> dict[str, Any]:
    """The seed eval with the keyword list ranked by the project's BM25, then by Milvus'."""
    from eval.run import DEFAULT_QUESTIONS, evaluate, load_questions
    from qa.engine import Engine

    settings = Settings.from_env(vector_store="milvus", milvus_uri=uri)
    engine = Engine(settings)
    questions = load_questions(DEFAULT_QUESTIONS)
    keys = ["zh_r1", "zh_r3", "zh_mrr", "zh_facts", "en_r1", "en_r3", "en_mrr", "en_facts", "refusal_rate"]
    keys += ["false_refusal_rate", "followup_r3", "list_item_recall", "citations_ok"]
    own = evaluate(engine, questions)
    retriever, stored = engine._state[1], engine._state[0]
    depth = retriever.depth

    def milvus_scores(tokens: list[str], allowed: np.ndarray | None = None) -> np.ndarray:
        # The keyword list from Milvus' BM25 function: rank r scores depth - r (only order
        # matters to the fusion); the question text is analyzed by Milvus' jieba.
        scores = np.zeros(len(stored.chunks), np.float32)
        for r, row in enumerate(stored.keyword_search(milvus_scores.text, depth, allowed)):
            scores[row] = depth - r
        return scores

    milvus_scores.text = ""  # type: ignore[attr-defined]
    real_hits = retriever.hits

    def hits(q: Any, allowed: np.ndarray | None = None) -> Any:
        milvus_scores.text = q.keyword_text  # type: ignore[attr-defined]
        return real_hits(q, allowed)

    retriever.hits = hits  # type: ignore[method-assign]
    retriever.bm25.scores = milvus_scores  # type: ignore[method-assign]
    theirs = evaluate(engine, questions)
    return {k: {"project_bm25": own[k], "milvus_bm25": theirs[k]} for k in keys}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.bench_store", description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=60)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--workdir", help="keep the corpus, index and embedding cache here (reused when it exists)")
    p.add_argument("--bm25", metavar="URI", help="compare BM25 rankings on the seed eval over this Milvus index")
    args = p.parse_args(argv)
    result = compare_bm25(args.bm25) if args.bm25 else bench(args.files, args.runs, args.workdir)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
