"""The collection-scale parts: law layout (parts, chapters, sections, articles), BM25 and latent
terms as sparse matrices, top-k without a full sort, FAISS chosen by size, document filters."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from qa import store
from qa.chunk import chunk_document
from qa.keywords import BM25
from qa.load import parse
from qa.retrieve import ROW, feature_matrix, feature_scores, top

LAW = """# 中华人民共和国示例法

2019年3月15日第十三届全国人民代表大会第二次会议通过
2021年6月10日第十三届全国人民代表大会常务委员会第二十九次会议修正

<!-- INFO END -->

## 第一编 总则

### 第一章 一般规定

第一条 为了规范示例活动，保护当事人的合法权益，制定本法。

第二条 本法适用于中华人民共和国境内的示例活动。

### 第二章 主体

#### 第一节 自然人

第三条 自然人从出生时起到死亡时止，具有民事权利能力。

第四条 十八周岁以上的自然人为成年人。
"""


def test_a_law_keeps_its_structure_dates_and_articles_in_the_section_path():
    doc = parse("laws/示例法.md", LAW.encode())
    assert doc.title == "中华人民共和国示例法"
    assert "INFO END" not in doc.text and "<!--" not in doc.text
    # Dated adoption lines are paragraphs of their own, not headings glued together.
    lines = doc.text.split("\n")
    assert lines[0].startswith("2019年3月15日") and lines[1].startswith("2021年6月10日")
    titles = [s.title for s in doc.sections]
    assert "第一编总则 › 第一章一般规定" in titles
    assert "第一编总则 › 第二章主体 › 第一节自然人" in titles
    chunks = chunk_document(doc, 20, 60)
    by_text = {c.text.strip()[:3]: c.section for c in chunks}
    assert by_text["第一条"].endswith("第一章一般规定 › 第一条")
    assert by_text["第三条"] == "第一编总则 › 第二章主体 › 第一节自然人 › 第三条"
    assert "".join(c.text for c in chunks) == doc.text  # offsets still rebuild the text
    # A chunk holding several articles names the range.
    wide = chunk_document(doc, 150, 300)
    assert any(c.section.endswith("第一条—第二条") for c in wide)


def _okapi(corpus, query, k1=1.5, b=0.75):
    n, avg = len(corpus), sum(map(len, corpus)) / len(corpus)
    df = Counter(t for d in corpus for t in set(d))
    out = []
    for d in corpus:
        f, norm = Counter(d), k1 * (1 - b + b * len(d) / avg)
        out.append(
            sum(
                math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) * f[t] * (k1 + 1) / (f[t] + norm) for t in query if f[t]
            )
        )
    return np.array(out)


def test_sparse_bm25_equals_okapi_and_survives_save_and_load():
    rng = np.random.default_rng(1)
    vocab = [f"词{i}" for i in range(40)]
    corpus = [list(rng.choice(vocab, size=rng.integers(0, 30))) for _ in range(200)]
    bm = BM25.fit(corpus)
    again = BM25.from_arrays({k: np.asarray(v) for k, v in bm.arrays().items()})
    for _ in range(20):
        q = list(rng.choice(vocab + ["未见"], size=3))
        want = _okapi(corpus, q)
        assert np.allclose(bm.scores(q), want, atol=1e-4)
        assert np.allclose(again.scores(q), want, atol=1e-4)
    allowed = np.arange(200) % 2 == 0
    assert not bm.scores(["词1"], allowed)[~allowed].any()
    assert bm.idf_of("未见") > max(bm.idf)  # unseen words are the most specific


def test_latent_terms_as_a_sparse_matrix_score_like_the_dense_product():
    rng = np.random.default_rng(2)
    rows = np.zeros(50, ROW)
    dense = np.zeros((50, 1000), np.float32)
    for i in range(50):
        ids = rng.choice(1000, size=256, replace=False)
        vals = np.sort(rng.random(256).astype(np.float32))[::-1] * (i % 5 != 0)  # some empty rows
        rows[i]["idx"], rows[i]["val"] = ids, vals
        dense[i, ids] = vals
    q = np.where(rng.random(1000) < 0.1, rng.random(1000), 0).astype(np.float32)
    assert np.allclose(feature_scores(feature_matrix(rows, 1000), q), dense @ q, atol=1e-4)


def test_top_equals_a_full_stable_sort():
    rng = np.random.default_rng(3)
    for n in (5, 20, 1000):
        scores = rng.integers(0, 7, n).astype(np.float32)  # many ties
        want = [int(i) for i in np.argsort(-scores, kind="stable")[:20]]
        assert top(scores, 20) == want


def test_faiss_is_exact_up_to_the_threshold_and_hnsw_above_it_with_high_recall():
    rng = np.random.default_rng(4)
    vecs = rng.normal(size=(3000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    exact = store.build_faiss(vecs, ann_threshold=5000)
    approx = store.build_faiss(vecs, ann_threshold=1000)
    assert "HNSW" in type(approx).__name__ and "Flat" in type(exact).__name__
    queries = vecs[:200] + 0.3 * rng.normal(size=(200, 64)).astype(np.float32)
    _, want = exact.search(queries, 10)
    _, got = approx.search(queries, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)]) >= 0.98
    brute = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    assert (want == brute).mean() > 0.99  # flat search is exact


@pytest.fixture
def engine_over_two_folders(settings, fake_embedder):
    from qa.engine import Engine

    laws = settings.corpus_dir / "laws"
    laws.mkdir()
    (laws / "示例法.md").write_text(LAW, "utf-8")
    (settings.corpus_dir / "data.txt").write_text("# 数据\n\n自然人的数据受法律保护。\n", "utf-8")
    return Engine(settings, embedder=fake_embedder)


def test_a_question_can_be_limited_to_documents(engine_over_two_folders):
    from qa.chat import BadQuestion

    engine = engine_over_two_folders
    docs = {d["doc"]: d for d in engine.documents()}
    assert set(docs) == {"a.txt", "b.md", "data.txt", "laws/示例法.md"} and all(d["chunks"] > 0 for d in docs.values())
    cases = (
        ("laws/*", {"laws/示例法.md"}),
        ("示例法", {"laws/示例法.md"}),
        ("A.TXT", {"a.txt"}),  # a name as listed is that document, not also data.txt
        ("*.txt", {"a.txt", "data.txt"}),
    )
    for pattern, want in cases:
        ans = engine.ask("自然人什么时候具有民事权利能力？", docs=pattern)
        assert {p.chunk.doc_id for p in ans.passages} == want
    with pytest.raises(BadQuestion) as exc:
        engine.ask("自然人", docs="没有这个文件")
    assert exc.value.key == "no_such_document"


def test_removing_a_document_takes_it_out_of_the_index(engine_over_two_folders):
    from qa.load import DocumentError

    engine = engine_over_two_folders
    engine.remove_document("laws/示例法.md")
    assert "laws/示例法.md" not in {d["doc"] for d in engine.documents()}
    assert not (engine.settings.corpus_dir / "laws" / "示例法.md").exists()
    for bad in ("laws/示例法.md", "../outside.txt", ""):
        with pytest.raises(DocumentError):
            engine.remove_document(bad)
