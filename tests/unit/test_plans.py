"""Routing plans and IVR services (SPEC §10, issue 17): the configuration's four keys, the
scenario's `start:` and traffic by `dnis:`, loaded and checked as a whole; every refusal
names the file, the line and the key."""

from __future__ import annotations

import datetime as dt
import pickle
import re
import zoneinfo

import pytest

from cluster import api_limits
from cluster.cli import main as vcc
from cluster.config import parse_config
from cluster.yaml_reader import ConfigFileError
from loadtests.scenario import parse_scenario
from sites import plans as model
from sites.calendars import DEFAULT_START_EPOCH, Override
from sites.errors import InvalidInput
from sites.model import Priority
from sites.plans import (AllOf, AniIn, AniPrefix, AnyOf, Announce, Busy, Callback, CalendarOpen,
                         Collect, CustomerTier, Digits, Disconnect, Goto, Not, PlanError, Queue,
                         RouteTo, SelfService, SetPriority, SkillState, Voicemail, Wait,
                         parse_plan_config)

def local(zone: str, *fields) -> float:
    return dt.datetime(*fields, tzinfo=zoneinfo.ZoneInfo(zone)).timestamp()


# SPEC §10's example, verbatim.
SPEC_EXAMPLE = """\
calendars:
  office:
    timezone: Europe/Berlin
    weekly: {mon-fri: "08:00-18:00", sat: "09:00-13:00"}
    holidays: [2026-12-25, 2026-12-26, 2027-01-01]   # closed all day
    overrides: []          # dated open/closed windows; Admin can add one (an emergency close)
entry_points:              # dialled number (DNIS) -> service
  "8005550100": {service: care}
services:
  care:
    max_lines: 120         # IVR ports: a caller beyond them gets busy
    schedule:              # first matching calendar wins
      - {calendar: office, plan: care_open}
      - {otherwise: care_closed}
plans:
  care_open:
    - announce: {prompt: welcome, seconds: 6}
    - collect: {prompt: main_menu, max_digits: 1, timeout_s: 5, into: choice}
    - goto: sales
      if: {digits: {choice: "2"}}
    - queue: {skill: billing, priority: medium}
    - queue: {skill: billing_backup, priority: low}
      if: {ewt: {skill: billing, gt: 120}}
    - label: hold
      announce: {prompt: position_and_ewt, seconds: 8}
    - callback: {}
      if: {ewt: {gt: 300}}
    - wait: {seconds: 60, treatment: music}
    - goto: hold
    - label: sales
      queue: {skill: sales, priority: high}
    - wait: {seconds: 600, treatment: music}
  care_closed:
    - self_service: {prompt: closed_message, seconds: 20}
"""

CENTER = """\
duration_s: 3600
skills:
  billing: {}
  billing_backup: {}
  sales: {}
sites:
  east:
    agents:
      - {count: 4, skills: {billing: 1, billing_backup: 2, sales: 1}}
traffic:
  - {site: east, skill: billing, rate_per_hour: 60,
     handle_time: {dist: constant, mean_s: 60}}
"""


def test_the_spec_example_loads_in_a_scenario_and_a_configuration():
    for config in (parse_scenario(CENTER + SPEC_EXAMPLE, "s.yaml").plans,
                   parse_config(CENTER + SPEC_EXAMPLE, "c.yaml").plans):
        assert set(config.calendars) == {"office"}
        assert config.entry_points["8005550100"].service == "care"
        care = config.services["care"]
        assert care.max_lines == 120
        assert [(e.calendar, e.plan) for e in care.schedule] == [("office", "care_open"),
                                                                 (None, "care_closed")]
        plan = config.plans["care_open"]
        assert plan.labels == {"hold": 5, "sales": 9}
        steps = plan.steps
        assert steps[0].action == Announce("welcome", 6.0)
        assert steps[1].action == Collect("main_menu", 1, 5.0, "choice")
        assert steps[2].action == Goto("sales")
        assert steps[2].condition == Digits((("choice", ("2",)),))
        assert steps[3].action == Queue("billing", Priority.MEDIUM)
        assert steps[4].condition == SkillState("ewt", "billing", None, "gt", 120.0)
        assert steps[5].label == "hold"
        assert steps[6].action == Callback()
        assert steps[6].condition == SkillState("ewt", None, None, "gt", 300.0)
        assert steps[7].action == Wait(60.0, "music")
        assert steps[9].action == Queue("sales", Priority.HIGH)
        assert steps[9].where == "plans.care_open[9]"
        assert config.plans["care_closed"].steps[0].action == SelfService("closed_message", 20.0)


