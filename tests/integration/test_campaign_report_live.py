"""`vcc report --by campaign` after a live campaign (issue 19, item 8): the progressive
campaign of test_dialer_pbx.py runs on `vcc serve --runtime inprocess --db` against its fake
PBX (one live answer left unanswered for 3 s: abandoned); the server stops; the report's
counts equal what the fake PBX answered, call by call. The attempts table holds record
ids, never the numbers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys

from tests.integration.test_cli_serve import start, stop
from tests.integration.test_dialer_pbx import (BUSY, CONFIG, LIVE, MACHINE, NO_ANSWER, PATTERN,
                                               RECORDS, _run_campaign,
                                               one_slow_answer)
from vcc.v1 import common_pb2


def test_campaign_report_counts_what_the_pbx_answered(tmp_path):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    db_path = tmp_path / "vcc.db"
    url = f"sqlite:///{db_path}"
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db", url)
    slow, answer_delay = one_slow_answer()
    try:
        pbx, _ = asyncio.run(asyncio.wait_for(
            _run_campaign(port, "progressive", "renewals", answer_delay), 120))
    finally:
        assert stop(process) == 0       # a clean stop writes the attempts still pending
    answered = {outcome: 0 for outcome in (LIVE, MACHINE, NO_ANSWER, BUSY)}
    for dial in pbx.dials.values():
        answered[PATTERN[int(dial.phone_number[-4:]) % len(PATTERN)]] += 1
    finals = [states[0] for call, states in pbx.finished.items() if call in pbx.live]
    abandoned = finals.count(common_pb2.CONTACT_STATE_ABANDONED)
    connected = finals.count(common_pb2.CONTACT_STATE_COMPLETED)
    assert slow and abandoned == 1 and connected + abandoned == len(pbx.live) == answered[LIVE]

    result = subprocess.run([sys.executable, "-m", "cluster.cli", "report", "--db", url,
                             "--by", "campaign", "--interval", "15m", "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["by_campaign"]["renewals"]
    assert {key: total[key] for key in ("attempts", "live", "machine", "no_answer", "busy",
                                        "failed", "abandoned", "connected")} == {
        "attempts": len(pbx.dials), "live": answered[LIVE], "machine": answered[MACHINE],
        "no_answer": answered[NO_ANSWER], "busy": answered[BUSY], "failed": 0,
        "abandoned": abandoned, "connected": connected}
    assert total["abandon_pct"] == 100.0 * abandoned / answered[LIVE]
    assert (total["dialled_records"], total["list_size"], total["penetration_pct"]) == (
        RECORDS, RECORDS, 100.0)
    # Its agents (the config's, with the campaign's skill at its site) were logged in and
    # took its calls: their talk and wrap-up include those calls' (README, campaign reports).
    assert total["agent_logged_in_s"] > 0
    assert 0 < total["campaign_talk_wrap_min_per_h"] <= total["agent_utilization_min_per_h"]
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute("SELECT attempt_id, record_id FROM campaign_attempts").fetchall()
    assert {row[0] for row in rows} == set(pbx.dials)
    assert {row[1] for row in rows} == {f"r{index}" for index in range(RECORDS)}
