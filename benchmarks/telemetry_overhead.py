"""What tracing costs the gateway: two hubs in one run, tracing off (the default) and on (spans
exported over OTLP/HTTP to a local receiver), each in front of its own fake vLLM, driven alternately
at the same rates with the same load generator as :mod:`benchmarks.gateway_overhead`.

Prints, per mode and rate, the hub's CPU per request and the latency the gateway adds over calling its
upstream directly, for both hubs, and the ratios tracing-on / tracing-off (measured in the same run).

Run: ``python -m benchmarks.telemetry_overhead [--rates 50,100] [--duration 10]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.gateway_overhead import REPO, Services, added, loadgen, start_services, summarize
from tests.support.otlp import OtlpReceiver


def _row(services: Services, mode: str, rate: float, duration: float, warmup: float) -> dict[str, Any]:
    runs = {path: [loadgen(services, path, mode, rate, duration, warmup)] for path in ("direct", "gateway")}
    direct, gateway = summarize(runs["direct"]), summarize(runs["gateway"])
    metric = "ttft" if mode == "stream" else "latency"
    return {
        "hub_cpu_ms_per_request": gateway["cpu_ms_per_request"]["hub"],
        "added_ms": added(direct, gateway, metric),
        "errors": gateway["errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="50,100")
    parser.add_argument("--modes", default="nonstream,stream")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per rate, path and hub")
    parser.add_argument("--reps", type=int, default=2, help="alternations (off, on, on, off, ...)")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    modes = [m for m in args.modes.split(",") if m]

    receiver = OtlpReceiver().start()
    hubs = {
        "off": start_services(REPO, {}),
        "on": start_services(
            REPO,
            {
                "KIVERBUND_OTEL_ENABLED": "true",
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "500",
            },
        ),
    }
    report: dict[str, Any] = {"settings": vars(args) | {"out": str(args.out)}, "rows": []}
    try:
        for services in hubs.values():
            for mode in modes:
                for path in ("direct", "gateway"):
                    loadgen(services, path, mode, 100.0, 1.0, 1.0)
        for mode in modes:
            for rate in rates:
                samples: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
                for rep in range(args.reps):
                    for name in ("off", "on") if rep % 2 == 0 else ("on", "off"):
                        samples[name].append(_row(hubs[name], mode, rate, args.duration / args.reps, args.warmup))
                row: dict[str, Any] = {"mode": mode, "rate": rate}
                for name, rows in samples.items():
                    row[name] = {
                        "hub_cpu_ms_per_request": sum(r["hub_cpu_ms_per_request"] for r in rows) / len(rows),
                        "added_p50_ms": sum(r["added_ms"]["p50"] for r in rows) / len(rows),
                        "added_p99_ms": sum(r["added_ms"]["p99"] for r in rows) / len(rows),
                        "errors": sum(r["errors"] for r in rows),
                    }
                row["cpu_ratio_on_off"] = row["on"]["hub_cpu_ms_per_request"] / row["off"]["hub_cpu_ms_per_request"]
                report["rows"].append(row)
                print(
                    f"{mode:<9} {rate:>5g} req/s  hub CPU/request off {row['off']['hub_cpu_ms_per_request']:.3f} ms"
                    f"  on {row['on']['hub_cpu_ms_per_request']:.3f} ms  (ratio {row['cpu_ratio_on_off']:.3f})"
                    f"  added p50 off {row['off']['added_p50_ms']:.3f} / on {row['on']['added_p50_ms']:.3f} ms"
                    f"  added p99 off {row['off']['added_p99_ms']:.3f} / on {row['on']['added_p99_ms']:.3f} ms"
                    f"  errors {row['off']['errors']}/{row['on']['errors']}",
                    flush=True,
                )
    finally:
        for services in hubs.values():
            services.stop()
        receiver.stop()
    report["spans_received"] = len(receiver.spans)
    print(f"spans received by the OTLP receiver: {len(receiver.spans)}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "telemetry_overhead.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