def test_the_schedule_chooses_the_plan_by_calendar():
    config = parse_scenario(CENTER + SPEC_EXAMPLE, "s.yaml").plans
    berlin = "Europe/Berlin"
    assert config.plan_for("8005550100", local(berlin, 2026, 12, 24, 10)).name == "care_open"
    assert config.plan_for("8005550100", local(berlin, 2026, 12, 24, 19)).name == "care_closed"
    assert config.plan_for("8005550100", local(berlin, 2026, 12, 25, 10)).name == "care_closed"
    assert config.plan_for("8005550100", local(berlin, 2026, 12, 28, 10)).name == "care_open"
    assert config.plan_for("999", local(berlin, 2026, 12, 28, 10)) is None
    # An emergency close is an override added to the calendar.
    office = config.calendars["office"]
    t = local(berlin, 2026, 12, 28, 10)
    closed = office.with_override(Override(t - 60, t + 3600, open=False, reason="storm"))
    assert config.services["care"].plan_at({"office": closed}, t) == "care_closed"


def test_a_file_without_plans_has_an_empty_plan_config():
    scenario = parse_scenario(CENTER, "s.yaml")
    assert not scenario.plans and scenario.plans.plans == {}
    assert scenario.start_epoch == DEFAULT_START_EPOCH


def test_the_plan_config_pickles_and_compares():
    config = parse_scenario(CENTER + SPEC_EXAMPLE, "s.yaml").plans
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config
    assert copy.calendars["office"].is_open(1798124400.0)     # 2026-12-24 16:00 Berlin


def test_every_step_and_condition_kind():
    document = {
        "calendars": {"office": {"timezone": "UTC", "weekly": {"mon-fri": "08:00-18:00"}}},
        "entry_points": {"100": {"service": "s"}, "+200": {"service": "s"}},
        "services": {"s": {"max_lines": 1, "schedule": [{"otherwise": "p"}]}},
        "plans": {"p": [
            {"announce": {"prompt": "hi", "seconds": 1}},
            {"collect": {"prompt": "acct", "max_digits": 8, "timeout_s": 10, "into": "account"}},
            {"queue": {"skill": "billing", "priority": "top", "service_objective_s": 15},
             "if": {"all": [{"calendar": "office"}, {"ani_prefix": ["+49", "0800"]},
                            {"not": {"ani_in": "vip_numbers"}},
                            {"any": [{"digits": {"account": ["1234", "99*#"]}},
                                     {"customer": {"tier": ["gold", "platinum"]}}]}]}},
            {"priority": "low", "if": {"staffed": {"skill": "billing", "lt": 1}}},
            {"priority": "high", "if": {"available": {"skill": "billing", "ge": 2}}},
            {"wait": {"seconds": 5}, "if": {"queued": {"skill": "billing", "priority": "high",
                                                       "le": 10}}},
            {"callback": None, "if": {"oldest_wait": {"skill": "billing", "eq": 0}}},
            {"route_to": {"dnis": "+200"}, "if": {"rolling_asa": {"skill": "billing",
                                                                  "gt": 60}}},
            {"route_to": {"site": "east"}, "if": {"ewt": {"priority": "medium", "gt": 5}}},
            {"route_to": {"number": "+4930123456"}, "if": {"calendar": "office"}},
            {"voicemail": {}, "label": "vm", "if": {"calendar": "office"}},
            {"disconnect": {"prompt": "bye"}, "if": {"calendar": "office"}},
            {"busy": None, "if": {"calendar": "office"}},
            "voicemail", "busy", "callback", "disconnect",
        ]}}
    config = parse_plan_config(document, {"billing"}, sites={"east"}, tiers={"gold", "platinum"})
    steps = config.plans["p"].steps
    condition = steps[2].condition
    assert condition == AllOf((CalendarOpen("office"), AniPrefix(("+49", "0800")),
                               Not(AniIn("vip_numbers")),
                               AnyOf((Digits((("account", ("1234", "99*#")),)),
                                      CustomerTier(("gold", "platinum"))))))
    assert steps[2].action == Queue("billing", Priority.TOP, 15.0)
    assert steps[3].action == SetPriority(Priority.LOW)
    assert steps[5].action == Wait(5.0, "music")
    assert steps[5].condition == SkillState("queued", "billing", Priority.HIGH, "le", 10.0)
    assert [s.action for s in steps[7:10]] == [RouteTo("dnis", "+200"), RouteTo("site", "east"),
                                              RouteTo("number", "+4930123456")]
    assert steps[10].action == Voicemail() and steps[10].label == "vm"
    assert steps[11].action == Disconnect("bye")
    assert [type(s.action) for s in steps[12:]] == [Busy, Voicemail, Busy, Callback, Disconnect]
    assert steps[16].action.prompt is None
    assert Announce.takes_time and not Queue.takes_time and Busy.ends and not Goto.ends


