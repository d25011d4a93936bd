"""Gateway overhead: the same requests sent straight to an upstream and through the hub, in one run.

Starts a fake vLLM server (:mod:`tests.support.fake_vllm`) and a hub (``kiverbund serve`` on a fresh
SQLite database, set up with the CLI), then drives both with :mod:`benchmarks.loadgen` (a separate
process, open loop, fixed arrival rate) and reports what the gateway adds:

* per rate (default 50, 100, 200 req/s), non-streaming end-to-end latency and, for streams, time to
  the first content chunk (TTFT) and end-to-end latency, p50/p95/p99 for both paths, the difference
  (gateway minus direct, percentile by percentile), errors, achieved rate and CPU per request;
* the highest offered rate each path sustains (ramp; definition in ``benchmarks/README.md``);
* optionally (``--profile``) a py-spy profile of the gateway process under load.

Run: ``python -m benchmarks.gateway_overhead [--quick] [--out benchmarks/results]``.
Writes ``gateway_overhead.json`` and ``gateway_overhead.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parent.parent
MODEL = "fake"
TOKENS = 8
PACE_S = 0.005
NONSTREAM_BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Sag Hallo"}], "max_tokens": TOKENS}
STREAM_BODY = {**NONSTREAM_BODY, "stream": True}
PERCENTILES = (50, 90, 95, 99, 99.9)
RAMP_RATES = (
    100, 150, 200, 250, 300, 400, 500, 600, 700, 800, 1000, 1200, 1400, 1600, 2000, 2400, 2800, 3200, 4000, 5000,
    6000, 8000,
)  # fmt: skip
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Services:
    """The running upstream and hub, and what a load generator needs to reach them."""

    workdir: Path
    upstream_port: int
    hub_port: int
    key: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _spawn(name: str, cmd: list[str], workdir: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    log = (workdir / f"{name}.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)


def _wait_http(
    url: str, proc: subprocess.Popen, timeout_s: float = 30.0, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} while starting")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, headers=headers, timeout=1.0, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def _cli(args: list[str], env: dict[str, str], cwd: Path, python: str = sys.executable) -> str:
    cmd = [python, "-m", "hub.cli", *args]
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"kiverbund {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def start_services(hub_dir: Path, hub_env: dict[str, str], hub_python: str = sys.executable) -> Services:
    """Start the fake upstream, set up a hub database with the CLI, start the hub, wait until it serves."""
    workdir = Path(tempfile.mkdtemp(prefix="kiverbund-bench-"))
    up_port, hub_port = free_port(), free_port()
    while hub_port == up_port:
        hub_port = free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KIVERBUND_")}
    base_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hub_dir), str(REPO)]))
    upstream = _spawn(
        "upstream",
        [sys.executable, "-m", "tests.support.fake_vllm", "--port", str(up_port), "--model", MODEL,
         "--tokens", str(TOKENS), "--pace", str(PACE_S)],
        workdir, base_env, REPO,
    )  # fmt: skip
    services = Services(workdir, up_port, hub_port, key="", procs={"upstream": upstream})
    try:
        _wait_http(f"http://127.0.0.1:{up_port}/health", upstream)
        env = {
            **base_env,
            "KIVERBUND_DATA_DIR": str(workdir),
            "KIVERBUND_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'kiverbund.db'}",
            "KIVERBUND_PORT": str(hub_port),
            **hub_env,
        }
        state = "Mecklenburg-Vorpommern"

        def cli(*args: str) -> str:
            return _cli(list(args), env, hub_dir, hub_python)

        cli("migrate")
        cli("tenant", "create", "Land Mecklenburg-Vorpommern", "--state", state, "--kind", "state")
        cli("tenant", "create", "Schwerin", "--state", state, "--ags", "13004000")
        services.key = json.loads(cli("key", "issue", "--tenant", "Schwerin", "--label", "bench", "--json"))["secret"]
        upstream_url = f"http://127.0.0.1:{up_port}"
        cli("backend", "register", "--name", "fake-upstream", "--url", upstream_url, "--location", "DE-MV-Bench",
            "--served-model", MODEL)  # fmt: skip
        cli("model", "add", MODEL, "--upstream", MODEL)
        hub = _spawn("hub", [hub_python, "-m", "hub.cli", "serve"], workdir, env, hub_dir)
        services.procs["hub"] = hub
        _wait_http(f"http://127.0.0.1:{hub_port}/health", hub)
        auth = {"Authorization": f"Bearer {services.key}"}
        deadline = time.monotonic() + 30
        while True:  # the gateway lists the model, and a first request goes through
            with contextlib.suppress(httpx.HTTPError):
                models = httpx.get(f"http://127.0.0.1:{hub_port}/v1/models", headers=auth, trust_env=False).json()
                if any(m["id"] == MODEL for m in models.get("data", [])):
                    answer = httpx.post(f"http://127.0.0.1:{hub_port}/v1/chat/completions", headers=auth,
                                        json=NONSTREAM_BODY, trust_env=False)  # fmt: skip
                    if answer.status_code == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway does not serve `{MODEL}`; see {workdir}/hub.log")
            time.sleep(0.2)
    except BaseException:
        services.stop()
        raise
    return services


# --- measuring ------------------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy_s() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / CLK_TCK


def loadgen(services: Services, path: str, mode: str, rate: float, duration: float, warmup: float) -> dict[str, Any]:
    """One open-loop run of the load generator against ``path`` ("direct" or "gateway")."""
    port = services.upstream_port if path == "direct" else services.hub_port
    body = STREAM_BODY if mode == "stream" else NONSTREAM_BODY
    cmd = [
        sys.executable, "-m", "benchmarks.loadgen", "--port", str(port), "--key", services.key,
        "--body", json.dumps(body), "--rate", str(rate), "--duration", str(duration), "--warmup", str(warmup),
        "--expect-chunks", str(TOKENS),
    ]  # fmt: skip
    if mode == "stream":
        cmd.append("--stream")
    pids = {name: services.pid(name) for name in services.procs}
    before = {name: _proc_cpu_s(pid) for name, pid in pids.items()}
    busy_before, wall_before = _machine_busy_s(), time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    busy = _machine_busy_s() - busy_before
    wall = time.monotonic() - wall_before
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr}")
    result = json.loads(done.stdout)
    cpu = {name: _proc_cpu_s(pid) - before[name] for name, pid in pids.items()}
    # CPU figures cover warm-up as well: per request, divide by every request sent.
    sent = round((warmup + duration) * rate)
    result["cpu_ms_per_request"] = {name: 1000.0 * s / sent for name, s in cpu.items()}
    result["cpu_cores"] = {name: s / wall for name, s in cpu.items()}
    result["machine_busy_cores"] = busy / wall
    result["other_busy_cores"] = max(0.0, (busy - sum(cpu.values())) / wall)  # incl. the load generator
    result["path"], result["mode"] = path, mode
    return result


def _pct(values: list[float], q: float) -> float | None:
    """Percentile in ms of values in seconds (linear interpolation, numpy's default)."""
    return float(numpy.percentile(values, q)) * 1000.0 if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the runs of one path at one rate and reduce them to percentiles (milliseconds)."""
    merged: dict[str, list[float]] = {k: [] for k in ("latency", "service", "send_lag", "ttft")}
    errors: Counter[str] = Counter()
    scheduled = ok = 0
    window = 0.0
    for run in runs:
        for key in merged:
            merged[key].extend(run[key])
        errors.update(run["errors"])
        scheduled += run["scheduled"]
        ok += run["ok"]
        window += run["window_s"]

    def mean(key: str, name: str | None = None) -> float:
        items = [r[key][name] if name else r[key] for r in runs]
        items = [i for i in items if i is not None]
        return sum(items) / len(items) if items else 0.0

    summary: dict[str, Any] = {
        "offered_rps": runs[0]["rate"],
        "achieved_rps": ok / window if window > 0 else 0.0,
        "scheduled": scheduled,
        "ok": ok,
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "peak_connections": max(r["peak_connections"] for r in runs),
        "cpu_ms_per_request": {name: mean("cpu_ms_per_request", name) for name in runs[0]["cpu_ms_per_request"]},
        "cpu_cores": {name: mean("cpu_cores", name) for name in runs[0]["cpu_cores"]},
        "loadgen_cpu_ms_per_request": 1000.0 * sum(r["loadgen_cpu_s"] for r in runs) / max(1, scheduled),
        "other_busy_cores": mean("other_busy_cores"),
    }
    for key, values in merged.items():
        if values:
            summary[key] = {f"p{q:g}": _pct(values, q) for q in PERCENTILES}
            summary[key]["mean"] = 1000.0 * sum(values) / len(values)
            summary[key]["max"] = 1000.0 * max(values)
    return summary


def added(direct: dict[str, Any], gateway: dict[str, Any], metric: str) -> dict[str, float | None]:
    """Gateway minus direct, percentile by percentile (ms), and the ratio gateway/direct."""
    out: dict[str, float | None] = {}
    for name in [f"p{q:g}" for q in PERCENTILES] + ["mean"]:
        d, g = direct.get(metric, {}).get(name), gateway.get(metric, {}).get(name)
        out[name] = None if d is None or g is None else g - d
        out[f"{name}_ratio"] = None if not d or g is None else g / d
    return out


def measure_rates(
    services: Services, modes: list[str], rates: list[float], duration: float, warmup: float, reps: int
) -> dict[str, Any]:
    """Both paths at each rate, alternated (D G, G D, ...) so drift hits both alike."""
    results: dict[str, Any] = {}
    for mode in modes:
        results[mode] = []
        for rate in rates:
            runs: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
            for rep in range(reps):
                for path in ("direct", "gateway") if rep % 2 == 0 else ("gateway", "direct"):
                    runs[path].append(loadgen(services, path, mode, rate, duration / reps, warmup))
            row = {"rate": rate, "direct": summarize(runs["direct"]), "gateway": summarize(runs["gateway"])}
            row["added_ms"] = {
                metric: added(row["direct"], row["gateway"], metric)
                for metric in (("latency", "ttft", "service") if mode == "stream" else ("latency", "service"))
            }
            results[mode].append(row)
            lat = row["added_ms"]["ttft" if mode == "stream" else "latency"]
            print(
                f"  {mode:<9} {rate:>6g} req/s: +p50 {lat['p50']:.3f} ms  +p95 {lat['p95']:.3f} ms  "
                f"+p99 {lat['p99']:.3f} ms  errors {row['direct']['errors']}/{row['gateway']['errors']}",
                flush=True,
            )
    return results


def sustained(summary: dict[str, Any], mode: str, bound_ms: float) -> bool:
    """The definition of "sustained" (see README): no errors, >= 95 % of the offered rate, p99 under the bound."""
    metric = "ttft" if mode == "stream" else "latency"
    p99 = summary.get(metric, {}).get("p99")
    return (
        summary["errors"] == 0
        and summary["achieved_rps"] >= 0.95 * summary["offered_rps"]
        and p99 is not None
        and p99 <= bound_ms
    )


def ramp(
    services: Services, mode: str, rates: list[float], duration: float, warmup: float, bound_ms: float
) -> dict[str, Any]:
    """Raise the offered rate step by step for both paths; a path stops after two failed steps in a row."""
    steps: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
    failures = {"direct": 0, "gateway": 0}
    for rate in rates:
        active = [p for p in ("direct", "gateway") if failures[p] < 2]
        if not active:
            break
        for path in active:
            summary = summarize([loadgen(services, path, mode, rate, duration, warmup)])
            summary["sustained"] = sustained(summary, mode, bound_ms)
            failures[path] = 0 if summary["sustained"] else failures[path] + 1
            steps[path].append(summary)
        line = "  ".join(
            f"{p} {'ok ' if steps[p][-1]['sustained'] else 'NO '}"
            f"({steps[p][-1]['achieved_rps']:.0f}/s, p99 {steps[p][-1].get('ttft' if mode == 'stream' else 'latency', {}).get('p99') or 0:.1f} ms)"  # noqa: E501
            for p in active
        )
        print(f"  ramp {mode:<9} {rate:>6g} req/s: {line}", flush=True)
    best = {p: max((s["offered_rps"] for s in steps[p] if s["sustained"]), default=0.0) for p in steps}
    return {
        "definition": f"highest offered rate with errors = 0, achieved >= 95 % of offered and p99 "
        f"{'TTFT' if mode == 'stream' else 'latency'} <= {bound_ms:g} ms ({duration:g} s per step)",
        "max_sustained_rps": best,
        "ratio_gateway_to_direct": best["gateway"] / best["direct"] if best["direct"] else None,
        "ramp_capped": {p: bool(steps[p]) and steps[p][-1]["sustained"] for p in steps},
        "steps": steps,
    }


# --- profiling ------------------------------------------------------------------------------------


GROUPS = {
    "httpx": "upstream client (httpx/httpcore/h11/anyio)",
    "httpcore": "upstream client (httpx/httpcore/h11/anyio)",
    "h11": "upstream client (httpx/httpcore/h11/anyio)",
    "anyio": "upstream client (httpx/httpcore/h11/anyio)",
    "sniffio": "upstream client (httpx/httpcore/h11/anyio)",
    "httpx_sse": "upstream client (httpx/httpcore/h11/anyio)",
    "uvicorn": "server (uvicorn/httptools)",
    "litestar": "framework (litestar)",
    "sqlalchemy": "ledger/db (sqlalchemy/aiosqlite)",
    "aiosqlite": "ledger/db (sqlalchemy/aiosqlite)",
    "advanced_alchemy": "ledger/db (sqlalchemy/aiosqlite)",
    "gateway": "gateway code",
    "hub": "hub code",
    "msgspec": "msgspec",
    "prometheus_client": "backend monitor (prometheus parser)",
}


def _package(frame: str) -> str:
    """The top-level module of a py-spy frame ``function (path/to/file.py:line)``."""
    inner = frame.rsplit("(", 1)[-1]
    if inner.startswith("<"):
        return "stdlib"
    top = inner.split("/", 1)[0].split(".py", 1)[0]
    return "stdlib" if top in sys.stdlib_module_names else top


def _group(frames: list[str]) -> str:
    """Where a sample's time belongs: the innermost frame outside the standard library (stdlib is folded
    into its caller); the event loop's own time (``Runner.run`` on top) and pure stdlib threads apart."""
    if frames[-1].startswith("Runner.run "):
        return "event loop (uvloop, C: polling, socket I/O, callbacks)"
    for frame in reversed(frames):
        package = _package(frame)
        if package != "stdlib":
            return GROUPS.get(package, package)
    return "stdlib threads (thread pool / queue waits)"


