"""A report as people read it: fixed-width text tables, and CSV for spreadsheets."""

from __future__ import annotations

import csv

from cluster.reports.figures import Report
from cluster.reports.request import duration, format_time

# (figure, header, decimals); "vs place": EWT RMSE / the place-only predictor's (<= 1.10)
_COLUMNS = (("offered", "offered", 1), ("answered", "answered", 1), ("abandoned", "aband.", 1),
            ("sl_pct", "SL %", 1), ("sl2_pct", "SL2 %", 1), ("asa_s", "ASA s", 1),
            ("aht_s", "AHT s", 1), ("wrap_up_s", "wrap s", 1), ("occupancy_pct", "occ. %", 1),
            ("not_ready_s", "NR s", 1), ("ewt_error_s", "EWT err s", 1),
            ("ewt_rmse_s", "EWT RMSE s", 1), ("ewt_rmse_ratio", "vs place", 2))
# Agents serve skills, not services, numbers or tiers: no agent time in those rows.
_AGENT_TIME = ("occupancy_pct", "not_ready_s")
# What became of the callers (rows by service or dialled number).
_OUTCOME_COLUMNS = (("to_agent", "to agent", 1), ("self_served", "self-served", 1),
                    ("self_served_pct", "SS %", 1), ("abandoned_ivr", "IVR ab.", 1),
                    ("abandoned_queue", "queue ab.", 1), ("busy", "busy", 1),
                    ("callbacks", "callbacks", 1), ("routed_out", "routed out", 1),
                    ("voicemail", "voicemail", 1), ("disconnected", "disc.", 1))


def format_cell(value, digits=1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def text_table(title: str, headers: list, rows: list, left: int) -> str:
    """A plain fixed-width table: the first `left` columns left-aligned, the rest right.
    (Thousands of interval rows: a rich table takes seconds to lay out; this takes none.)"""
    widths = [max([len(header)] + [len(row[column]) for row in rows])
              for column, header in enumerate(headers)]

    def line(cells):
        return "  ".join(cell.ljust(width) if column < left else cell.rjust(width)
                         for column, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([title, line(headers), rule] + [line(row) for row in rows]) + "\n"


def columns_of(report: Report) -> tuple:
    """(figure, header, decimals) of the columns the report's grouping shows."""
    columns = _COLUMNS if report.query.agent_time else tuple(
        column for column in _COLUMNS if column[0] not in _AGENT_TIME)
    return columns + (_OUTCOME_COLUMNS if report.query.outcomes else ())


def render(report: Report, console) -> None:
    """The report as text tables: per interval, totals per group, not-ready time by reason."""
    query = report.query
    columns = columns_of(report)
    headers = [header for _, header, _ in columns]

    def cells(label, group, sums):
        figures = sums.figures()
        # "": contacts without a service or dialled number (README, `vcc report`)
        return [label, group or "(none)"] + [format_cell(figures[name], digits)
                                             for name, _, digits in columns]

    span = f"{format_time(query.start)} .. {format_time(query.end)}"
    text = [text_table(f"by {query.by}, {duration(query.interval_s)} intervals, {span}",
                        ["interval", query.by] + headers,
                        [cells(format_time(start), group, sums)
                         for start, group, sums in report.rows], 2),
            text_table("totals", ["", query.by] + headers,
                        [cells("total", group, sums) for group, sums in report.totals], 2)]
    if report.reasons:
        text.append(text_table(
            "not-ready time by reason (s)",
            [query.by] + [reason or "(none)" for reason in report.reasons],
            [[group] + [format_cell(sums.not_ready_s.get(reason, 0.0)) for reason in report.reasons]
             for group, sums in report.totals], 1))
    console.print("\n".join(text), end="", markup=False, highlight=False, soft_wrap=True)


def write_csv(report: Report, path: str) -> None:
    rows = report.table()
    fields = list(rows[0]) if rows else ["interval", "interval_start_s", "group"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
