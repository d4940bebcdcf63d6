"""`vcc serve --calendar-start`: the router's calendars read the given time at its start (a
replay of a recorded day; `vcc demo` gives its scenario's `start`), on both hosts' shared
construction (CoreHost; RayHost builds on it)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from cluster.cli import build_parser
from cluster.config import parse_config
from cluster.host import CoreHost
from sites import events as ev
from sites.actions import IvrTreatment
from sites.calendars import parse_start

CENTER = """\
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
calendars:
  office: {timezone: Europe/Berlin, weekly: {mon-fri: "08:00-18:00"}}
entry_points:
  "100": {service: care}
services:
  care:
    max_lines: 10
    schedule: [{calendar: office, plan: open}, {otherwise: closed}]
plans:
  open:
    - announce: {prompt: welcome, seconds: 5}
    - queue: {skill: billing, priority: medium}
  closed:
    - self_service: {prompt: closed_message, seconds: 5}
"""


def first_prompt(start_iso: str) -> str:
    config = dataclasses.replace(parse_config(CENTER, "center.yaml"),
                                 calendar_start=parse_start(start_iso))

    async def go():
        host = CoreHost(config, clock=lambda: 100.0, start_time=7.0)
        assert host.wall_clock.epoch(7.0) == config.calendar_start
        results = await host.submit("east", [ev.ContactArrived(7.0, "c1", None, dnis="100")])
        (treatment,) = [routed.action for result in results for routed in result.actions
                        if type(routed.action) is IvrTreatment]
        await host.submit(None, [ev.ContactAbandoned(7.0, "c1")])
        return treatment.prompt
    return asyncio.run(asyncio.wait_for(go(), 30))


def test_the_calendars_read_the_given_start_whatever_the_time_here():
    assert first_prompt("2026-12-04T10:00:00+01:00") == "welcome"          # a Friday morning
    assert first_prompt("2026-12-06T10:00:00+01:00") == "closed_message"   # a Sunday


@pytest.mark.parametrize("value, problem", [
    ("tomorrow", "not an ISO 8601 date and time"),
    ("2026-12-04T10:00:00", "give the UTC offset")])
def test_a_bad_calendar_start_is_refused_naming_the_flag(value, problem, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", "--calendar-start", value])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "--calendar-start" in error and problem in error, error
