"""The service report of a simulated or replayed run (SPEC §5 `--json` shape, SPEC §2 terms).

Waits are measured from the contact's first arrival in the virtual center, so an
interflowed contact's wait includes its time at the entry site.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from sites.model import ContactState


@dataclass
class ContactRecord:
    contact_id: str
    stream: object            # loadtests.scenario.TrafficStream
    site: str                 # where it is now (entry site until interflowed)
    arrival_time: float
    answer_time: float | None = None
    end_time: float | None = None
    final_state: ContactState | None = None
    served_site: str | None = None
    agent_id: str | None = None
    talk_s: float | None = None
    interflows: int = 0
    # A contact that dialled a number (SPEC §10): where its plan queued it first, and when
    # (its wait for an agent counts from then); whether it took a callback; whether it hung
    # up in the IVR, before any queue.
    queue_time: float | None = None
    skill: str | None = None
    priority: object = None
    service_objective_s: float | None = None
    callback: bool = False
    abandoned_in_ivr: bool = False
    queue_place: int | None = None      # at its first queue treatment, with the EWT announced
    ewt_s: float | None = None
    tier: str | None = None             # the caller's customer tier (SPEC §7 `customers`)
    customer: int | None = None         # the caller's number in the customer population
    pitch_s: float = 0.0                # handle time the offers presented added (`marketing`)
    # A given (trace) contact's caller: its decisions in the plan's IVR (None: the stream's
    # caller model draws them).
    caller: object = None

    @property
    def entry_site(self) -> str:
        return self.stream.site

    @property
    def wait_from(self) -> float:
        """When its wait for an agent began: arrival, or the plan's first queue step."""
        return self.arrival_time if self.queue_time is None else self.queue_time


class Tally:
    """Offered, answered, abandoned, waits and handle times of contacts added one by one
    (`add`), as a report row (`row`: SL and SL2 at the threshold each was added with)."""

    __slots__ = ("offered", "answered", "abandoned", "interflowed", "lost", "wait_sum",
                 "within", "handle_sum", "handled")

    def __init__(self):
        self.offered = self.answered = self.abandoned = self.interflowed = self.lost = 0
        self.wait_sum = 0.0
        self.within = 0
        self.handle_sum = 0.0
        self.handled = 0

    def add(self, record: ContactRecord, threshold_s: float):
        self.offered += 1
        self.interflowed += record.interflows > 0
        if record.final_state is None:
            self.lost += 1
        elif record.final_state is ContactState.ABANDONED:
            self.abandoned += 1
        if record.answer_time is not None:
            wait = record.answer_time - record.wait_from
            self.answered += 1
            self.wait_sum += wait
            self.within += wait <= threshold_s
            if record.final_state is ContactState.COMPLETED:
                self.handled += 1
                self.handle_sum += record.end_time - record.answer_time

    def row(self) -> dict:
        answered = self.answered
        denominator2 = answered + self.abandoned
        return {
            "offered": self.offered,
            "answered": answered,
            "abandoned": self.abandoned,
            "asa_s": round(self.wait_sum / answered, 3) if answered else None,
            "sl_pct": round(100.0 * self.within / answered, 2) if answered else None,
            "sl2_pct": round(100.0 * self.within / denominator2, 2) if denominator2 else None,
            "aht_s": round(self.handle_sum / self.handled, 3) if self.handled else None,
        }


# Final states a routing plan reaches (SPEC §10): counted in `contacts` by their names.
PLAN_FINAL_STATES = (ContactState.SELF_SERVED, ContactState.ROUTED_OUT, ContactState.BUSY,
                     ContactState.VOICEMAIL, ContactState.DISCONNECTED)


