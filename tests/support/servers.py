"""Run an ASGI app with uvicorn on a free loopback port in a background thread (for in-process tests)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from tests.support.ports import free_port


class ThreadedServer:
    """A uvicorn server in a daemon thread; ``stop()`` shuts it down."""

    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        self.port = free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan=lifespan
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        """Root URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        """Start and wait until the socket accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Shut the server down."""
        self._server.should_exit = True
        self._thread.join(timeout=5)
