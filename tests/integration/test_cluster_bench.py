"""loadtests.cluster_bench's overload bench (issue 16 item 5) at a tiny scale: the code path
runs end to end against a real `vcc serve --runtime ray` process (started and stopped by the
bench), and its figures add up: every arrival is either refused at once or accepted, and
every accepted contact (the warm-up's too) ends in exactly one final state. Its latency
check is not asserted: a few seconds on a shared machine say nothing about a p99."""

import json

import pytest

from loadtests.cluster_bench import main
from tests.twin_pass import compiled_pass_only

pytestmark = pytest.mark.integration


def test_the_overload_bench_runs_and_loses_nothing(capsys):
    compiled_pass_only("a Ray runtime bench")
    code = main(["--only", "overload", "--capacity", "100", "--overload", "1.5",
                 "--overload-duration", "2", "--overload-warmup", "1",
                 "--overload-links", "2", "--stream-agents", "10", "--drain-timeout", "20",
                 "--json"])
    captured = capsys.readouterr()
    assert code in (0, 1), captured.err[-2000:]         # 2: the run could not be made
    rows = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    (row,) = [row for row in rows if row["measurement"] == "overload"]
    assert row["links"] == 2 and row["requested_rate"] == 150.0
    assert row["contacts"] == 2 * int(75 * 2)           # each link: its share for 2 s
    accepted = row["contacts"] - row["refused_overloaded"]
    assert row["routed"] >= accepted > 0
    assert row["unfinished"] == 0 and row["finished_more_than_once"] == 0
    assert row["warm_up_lost"] == 0 and row["queued"] == 0
    assert row["offered_per_s"] > 0 and row["accepted_per_s"] <= row["offered_per_s"]
    assert row["route_p99_ms"] is not None
    assert "overloaded (150/s requested" in captured.err
