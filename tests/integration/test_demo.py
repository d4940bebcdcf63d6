"""`vcc demo`, Quick start's first command, as a newcomer runs it (its own process)."""

import re
import subprocess
import sys

from tests.twin_pass import compiled_pass_only, compiled_pass_test

# `interflowed` is not among them: an interflowed contact ends answered or abandoned.
FINALS = ("answered", "abandoned", "rejected", "self_served", "routed_out", "busy",
          "voicemail", "disconnected")


def demo(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cluster.cli", "demo", "--no-progress", *args],
                          capture_output=True, text=True, timeout=timeout)


def contact_figures(out: str) -> dict:
    """The `contacts: offered N  answered N ...` lines of the service report."""
    block = re.search(r"contacts:(.*?)by site", out, re.S)
    assert block, out[-3000:]
    return {name: int(value) for name, value in re.findall(r"(\w+) (\d+)", block.group(1))}


@compiled_pass_test("the whole demo is its subject; the scheduler's twin is tested on its own")
def test_the_default_demo_plays_a_dialled_center_by_its_numbers_and_loses_nothing():
    from loadtests.demo import dialled_center

    done = demo("--seconds", "15")
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = done.stdout
    figures = contact_figures(out)
    expected = dialled_center(15.0, None).trace
    assert all(contact.dnis and contact.dialled for contact in expected)
    assert figures["offered"] == len(expected) > 0
    assert figures["lost"] == 0
    # Every contact in exactly one final state, plan ones (self-served...) included.
    assert sum(figures.get(name, 0) for name in FINALS) == figures["offered"], figures
    # The router's own records, by service: both numbers' services, with their plan columns.
    assert re.search(r"total\s+care\s+\d+", out), out[-3000:]
    assert "self-served" in out and "callbacks" in out
    # The calendars read the scenario's morning (an office open), whatever the time here.
    assert "calendars at 2026-12-04T09:00:00+00:00" in " ".join(done.stderr.split())
    # The live wallboard's address, printed while it runs.
    assert re.search(r"wallboard at http://127\.0\.0\.1:\d+/ \(kiosk view", done.stderr), \
        done.stderr[-2000:]
    assert "vcc demo: done; contacts lost: 0" in out


def test_demo_day_replays_the_sample_and_loses_nothing():
    compiled_pass_only("a replay of the sample day tests the load client and the demo, "
                       "not the scheduler")
    # A high speed keeps the test short; the default replays the sample in about 30 s.
    done = demo("--day", "--speed", "3000")
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = done.stdout
    figures = contact_figures(out)
    with open(__import__("loadtests.demo", fromlist=["SAMPLE_TRACE"]).SAMPLE_TRACE) as trace:
        assert figures["offered"] == sum(1 for _ in trace) - 1     # every contact of the sample
    # At x3000 the replay is a burst: the router may refuse new contacts at once as
    # overloaded (the PBX overflows them); each is then final as rejected, never lost.
    assert figures["lost"] == 0
    assert sum(figures.get(name, 0) for name in FINALS) == figures["offered"], figures
    assert "vcc demo: done; contacts lost: 0" in out
    # The router's own records made it to the store and into the report.
    assert re.search(r"total\s+billing\s+\d+", out), out[-3000:]


def test_demo_refuses_a_speed_for_the_real_time_center():
    done = demo("--speed", "10", timeout=60)
    assert done.returncode == 2 and "--speed: only with --day" in done.stderr, done.stderr