def build_report(scenario, records, agent_occupancy: dict, max_lines_in_use=None) -> dict:
    """The JSON-able report; `agent_occupancy` maps site -> [occupancy of each agent];
    `max_lines_in_use`: service -> the most IVR ports in use at once (routing plans)."""
    total = Tally()
    by_skill, by_site, by_class, by_service, by_tier = {}, {}, {}, {}, {}
    tiers = getattr(scenario, "tiers", None)
    # Rejected: refused at once (a full queue, or the router overloaded: the PBX overflows
    # the call), one final state like the others, not lost.
    finals = dict.fromkeys((ContactState.REJECTED, *PLAN_FINAL_STATES), 0)
    for record in records:
        stream = record.stream
        if record.final_state in finals:
            finals[record.final_state] += 1
        if stream.dnis is not None:
            service = scenario.plans.entry_points[stream.dnis].service
            by_service.setdefault(service, _ServiceTally()).add(record)
        skill = stream.skill if stream.dnis is None else record.skill
        if skill is None:               # its plan never queued it: in no skill's figures
            total.add(record, 0.0)
            by_site.setdefault(record.entry_site, Tally()).add(record, 0.0)
            continue
        threshold = scenario.skills[skill].sl_threshold_s
        total.add(record, threshold)
        by_skill.setdefault(skill, Tally()).add(record, threshold)
        by_site.setdefault(record.entry_site, Tally()).add(record, threshold)
        if record.tier is not None:
            # A tier's service level against what the tier is promised (SPEC §7).
            tier = tiers.of(record.tier) if tiers else None
            promised = threshold if tier is None or tier.service_objective_s is None \
                else tier.service_objective_s
            by_tier.setdefault(record.tier, Tally()).add(record, promised)
        priority, objective = (stream.priority, stream.service_objective_s) if (
            stream.dnis is None and stream.priority is not None) else (
            record.priority, record.service_objective_s)
        if objective is None:
            # A row with a priority and no objective: its caller's tier's, as the core chose.
            objective = record.service_objective_s
        if priority is None or objective is None:
            # A live run's dialled contact: the PBX is told the skill that answered, not
            # the priority and objective its plan gave it.
            class_key = f"{skill}/(plan)"
        else:
            class_key = f"{skill}/{priority.name.lower()}/{objective:g}"
        by_class.setdefault(class_key, Tally()).add(record, threshold)
    overall = total.row()
    report = {
        "contacts": {"offered": total.offered, "answered": total.answered,
                     "abandoned": total.abandoned, "interflowed": total.interflowed,
                     "lost": total.lost,
                     **{state.value: number for state, number in finals.items()}},
        "service": overall,
        "by_skill": {key: tally.row() for key, tally in sorted(by_skill.items())},
        "by_site": {key: tally.row() for key, tally in sorted(by_site.items())},
        "by_class": {key: tally.row() for key, tally in sorted(by_class.items())},
        "ewt": ewt_figures([(record.answer_time - record.wait_from, record.ewt_s,
                             record.queue_place) for record in records
                            if record.answer_time is not None and record.ewt_s is not None]),
        "agents": {site: {"count": len(values),
                          "occupancy_pct": round(100.0 * sum(values) / len(values), 2)
                          if values else None}
                   for site, values in sorted(agent_occupancy.items())},
    }
    if by_tier:
        report["by_tier"] = {key: tally.row() for key, tally in sorted(by_tier.items())}
    if by_service:
        lines = max_lines_in_use or {}
        report["by_service"] = {name: tally.row(lines.get(name, 0))
                                for name, tally in sorted(by_service.items())}
    return report


class _ServiceTally:
    """SPEC §10 `by_service`: what became of the callers of one service."""
    __slots__ = ("offered", "self_served", "to_agent", "answered", "abandoned_ivr",
                 "abandoned_queue", "busy", "callbacks")

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, 0)

    def add(self, record: ContactRecord) -> None:
        self.offered += 1
        final = record.final_state
        self.self_served += final is ContactState.SELF_SERVED
        self.to_agent += record.queue_time is not None
        self.answered += record.answer_time is not None
        if final is ContactState.ABANDONED:
            if record.abandoned_in_ivr:
                self.abandoned_ivr += 1
            else:
                self.abandoned_queue += 1
        self.busy += final is ContactState.BUSY
        self.callbacks += record.callback

    def row(self, max_lines_in_use: int) -> dict:
        return {**{name: getattr(self, name) for name in self.__slots__},
                "max_lines_in_use": max_lines_in_use}


RATIO_TARGET = 1.10          # EWT RMSE / the place-only benchmark's RMSE (SPEC §8)
BIAS_TARGET_PCT = 5.0        # |mean error| as % of the mean wait


def ewt_figures(samples) -> dict | None:
    """EWT accuracy over answered queued contacts, given as (wait, EWT, place) triples:
    RMSE of wait - EWT, the RMSE of the best predictor knowing only the place (each place's
    mean wait, fitted on these same contacts: no function of the place does better on
    them), the ratio, the bias (mean error, also as % of the mean wait) and the verdicts.
    None without such contacts."""
    count = len(samples)
    if count == 0:
        return None
    mean_wait = sum(wait for wait, _, _ in samples) / count
    errors = [wait - ewt for wait, ewt, _ in samples]
    rmse = math.sqrt(sum(error * error for error in errors) / count)
    bias = sum(errors) / count
    waits_by_place = defaultdict(list)
    for wait, _, place in samples:
        waits_by_place[place].append(wait)
    squared = 0.0
    for waits in waits_by_place.values():
        place_mean = sum(waits) / len(waits)
        squared += sum((wait - place_mean) ** 2 for wait in waits)
    place_only_rmse = math.sqrt(squared / count)
    ratio = rmse / place_only_rmse if place_only_rmse > 0 else math.inf
    bias_pct = 100.0 * bias / mean_wait if mean_wait > 0 else math.inf
    return {"answered_queued": count, "mean_wait_s": round(mean_wait, 3),
            "ewt_rmse_s": round(rmse, 3), "place_only_rmse_s": round(place_only_rmse, 3),
            "rmse_ratio": round(ratio, 4), "bias_s": round(bias, 3),
            "bias_pct": round(bias_pct, 2),
            "ratio_ok": ratio <= RATIO_TARGET, "bias_ok": abs(bias_pct) <= BIAS_TARGET_PCT}


