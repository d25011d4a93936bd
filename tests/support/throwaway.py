"""What the tests' own database and cache servers have in common: a temporary directory, a free port
(retried if another process takes it first), removal at exit, and use as a context manager."""

from __future__ import annotations

import atexit
import shutil
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.ports import start_on_free_port


class ThrowawayServer:
    """Base of :class:`~tests.support.postgres.PostgresServer` and :class:`~tests.support.redis.RedisServer`.

    Subclasses set ``base_dir``, implement ``_start(timeout_s)`` (on ``self.port``) and ``_shutdown()``.
    """

    base_dir: Path
    port: int
    start_error: type[Exception] = RuntimeError
    """What ``_start`` raises when the server does not come up (then a new port is tried)."""

    def _launch(self, timeout_s: float, attempts: int, prepare: Callable[[], None] | None = None) -> Self:
        """``prepare()``, then start on a free port; on any failure clean up and re-raise."""
        try:
            if prepare is not None:
                prepare()
            start_on_free_port(
                lambda port: self._start_on(port, timeout_s), attempts=attempts, retry_on=self.start_error
            )
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def _start_on(self, port: int, timeout_s: float) -> None:
        self.port = port
        self._start(timeout_s)

    def _start(self, timeout_s: float) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server and delete its directory. Safe to call twice."""
        self._shutdown()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
