"""What the wallboard shows, read from a host now: one JSON-able dict (a "board").

The per site and skill figures are cluster/figures.py's, the very reads Routing.GetStatistics
answers from, so the page and the API agree (the browser test compares them). Per skill
across the sites and per site across the skills the service level is re-added from the
same figures: SL = answered within threshold / answered, and each row's "within" is
sl_pct × answered, so the sums are exact, not averages of percentages.

A skill is below target (an alert) when it has answered contacts in the statistics window
and its SL is under its `sl_target_pct` (cluster/config.py); before its first answer it has
no SL and no alert. The marketing ranking and the campaign figures come in already read
(`ranking_panel`, `campaign_panel`); a board without them says so (None / empty) and the page
hides their panels.
"""

from __future__ import annotations

import logging
import time

from cluster.config import DEFAULT_SL_TARGET_PCT
from cluster.figures import agents_by_state, skill_statistics
from sites.model import AgentState, Priority

log = logging.getLogger(__name__)

PRIORITIES = tuple(priority.name.lower() for priority in Priority)       # top first
AGENT_STATES = tuple(state.value for state in AgentState)
RANKING_ROWS = 10               # agents shown in the ranking panel (today and to date)
# The figures of a campaign row (SPEC §6, as Admin.StreamCampaignStatistics has them, with
# the list's size and the abandon limit); the pacer's other figures are left out.
CAMPAIGN_KEYS = ("attempts", "live_answers", "machines", "no_answer", "busy", "connected",
                 "abandoned", "abandon_pct", "max_window_abandon_pct", "calls_up",
                 "list_dialled")


def _rounded(value, digits: int = 1):
    return None if value is None else round(value, digits)


def _row(site: str, skill: str, statistics, target: float) -> dict:
    sl = statistics.sl_pct
    return {
        "site": site, "skill": skill, "target_pct": target,
        "sl_pct": sl, "sl2_pct": statistics.sl2_pct,
        "below_target": sl is not None and sl < target,
        "answered": statistics.answered, "abandoned": statistics.abandoned,
        "asa_s": statistics.asa_s, "aht_s": statistics.aht_s,
        "queued": list(statistics.queued),
        "oldest_wait_s": statistics.oldest_wait_s,
        "ewt_s": list(statistics.ewt_s),            # None: unbounded (nobody to serve)
        "staffed": statistics.staffed, "ready": statistics.ready,
    }


def _summed(rows: list, **labels) -> dict:
    """One line adding `rows` up: counts summed, SL re-added from each row's answered
    within threshold, the oldest wait the oldest of them."""
    answered = sum(row["answered"] for row in rows)
    abandoned = sum(row["abandoned"] for row in rows)
    within = sum(row["sl_pct"] * row["answered"] / 100.0 for row in rows
                 if row["sl_pct"] is not None)
    waits = [row["oldest_wait_s"] for row in rows if row["oldest_wait_s"] is not None]
    return {
        **labels,
        "sl_pct": 100.0 * within / answered if answered else None,
        "sl2_pct": 100.0 * within / (answered + abandoned) if answered + abandoned else None,
        "answered": answered, "abandoned": abandoned,
        "queued": [sum(row["queued"][index] for row in rows) for index in range(len(PRIORITIES))],
        "oldest_wait_s": max(waits) if waits else None,
        "staffed": sum(row["staffed"] for row in rows),
        "ready": sum(row["ready"] for row in rows),
    }


def _skill_total(skill: str, rows: list, target: float) -> dict:
    total = _summed(rows, skill=skill, target_pct=target)
    total["below_target"] = total["sl_pct"] is not None and total["sl_pct"] < target
    # EWT of a contact entering the center now: the best site's (what BSR aims at).
    total["ewt_s"] = [min((row["ewt_s"][index] for row in rows
                           if row["ewt_s"][index] is not None), default=None)
                      for index in range(len(PRIORITIES))]
    return total


