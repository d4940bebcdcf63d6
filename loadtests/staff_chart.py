"""`vcc staff --png`: volume and agents per interval above, the figure the target holds
(predicted, simulated, after iterating) against the target below."""

from __future__ import annotations

import math

from loadtests.staff_report import held


def write_png(report: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    rows = report["intervals"]
    positions = list(range(len(rows)))
    key, heading = held(report)
    figure, (load, level) = pyplot.subplots(
        2, 1, figsize=(max(9.0, 0.35 * len(rows) + 3), 8), sharex=True,
        gridspec_kw={"height_ratios": [3, 2], "hspace": 0.15})
    load.bar(positions, [row["volume"] for row in rows], color="#b8c7d9", label="calls")
    load.set_ylabel("calls per interval")
    load.set_title(f"{report['target_text']}: {report['model'].replace('_', ' ').title()} "
                   f"staffing per {report['interval_min']}-minute interval")
    people = load.twinx()
    people.step(positions, [row["agents"] for row in rows], where="mid", color="#1f4e79",
                linewidth=2, label="agents (Erlang)")
    people.step(positions, [row["scheduled"] for row in rows], where="mid", color="#7f7f7f",
                linestyle="--", label="scheduled (shrinkage)")
    if "iterate" in report:
        people.step(positions, [row["iterated"]["agents"] for row in rows], where="mid",
                    color="#d1495b", linewidth=1.5, label="agents (iterated)")
    people.set_ylabel("agents")
    people.set_ylim(0, max(row["scheduled"] for row in rows) * 1.15 + 1)
    handles = load.get_legend_handles_labels()
    more = people.get_legend_handles_labels()
    load.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)

    def series(values):
        return [math.nan if value is None else value for value in values]

    level.plot(positions, series(row[key] for row in rows), marker="o", color="#1f4e79",
               label="predicted")
    if "verify" in report:
        level.plot(positions, series(row["simulated"][key] for row in rows), marker="s",
                   color="#edae49", label="simulated")
    if "iterate" in report:
        level.plot(positions, series(row["iterated"]["simulated"][key] for row in rows),
                   marker="^", color="#d1495b", label="simulated, iterated")
    goal = report["target"].get("asa_s", report["target"].get("sl_pct"))
    level.axhline(goal, color="#555555", linestyle=":", label="target")
    level.set_ylabel(heading)
    level.legend(loc="lower left" if key != "asa_s" else "upper left", fontsize=8)
    step = max(1, len(rows) // 24)
    level.set_xticks(positions[::step])
    level.set_xticklabels([row["interval_start"] for row in rows][::step], rotation=45,
                          ha="right", fontsize=8)
    figure.savefig(path, dpi=100, bbox_inches="tight")
    pyplot.close(figure)
