"""Issue 12, uploads: no document is lost by a name, leftovers are cleaned, long names say so.

In-process (qa.load and qa.ui.Handlers with a stub engine): no model, no server.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from qa.load import REPLACED_DIR, DocumentError, clean_leftovers, corpus_files, save_upload

ORIGINAL = "# 原文件\n\n第一段。\n\n第二段。\n".encode()
NEW = "# 新文件\n\n完全不同的内容。\n".encode()
LIMIT = 100_000


class Engine:
    """Only what the staff handlers need."""

    def documents(self) -> list[dict]:
        return []

    def status(self) -> dict:
        return {"documents": 0, "chunks": 0}

    def refresh(self, progress=None):  # noqa: ANN201 - the refresher's background call
        return None


def handlers(tmp_path: Path):
    from qa.settings import Settings
    from qa.ui import Handlers

    settings = Settings(
        corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data", staff_password="pw", max_file_bytes=LIMIT
    )
    h = Handlers(Engine(), settings)
    h.wrong_password_pause = 0
    return h


def upload(h, name: str, data: bytes, replace: bool = False) -> dict:
    return h.api_upload("pw", name, base64.b64encode(data).decode(), replace)


@pytest.mark.parametrize("name", ["政策.md", "政策.MD"])
def test_an_upload_never_silently_replaces_a_document_of_the_same_name(tmp_path: Path, name: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "政策.md").write_bytes(ORIGINAL)
    with pytest.raises(DocumentError) as caught:
        save_upload(corpus, name, NEW, LIMIT)
    assert caught.value.key == "name_taken" and caught.value.params == {"name": "政策.md"}
    assert [p.name for p in corpus.iterdir()] == ["政策.md"]  # no second document by case, no temp file
    assert (corpus / "政策.md").read_bytes() == ORIGINAL


def test_replace_keeps_the_old_version_where_the_loader_does_not_look(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "Policy.md").write_bytes(ORIGINAL)
    save_upload(corpus, "policy.md", NEW, LIMIT, replace=True)
    assert (corpus / "policy.md").read_bytes() == NEW and not (corpus / "Policy.md").exists()
    [kept] = (corpus / REPLACED_DIR).iterdir()
    assert kept.name.endswith("-Policy.md") and kept.read_bytes() == ORIGINAL
    assert [p.name for p in corpus_files(corpus)] == ["policy.md"]


def test_the_staff_form_says_so_in_the_users_language_and_replaces_only_when_asked(tmp_path: Path) -> None:
    h = handlers(tmp_path)
    assert upload(h, "政策.md", ORIGINAL) == {"ok": True, "message": "Saved: 政策.md"}
    refused = upload(h, "政策.md", NEW)
    assert refused["ok"] is False and "already a document named “政策.md”" in refused["error"]
    assert "Replace documents with the same name" in refused["error"]
    doc = tmp_path / "form" / "政策.MD"
    doc.parent.mkdir()
    doc.write_bytes(NEW)
    html, _status, _timer = h.upload_files("pw", [str(doc)], "zh")
    assert "未接受 政策.MD：文件库中已有同名文件“政策.md”" in html and "替换同名文件" in html
    assert (tmp_path / "corpus" / "政策.md").read_bytes() == ORIGINAL
    html, _status, _timer = h.upload_files("pw", [str(doc)], "zh", True)
    assert "已替换：政策.MD（旧版本已保留）" in html
    assert [p.name for p in corpus_files(tmp_path / "corpus")] == ["政策.MD"]
    assert [p.read_bytes() for p in (tmp_path / "corpus" / REPLACED_DIR).iterdir()] == [ORIGINAL]


def test_a_too_long_name_gets_name_too_long_in_the_users_language(tmp_path: Path) -> None:
    h = handlers(tmp_path)
    # 93 characters, 273 bytes: over the file system's 255 (it was "something went wrong").
    en = upload(h, "关于进一步加强和改进" * 9 + ".md", NEW)
    assert en["ok"] is False and "The file name is too long" in en["error"], en
    # 73 characters, 213 bytes: a file the browser can send, whose temporary name would not fit.
    doc = tmp_path / "form" / ("关于进一步加强和改进" * 7 + ".md")
    doc.parent.mkdir()
    doc.write_bytes(NEW)
    html, _status, _timer = h.upload_files("pw", [str(doc)], "zh")
    assert "文件名太长" in html, html
    # Latin names: 130 characters was "characters that are not allowed".
    assert "The file name is too long" in upload(h, "a" * 130 + ".md", NEW)["error"]
    assert not (tmp_path / "corpus").exists() or list((tmp_path / "corpus").iterdir()) == []


def test_leftover_upload_files_are_cleaned_on_start(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    old = [corpus / ".a.md.uploading", corpus / ".b.txt.0123abcd.uploading", corpus / "sub" / ".c.md.uploading"]
    for p in old:
        p.write_bytes(b"half a docu")
        os.utime(p, (time.time() - 3600, time.time() - 3600))
    fresh = corpus / ".d.md.ffff.uploading"  # being written right now by another process
    fresh.write_bytes(b"half")
    (corpus / "keep.md").write_bytes(ORIGINAL)
    handlers(tmp_path)  # the app's start
    assert [p.exists() for p in old] == [False, False, False]
    assert fresh.exists() and (corpus / "keep.md").exists()
    assert clean_leftovers(corpus, older_than=0) == [".d.md.ffff.uploading"]


def test_a_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        save_upload(corpus, "a.md", NEW, LIMIT)
    assert [p.name for p in corpus.iterdir() if p.name != ".parsed"] == []