async def read_board(host, targets: dict, *, ranking=None, campaigns=(),
                     standby: str | None = None) -> dict:
    """The board of `host` now. `targets`: skill -> SL target in %; `ranking`: the marketing
    ranking panel (`ranking_panel`) or None; `campaigns`: rows (`campaign_panel`);
    `standby`: why this process shows no figures (it does not lead)."""
    began = time.monotonic()
    rows, sites, problems = [], [], []
    for site in host.site_names():
        try:
            statistics = await skill_statistics(host, site)
            agents = await agents_by_state(host, site)
        except Exception as error:      # noqa: BLE001 - a site being recovered, a standby
            log.debug("wallboard: no figures of site %s: %s", site, error)
            problems.append(f"site {site}: no figures ({type(error).__name__})")
            continue
        site_rows = [_row(site, skill, figures, targets.get(skill, DEFAULT_SL_TARGET_PCT))
                     for skill, figures in statistics]
        rows.extend(site_rows)
        site_line = _summed(site_rows, site=site)
        site_line["agents"] = {state.value: count for state, count in agents.items()}
        site_line["below_target"] = [row["skill"] for row in site_rows if row["below_target"]]
        sites.append(site_line)
    by_skill: dict = {}
    for row in rows:
        by_skill.setdefault(row["skill"], []).append(row)
    skills = [_skill_total(skill, skill_rows, skill_rows[0]["target_pct"])
              for skill, skill_rows in sorted(by_skill.items())]
    alerts = [{"site": None, "skill": line["skill"], "sl_pct": line["sl_pct"],
               "target_pct": line["target_pct"]} for line in skills if line["below_target"]]
    alerts += [{"site": row["site"], "skill": row["skill"], "sl_pct": row["sl_pct"],
                "target_pct": row["target_pct"]} for row in rows if row["below_target"]]
    return {
        "time": time.time(),
        "read_ms": _rounded((time.monotonic() - began) * 1000.0),
        "priorities": list(PRIORITIES), "agent_states": list(AGENT_STATES),
        "standby": standby, "problems": problems,
        "skills": skills, "rows": rows, "sites": sites, "alerts": alerts,
        "ranking": ranking, "campaigns": list(campaigns),
    }


def _standing(entry) -> dict:
    figures = entry.figures
    return {"agent_id": entry.agent_id, "rank": entry.rank, "eligible": figures.eligible,
            "presented": figures.presented, "accepted": figures.accepted,
            "presentation_rate": figures.presentation_rate,
            "success_rate": figures.success_rate, "revenue_cents": figures.revenue_cents,
            "commission_cents": figures.commission_cents}


def ranking_panel(ranking) -> dict | None:
    """The marketing ranking (cluster/customers/marketing_stats.Ranking) as the page shows
    it: the first RANKING_ROWS agents today and to date; None when nobody has a result yet
    (the page then has no ranking panel)."""
    if ranking is None or not (ranking.today or ranking.to_date):
        return None
    return {"time": ranking.time,
            "today": [_standing(entry) for entry in ranking.today[:RANKING_ROWS]],
            "to_date": [_standing(entry) for entry in ranking.to_date[:RANKING_ROWS]]}


def campaign_panel(campaigns) -> list:
    """The figures of the campaigns this server runs (`campaigns`: the server's
    cluster/campaigns/hosting.CampaignHost, None without a customer store), one dict per
    campaign (CAMPAIGN_KEYS), by name: what Admin.StreamCampaignStatistics sends, read from
    the same place (`hosted_figures`), with the list's size and the abandon limit. None
    running: empty, and the page shows no campaign panel."""
    if campaigns is None:
        return []
    rows = []
    for name, hosted in sorted(campaigns.hosted.items()):
        state, _, figures = campaigns.hosted_figures(name)
        row = {key: figures[key] for key in CAMPAIGN_KEYS if key in figures}
        row.update(campaign=name, state=state, records=hosted.records,
                   abandon_limit_pct=hosted.config.abandon_limit_pct)
        rows.append(row)
    return rows
