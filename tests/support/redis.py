"""A throwaway Redis server for tests, started from the Debian package (``apt-get install redis-server``).

The server keeps nothing on disk (``--save ""``, no AOF), listens on 127.0.0.1 only on a free port,
has its own temporary directory (working dir and log), and is removed completely by
:meth:`RedisServer.stop`.

Usage::

    with RedisServer.start() as redis:
        counters = RedisQuotaCounters(redis.url)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.throwaway import ThrowawayServer

BINARY_ENV = "KIVERBUND_TEST_REDIS_SERVER"
"""Optional override: the path of the ``redis-server`` binary."""


class RedisServerError(RuntimeError):
    """The test Redis server could not be started."""


def find_binary() -> str:
    """The ``redis-server`` binary (``$KIVERBUND_TEST_REDIS_SERVER`` or the one on ``PATH``)."""
    override = os.environ.get(BINARY_ENV)
    if override:
        if os.access(override, os.X_OK):
            return override
        raise RedisServerError(f"{BINARY_ENV}={override} is not an executable")
    found = shutil.which("redis-server")
    if found is None:
        raise RedisServerError(
            "No redis-server found on PATH. Install it with `apt-get install redis-server` (Debian/Ubuntu), "
            f"or point {BINARY_ENV} at the binary."
        )
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _answers_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer(ThrowawayServer):
    """One running throwaway Redis server. Create it with :meth:`start`; end it with :meth:`stop`."""

    start_error = RedisServerError

    def __init__(self, binary: str, base_dir: Path) -> None:
        self.binary = binary
        self.base_dir = base_dir
        self.log_file = base_dir / "redis.log"
        self.host = "127.0.0.1"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, *, timeout_s: float = 30.0, attempts: int = 3) -> RedisServer:
        """Start a server in a temporary directory on a free port; wait until it answers PING."""
        return cls(find_binary(), Path(tempfile.mkdtemp(prefix="kiverbund-redis-")))._launch(timeout_s, attempts)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def _shutdown(self) -> None:
        self._terminate()

    # --- internals -------------------------------------------------------------------------------

    def _start(self, timeout_s: float) -> None:
        self.log_file.unlink(missing_ok=True)
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.base_dir),
                "--logfile",
                str(self.log_file),
                "--daemonize",
                "no",
            ],
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise RedisServerError(
                    f"redis-server exited ({code}) on port {self.port}.\nServer log:\n{_tail(self.log_file)}"
                )
            if _answers_ping(self.host, self.port):
                return
            time.sleep(0.05)
        self._terminate()
        raise RedisServerError(
            f"redis-server on {self.host}:{self.port} did not answer PING within {timeout_s:.0f} s.\n"
            f"Server log:\n{_tail(self.log_file)}"
        )

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                process.kill()
            process.wait(timeout=10)
