"""What `vcc staff` shows: the plan as one JSON-able dict (SPEC §11 `--json`), and from it
the terminal table and the CSV."""

from __future__ import annotations

import csv

from loadtests.staffing import scheduled

# The JSON's per-interval keys, in the CSV's column order.
PLAN_KEYS = ("interval_start", "volume", "aht_s", "agents", "scheduled", "sl_pct", "sl2_pct",
             "abandon_pct", "asa_s", "occupancy_pct")
SIMULATED_KEYS = ("offered", "answered", "abandoned", "sl_pct", "sl2_pct", "asa_s",
                  "occupancy_pct", "margin", "met")


def plan_report(forecast, plans, target, max_occupancy: float, shrinkage: float,
                patience_s: float | None, verify=None, iteration=None) -> dict:
    """`plans`: staffing.IntervalPlan per interval; `verify`: staff_verify.Outcome per
    interval (--verify); `iteration`: staff_verify.Iteration (--iterate)."""
    intervals = []
    for number, item in enumerate(plans):
        figures = item.prediction
        row = {"interval_start": item.interval.start, "volume": item.interval.volume,
               "aht_s": item.interval.aht_s, "agents": item.agents, "scheduled": item.scheduled,
               "sl_pct": _round(figures.sl_pct), "sl2_pct": _round(figures.sl2_pct),
               "abandon_pct": _round(figures.abandon_pct), "asa_s": _round(figures.asa_s),
               "occupancy_pct": _round(figures.occupancy_pct)}
        if verify is not None:
            row["simulated"] = _simulated(verify[number])
        if iteration is not None:
            agents = iteration.agents[number]
            row["iterated"] = {"agents": agents, "scheduled": scheduled(agents, shrinkage),
                               "simulated": _simulated(iteration.outcomes[number])}
        intervals.append(row)
    hours = forecast.interval_s / 3600.0
    agent_intervals = sum(item.agents for item in plans)
    report = {
        "forecast": forecast.path,
        "model": "erlang_a" if patience_s else "erlang_c",
        "target": ({"asa_s": target.asa_s, "sl_threshold_s": target.threshold_s}
                   if target.asa_s is not None else
                   {"sl_pct": target.sl_pct, "sl_threshold_s": target.threshold_s}),
        "target_text": target.text(),
        "max_occupancy": max_occupancy, "shrinkage": shrinkage, "patience_s": patience_s,
        "interval_min": round(forecast.interval_s / 60),
        "intervals": intervals,
        "totals": {"volume": round(sum(item.interval.volume for item in plans), 3),
                   "agent_intervals": agent_intervals,
                   "agent_hours": round(agent_intervals * hours, 2),
                   "scheduled_hours": round(sum(item.scheduled for item in plans) * hours, 2)},
    }
    if verify is not None:
        report["verify"] = {"intervals_met": sum(outcome.met for outcome in verify),
                            "intervals": len(verify)}
    if iteration is not None:
        total = sum(iteration.agents)
        report["iterate"] = {
            "rounds": iteration.rounds, "met": iteration.met,
            "intervals_met": sum(outcome.met for outcome in iteration.outcomes),
            "intervals_raised": sum(after > before for before, after in
                                    zip((item.agents for item in plans), iteration.agents)),
            "agent_intervals": total, "extra_agent_intervals": total - agent_intervals,
            "extra_pct": round(100.0 * (total - agent_intervals) / agent_intervals, 2)
            if agent_intervals else 0.0,
            "extra_agent_hours": round((total - agent_intervals) * hours, 2)}
    return report


def _simulated(outcome) -> dict:
    return {key: getattr(outcome, key) for key in SIMULATED_KEYS}


def _round(value):
    return None if value is None else round(value, 2)


def held(report: dict) -> tuple:
    """(key, heading) of the figure the target is held to."""
    if "asa_s" in report["target"]:
        return "asa_s", "ASA s"
    return ("sl2_pct", "SL2 %") if report["model"] == "erlang_a" else ("sl_pct", "SL %")


