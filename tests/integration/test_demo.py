"""`vcc demo`, Quick start's first command, as a newcomer runs it (its own process)."""

import re
import subprocess
import sys


def test_demo_replays_the_sample_and_loses_nothing():
    # A high speed keeps the test short; the default replays the sample in about 30 s.
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "demo", "--speed", "3000",
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = done.stdout
    offered = re.search(r"contacts: offered (\d+)\s+answered (\d+)\s+abandoned (\d+)\s+"
                        r"interflowed (\d+)\s+lost (\d+)", out)
    assert offered, out[-3000:]
    total, answered, abandoned, _, lost = map(int, offered.groups())
    with open(__import__("loadtests.demo", fromlist=["SAMPLE_TRACE"]).SAMPLE_TRACE) as trace:
        assert total == sum(1 for _ in trace) - 1          # every contact of the sample
    # At x3000 the replay is a burst: the router may refuse new contacts at once as
    # overloaded (the PBX overflows them); each is then final as rejected, never lost.
    rejected = re.search(r"lost \d+\s+rejected (\d+)", out)
    rejected = int(rejected.group(1)) if rejected else 0
    assert lost == 0 and answered + abandoned + rejected == total
    assert "vcc demo: done; contacts lost: 0" in out
    # The router's own records made it to the store and into the report.
    assert re.search(r"total\s+billing\s+\d+", out), out[-3000:]
