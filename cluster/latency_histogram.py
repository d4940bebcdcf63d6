"""Latency histograms of the metrics (cluster/metrics.py), counted in plain buckets.

Why not OpenTelemetry's histogram instrument: `Histogram.record` took 6.5 µs a call here
(locks, attribute sets, a measurement object), and the route latency is recorded for every
contact on the gateway's one event loop: at 12,000 contacts/s that is ~8 % of the loop, and
`python -m loadtests.grpc_bench --only stream --rate 20000 --metrics` lost 9-21 % of its
lifecycles/s against the same run without metrics (issue 20 allows 5 %). Here a record is a
bisect and two additions (~0.2 µs); the buckets are exported at a scrape as one Prometheus
histogram family, into the same registry as the OpenTelemetry instruments, with the same
name, buckets and text as the OpenTelemetry exporter gave (and, like it, only once
something was recorded).
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client.metrics_core import HistogramMetricFamily


class LatencyHistogram:
    """Seconds in fixed buckets (upper bounds inclusive, as Prometheus's `le`), with their sum
    and count; `record(seconds)` is the hot path."""

    __slots__ = ("name", "description", "bounds", "counts", "sum")

    def __init__(self, name: str, description: str, bounds: tuple):
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: bucket bounds must increase: {bounds}")
        self.name = name
        self.description = description
        self.bounds = tuple(float(bound) for bound in bounds)
        self.counts = [0] * (len(bounds) + 1)       # the last one: above every bound (+Inf)
        self.sum = 0.0

    def record(self, seconds: float) -> None:
        # bisect_left: a value equal to a bound falls in that bound's bucket (le).
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def family(self) -> HistogramMetricFamily:
        """The histogram as Prometheus exposes it: cumulative buckets, +Inf last."""
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else _le(bound), cumulative))
        return HistogramMetricFamily(self.name, self.description, buckets=buckets,
                                     sum_value=self.sum, unit="seconds")


def _le(bound: float) -> str:
    """A bucket bound as Prometheus clients write it (0.005, 1.0, 10.0)."""
    return repr(float(bound))


class Histograms:
    """A prometheus_client collector of LatencyHistograms (register it in a registry)."""

    def __init__(self, histograms):
        self.histograms = tuple(histograms)

    def collect(self):
        # A histogram nothing was recorded in is left out, as the OpenTelemetry exporter
        # did: no journal histogram without a store, no Ray rounds on the in-process runtime.
        for histogram in self.histograms:
            if histogram.sum or any(histogram.counts):
                yield histogram.family()

    def describe(self):
        return []
