"""Indexing benchmark: full build of an N-document collection, then re-index after one paragraph
of one document changes. Usage: `python -m eval.bench_index [N]` (default 100).

Documents are made from the paragraphs of the corpus page, each document a distinct mix
(different paragraphs, numbered), about 1,000 characters each. Reports chunks/s, model time vs
the rest, and the re-index time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from qa.embed import load_crosslingual, load_embedder, load_latent
from qa.indexer import open_or_build
from qa.load import parse
from qa.settings import ROOT, Settings


class Timed:
    """Wraps a model to add up the time spent in it (its indexing calls only)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.seconds = inner, inner.name, getattr(inner, "dim", 0), 0.0

    def _timed(self, method: str, *args):
        t0 = time.perf_counter()
        try:
            return getattr(self.inner, method)(*args)
        finally:
            self.seconds += time.perf_counter() - t0

    def encode_documents(self, texts):
        return self._timed("encode_documents", texts)

    def encode_passages(self, texts, spans):
        return self._timed("encode_passages", texts, spans)

    def rows(self, states):
        return self._timed("rows", states)

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)


def make_collection(folder: Path, n: int) -> None:
    page = parse("page.txt", (ROOT / "corpus" / "hunan-ftz-zhuzhou.txt").read_bytes())
    paras = [p for p in page.text.split("\n") if len(p) > 40]
    for i in range(n):
        body = [f"第{i}号文件第{j}段：{paras[(i * 7 + j) % len(paras)]}" for j in range(8)]
        (folder / f"doc{i:03d}.txt").write_text(f"# 测试文件{i}\n\n" + "\n\n".join(body) + "\n", "utf-8")


def main(n: int = 100) -> int:
    base = Path(tempfile.mkdtemp(prefix="bench-index-"))
    corpus = base / "corpus"
    corpus.mkdir()
    make_collection(corpus, n)
    settings = Settings.from_env(corpus_dir=corpus, index_dir=base / "index")
    st = load_embedder(settings)
    e5, x, latent = Timed(st), Timed(load_crosslingual(settings)), Timed(load_latent(settings, st))
    t0 = time.perf_counter()
    _, full = open_or_build(settings, e5, x, latent=latent)
    wall = time.perf_counter() - t0
    model = e5.seconds + x.seconds + latent.seconds
    print(f"full build: {full.documents} documents, {full.chunks} chunks, {full.embedded} texts embedded")
    print(
        f"  {wall:.1f} s wall, {full.chunks / wall:.1f} chunks/s; model {model:.1f} s (e5 {e5.seconds:.1f}, "
        f"USE {x.seconds:.1f}, latent terms {latent.seconds:.1f}), everything else {wall - model:.1f} s"
    )
    target = corpus / "doc042.txt" if n > 42 else corpus / "doc000.txt"
    text = target.read_text("utf-8")
    target.write_text(text.replace("段：", "段（修订）：", 1), "utf-8")
    e5.seconds = x.seconds = latent.seconds = 0.0
    t0 = time.perf_counter()
    _, again = open_or_build(settings, e5, x, latent=latent)
    wall = time.perf_counter() - t0
    print(
        f"one paragraph changed in {target.name}: re-indexed in {wall:.1f} s "
        f"(model {e5.seconds + x.seconds + latent.seconds:.2f} s); {again.summary()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
