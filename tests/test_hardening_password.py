"""Issue 12, password guessing: throttled per client and overall, every refusal logged."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from qa.ui import Throttle

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def handlers(tmp_path: Path, clock: Clock):  # noqa: ANN201
    from qa.settings import Settings
    from qa.ui import Handlers

    h = Handlers(None, Settings(corpus_dir=tmp_path / "corpus", data_dir=tmp_path / "data", staff_password=PASSWORD))
    h.throttle = Throttle(clock=clock)
    h.wrong_password_pause = 0
    return h


def request(host: str) -> SimpleNamespace:
    """What gradio passes as gr.Request, as far as the handlers look at it."""
    return SimpleNamespace(client=SimpleNamespace(host=host))


def test_a_client_is_locked_out_after_five_wrong_passwords_even_for_the_right_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    h = handlers(tmp_path, clock)
    caplog.set_level(logging.WARNING, "qa.ui")
    for i in range(5):
        assert h.api_status(f"guess{i}", request("10.0.0.1")) == {"ok": False, "error": "Wrong password."}
    locked = h.api_status(PASSWORD, request("10.0.0.1"))
    assert locked == {"ok": False, "error": "Too many wrong passwords; please try again in 5 min."}
    html, _timer = h.status(PASSWORD, "zh", request("10.0.0.1"))
    assert "密码错误次数过多，请 5 分钟后再试。" in html
    # Another client is not affected; the locked one may try again after the cooldown.
    assert h.check_password(PASSWORD, "en", "10.0.0.2") == ""
    clock.now += 301
    assert h.check_password(PASSWORD, "en", "10.0.0.1") == ""
    # Every wrong attempt and every refusal is in the log, and no password ever is.
    messages = [r.getMessage() for r in caplog.records]
    assert sum("wrong staff password from 10.0.0.1" in m for m in messages) == 5
    assert sum("attempt from 10.0.0.1 refused" in m for m in messages) == 2
    assert not any("guess" in m or PASSWORD in m for m in messages)


def test_many_clients_together_hit_the_global_cap(tmp_path: Path) -> None:
    clock = Clock()
    h = handlers(tmp_path, clock)
    for i in range(30):  # 30 clients, one guess each: no client reaches its own limit
        assert h.check_password("guess", "en", f"10.0.1.{i}") == "Wrong password."
    assert h.check_password(PASSWORD, "en", "10.0.2.1") == "Too many wrong passwords; please try again in 1 min."
    clock.now += 61
    assert h.check_password(PASSWORD, "en", "10.0.2.1") == ""


def test_old_mistakes_expire_and_a_right_password_forgets_them(tmp_path: Path) -> None:
    clock = Clock()
    h = handlers(tmp_path, clock)
    for _ in range(4):
        h.check_password("typo", "en", "10.0.0.1")
    assert h.check_password(PASSWORD, "en", "10.0.0.1") == ""
    for _ in range(4):
        h.check_password("typo", "en", "10.0.0.1")
    clock.now += 301
    assert h.check_password("typo", "en", "10.0.0.1") == "Wrong password."  # 1 in the window, not 5
    assert h.check_password(PASSWORD, "en", "10.0.0.1") == ""
    assert len(h.throttle._wrong) == 0  # nothing kept per client once it is forgiven


def test_an_empty_password_is_no_guess(tmp_path: Path) -> None:
    h = handlers(tmp_path, Clock())
    for _ in range(10):
        assert h.check_password("", "en", "10.0.0.1") == "Wrong password."
    assert h.check_password(PASSWORD, "en", "10.0.0.1") == ""
