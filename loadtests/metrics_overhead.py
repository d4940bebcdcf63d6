"""What the Prometheus metrics cost the PBX stream (issue 20: at most 5 %):
`python -m loadtests.metrics_overhead [--pairs 5] [--rate 8000] [-- GRPC_BENCH_FLAGS]`.

Throughput at saturation swings by a third between runs on a shared 2-core machine, so the
cost is measured as the server's CPU time per lifecycle at a fixed rate below saturation
(what bounds the throughput of a CPU-bound gateway): `loadtests.grpc_bench --only stream`
at `--rate` for 10 s, alternately without metrics (`--via-cli`: the same `vcc serve`) and
with them (`--metrics`: scraped every second), `--pairs` times; the medians of both and
their difference are printed. Flags after `--` go to every grpc_bench run (e.g.
`--server-cwd DIR` to measure another tree).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

MODES = ("--via-cli", "--metrics")


def run_once(mode: str, rate: float, extra: list) -> dict:
    """One grpc_bench stream run: its call_control_stream measurement."""
    out = subprocess.run([sys.executable, "-m", "loadtests.grpc_bench", "--only", "stream",
                          "--rate", str(rate), "--duration", "10", "--json", mode, *extra],
                         capture_output=True, text=True, timeout=600).stdout
    for line in out.splitlines():
        try:
            figures = json.loads(line)
        except ValueError:
            continue
        if figures.get("measurement") == "call_control_stream":
            return figures
    raise SystemExit(f"grpc_bench {mode} printed no stream measurement")


def cpu_us_per_lifecycle(figures: dict) -> float:
    cpu_s = figures["server_cpu_pct"] / 100 * figures["duration_s"]
    return cpu_s / max(figures["completed"], 1) * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, choices=range(1, 51), metavar="N")
    parser.add_argument("--rate", type=float, default=8000.0)
    parser.add_argument("extra", nargs="*", help="grpc_bench flags (after --)")
    args = parser.parse_args(argv)
    costs = {mode: [] for mode in MODES}
    for pair in range(1, args.pairs + 1):
        for mode in MODES:
            figures = run_once(mode, args.rate, args.extra)
            us = cpu_us_per_lifecycle(figures)
            costs[mode].append(us)
            print(f"pair {pair} {mode:10} server cpu {us:6.1f} us/lifecycle, "
                  f"{figures['lifecycles_per_s']:,.0f} lifecycles/s, "
                  f"p99 {figures['route_p99_ms']:.2f} ms", flush=True)
    without, with_metrics = (statistics.median(costs[mode]) for mode in MODES)
    pairs = [b - a for a, b in zip(costs[MODES[0]], costs[MODES[1]])]
    cost_pct = 100 * (with_metrics - without) / without
    print(f"median server cpu per lifecycle: without metrics {without:.1f} us, with "
          f"{with_metrics:.1f} us: {cost_pct:+.1f} %; mean paired difference "
          f"{statistics.mean(pairs):+.1f} us ({100 * statistics.mean(pairs) / without:+.1f} %)")
    verdict = "PASS" if cost_pct <= 5.0 else "FAIL"
    print(f"check: metrics cost {cost_pct:+.1f} % <= 5 %: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
