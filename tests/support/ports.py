"""Free loopback ports for test servers (never fixed ports: other processes may hold them)."""

from __future__ import annotations

import socket
from collections.abc import Callable


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_on_free_port(start: Callable[[int], None], *, attempts: int, retry_on: type[Exception]) -> int:
    """Call ``start(port)`` with a fresh free port until it works; return the port.

    Another process may take a port between :func:`free_port` and the server binding it, so a
    failure of type ``retry_on`` is retried with a new port, up to ``attempts`` times.
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        try:
            start(port)
        except retry_on:
            if attempt == attempts:
                raise
        else:
            return port
    raise ValueError("attempts must be at least 1")