def test_comparisons_and_an_unknown_figure():
    assert SkillState("ewt", None, None, "gt", 120).holds(None)       # nobody staffed: infinite
    assert not SkillState("ewt", None, None, "le", 120).holds(None)
    cases = {"gt": (False, False, True), "ge": (False, True, True), "lt": (True, False, False),
             "le": (True, True, False), "eq": (False, True, False)}
    for comparison, expected in cases.items():
        state = SkillState("queued", "billing", None, comparison, 5)
        assert (state.holds(4), state.holds(5), state.holds(6)) == expected


def test_the_core_limits_match_the_api_limits():
    assert model.MAX_NAME == api_limits.MAX_NAME
    assert model.MAX_PHONE == api_limits.MAX_PHONE


def test_a_plan_error_keeps_its_path_across_pickling():
    error = PlanError(("plans", "p", 3, "queue", "skill"), "unknown skill")
    assert error.field == "plans.p[3].queue.skill"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.field, copy.problem) == (error.path, error.field, error.problem)
    assert isinstance(copy, InvalidInput)


# ---- refusals: file, line and key --------------------------------------------------------------
VALID = """\
calendars:
  office:
    timezone: Europe/Berlin
    weekly: {mon-fri: "08:00-18:00"}
entry_points:
  "8005550100": {service: care}
services:
  care:
    max_lines: 10
    schedule:
      - {calendar: office, plan: open}
      - {otherwise: closed}
plans:
  open:
    - collect: {prompt: menu, max_digits: 1, timeout_s: 5, into: choice}
    - goto: sales
      if: {digits: {choice: "2"}}
    - queue: {skill: billing, priority: medium}
    - label: hold
      wait: {seconds: 60, treatment: music}
    - goto: hold
    - label: sales
      queue: {skill: sales, priority: high}
  closed:
    - self_service: {prompt: closed, seconds: 20}
"""
MARK = "#<"


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# (name, the file from VALID, key, words): the expected line carries the comment `#<`.
BAD = [
    ("unknown skill in queue",
     lambda t: edit(t, "queue: {skill: billing, priority: medium}",
                    "queue: {skill: bill, priority: medium} #<"),
     "plans.open[2].queue.skill", "unknown skill 'bill'"),
    ("unknown skill in a condition",
     lambda t: edit(t, "- queue: {skill: billing, priority: medium}",
                    "- queue: {skill: billing, priority: medium}\n"
                    "      if: {ewt: {skill: nope, gt: 1}} #<"),
     "plans.open[2].if.ewt.skill", "unknown skill 'nope'"),
    ("unknown calendar in a schedule",
     lambda t: edit(t, "{calendar: office, plan: open}", "{calendar: ofice, plan: open} #<"),
     "services.care.schedule[0].calendar", "unknown calendar 'ofice'"),
    ("unknown calendar in a condition",
     lambda t: edit(t, "      if: {digits: {choice: \"2\"}}",
                    "      if: {calendar: nights} #<"),
     "plans.open[1].if.calendar", "unknown calendar 'nights'"),
    ("unknown plan in a schedule",
     lambda t: edit(t, "{otherwise: closed}", "{otherwise: shut} #<"),
     "services.care.schedule[1].otherwise", "unknown plan 'shut'"),
    ("unknown plan with a calendar",
     lambda t: edit(t, "{calendar: office, plan: open}", "{calendar: office, plan: opn} #<"),
     "services.care.schedule[0].plan", "unknown plan 'opn'"),
    ("unknown service", lambda t: edit(t, '"8005550100": {service: care}',
                                       '"8005550100": {service: cure} #<'),
     "entry_points.8005550100.service", "unknown service 'cure'"),
    ("goto a missing label", lambda t: edit(t, "    - goto: hold", "    - goto: hodl #<"),
     "plans.open[4].goto", "unknown label 'hodl'"),
    ("duplicate label", lambda t: edit(t, "    - label: sales", "    - label: hold #<"),
     "plans.open[5].label", "duplicate label 'hold'"),
    ("unknown prompt variable",
     lambda t: edit(t, 'if: {digits: {choice: "2"}}', 'if: {digits: {choise: "2"}} #<'),
     "plans.open[1].if.digits.choise", "unknown prompt variable 'choise'"),
    ("a variable collected in another plan only",
     lambda t: edit(t, "    - self_service: {prompt: closed, seconds: 20}",
                    "    - self_service: {prompt: closed, seconds: 20}\n"
                    "      if: {digits: {choice: \"1\"}} #<"),
     "plans.closed[0].if.digits.choice", "unknown prompt variable 'choice'"),
    ("digits longer than collected",
     lambda t: edit(t, 'if: {digits: {choice: "2"}}', 'if: {digits: {choice: "22"}} #<'),
     "plans.open[1].if.digits.choice", "can never be keyed"),
    ("unquoted digits", lambda t: edit(t, 'if: {digits: {choice: "2"}}',
                                       'if: {digits: {choice: 2}} #<'),
     "plans.open[1].if.digits.choice", 'quoted text, e.g. "2"'),
    ("bad time", lambda t: edit(t, '{mon-fri: "08:00-18:00"}', '{mon-fri: "08:00-18:60"} #<'),
     "calendars.office.weekly.mon-fri", "not a time of day"),
    ("window past midnight", lambda t: edit(t, '{mon-fri: "08:00-18:00"}',
                                            '{mon-fri: "22:00-06:00"} #<'),
     "calendars.office.weekly.mon-fri", "past midnight"),
    ("unknown day", lambda t: edit(t, '{mon-fri: "08:00-18:00"}', '{mon-fry: "08:00-18:00"} #<'),
     "calendars.office.weekly.mon-fry", "unknown days"),
    ("bad time zone", lambda t: edit(t, "timezone: Europe/Berlin", "timezone: Europe/Berlim #<"),
     "calendars.office.timezone", "unknown time zone 'Europe/Berlim'"),
    ("bad holiday", lambda t: edit(t, '    weekly: {mon-fri: "08:00-18:00"}',
                                   '    weekly: {mon-fri: "08:00-18:00"}\n'
                                   '    holidays: ["2026-13-01"] #<'),
     "calendars.office.holidays[0]", "not a date"),
    ("override ending before it starts",
     lambda t: edit(t, '    weekly: {mon-fri: "08:00-18:00"}',
                    '    weekly: {mon-fri: "08:00-18:00"}\n    overrides:\n'
                    '      - {start: 2026-12-24T12:00:00+01:00, end: 2026-12-24T11:00:00+01:00, '
                    'state: closed} #<'),
     "calendars.office.overrides[0].end", "after start"),
    ("unknown calendar key", lambda t: edit(t, "    timezone: Europe/Berlin",
                                            "    timezone: Europe/Berlin\n    tz: UTC #<"),
     "calendars.office.tz", "unknown key"),
    ("max_lines below 1", lambda t: edit(t, "max_lines: 10", "max_lines: 0 #<"),
     "services.care.max_lines", "integer >= 1"),
    ("max_lines not an integer", lambda t: edit(t, "max_lines: 10", "max_lines: 2.5 #<"),
     "services.care.max_lines", "integer"),
    ("service without otherwise", lambda t: edit(t, "      - {otherwise: closed}\n", "")
     .replace("    schedule:", "    schedule: #<"),
     "services.care.schedule", "otherwise"),
    ("entry after otherwise", lambda t: edit(t, "      - {otherwise: closed}",
                                             "      - {otherwise: closed}\n"
                                             "      - {calendar: office, plan: closed} #<"),
     "services.care.schedule[2]", "after otherwise"),
    ("service without max_lines", lambda t: edit(t, "    max_lines: 10\n", "")
     .replace("  care:\n    schedule", "  care: #<\n    schedule"),
     "services.care.max_lines", "missing"),
    ("condition with two keys",
     lambda t: edit(t, 'if: {digits: {choice: "2"}}',
                    'if: {digits: {choice: "2"}, calendar: office} #<'),
     "plans.open[1].if", "exactly one key"),
    ("comparison missing", lambda t: edit(t, "- queue: {skill: billing, priority: medium}",
                                          "- queue: {skill: billing, priority: medium}\n"
                                          "      if: {ewt: {skill: billing}} #<"),
     "plans.open[2].if.ewt", "exactly one comparison"),
    ("two comparisons", lambda t: edit(t, "- queue: {skill: billing, priority: medium}",
                                       "- queue: {skill: billing, priority: medium}\n"
                                       "      if: {queued: {skill: billing, gt: 1, lt: 5}} #<"),
     "plans.open[2].if.queued", "exactly one comparison"),
    ("a skill figure without a skill",
     lambda t: edit(t, "- queue: {skill: billing, priority: medium}",
                    "- queue: {skill: billing, priority: medium}\n"
                    "      if: {staffed: {gt: 1}} #<"),
     "plans.open[2].if.staffed.skill", "required"),
    ("unknown condition", lambda t: edit(t, 'if: {digits: {choice: "2"}}',
                                         'if: {weather: sunny} #<'),
     "plans.open[1].if.weather", "unknown condition"),
    ("unknown action", lambda t: edit(t, "    - goto: hold", "    - jump: hold #<"),
     "plans.open[4].jump", "unknown action"),
    ("two actions", lambda t: edit(t, "    - goto: hold", "    - {goto: hold, busy: {}} #<"),
     "plans.open[4]", "exactly one action"),
    ("a label alone", lambda t: edit(t, "    - goto: hold", "    - label: end #<"),
     "plans.open[4]", "put a label on the step"),
    ("bad priority", lambda t: edit(t, "{skill: billing, priority: medium}",
                                    "{skill: billing, priority: urgent} #<"),
     "plans.open[2].queue.priority", "must be one of top, high, medium, low"),
    ("bad treatment", lambda t: edit(t, "treatment: music}", "treatment: jazz} #<"),
     "plans.open[3].wait.treatment", "music, ringback, silence"),
    ("missing announce seconds", lambda t: edit(t, "    - goto: hold",
                                                "    - announce: {prompt: x} #<"),
     "plans.open[4].announce.seconds", "missing"),
    ("route to an unknown entry point",
     lambda t: edit(t, "    - goto: hold", '    - route_to: {dnis: "123"} #<'),
     "plans.open[4].route_to.dnis", "unknown entry point '123'"),
    ("route to an unknown site",
     lambda t: edit(t, "    - goto: hold", "    - route_to: {site: mars} #<"),
     "plans.open[4].route_to.site", "unknown site 'mars'"),
    ("a busy loop", lambda t: edit(t, "      wait: {seconds: 60, treatment: music}",
                                   "      wait: {seconds: 60, treatment: music}\n"
                                   "      if: {ewt: {gt: 100}}")
     .replace("    - goto: hold", "    - goto: hold #<"),
     "plans.open[4].goto", "loop back to 'hold'"),
    ("unquoted dnis", lambda t: edit(t, '"8005550100": {service: care}',
                                     '8005550100: {service: care} #<'),
     "entry_points.8005550100", "quoted text"),
    ("a name that is not text", lambda t: edit(t, "  closed:\n", "  3: #<\n"),
     "plans.3", "plan name must be non-empty text"),
    ("an empty plan", lambda t: edit(t, "  closed:\n    - self_service: {prompt: closed, "
                                        "seconds: 20}", "  closed: [] #<"),
     "plans.closed", "non-empty list"),
    ("calendars not a mapping",
     lambda t: edit(t, 'calendars:\n  office:\n    timezone: Europe/Berlin\n'
                       '    weekly: {mon-fri: "08:00-18:00"}\n', "calendars: [office] #<\n"),
     "calendars", "mapping"),
]


