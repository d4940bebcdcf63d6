"""`vcc simulate` runs routing plans (SPEC §10, issue 17 item 6): traffic by dialled number,
the caller model, the scenario's `start:` for calendars, and `by_service` in the report."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.cli import main as vcc
from loadtests.scenario import CallerDecisions, load_scenario, parse_scenario
from loadtests.simulator import Simulation
from loadtests.trace import TraceContact, arrivals_of
from sites.model import Channel, ContactState

EXAMPLE = Path(__file__).resolve().parents[2] / "loadtests" / "examples" / "ivr_center.yaml"
BY_SERVICE_KEYS = {"offered", "self_served", "to_agent", "answered", "abandoned_ivr",
                   "abandoned_queue", "busy", "callbacks", "max_lines_in_use"}


def without_timing(report):
    run = {key: value for key, value in report["run"].items()
           if key not in ("wall_s", "contacts_per_wall_s", "speedup")}
    return {**report, "run": run}


def run(text_or_scenario, seed=1):
    scenario = (parse_scenario(text_or_scenario, "s.yaml") if isinstance(text_or_scenario, str)
                else text_or_scenario)
    return Simulation(scenario, seed=seed).run()


def test_the_example_center_runs_its_plans_and_reports_by_service():
    result = run(load_scenario(str(EXAMPLE)))
    report = result.report
    services = report["by_service"]
    assert set(services) == {"care", "sales_line"}
    for row in services.values():
        assert set(row) == BY_SERVICE_KEYS
        assert row["answered"] <= row["to_agent"] <= row["offered"]
    care = services["care"]
    # The office closes at 18:00, half-way: closed-hours callers are served by the IVR.
    assert care["self_served"] > 0 and care["to_agent"] > 0 and care["callbacks"] > 0
    contacts = report["contacts"]
    assert contacts["lost"] == 0
    finals = [record.final_state for record in result.records]
    assert None not in finals
    assert contacts["self_served"] == finals.count(ContactState.SELF_SERVED) == sum(
        row["self_served"] for row in services.values())
    assert contacts["abandoned"] == sum(row["abandoned_ivr"] + row["abandoned_queue"]
                                        for row in services.values())
    # A contact that accepted a callback never abandons: it is answered at its turn.
    for record in result.records:
        if record.callback:
            assert record.final_state is ContactState.COMPLETED, record
    # Waits of plan contacts count from their first queue step, not from the IVR.
    for record in result.records:
        if record.answer_time is not None:
            assert record.queue_time is not None and record.answer_time >= record.queue_time


def test_the_same_seed_gives_the_same_report():
    scenario = load_scenario(str(EXAMPLE))
    first, second = run(scenario, seed=3).report, run(scenario, seed=3).report
    assert without_timing(first) == without_timing(second)
    assert without_timing(run(scenario, seed=4).report) != without_timing(first)


SMALL = """\
duration_s: 1800
seed: 1
start: {start}
skills:
  billing: {{queueing: dqp, sl_threshold_s: 20}}
  sales: {{queueing: dqp, sl_threshold_s: 20}}
sites:
  east:
    agents:
      - {{count: {agents}, skills: {{billing: 1, sales: 1}}}}
calendars:
  office: {{timezone: Europe/Berlin, weekly: {{mon-fri: "08:00-18:00"}}}}
entry_points:
  "100": {{service: care}}
services:
  care:
    max_lines: {lines}
    schedule: [{{calendar: office, plan: open}}, {{otherwise: closed}}]
plans:
  open:
    - collect: {{prompt: menu, max_digits: 1, timeout_s: 5, into: choice}}
    - queue: {{skill: sales, priority: high}}
      if: {{digits: {{choice: "2"}}}}
    - queue: {{skill: billing, priority: medium}}
      if: {{not: {{digits: {{choice: "2"}}}}}}
    - wait: {{seconds: 3600}}
  closed:
    - self_service: {{prompt: closed, seconds: 20}}
traffic:
  - {{site: east, dnis: "100", rate_per_hour: 600,
     handle_time: {{dist: exponential, mean_s: 120}},
     caller: {{digits: {{choice: {{"2": {share}}}}}}}}}
