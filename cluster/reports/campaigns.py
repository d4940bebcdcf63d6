"""`vcc report --by campaign` (SPEC §6, issue 19): per campaign and interval, what became of
the calls its pacer dialled, from the attempts the live host stores (revision 0008,
cluster/campaigns/attempts.py).

An attempt counts in the interval it was dialled in. Per (interval, campaign): attempts,
live answers, machines, no answers, busy, failed, abandoned (live answers no agent took
within the connect limit, or whose callee hung up first), abandon % (of live answers, the
measure the pacer's abandon limit holds), connects (live answers an agent took), and list
penetration: the records of its list dialled at least once by the interval's end (since
the campaign began, whatever --from says) / the list's size now. The totals row's
penetration: records dialled at least once in the range / list size.

Agent time (cluster/reports/campaign_agents.py says whose and how it is added up), in the
rows of the intervals the campaign dialled in: its agents' logged-in hours; their talk,
wrap-up and idle minutes per logged-in hour (of all their contacts: they are blended);
utilization, (talk + wrap-up) minutes per logged-in hour as `vcc simulate` reports it; and
the campaign's own calls' talk + wrap-up minutes per logged-in hour of its agents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sqlalchemy as sa

from cluster.reports.campaign_agents import agent_seconds
from cluster.reports.render import format_cell, text_table
from cluster.reports.request import duration, format_time
from cluster.store.models import CampaignAttempt, CampaignRecord
from cluster.store.sqlfuncs import floor_

ATTEMPTS = CampaignAttempt.__table__
LIST = CampaignRecord.__table__
A = ATTEMPTS.c
COUNTS = ("attempts", "live", "machine", "no_answer", "busy", "failed", "abandoned",
          "connected")
# (figure, header) as the text table shows them
COLUMNS = (("attempts", "attempts"), ("live", "live"), ("machine", "machines"),
           ("no_answer", "no answer"), ("busy", "busy"), ("failed", "failed"),
           ("abandoned", "aband."), ("abandon_pct", "aband. %"), ("connected", "connects"),
           ("penetration_pct", "penetr. %"), ("agent_logged_in_h", "agent h"),
           ("agent_talk_min_per_h", "talk m/h"), ("agent_wrap_min_per_h", "wrap m/h"),
           ("agent_idle_min_per_h", "idle m/h"),
           ("campaign_talk_wrap_min_per_h", "own t+w m/h"))
# Seconds added up per row (cluster/reports/campaign_agents.py)
SECONDS = ("agent_logged_in_s", "agent_talk_s", "agent_wrap_s", "agent_idle_s",
           "campaign_talk_s", "campaign_wrap_s")


@dataclass
class CampaignSums:
    attempts: int = 0
    live: int = 0
    machine: int = 0
    no_answer: int = 0
    busy: int = 0
    failed: int = 0
    abandoned: int = 0
    connected: int = 0
    dialled_records: int = 0        # records dialled at least once (see the module docstring)
    list_size: int = 0
    agent_logged_in_s: float = 0.0      # the campaign's agents (site and skill), all states
    agent_talk_s: float = 0.0           # ... busy, with any contact
    agent_wrap_s: float = 0.0           # ... in wrap-up
    agent_idle_s: float = 0.0           # ... ready, waiting for a contact
    campaign_talk_s: float = 0.0        # the campaign's own calls, answered in the interval
    campaign_wrap_s: float = 0.0

    def add(self, other: "CampaignSums") -> None:
        for name in COUNTS + SECONDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def figures(self) -> dict:
        out = {name: getattr(self, name) for name in COUNTS}
        out["abandon_pct"] = 100.0 * self.abandoned / self.live if self.live else None
        out["penetration_pct"] = (100.0 * self.dialled_records / self.list_size
                                  if self.list_size else None)
        out["dialled_records"], out["list_size"] = self.dialled_records, self.list_size
        out.update({name: getattr(self, name) for name in SECONDS})
        hours = self.agent_logged_in_s / 3600.0

        def per_hour(seconds):
            return seconds / 60.0 / hours if hours else None
        out["agent_logged_in_h"] = hours
        out["agent_talk_min_per_h"] = per_hour(self.agent_talk_s)
        out["agent_wrap_min_per_h"] = per_hour(self.agent_wrap_s)
        out["agent_idle_min_per_h"] = per_hour(self.agent_idle_s)
        # SPEC §6's `vcc simulate` figure: (talk + wrap-up) per logged-in agent hour
        out["agent_utilization_min_per_h"] = per_hour(self.agent_talk_s + self.agent_wrap_s)
        out["campaign_talk_wrap_min_per_h"] = per_hour(self.campaign_talk_s
                                                       + self.campaign_wrap_s)
        return out


@dataclass
class CampaignReport:
    start: float
    end: float
    interval_s: float
    rows: list = field(default_factory=list)        # [(interval start, campaign, sums)]
    totals: list = field(default_factory=list)      # [(campaign, sums)]

    def as_json(self) -> dict:
        return {"by": "campaign", "from": self.start, "to": self.end,
                "interval_s": self.interval_s,
                "by_campaign": {name: sums.figures() for name, sums in self.totals},
                "intervals": [{"interval_start_s": start, "campaign": name, **sums.figures()}
                              for start, name, sums in self.rows]}

    def table(self) -> list:
        """Rows as flat dicts (what --csv writes: reports/render.write_csv)."""
        return ([{"interval": format_time(start), "interval_start_s": start, "campaign": name,
                  **sums.figures()} for start, name, sums in self.rows]
                + [{"interval": "total", "interval_start_s": None, "campaign": name,
                    **sums.figures()} for name, sums in self.totals])


def _count(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


def compute_campaign_report(engine, start: float, end: float, interval_s: float
                            ) -> CampaignReport:
    """The attempts dialled in [start, end), per `interval_s` and campaign."""
    in_range = sa.and_(A.dialled_time >= start, A.dialled_time < end)
    bucket = floor_(A.dialled_time / interval_s).label("bucket")
    counted = [sa.func.count().label("attempts")] + [
        _count(A.outcome == name).label(name)
        for name in ("live", "machine", "no_answer", "busy", "failed")] + [
        _count(A.result == name).label(name) for name in ("abandoned", "connected")]
    # When each record was first dialled (up to the range's end): the penetration curve.
    first = (sa.select(A.campaign, A.record_id, sa.func.min(A.dialled_time).label("first"))
             .where(A.dialled_time < end).group_by(A.campaign, A.record_id).subquery())
    first_bucket = floor_(first.c.first / interval_s).label("bucket")
    with engine.connect() as connection:
        cells = connection.execute(sa.select(bucket, A.campaign, *counted).where(in_range)
                                   .group_by(bucket, A.campaign)).all()
        newly = connection.execute(sa.select(first.c.campaign, first_bucket,
                                             sa.func.count().label("records"))
                                   .group_by(first.c.campaign, first_bucket)).all()
        in_range_records = dict(connection.execute(
            sa.select(A.campaign, sa.func.count(sa.distinct(A.record_id)))
            .where(in_range).group_by(A.campaign)).all())
        sizes = dict(connection.execute(sa.select(LIST.c.campaign, sa.func.count())
                                        .group_by(LIST.c.campaign)).all())
        agents = agent_seconds(connection, start, end, interval_s)
    first_dials: dict = {}
    for name, first_index, records in newly:
        first_dials.setdefault(name, []).append((int(first_index), records))
    rows = []
    totals: dict = {}
    for row in sorted(cells, key=lambda row: (row.bucket, row.campaign)):
        index, name = int(row.bucket), row.campaign
        sums = CampaignSums(**{counted_name: int(getattr(row, counted_name) or 0)
                               for counted_name in COUNTS})
        sums.dialled_records = sum(records for first_index, records in first_dials.get(name, ())
                                   if first_index <= index)
        sums.list_size = sizes.get(name, 0)
        for seconds_name, seconds in agents.get((index, name), {}).items():
            setattr(sums, seconds_name, seconds)
        rows.append((index * interval_s, name, sums))
        total = totals.setdefault(name, CampaignSums(list_size=sizes.get(name, 0),
                                                     dialled_records=in_range_records.get(name, 0)))
        total.add(sums)
    return CampaignReport(start, end, interval_s, rows, sorted(totals.items()))


def attempt_time_range(engine) -> tuple[float, float] | None:
    """(first, last) dial time among the attempts, or None when there are none."""
    with engine.connect() as connection:
        first, last = connection.execute(sa.select(sa.func.min(A.dialled_time),
                                                   sa.func.max(A.dialled_time))).one()
    return None if first is None else (first, last)


def render_campaigns(report: CampaignReport, console) -> None:
    headers = [header for _, header in COLUMNS]

    def cells(label, name, sums):
        figures = sums.figures()
        return [label, name] + [format_cell(figures[figure]) for figure, _ in COLUMNS]

    span = f"{format_time(report.start)} .. {format_time(report.end)}"
    text = [text_table(f"by campaign, {duration(report.interval_s)} intervals, {span}",
                       ["interval", "campaign"] + headers,
                       [cells(format_time(start), name, sums)
                        for start, name, sums in report.rows], 2),
            text_table("totals", ["", "campaign"] + headers,
                       [cells("total", name, sums) for name, sums in report.totals], 2)]
    console.print("\n".join(text), end="", markup=False, highlight=False, soft_wrap=True)


def write_campaigns_png(report: CampaignReport, path: str) -> None:
    """Per interval: the attempts by outcome (stacked), abandon %, penetration % and the
    agents' talk + wrap-up share of their logged-in time on a second axis; one chart for all
    campaigns together (an agent of two campaigns counts twice)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    per_interval: dict = {}
    penetration: dict = {}
    for start, _, sums in report.rows:
        per_interval.setdefault(start, CampaignSums()).add(sums)
        dialled, size = penetration.get(start, (0, 0))
        penetration[start] = (dialled + sums.dialled_records, size + sums.list_size)
    starts = sorted(per_interval)
    positions = list(range(len(starts)))
    figure, axes = pyplot.subplots(figsize=(max(9.0, 0.35 * len(starts) + 3), 6))
    bottom = [0] * len(starts)
    for name, color in (("connected", "#4c9f70"), ("abandoned", "#d1495b"),
                        ("machine", "#8d6a9f"), ("no_answer", "#b0b0b0"), ("busy", "#e0a458"),
                        ("failed", "#555555")):
        values = [getattr(per_interval[start], name) for start in starts]
        axes.bar(positions, values, bottom=bottom, color=color, label=name.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values)]
    axes.set_ylabel("attempts (a live answer still up: in none of the bars)")
    axes.set_ylim(0, max([1] + [per_interval[start].attempts for start in starts]) * 1.1)
    axes.set_title(f"campaign attempts per {duration(report.interval_s)} interval")
    percent = axes.twinx()
    figures = [per_interval[start].figures() for start in starts]
    abandon = [row["abandon_pct"] for row in figures]
    reach = [100.0 * penetration[start][0] / penetration[start][1] if penetration[start][1]
             else None for start in starts]
    # (talk + wrap-up) minutes per logged-in hour of the campaigns' agents, as a % of the hour
    busy = [None if row["agent_utilization_min_per_h"] is None
            else row["agent_utilization_min_per_h"] / 0.6 for row in figures]
    for label, values in (("abandon %", abandon), ("penetration %", reach),
                          ("agents' talk + wrap-up %", busy)):
        percent.plot(positions, [math.nan if value is None else value for value in values],
                     marker="o", label=label)
    percent.set_ylim(0, 105)
    percent.set_ylabel("%")
    handles, labels = axes.get_legend_handles_labels()
    more = percent.get_legend_handles_labels()
    axes.legend(handles + more[0], labels + more[1], loc="upper center",
                bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
    step = max(1, len(starts) // 24)
    axes.set_xticks(positions[::step], [format_time(start) for start in starts][::step],
                    rotation=45, ha="right", fontsize=8)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot.close(figure)
