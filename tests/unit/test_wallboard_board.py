"""cluster/wallboard/board.py: a board from a host's figures (no sockets): the center's and
the sites' service levels re-added exactly from each row's answered within threshold,
alerts below target only, the ranking and campaign panels only when there is something."""

from __future__ import annotations

import asyncio
import json

import pytest

from cluster.config import parse_config
from cluster.customers.marketing_stats import AgentRank, Figures, Ranking
from cluster.wallboard.board import campaign_panel, ranking_panel, read_board
from sites.model import AgentState
from sites.statistics import SkillStatistics


def figures(skill, *, answered=0, sl=None, abandoned=0, queued=(0, 0, 0, 0), oldest=None,
            ewt=(None,) * 4, staffed=0, ready=0):
    return SkillStatistics(skill=skill, staffed=staffed, serving=staffed, ready=ready,
                           queued=tuple(queued), oldest_wait_s=oldest, ewt_s=tuple(ewt),
                           answered=answered, abandoned=abandoned, asa_s=None, sl_pct=sl,
                           sl2_pct=None, aht_s=None)


class FakeHost:
    """The host interface the board reads (cluster/figures.py's calls)."""

    def __init__(self, statistics: dict, agents: dict, campaigns=None):
        self._statistics = statistics           # site -> {skill: SkillStatistics}
        self._agents = agents                   # site -> [(agent id, AgentState)]
        if campaigns is not None:
            async def campaign_statistics():
                return campaigns
            self.campaign_statistics = campaign_statistics

    def site_names(self):
        return list(self._statistics)

    async def skills_of(self, site):
        return list(self._statistics[site])

    async def statistics(self, site, skill):
        return self._statistics[site][skill]

    async def agents_of(self, site):
        return self._agents[site]


def test_center_and_site_service_levels_add_up_exactly_and_alert_below_target():
    host = FakeHost({
        "east": {"billing": figures("billing", answered=8, sl=75.0, queued=(0, 1, 2, 0),
                                    oldest=12.5, ewt=(None, 3.0, 9.0, None), staffed=4,
                                    ready=1),
                 "sales": figures("sales", staffed=2)},
        "west": {"billing": figures("billing", answered=2, sl=100.0, abandoned=1,
                                    queued=(0, 0, 1, 0), oldest=30.0,
                                    ewt=(None, 2.0, 12.0, None), staffed=3),
                 "sales": figures("sales")},
    }, {"east": [("a", AgentState.READY), ("b", AgentState.BUSY), ("c", AgentState.BUSY)],
        "west": [("d", AgentState.LOGGED_OUT)]})
    board = asyncio.run(read_board(host, {"billing": 80.0}))
    json.dumps(board, allow_nan=False)          # what the page gets: plain JSON
    billing = next(line for line in board["skills"] if line["skill"] == "billing")
    # 6 of 8 at east and 2 of 2 at west within threshold: 8 of 10, not (75 + 100) / 2.
    assert billing["sl_pct"] == pytest.approx(80.0)
    assert billing["sl2_pct"] == pytest.approx(100.0 * 8 / 11)
    assert not billing["below_target"]              # 80 is not below 80
    assert billing["queued"] == [0, 1, 3, 0] and billing["oldest_wait_s"] == 30.0
    assert billing["ewt_s"] == [None, 2.0, 9.0, None]      # the best site's, per priority
    assert (billing["staffed"], billing["ready"]) == (7, 1)
    sales = next(line for line in board["skills"] if line["skill"] == "sales")
    assert sales["sl_pct"] is None and not sales["below_target"]   # no answer, no alert
    assert sales["target_pct"] == 80.0                             # the default target
    east_billing = next(row for row in board["rows"]
                        if (row["site"], row["skill"]) == ("east", "billing"))
    assert east_billing["below_target"] and east_billing["sl_pct"] == 75.0
    assert board["alerts"] == [{"site": "east", "skill": "billing", "sl_pct": 75.0,
                                "target_pct": 80.0}]
    east = board["sites"][0]
    assert east["site"] == "east" and east["below_target"] == ["billing"]
    assert east["agents"]["busy"] == 2 and east["agents"]["ready"] == 1
    assert set(east["agents"]) == {state.value for state in AgentState}
    assert board["ranking"] is None and board["campaigns"] == []


def test_config_targets_reach_the_board():
    config = parse_config("skills: {billing: {sl_target_pct: 95}, sales: {}}\n"
                          "sites: {east: {}}\n")
    assert config.sl_targets == {"billing": 95.0, "sales": 80.0}
    host = FakeHost({"east": {"billing": figures("billing", answered=10, sl=90.0)}},
                    {"east": []})
    board = asyncio.run(read_board(host, config.sl_targets))
    assert board["skills"][0]["below_target"] and board["alerts"][0]["skill"] == "billing"


def test_a_site_without_figures_is_named_and_the_others_still_show():
    class Recovering(FakeHost):
        async def skills_of(self, site):
            if site == "west":
                raise RuntimeError("recovering")
            return await super().skills_of(site)

    host = Recovering({"east": {"billing": figures("billing")}, "west": {}},
                      {"east": [], "west": []})
    board = asyncio.run(read_board(host, {}))
    assert [row["site"] for row in board["rows"]] == ["east"]
    assert board["problems"] == ["site west: no figures (RuntimeError)"]


def test_ranking_panel_only_with_results():
    assert ranking_panel(None) is None
    assert ranking_panel(Ranking(1.0, 0.0, 86400.0, (), ())) is None
    entries = tuple(AgentRank(f"agent{n}", n + 1, Figures(10, 8, 12 - n, 1000, 100 * (12 - n)))
                    for n in range(12))
    panel = ranking_panel(Ranking(1.0, 0.0, 86400.0, entries, entries))
    assert len(panel["today"]) == 10 and panel["today"][0]["agent_id"] == "agent0"
    assert panel["today"][0]["success_rate"] == pytest.approx(12 / 8)
    assert panel["to_date"][0]["commission_cents"] == 1200


def test_campaign_panel_reads_the_campaigns_this_server_runs():
    from types import SimpleNamespace

    class Campaigns:        # cluster/campaigns/hosting.CampaignHost's reading side
        hosted = {"renewals": SimpleNamespace(records=50, config=SimpleNamespace(
            abandon_limit_pct=3.0))}

        @staticmethod
        def hosted_figures(name):
            return "running", 12.0, {"attempts": 40, "abandon_pct": 1.5, "window_waits": 2}

    assert campaign_panel(None) == []           # no customer store: no campaigns
    assert campaign_panel(Campaigns()) == [
        {"campaign": "renewals", "state": "running", "attempts": 40, "abandon_pct": 1.5,
         "records": 50, "abandon_limit_pct": 3.0}]


def test_a_standby_feed_says_who_leads_and_reads_no_figures():
    from cluster.wallboard.feed import Feed

    class Gate:
        def __init__(self, serving, leader):
            self._serving, self._leader = serving, leader

        def serving(self):
            return self._serving

        def leader_address(self):
            return self._leader

    class NoReads:
        def site_names(self):
            raise AssertionError("a standby reads no figures")

    async def board(gate):
        feed = Feed()
        feed.read_from(NoReads(), targets={}, gate=gate)
        return json.loads(await feed.read())

    standby = asyncio.run(board(Gate(False, "10.0.0.7:50051")))
    assert standby["standby"] == "standby: the leader is at 10.0.0.7:50051"
    assert standby["rows"] == [] and standby["alerts"] == []
    assert asyncio.run(board(Gate(False, "")))["standby"] == "standby: no leader is known yet"