"""


def small(start="2026-12-07T10:00:00+01:00", agents=30, lines=100, share=0.25):
    return SMALL.format(start=start, agents=agents, lines=lines, share=share)


def test_callers_beyond_max_lines_hear_busy_and_the_peak_is_reported():
    report = run(small(agents=1, lines=3)).report
    care = report["by_service"]["care"]
    assert care["busy"] > 0 and report["contacts"]["busy"] == care["busy"]
    assert care["max_lines_in_use"] == 3


def test_the_scenario_start_decides_the_calendar():
    sunday = run(small(start="2026-12-06T10:00:00+01:00")).report["by_service"]["care"]
    assert sunday["to_agent"] == 0 and sunday["self_served"] == sunday["offered"] > 0
    monday = run(small()).report["by_service"]["care"]
    assert monday["self_served"] == 0 and monday["to_agent"] == monday["offered"] > 0


def test_the_caller_model_keys_the_menu():
    all_sales = run(small(share=1.0)).report
    assert set(all_sales["by_skill"]) == {"sales"}
    none_keyed = run(small(share=0.0)).report
    assert set(none_keyed["by_skill"]) == {"billing"}
    mixed = run(small(share=0.25)).report["by_skill"]
    assert 0.1 < mixed["sales"]["offered"] / (mixed["sales"]["offered"]
                                              + mixed["billing"]["offered"]) < 0.4


def test_vcc_simulate_prints_by_service_in_json(tmp_path, capsys):
    assert vcc(["simulate", str(EXAMPLE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["by_service"]["care"]) == BY_SERVICE_KEYS
    for state in ("self_served", "routed_out", "busy", "voicemail", "disconnected"):
        assert state in report["contacts"]


def test_a_profile_with_dialled_numbers_runs_their_plans(tmp_path, capsys):
    """A `profile` plays the scenario through its generated trace, whose dialled contacts
    carry their callers' decisions: the simulator runs their plans and follows them."""
    scenario = load_scenario(str(EXAMPLE))
    assert scenario.plans                               # the example has plans
    text = EXAMPLE.read_text() + "profile: {interval_s: 1800, weights: [1, 2]}\n"
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert vcc(["simulate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["contacts"]["lost"] == 0
    care = report["by_service"]["care"]
    assert set(care) == BY_SERVICE_KEYS
    # weights [1, 2] over the two half hours: about 150 + 300 care callers (Poisson)
    assert 330 <= care["offered"] <= 570, care
    assert care["self_served"] > 0 and care["to_agent"] > 0 and care["callbacks"] > 0
    profiled = load_scenario(str(path))
    simulation = Simulation(profiled)
    given = {arrival.contact_id: arrival.caller for arrival in simulation.arrivals}
    result = simulation.run()
    assert without_timing(result.report) == without_timing(report)      # one seed, one run
    assert len(given) == len(result.records)
    for record in result.records:
        decisions = given[record.contact_id]
        assert decisions is not None, record.contact_id
        # Only a caller decided to accept a callback takes one.
        assert not record.callback or decisions.accepts_callback, record


def _dialled(contact_id, arrival_s, caller=None):
    return TraceContact(arrival_s, contact_id, "+15555550100", "east", "8005550100", "", None,
                        None, Channel.VOICE, 120.0, None, {}, caller)


def test_a_traces_callers_are_followed_through_the_plan():
    """Dialled trace contacts in office hours (the run starts at 17:30): each caller's
    decisions, not the caller model, pick its way through `care_open`'s menu; a contact
    without decisions keys nothing (as `vcc loadtest` plays it) and goes to billing."""
    scenario = load_scenario(str(EXAMPLE))
    contacts = [
        _dialled("to-sales", 1.0, CallerDecisions((("choice", "2"),))),
        _dialled("to-billing", 2.0, CallerDecisions((("choice", "1"),))),
        _dialled("self-served", 3.0, CallerDecisions((("choice", "3"),),
                                                     completes_self_service=True)),
        _dialled("asks-an-agent", 4.0, CallerDecisions((("choice", "3"),),
                                                       completes_self_service=False)),
        _dialled("keys-nothing", 5.0),
    ]
    result = Simulation(scenario, arrivals=arrivals_of(scenario, contacts)).run()
    records = {record.contact_id: record for record in result.records}
    assert set(records) == {contact.contact_id for contact in contacts}
    assert records["to-sales"].skill == "sales"
    assert records["to-billing"].skill == "billing"
    assert records["keys-nothing"].skill == "billing"
    assert records["self-served"].final_state is ContactState.SELF_SERVED
    assert records["self-served"].queue_time is None
    assert records["asks-an-agent"].skill == "billing"
    for name in ("to-sales", "to-billing", "asks-an-agent", "keys-nothing"):
        assert records[name].final_state is ContactState.COMPLETED, records[name]