@pytest.mark.parametrize("make, key, words", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_plans_name_file_line_and_key(make, key, words):
    text = CENTER + make(VALID)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if MARK in row)
    for parse in (parse_scenario, parse_config):      # `vcc simulate` and `vcc serve --config`
        with pytest.raises(ConfigFileError) as raised:
            parse(text, "center.yaml")
        error = raised.value
        assert (error.path, error.line, error.key) == ("center.yaml", line, key), str(error)
        assert words in error.problem, str(error)
        assert str(error).startswith(f"center.yaml:{line}: {key}: ")


def test_the_valid_file_loads():
    assert parse_scenario(CENTER + VALID, "center.yaml").plans.plans["open"].labels == \
        {"hold": 3, "sales": 5}


def test_a_loop_with_a_wait_that_always_runs_is_fine():
    document = {"plans": {"p": [{"label": "top", "queue": {"skill": "b", "priority": "low"}},
                                {"announce": {"prompt": "x", "seconds": 1},
                                 "if": {"ewt": {"gt": 1}}},
                                {"wait": {"seconds": 1}},
                                {"goto": "top", "if": {"ewt": {"gt": 1}}}]}}
    assert parse_plan_config(document, {"b"}).plans["p"].labels == {"top": 0}
    document["plans"]["p"][2]["if"] = {"ewt": {"gt": 5}}
    with pytest.raises(PlanError, match="loop back to 'top'") as error:
        parse_plan_config(document, {"b"})
    assert error.value.path == ("plans", "p", 3, "goto")


