"""The figures of a report: the sums the database returns for one (interval, group)
(`Sums`), the ratios taken from them (`Sums.figures`), and the report as rows (`Report`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cluster.reports.request import ReportQuery, format_time

# What became of the callers, in the rows of a report by service or dialled number
# (SPEC §10); counted by the database (reports/queries.py says how each is told apart).
OUTCOMES = ("to_agent", "self_served", "abandoned_ivr", "abandoned_queue", "busy",
            "callbacks", "routed_out", "voicemail", "disconnected")
# What only agent time gives: not in the rows of groupings of callers (ReportQuery.agent_time).
AGENT_TIME_FIGURES = ("occupancy_pct", "logged_in_s", "not_ready_s", "not_ready_by_reason_s")
_ADDED = ("offered", "answered", "abandoned", "within", "wait_sum", "handled", "handle_sum",
          "wrap_sum", "ewt_count", "ewt_error_sum", "ewt_abs_error_sum", "ewt_sq_error_sum",
          "ewt_wait_sum", "logged_in_s", "working_s")


def _merge(mine: dict, other: dict) -> None:
    for key, value in other.items():
        mine[key] = mine.get(key, 0) + value


@dataclass
class Sums:
    """What the database adds up for one (interval, group)."""
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within: int = 0
    wait_sum: float = 0.0
    handled: int = 0
    handle_sum: float = 0.0
    wrap_sum: float = 0.0
    ewt_count: int = 0
    ewt_error_sum: float = 0.0
    ewt_abs_error_sum: float = 0.0
    ewt_sq_error_sum: float = 0.0
    ewt_wait_sum: float = 0.0
    # place in the queue -> [contacts, wait sum, wait² sum]: the place-only benchmark is
    # fitted per place over whatever range is added up, so these cannot be pre-reduced.
    ewt_by_place: dict = field(default_factory=dict)
    logged_in_s: float = 0.0
    working_s: float = 0.0
    not_ready_s: dict = field(default_factory=dict)    # reason -> seconds
    # OUTCOMES name -> contacts; None: a grouping that does not count them (by skill ...)
    outcomes: dict | None = None

    def add(self, other: "Sums") -> None:
        for name in _ADDED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for place, (count, wait_sum, wait_sq_sum) in other.ewt_by_place.items():
            mine = self.ewt_by_place.setdefault(place, [0, 0.0, 0.0])
            mine[0] += count
            mine[1] += wait_sum
            mine[2] += wait_sq_sum
        _merge(self.not_ready_s, other.not_ready_s)
        if other.outcomes is not None:
            if self.outcomes is None:
                self.outcomes = {}
            _merge(self.outcomes, other.outcomes)

    def figures(self) -> dict:
        def ratio(part, whole, scale=1.0):
            return scale * part / whole if whole else None
        figures = {
            "offered": self.offered, "answered": self.answered, "abandoned": self.abandoned,
            "sl_pct": ratio(self.within, self.answered, 100.0),
            "sl2_pct": ratio(self.within, self.answered + self.abandoned, 100.0),
            "asa_s": ratio(self.wait_sum, self.answered),
            "aht_s": ratio(self.handle_sum, self.handled),
            "wrap_up_s": ratio(self.wrap_sum, self.handled),
            "occupancy_pct": ratio(self.working_s, self.logged_in_s, 100.0),
            "logged_in_s": self.logged_in_s,
            "not_ready_s": sum(self.not_ready_s.values()),
            "not_ready_by_reason_s": dict(sorted(self.not_ready_s.items())),
            "ewt_error_s": ratio(self.ewt_error_sum, self.ewt_count),
            "ewt_abs_error_s": ratio(self.ewt_abs_error_sum, self.ewt_count),
            **self._ewt_accuracy(),
        }
        if self.outcomes is not None:
            figures.update({name: self.outcomes.get(name, 0) for name in OUTCOMES})
            figures["self_served_pct"] = ratio(self.outcomes.get("self_served", 0),
                                               self.offered, 100.0)
        return figures

    def _ewt_accuracy(self) -> dict:
        if not self.ewt_count:
            return dict.fromkeys(("ewt_rmse_s", "ewt_place_only_rmse_s", "ewt_rmse_ratio",
                                  "ewt_bias_pct"))
        rmse = math.sqrt(max(self.ewt_sq_error_sum, 0.0) / self.ewt_count)
        # Residual sum of squares around each place's mean wait; max() guards the rounding
        # of sum(w²) - sum(w)²/n when a place's waits are all equal.
        residual = sum(max(wait_sq_sum - wait_sum * wait_sum / count, 0.0)
                       for count, wait_sum, wait_sq_sum in self.ewt_by_place.values())
        place_only = math.sqrt(residual / self.ewt_count)
        return {"ewt_rmse_s": rmse, "ewt_place_only_rmse_s": place_only,
                "ewt_rmse_ratio": rmse / place_only if place_only > 0 else None,
                "ewt_bias_pct": (100.0 * self.ewt_error_sum / self.ewt_wait_sum
                                 if self.ewt_wait_sum > 0 else None)}


@dataclass
class Report:
    query: ReportQuery
    rows: list          # [(interval start, group, Sums)] by interval, then group
    totals: list        # [(group, Sums)] over the whole range
    reasons: list       # every not-ready reason seen
    classes: list       # [(class, Sums)] over the whole range (the ASA chart)

    def as_json(self) -> dict:
        """The report as one JSON-able object: `by_<grouping>` (by_skill, by_site ...,
        by_tier), {group: figures} over the whole range with the field names of `vcc
        simulate --json`'s groups, and `intervals`, [{interval_start_s, <grouping>,
        figures}] in order."""
        query = self.query

        def figures(sums: Sums) -> dict:
            out = sums.figures()
            if not query.agent_time:
                for name in AGENT_TIME_FIGURES:
                    del out[name]
            return out
        return {"by": query.by, "from": query.start, "to": query.end,
                "interval_s": query.interval_s,
                f"by_{query.by}": {group: figures(sums) for group, sums in self.totals},
                "intervals": [{"interval_start_s": start, query.by: group, **figures(sums)}
                              for start, group, sums in self.rows]}

    def table(self) -> list:
        """Rows as flat dicts (what --csv writes)."""
        out = []
        for start, group, sums in self.rows:
            out.append(_flat(format_time(start), start, group, sums, self.reasons))
        for group, sums in self.totals:
            out.append(_flat("total", None, group, sums, self.reasons))
        return out


def _flat(label, start, group, sums, reasons) -> dict:
    figures = sums.figures()
    by_reason = figures.pop("not_ready_by_reason_s")
    row = {"interval": label, "interval_start_s": start, "group": group, **figures}
    for reason in reasons:
        row[f"not_ready_{reason or 'none'}_s"] = by_reason.get(reason, 0.0)
    return row