def render(report: dict, console) -> None:
    from rich import box
    from rich.table import Table

    key, heading = held(report)
    erlang_a = report["model"] == "erlang_a"
    patience = f", patience {report['patience_s']:g} s" if erlang_a else ""
    title = (f"{'Erlang A' if erlang_a else 'Erlang C'}, {report['target_text']}, max occupancy "
             f"{100 * report['max_occupancy']:g} %, shrinkage {100 * report['shrinkage']:g} %"
             f"{patience}, {report['interval_min']}-minute intervals")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=0, show_edge=False)
    columns = ["interval", "calls", "AHT\ns", "agents", "sched", "SL\n%"]
    fields = ["interval_start", "volume", "aht_s", "agents", "scheduled", "sl_pct"]
    if erlang_a:
        columns += ["SL2\n%", "aban-\ndon %"]
        fields += ["sl2_pct", "abandon_pct"]
    columns += ["ASA\ns", "occ\n%"]
    fields += ["asa_s", "occupancy_pct"]
    verified = "verify" in report
    iterated = "iterate" in report
    if verified:
        columns += [f"simu-\nlated\n{heading}", "±", "met"]
    if iterated:
        columns += ["iter-\nated\nagents", f"iter-\nated\n{heading}"]
    for number, column in enumerate(columns):
        table.add_column(column, justify="left" if number == 0 else "right", no_wrap=number == 0)
    for row in report["intervals"]:
        cells = [_cell(row[field], 1 if field.endswith(("_pct", "asa_s")) else None)
                 for field in fields]
        if verified:
            simulated = row["simulated"]
            cells += [_cell(simulated[key], 1), _cell(simulated["margin"], 1),
                      "yes" if simulated["met"] else "[red]no[/red]"]
        if iterated:
            again = row["iterated"]
            raised = again["agents"] - row["agents"]
            cells += [f"{again['agents']}{f' +{raised}' if raised else ''}",
                      _cell(again["simulated"][key], 1)]
        table.add_row(*cells)
    console.print(title)
    console.print(table)
    totals = report["totals"]
    console.print(f"{totals['agent_intervals']:,} agent-intervals ({totals['agent_hours']:,g} "
                  f"agent-hours on the phones, {totals['scheduled_hours']:,g} scheduled) for "
                  f"{totals['volume']:,g} calls")
    if verified:
        check = report["verify"]
        runs = (f", {check['replications']} days, {check['contacts']:,} calls"
                if "replications" in check else "")
        console.print(f"simulated (time-varying arrivals and staffing{runs}): "
                      f"{check['intervals_met']} of {check['intervals']} intervals meet "
                      f"{report['target_text']}")
    if iterated:
        again = report["iterate"]
        outcome = "every interval meets the target" if again["met"] else \
            f"{again['intervals_met']} of {len(report['intervals'])} intervals meet the target"
        console.print(f"iterated staffing: {outcome} after {again['rounds']} simulation "
                      f"round(s) with {again['agent_intervals']:,} agent-intervals: "
                      f"+{again['extra_agent_intervals']:,} ({again['extra_pct']:g} %, "
                      f"+{again['extra_agent_hours']:g} agent-hours) over plain "
                      f"{'Erlang A' if erlang_a else 'Erlang C'}, in "
                      f"{again['intervals_raised']} interval(s)")


def _cell(value, digits=None) -> str:
    if value is None:
        return "-"
    if digits is not None and isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_csv(report: dict, path: str) -> None:
    """One row per interval: the plan's columns, then simulated_* (--verify) and
    iterated_* (--iterate)."""
    header = list(PLAN_KEYS)
    first = report["intervals"][0]
    if "simulated" in first:
        header += [f"simulated_{key}" for key in SIMULATED_KEYS]
    if "iterated" in first:
        header += ["iterated_agents", "iterated_scheduled"]
        header += [f"iterated_simulated_{key}" for key in SIMULATED_KEYS]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in report["intervals"]:
            values = [row[key] for key in PLAN_KEYS]
            if "simulated" in row:
                values += [row["simulated"][key] for key in SIMULATED_KEYS]
            if "iterated" in row:
                again = row["iterated"]
                values += [again["agents"], again["scheduled"]]
                values += [again["simulated"][key] for key in SIMULATED_KEYS]
            writer.writerow(["" if value is None else value for value in values])