def summarize_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """Self and inclusive shares from py-spy's collapsed stacks (percent of all samples, every thread)."""
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    incl_pkg: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        self_fn[frames[-1]] += count
        groups[_group(frames)] += count
        for name in {f.rsplit(":", 1)[0] + ")" if "(" in f else f for f in frames}:
            incl_fn[name] += count
        for package in {_package(f) for f in frames} - {"stdlib"}:
            incl_pkg[package] += count

    def share(counter: Counter[str], n: int) -> list[list[Any]]:
        return [[name, round(100.0 * c / total, 2)] for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "self_by_group": share(groups, 20),
        "inclusive_by_package": share(incl_pkg, 30),
        "self_by_function": share(self_fn, top),
        "inclusive_by_function": share(incl_fn, top * 2),
    }


def profile(services: Services, out: Path, modes: list[str], rate: float, duration: float) -> dict[str, Any]:
    """Sample the hub with py-spy while the load generator drives it through the gateway."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return {"skipped": "py-spy not found (uv pip install py-spy)"}
    results: dict[str, Any] = {}
    for mode in modes:
        raw = out / f"profile_{mode}_{rate:g}rps.txt"
        spy_proc = subprocess.Popen(
            [spy, "record", "--pid", str(services.pid("hub")), "--rate", "250", "--duration", str(int(duration)),
             "--format", "raw", "--output", str(raw), "--nonblocking", "--gil"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(0.5)
        run = summarize([loadgen(services, "gateway", mode, rate, duration, 1.0)])
        spy_proc.wait(timeout=60)
        summary = summarize_profile(raw) if raw.exists() else {"error": "py-spy wrote nothing"}
        summary["load"] = {"offered_rps": rate, "achieved_rps": run["achieved_rps"], "errors": run["errors"],
                           "hub_cpu_cores": run["cpu_cores"].get("hub")}  # fmt: skip
        summary["raw_file"] = raw.name
        results[mode] = summary
    return results


# --- reporting ------------------------------------------------------------------------------------


def print_table(report: dict[str, Any]) -> None:
    """The compact table: direct, gateway, added ms and ratio per percentile."""
    print()
    header = (
        f"{'mode':<16}{'req/s':>6} | {'p50 D/G ms':>13} {'+ms':>7} {'x':>5} | {'p95 D/G ms':>13} {'+ms':>7} "
        f"{'x':>5} | {'p99 D/G ms':>13} {'+ms':>7} {'x':>5} | {'achieved D/G':>13} | err D/G | hub ms CPU/req"
    )
    print(header)
    print("-" * len(header))
    for mode, metrics in (("nonstream", ("latency",)), ("stream", ("ttft", "latency"))):
        for row in report["rates"].get(mode, []):
            for metric in metrics:
                label = f"{mode}" if mode == "nonstream" else f"stream {'TTFT' if metric == 'ttft' else 'e2e'}"
                cells = []
                for q in ("p50", "p95", "p99"):
                    d, g = row["direct"][metric][q], row["gateway"][metric][q]
                    a = row["added_ms"][metric]
                    cells.append(f"{d:>6.2f}/{g:<6.2f} {a[q]:>+7.3f} {a[q + '_ratio']:>5.2f}")
                print(
                    f"{label:<16}{row['rate']:>6g} | " + " | ".join(cells)
                    + f" | {row['direct']['achieved_rps']:>6.1f}/{row['gateway']['achieved_rps']:<6.1f} | "
                    f"{row['direct']['errors']:>3}/{row['gateway']['errors']:<3} | "
                    f"{row['gateway']['cpu_ms_per_request'].get('hub', 0):.3f}"
                )  # fmt: skip
    for mode, result in report.get("max_sustained", {}).items():
        best = result["max_sustained_rps"]
        ratio = result["ratio_gateway_to_direct"]
        capped = [p for p, c in result["ramp_capped"].items() if c]
        print(
            f"max sustained {mode:<9}: direct {best['direct']:g} req/s, gateway {best['gateway']:g} req/s"
            + (f" (ratio {ratio:.2f})" if ratio else "")
            + (f"; ramp ended before {', '.join(capped)} failed (lower bound)" if capped else "")
        )
    for mode, result in report.get("max_sustained", {}).items():
        print(f"  {mode}: {result['definition']}")


def plot(report: dict[str, Any], path: Path) -> None:
    """Latency percentiles vs rate for both paths, the added latency, and the ramp."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("nonstream", "latency", "non-streaming end-to-end"), ("stream", "ttft", "stream TTFT"),
              ("stream", "latency", "stream end-to-end")]  # fmt: skip
    fig, axes = plt.subplots(2, 4, figsize=(21, 9))
    colors = {"p50": "tab:blue", "p95": "tab:orange", "p99": "tab:red"}
    for col, (mode, metric, title) in enumerate(panels):
        rows = report["rates"].get(mode, [])
        if not rows:
            axes[0][col].set_visible(False)
            axes[1][col].set_visible(False)
            continue
        rates = [r["rate"] for r in rows]
        ax, ax_add = axes[0][col], axes[1][col]
        for q, color in colors.items():
            ax.plot(rates, [r["direct"][metric][q] for r in rows], "--o", color=color, label=f"direct {q}")
            ax.plot(rates, [r["gateway"][metric][q] for r in rows], "-s", color=color, label=f"gateway {q}")
            ax_add.plot(rates, [r["added_ms"][metric][q] for r in rows], "-o", color=color, label=f"added {q}")
        ax.set_title(f"{title}: latency")
        ax.set_xlabel("offered req/s")
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        if metric == "latency" and mode == "nonstream":
            ax_add.axhline(1.0, color="tab:blue", lw=0.8, ls=":", label="target p50 1 ms")
            ax_add.axhline(5.0, color="tab:red", lw=0.8, ls=":", label="target p99 5 ms")
        ax_add.axhline(0.0, color="black", lw=0.5)
        ax_add.set_title(f"{title}: added by the gateway (gateway - direct)")
        ax_add.set_xlabel("offered req/s")
        ax_add.set_ylabel("ms")
        ax_add.grid(True, alpha=0.3)
        ax_add.legend(fontsize=7)
    for row_index, mode in enumerate(("nonstream", "stream")):
        ax = axes[row_index][3]
        result = report.get("max_sustained", {}).get(mode)
        if not result:
            ax.set_visible(False)
            continue
        metric = "ttft" if mode == "stream" else "latency"
        for which, color in (("direct", "tab:green"), ("gateway", "tab:purple")):
            steps = result["steps"][which]
            rates = [st["offered_rps"] for st in steps]
            ax.plot(rates, [st.get(metric, {}).get("p99") or float("nan") for st in steps], "-", color=color,
                    label=f"{which} p99 (max sustained {result['max_sustained_rps'][which]:g} req/s)")  # fmt: skip
            for st in steps:
                marker = "o" if st["sustained"] else "x"
                ax.plot([st["offered_rps"]], [st.get(metric, {}).get("p99") or float("nan")], marker, color=color)
        ax.axhline(report["settings"]["p99_bound_ms"], color="black", lw=0.8, ls=":", label="p99 bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"ramp, {mode}: p99 {'TTFT' if mode == 'stream' else 'latency'} (x = not sustained)")
        ax.set_xlabel("offered req/s")
        ax.set_ylabel("ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"KI-Verbund gateway overhead ({report['machine']['cpu_count']} CPUs, "
        f"{report['machine']['started_at'][:16]}); max sustained: "
        + ", ".join(
            f"{m} direct {r['max_sustained_rps']['direct']:g} / gateway {r['max_sustained_rps']['gateway']:g} req/s"
            for m, r in report.get("max_sustained", {}).items()
        )
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine_info(args: argparse.Namespace, hub_dir: Path) -> dict[str, Any]:
    from importlib.metadata import version

    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    return {
        "started_at": datetime.now(UTC).isoformat(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "loadavg_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {pkg: version(pkg) for pkg in ("litestar", "httpx", "httpcore", "uvicorn", "uvloop", "msgspec")},
        "hub_dir": str(hub_dir),
        "hub_python": args.hub_python,
        "argv": sys.argv[1:],
        "quick": args.quick,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s per rate and a short ramp (a smoke test)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--rates", default="50,100,200", help="offered req/s, comma separated")
    parser.add_argument("--modes", default="nonstream,stream")
    parser.add_argument("--duration", type=float, default=None, help="measured seconds per rate and path")
    parser.add_argument("--reps", type=int, default=2, help="alternations per rate (duration is split)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each run")
    parser.add_argument("--ramp-modes", default=None, help="modes to ramp (default: --modes; 'none' to skip)")
    parser.add_argument("--ramp-step", type=float, default=None, help="seconds per ramp step")
    parser.add_argument("--p99-bound-ms", type=float, default=50.0, help="p99 bound of the sustained definition")
    parser.add_argument("--profile", action="store_true", help="also profile the hub with py-spy under load")
    parser.add_argument("--profile-rate", type=float, default=150.0)
    parser.add_argument("--hub-dir", type=Path, default=REPO, help="run the hub from this source tree (a copy)")
    parser.add_argument("--hub-python", default=sys.executable, help="Python (virtual env) to run the hub with")
    parser.add_argument("--hub-env", action="append", default=[], help="KIVERBUND_X=value for the hub")
    parser.add_argument("--name", default="gateway_overhead", help="file name stem of the outputs")
    args = parser.parse_args()

    duration = args.duration or (3.0 if args.quick else 10.0)
    reps = 1 if args.quick and args.duration is None else args.reps
    ramp_step = args.ramp_step or (2.0 if args.quick else 3.0)
    modes = [m for m in args.modes.split(",") if m]
    ramp_modes = [m for m in (args.ramp_modes or args.modes).split(",") if m and m != "none"]
    rates = [float(r) for r in args.rates.split(",")]
    ramp_rates = [r for r in RAMP_RATES if not args.quick or r in (100, 200, 400, 800, 1600, 3200, 6000)]
    hub_env = dict(item.split("=", 1) for item in args.hub_env)
    args.out.mkdir(parents=True, exist_ok=True)
    hub_dir = args.hub_dir.resolve()

    report: dict[str, Any] = {"machine": machine_info(args, hub_dir)}
    report["settings"] = {
        "rates": rates, "modes": modes, "duration_s": duration, "reps": reps, "warmup_s": args.warmup,
        "ramp_modes": ramp_modes, "ramp_step_s": ramp_step, "ramp_rates": ramp_rates,
        "p99_bound_ms": args.p99_bound_ms, "upstream": {"tokens": TOKENS, "stream_pace_s": PACE_S},
        "nonstream_body": NONSTREAM_BODY, "stream_body": STREAM_BODY, "hub_env": hub_env,
        "latency": "from the scheduled send time (open loop); 'service' is from the actual send",
        "added": "gateway percentile minus direct percentile, same rate, same run",
    }  # fmt: skip
    print(f"starting upstream and hub (hub code from {hub_dir}) ...", flush=True)
    services = start_services(hub_dir, hub_env, args.hub_python)
    try:
        print(f"  upstream :{services.upstream_port}, hub :{services.hub_port}, work dir {services.workdir}")
        for mode in modes:  # warm both paths (connections, caches) before anything is measured
            for path in ("direct", "gateway"):
                loadgen(services, path, mode, 100.0, 1.0, 1.0)
        print(f"fixed rates {rates} req/s, {duration:g} s each per path ({reps} alternations):", flush=True)
        report["rates"] = measure_rates(services, modes, rates, duration, args.warmup, reps)
        report["max_sustained"] = {}
        for mode in ramp_modes:
            print(f"ramp ({mode}), {ramp_step:g} s per step:", flush=True)
            report["max_sustained"][mode] = ramp(services, mode, ramp_rates, ramp_step, args.warmup,
                                                 args.p99_bound_ms)  # fmt: skip
        if args.profile:
            print(f"profiling the hub at {args.profile_rate:g} req/s ...", flush=True)
            report["profile"] = profile(services, args.out, modes, args.profile_rate, 15.0 if not args.quick else 5.0)
        report["machine"]["loadavg_at_end"] = os.getloadavg()
    finally:
        services.stop()
    json_path = args.out / f"{args.name}.json"
    png_path = args.out / f"{args.name}.png"
    json_path.write_text(json.dumps(report, indent=1))
    plot(report, png_path)
    print_table(report)
    print(f"\nwrote {json_path} and {png_path}")


if __name__ == "__main__":
    main()