def render_report(report: dict, console) -> None:
    """Readable tables of a report on a rich Console."""
    from rich.table import Table

    contacts = report["contacts"]
    console.print(
        f"contacts: offered {contacts['offered']:,}  answered {contacts['answered']:,}  "
        f"abandoned {contacts['abandoned']:,}  interflowed {contacts['interflowed']:,}  "
        f"lost {contacts['lost']:,}" + "".join(
            f"  {state.value} {contacts[state.value]:,}"
            for state in (ContactState.REJECTED, *PLAN_FINAL_STATES)
            if contacts.get(state.value)))
    for title, key in (("by site (entry)", "by_site"), ("by skill", "by_skill"),
                       ("by class (skill/priority/SO)", "by_class"),
                       ("by tier (SL against the tier's objective)", "by_tier")):
        if key not in report:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column(title.split(" ")[1], no_wrap=True)
        for column in ("offered", "answered", "abandoned", "ASA s", "SL %", "SL2 %", "AHT s"):
            table.add_column(column, justify="right")
        for name, row in report[key].items():
            table.add_row(name, *(_cell(row[field]) for field in (
                "offered", "answered", "abandoned", "asa_s", "sl_pct", "sl2_pct", "aht_s")))
        console.print(table)
    services = report.get("by_service")
    if services:
        table = Table(title="by service (routing plans)", title_justify="left")
        table.add_column("service", no_wrap=True)
        columns = ("offered", "self_served", "to_agent", "answered", "abandoned_ivr",
                   "abandoned_queue", "busy", "callbacks", "max_lines_in_use")
        for column in columns:
            table.add_column(column.replace("_", " "), justify="right")
        for name, row in services.items():
            table.add_row(name, *(_cell(row[column]) for column in columns))
        console.print(table)
    if report.get("marketing"):
        render_marketing(report, console)
    if report.get("campaigns"):
        render_campaigns(report["campaigns"], console)
    table = Table(title="agents", title_justify="left")
    table.add_column("site")
    table.add_column("agents", justify="right")
    table.add_column("occupancy %", justify="right")
    for site, row in report["agents"].items():
        table.add_row(site, _cell(row["count"]), _cell(row["occupancy_pct"]))
    console.print(table)
    ewt = report.get("ewt")
    if ewt:
        console.print(
            f"EWT over {ewt['answered_queued']:,} answered queued contacts: RMSE "
            f"{ewt['ewt_rmse_s']:,.1f} s = {ewt['rmse_ratio']:.3f} x the place-only "
            f"predictor's, bias {ewt['bias_s']:+,.1f} s ({ewt['bias_pct']:+.2f} % of the mean wait)")
    run = report.get("run")
    if run:
        console.print(
            f"simulated {run['simulated_s']:,.0f} s in {run['wall_s']:.2f} s wall: "
            f"{run['contacts_per_wall_s']:,} contacts/s, speed-up x{run['speedup']:,}")


def render_marketing(report: dict, console) -> None:
    """The `marketing` figures (SPEC §7), then over all offers the presentation rate
    (presented / eligible), the success rate (accepted / presented) and the revenue per
    answered contact."""
    from rich.table import Table

    marketing = report["marketing"]
    columns = ("eligible", "presented", "accepted", "revenue", "commission")
    table = Table(title="marketing (offers popped when an agent answers)", title_justify="left")
    table.add_column("offer", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right")
    total = {column: round(sum(row[column] for row in marketing.values()), 2)
             for column in columns}
    rows = list(marketing.items()) + ([("(all)", total)] if len(marketing) > 1 else [])
    for name, row in rows:
        table.add_row(name, *(_cell(row[column]) if column in columns[:3]
                              else _money(row[column]) for column in columns))
    console.print(table)
    answered = report["contacts"]["answered"]
    console.print(
        f"presentation rate {_share(total['presented'], total['eligible'])}, success rate "
        f"{_share(total['accepted'], total['presented'])}, revenue per answered contact "
        f"{_money(total['revenue'] / answered if answered else 0)}")


CAMPAIGN_COLUMNS = (("attempts", "dials"), ("live_answers", "live"), ("machines", "AM"),
                    ("abandoned", "aband."), ("abandon_pct", "aband. %"),
                    ("max_window_abandon_pct", "max win. %"),
                    ("agent_utilization_min_per_h", "util. min/h"),
                    ("connects_per_agent_hour", "conn. per agent-h"))


def render_campaigns(campaigns: dict, console) -> None:
    """The `campaigns` figures (SPEC §6): dials, live answers, answering machines, abandons
    (count, % of live answers overall and the most any window reached), agents' talk +
    wrap-up minutes per logged-in hour and connects per agent hour over the shift."""
    from rich.table import Table

    table = Table(title="campaigns (outbound)", title_justify="left")
    table.add_column("campaign", no_wrap=True)
    for _, title in CAMPAIGN_COLUMNS:
        table.add_column(title, justify="right")
    for name, row in campaigns.items():
        table.add_row(name, *(_cell(row.get(key)) for key, _ in CAMPAIGN_COLUMNS))
    console.print(table)


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "-"


def _money(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"
