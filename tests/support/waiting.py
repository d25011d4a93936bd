"""Polling helper for effects that become visible asynchronously (metrics, ledger batches)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(probe: Callable[[], T], predicate: Callable[[T], bool], timeout_s: float = 10.0) -> T:
    """Call ``probe`` until ``predicate`` holds for its result; return the last result either way."""
    deadline = time.monotonic() + timeout_s
    value = probe()
    while not predicate(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = probe()
    return value
