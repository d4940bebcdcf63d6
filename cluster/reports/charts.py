"""The report's PNG (`vcc report --png`): volume and service level per interval, ASA per
class against its service objective."""

from __future__ import annotations

import math

from cluster.reports.figures import Report, Sums
from cluster.reports.request import duration, format_time


def write_png(report: Report, path: str) -> None:
    """Two charts a supervisor looks at: volume and service level per interval (all groups
    together, SL per group when there are a few), and ASA per class against its SO."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    query = report.query
    per_interval: dict = {}
    per_group: dict = {}
    for start, group, sums in report.rows:
        per_interval.setdefault(start, Sums()).add(sums)
        per_group.setdefault(group, {})[start] = sums
    starts = sorted(per_interval)
    labels = [format_time(start) for start in starts]
    positions = list(range(len(starts)))
    figure, (volume, classes) = pyplot.subplots(
        2, 1, figsize=(max(9.0, 0.35 * len(starts) + 3), 10),
        gridspec_kw={"height_ratios": [3, 2], "hspace": 0.6})
    answered = [per_interval[start].answered for start in starts]
    abandoned = [per_interval[start].abandoned for start in starts]
    other = [per_interval[start].offered - a - b for start, a, b in zip(starts, answered, abandoned)]
    volume.bar(positions, answered, color="#4c9f70", label="answered")
    volume.bar(positions, abandoned, bottom=answered, color="#d1495b", label="abandoned")
    volume.bar(positions, other, bottom=[a + b for a, b in zip(answered, abandoned)],
               color="#b0b0b0", label="other (rejected, in progress)")
    volume.set_ylabel("contacts offered")
    volume.set_ylim(0, max([1] + [per_interval[start].offered for start in starts]) * 1.1)
    volume.set_title(f"volume and service level per {duration(query.interval_s)} interval")
    level = volume.twinx()
    series = [("all", {start: per_interval[start] for start in starts})]
    if 1 < len(per_group) <= 6:
        series += sorted(per_group.items())
    for name, by_start in series:
        values = [by_start[start].figures()["sl_pct"] if start in by_start else None
                  for start in starts]
        level.plot(positions, [math.nan if value is None else value for value in values],
                   marker="o", linewidth=2.2 if name == "all" else 1.0,
                   label=f"SL % ({name})" if name != "all" else "SL % (all)")
    level.set_ylim(0, 105)
    level.set_ylabel("service level %")
    handles = volume.get_legend_handles_labels()
    more = level.get_legend_handles_labels()
    # Below the chart: over the bars it would hide the busiest intervals.
    volume.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center",
                  bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=8, frameon=False)
    step = max(1, len(starts) // 24)
    volume.set_xticks(positions[::step], labels[::step], rotation=45, ha="right", fontsize=8)

    names = [name for name, sums in report.classes if sums.answered]
    asa = [report_sums.figures()["asa_s"] for _, report_sums in report.classes
           if report_sums.answered]
    objectives = [float(name.rsplit("/", 1)[1]) for name in names]
    rows = list(range(len(names)))
    classes.barh(rows, asa, color="#2e86ab", label="ASA")
    classes.scatter(objectives, rows, marker="|", s=400, color="black", label="service objective")
    classes.set_yticks(rows, names, fontsize=8)
    classes.set_xlabel("seconds")
    classes.set_title("ASA per class (skill/priority/SO)")
    classes.legend(loc="lower right", fontsize=8)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    pyplot.close(figure)

