"""The metrics' latency histograms (cluster/latency_histogram.py) export what Prometheus
expects: cumulative buckets with inclusive upper bounds, +Inf, count and sum."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cluster.latency_histogram import Histograms, LatencyHistogram


def samples(histogram):
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Histograms([histogram]))
    text = generate_latest(registry).decode()
    (family,) = text_string_to_metric_families(text)
    assert family.name == "vcc_x_seconds" and family.type == "histogram"
    return {(s.name, s.labels.get("le")): s.value for s in family.samples}


def test_buckets_are_cumulative_with_inclusive_bounds_and_inf():
    histogram = LatencyHistogram("vcc_x_seconds", "x", (0.001, 0.01, 0.1))
    for seconds in (0.0005, 0.001, 0.002, 0.01, 0.5, 20.0):
        histogram.record(seconds)
    got = samples(histogram)
    assert got[("vcc_x_seconds_bucket", "0.001")] == 2       # 0.0005 and 0.001 (le)
    assert got[("vcc_x_seconds_bucket", "0.01")] == 4
    assert got[("vcc_x_seconds_bucket", "0.1")] == 4
    assert got[("vcc_x_seconds_bucket", "+Inf")] == 6
    assert got[("vcc_x_seconds_count", None)] == 6 == histogram.count
    assert got[("vcc_x_seconds_sum", None)] == pytest.approx(20.5135)


def test_bounds_must_increase():
    with pytest.raises(ValueError, match="must increase"):
        LatencyHistogram("vcc_x_seconds", "x", (0.1, 0.01))


def test_a_histogram_without_records_is_not_exported():
    registry = CollectorRegistry(auto_describe=False)
    histogram = LatencyHistogram("vcc_x_seconds", "x", (0.001,))
    registry.register(Histograms([histogram]))
    assert b"vcc_x_seconds" not in generate_latest(registry)
    histogram.record(0.0)
    assert b'vcc_x_seconds_bucket{le="0.001"} 1.0' in generate_latest(registry)