def test_unknown_tier_when_tiers_are_known():
    document = {"plans": {"p": [{"busy": None, "if": {"customer": {"tier": "bronze"}}}]}}
    assert parse_plan_config(document, set())            # tiers unknown here: not checked
    with pytest.raises(PlanError, match="unknown tier 'bronze'"):
        parse_plan_config(document, set(), tiers={"gold"})


# ---- scenario: start, traffic by dnis, the caller model -----------------------------------------
DNIS_TRAFFIC = """\
  - {site: east, dnis: "8005550100", rate_per_hour: 60,
     handle_time: {dist: constant, mean_s: 60},
     caller: {digits: {choice: {"1": 0.7, "2": 0.3}}, accepts_callback: 0.5,
              self_service_completes: 0.3}}
"""


def with_dnis_traffic(text=DNIS_TRAFFIC, start=None) -> str:
    center = CENTER.replace("traffic:\n", "traffic:\n" + text)
    return (f"start: {start}\n" if start else "") + center + VALID


def test_start_and_traffic_by_dnis():
    scenario = parse_scenario(with_dnis_traffic(start="2026-12-24T16:00:00+01:00"), "s.yaml")
    assert scenario.start_epoch == 1798124400.0
    stream = scenario.traffic[0]
    assert (stream.dnis, stream.skill, stream.priority, stream.service_objective_s) == (
        "8005550100", None, None, None)
    assert stream.caller.digits == (("choice", (("1", 0.7), ("2", 0.3))),)
    assert (stream.caller.accepts_callback, stream.caller.self_service_completes) == (0.5, 0.3)
    assert scenario.traffic[1].skill == "billing" and scenario.traffic[1].dnis is None
    quoted = parse_scenario(with_dnis_traffic(start='"2026-12-24T15:00:00Z"'), "s.yaml")
    assert quoted.start_epoch == 1798124400.0
    plain = parse_scenario(with_dnis_traffic(
        '  - {site: east, dnis: "8005550100", rate_per_hour: 1, handle_time: {dist: constant, '
        'mean_s: 1}}\n'), "s.yaml")
    assert plain.traffic[0].caller == model_caller_defaults()


