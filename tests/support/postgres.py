"""A throwaway PostgreSQL server for tests, started from the Debian packages (``apt-get install postgresql``).

The server lives in a temporary directory (data, unix socket, log), listens on 127.0.0.1 only on a
free port, runs with ``fsync=off`` for speed, and is removed completely by :meth:`PostgresServer.stop`.
initdb and postgres refuse to run as root, so as root they run as the ``postgres`` OS user (which the
Debian package creates) via ``runuser``; as any other user they run directly.

Usage::

    with PostgresServer.start() as pg:
        url = pg.create_database("hub")  # postgresql+asyncpg://postgres:...@127.0.0.1:<port>/hub
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.throwaway import ThrowawayServer

PG_ROOT = Path("/usr/lib/postgresql")
BINDIR_ENV = "KIVERBUND_TEST_PG_BINDIR"
"""Optional override: the directory holding initdb, pg_ctl, pg_isready and psql."""
SUPERUSER = "postgres"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NEEDED = ("initdb", "pg_ctl", "pg_isready", "psql")


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be set up, started or used."""


def find_bindir() -> Path:
    """The newest installed PostgreSQL's ``bin`` directory (or ``$KIVERBUND_TEST_PG_BINDIR``)."""
    override = os.environ.get(BINDIR_ENV)
    candidates: list[Path] = []
    if override:
        candidates = [Path(override)]
    elif PG_ROOT.is_dir():
        versions = [p for p in PG_ROOT.iterdir() if p.name.replace(".", "").isdigit()]
        versions.sort(key=lambda p: tuple(int(part) for part in p.name.split(".")), reverse=True)
        candidates = [p / "bin" for p in versions]
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in _NEEDED):
            return bindir
    where = override or f"{PG_ROOT}/<version>/bin"
    raise PostgresError(
        f"No PostgreSQL server binaries ({', '.join(_NEEDED)}) found in {where}. "
        "Install them with `apt-get install postgresql` (Debian/Ubuntu), "
        f"or point {BINDIR_ENV} at a directory that has them."
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


class PostgresServer(ThrowawayServer):
    """One running throwaway PostgreSQL cluster. Create it with :meth:`start`; end it with :meth:`stop`."""

    start_error = PostgresError

    def __init__(self, bindir: Path, base_dir: Path, port: int, password: str) -> None:
        self.bindir = bindir
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "socket"
        self.log_file = base_dir / "server.log"
        self.host = "127.0.0.1"
        self.port = port
        self.user = SUPERUSER
        self.password = password
        self._run_as: list[str] = []
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def start(cls, *, timeout_s: float = 60.0, attempts: int = 3) -> PostgresServer:
        """initdb a fresh cluster in a temporary directory and start it; wait until it accepts connections."""
        bindir = find_bindir()
        base_dir = Path(tempfile.mkdtemp(prefix="kiverbund-pg-"))
        server = cls(bindir, base_dir, port=0, password=secrets.token_urlsafe(16))

        def prepare() -> None:
            server._prepare_owner()
            server._initdb(timeout_s)

        return server._launch(timeout_s, attempts, prepare)

    def _shutdown(self) -> None:
        # Immediately: the cluster is throwaway.
        if self._running:
            result = self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30", check=False, timeout_s=40)
            if result is None or result.returncode != 0:
                self._kill_postmaster()
            self._running = False

    # --- databases -------------------------------------------------------------------------------

    def url(self, database: str = "postgres", driver: str = "asyncpg") -> str:
        """SQLAlchemy URL of ``database`` on this server (TCP, password authentication)."""
        return f"postgresql+{driver}://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, *, database: str = "postgres", timeout_s: float = 30.0) -> str:
        """Run SQL as the superuser over the unix socket; return psql's output. Raises on any SQL error."""
        cmd = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database,
            "-c",
            sql,
        ]
        result = self._run(cmd, timeout_s=timeout_s, as_server_user=False)
        if result.returncode != 0:
            raise PostgresError(f"psql failed ({result.returncode}) on {sql!r}:\n{result.stderr.strip()}")
        return result.stdout

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """Create database ``name`` (optionally a copy of ``template``) and return its asyncpg URL."""
        self._check_name(name)
        sql = f"CREATE DATABASE {name}"
        if template is not None:
            self._check_name(template)
            sql += f" TEMPLATE {template}"
        self.psql(sql)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (closing any connections to it)."""
        self._check_name(name)
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # --- internals -------------------------------------------------------------------------------

    @staticmethod
    def _check_name(name: str) -> None:
        if not _DB_NAME.fullmatch(name):
            raise PostgresError(f"not a safe database name: {name!r} (lower case letters, digits, _)")

    def _prepare_owner(self) -> None:
        self.socket_dir.mkdir(mode=0o700)
        if os.geteuid() != 0:
            return
        try:
            account = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresError(
                "Running as root, but there is no 'postgres' OS user to run the server as. "
                "Install PostgreSQL with `apt-get install postgresql` (it creates the user)."
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresError("Running as root needs `runuser` (util-linux) to start PostgreSQL as 'postgres'")
        for path in (self.base_dir, self.socket_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
        self._run_as = ["runuser", "-u", SUPERUSER, "--"]

    def _run(
        self, cmd: list[str], *, timeout_s: float, as_server_user: bool = True
    ) -> subprocess.CompletedProcess[str]:
        full = [*self._run_as, *cmd] if as_server_user else cmd
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"}
        try:
            return subprocess.run(
                full,
                cwd=self.base_dir,  # the postgres user may not be allowed into the caller's cwd
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(
                f"{' '.join(full)} did not finish within {timeout_s:.0f} s.\nServer log:\n{_tail(self.log_file)}"
            ) from exc

    def _initdb(self, timeout_s: float) -> None:
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._run_as:
            account = pwd.getpwnam(SUPERUSER)
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        try:
            result = self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                timeout_s=timeout_s,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise PostgresError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}".strip())
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# kiverbund test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(
        self, *args: str, check: bool = True, timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str] | None:
        try:
            result = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args], timeout_s=timeout_s)
        except PostgresError:
            if check:
                raise
            return None
        if check and result.returncode != 0:
            raise PostgresError(
                f"pg_ctl {args[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}\n"
                f"Server log ({self.log_file}):\n{_tail(self.log_file)}"
            )
        return result

    def _start(self, timeout_s: float) -> None:
        self.log_file.unlink(missing_ok=True)
        result = self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(int(timeout_s)),
            "-l",
            str(self.log_file),
            "-o",
            f"-p {self.port}",
            check=False,
            timeout_s=timeout_s + 10,
        )
        if result is None or result.returncode != 0:
            self._kill_postmaster()
            detail = result.stderr.strip() if result is not None else "timed out"
            raise PostgresError(
                f"PostgreSQL did not start on port {self.port}: {detail}\n"
                f"Server log ({self.log_file}):\n{_tail(self.log_file)}"
            )
        self._running = True
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            result = self._run(
                [str(self.bindir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", self.user, "-t", "2"],
                timeout_s=10,
                as_server_user=False,
            )
            if result.returncode == 0:
                return
            last = (result.stdout + result.stderr).strip()
            time.sleep(0.1)
        raise PostgresError(
            f"PostgreSQL on {self.host}:{self.port} did not accept connections within {timeout_s:.0f} s "
            f"(pg_isready: {last}).\nServer log ({self.log_file}):\n{_tail(self.log_file)}"
        )

    def _kill_postmaster(self) -> None:
        pid_file = self.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)
