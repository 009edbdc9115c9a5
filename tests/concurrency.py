"""Helpers of the deterministic race tests: a writer held right after its check, and writers run
in threads whose result (or exception) the test reads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest


def run_in_thread(name: str, outcome: dict[str, Any], write: Callable[[], Any]) -> threading.Thread:
    """``write()`` in a new thread; its result, or what it raised, in ``outcome[name]``."""

    def target() -> None:
        try:
            outcome[name] = write()
        except BaseException as exc:  # the test reads it
            outcome[name] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def hold_after(
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    name: str,
    when: Callable[[Any], bool] = lambda _: True,
) -> tuple[threading.Event, threading.Event]:
    """Replace ``module.name`` (a writer's check) so that, when ``when(its result)``, it sets
    the first event returned (checked) and waits for the second (go) before returning."""
    checked, go = threading.Event(), threading.Event()
    check = getattr(module, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        found = check(*args, **kwargs)
        if when(found):
            checked.set()
            go.wait(timeout=60)
        return found

    monkeypatch.setattr(module, name, held)
    return checked, go