def model_caller_defaults():
    from loadtests.scenario import CallerModel
    return CallerModel((), 0.0, 1.0)


BAD_SCENARIO = [
    ("start without an offset", with_dnis_traffic(start="2026-12-24T16:00:00 #<"), "start",
     "UTC offset"),
    ("start not a time", with_dnis_traffic(start="soon #<"), "start", "ISO 8601"),
    ("unknown entry point", with_dnis_traffic(DNIS_TRAFFIC.replace(
        '"8005550100", rate_per_hour: 60,\n', '"8005550199", rate_per_hour: 60, #<\n')),
     "traffic[0].dnis", "unknown entry point '8005550199'"),
    ("dnis and skill", with_dnis_traffic(DNIS_TRAFFIC.replace(
        "rate_per_hour: 60,\n", "rate_per_hour: 60, skill: billing, #<\n", 1)),
     "traffic[0].skill", "leaves skill"),
    ("unquoted dnis", with_dnis_traffic(DNIS_TRAFFIC.replace(
        '"8005550100", rate_per_hour: 60,\n', '8005550100, rate_per_hour: 60, #<\n', 1)),
     "traffic[0].dnis", "quoted text"),
    ("caller without dnis", CENTER.replace(
        "     handle_time: {dist: constant, mean_s: 60}}",
        "     handle_time: {dist: constant, mean_s: 60},\n     caller: {}} #<") + VALID,
     "traffic[0].caller", "only with dnis"),
    ("no skill and no dnis", CENTER.replace("skill: billing, rate_per_hour: 60,",
                                            "rate_per_hour: 60, #<") + VALID,
     "traffic[0].skill", "or give dnis"),
    ("caller digits for a variable no plan collects", with_dnis_traffic(DNIS_TRAFFIC.replace(
        "caller: {digits: {choice:", "caller: {digits: {choose:").replace(
        "accepts_callback: 0.5,", "accepts_callback: 0.5, #<")),
     "traffic[0].caller.digits.choose", "collects into 'choose'"),
    ("caller shares above 1", with_dnis_traffic(DNIS_TRAFFIC.replace(
        '"2": 0.3', '"2": 0.4').replace(
        "accepts_callback: 0.5,", "accepts_callback: 0.5, #<")),
     "traffic[0].caller.digits.choice", "more than 1"),
    ("caller digit unquoted", with_dnis_traffic(DNIS_TRAFFIC.replace(
        '"1": 0.7', '1: 0.7').replace(
        "accepts_callback: 0.5,", "accepts_callback: 0.5, #<")),
     "traffic[0].caller.digits.choice.1", "quoted text"),
    ("caller share not a probability", with_dnis_traffic(DNIS_TRAFFIC.replace(
        "accepts_callback: 0.5,", "accepts_callback: 5, #<")),
     "traffic[0].caller.accepts_callback", "<= 1"),
]


@pytest.mark.parametrize("text, key, words", [row[1:] for row in BAD_SCENARIO],
                         ids=[row[0] for row in BAD_SCENARIO])
def test_bad_scenario_keys_name_file_line_and_key(text, key, words):
    line = next(n for n, row in enumerate(text.splitlines(), 1) if MARK in row)
    with pytest.raises(ConfigFileError) as raised:
        parse_scenario(text, "s.yaml")
    error = raised.value
    assert (error.line, error.key) == (line, key), str(error)
    assert words in error.problem, str(error)


def test_simulate_db_records_the_callers_of_a_routing_plan(tmp_path, capsys):
    """`vcc simulate --db` took `dnis:` traffic refused before; its records now say the
    service and number of every caller (tests/unit/test_plan_reports.py checks the figures).
    A trace of the same traffic is dialled contacts (tests/unit/test_trace.py)."""
    import sqlalchemy as sa

    from cluster.store import open_engine
    from cluster.store.models import ContactRecord

    path = tmp_path / "ivr.yaml"
    path.write_text(with_dnis_traffic(start="2026-12-07T10:00:00+01:00"))   # office open
    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert vcc(["simulate", str(path), "--db", url, "--no-progress", "--json"]) == 0, \
        capsys.readouterr().err
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(ContactRecord.__table__)).mappings().all()
    finally:
        engine.dispose()
    planned = [row for row in rows if row["service"] is not None]
    assert planned and all(row["service"] == "care" and row["dnis"] == "8005550100"
                           for row in planned)
    assert any(row["queue_time"] is not None for row in planned)
    plain = [row for row in rows if row["service"] is None]      # the skill: traffic row
    assert plain and all(row["queue_time"] is None and row["dnis"] is None for row in plain)
    assert vcc(["trace", "generate", str(path), "-o", str(tmp_path / "t.csv")]) == 0


def test_a_configuration_accepts_the_scenario_keys_and_keeps_the_plans():
    config = parse_config(with_dnis_traffic(start="2026-12-24T16:00:00+01:00"), "c.yaml")
    assert set(config.plans.plans) == {"open", "closed"}
