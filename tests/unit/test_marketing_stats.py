"""Marketing statistics and the agents' ranking (cluster/customers/marketing_stats.py),
checked against figures computed by hand from a small day and a half of outcomes.
`check_statistics` and `check_ranking` run on PostgreSQL too
(tests/integration/test_grpc_marketing.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cluster.customers import history
from cluster.customers import marketing_stats as stats
from cluster.customers.marketing_stats import Figures, StatsError, StatsQuery

D1 = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()     # a Monday, 00:00 UTC
D2 = D1 + 86400
H = 3600.0

# (agent, offer, contact, result, time)
OUTCOMES = [
    ("a1", "fibre", "k1", "accepted", D1 + 9 * H),
    ("a1", "tv", "k1", "declined", D1 + 9 * H),
    ("a1", "mobile", "k2", "not_presented", D1 + 10 * H),
    ("a2", "tv", "k3", "accepted", D1 + 11 * H),
    ("a2", "fibre", "k3", "not_presented", D1 + 11 * H),
    ("a2", "tv", "k4", "accepted", D2 + 8 * H),
    ("a3", "tv", "k7", "accepted", D2 + 8.5 * H),
    ("a1", "mobile", "k5", "declined", D2 + 9 * H),
    (None, "fibre", "k6", "declined", D2 + 10 * H),
]


def load(engine) -> None:
    """Offers fibre (50.00, commission 5.00), tv (20.00, 3.00), mobile (10.00, 1.00); the
    outcomes above, the way the servers write them: popped (eligible), then reported."""
    for offer, value, commission in (("fibre", 5000, 500), ("tv", 2000, 300),
                                     ("mobile", 1000, 100)):
        history.put_offer(engine, offer, product=offer, value_cents=value,
                          commission_cents=commission)
    for agent, offer, contact, result, time in OUTCOMES:
        history.mark_eligible(engine, contact_id=contact, offer_ids=[offer], time=time,
                              agent_id=agent)
        if result != "not_presented":
            history.record_outcome(engine, offer_id=offer, result=result, time=time,
                                   agent_id=agent, contact_id=contact,
                                   order_reference="order-" + contact
                                   if result == "accepted" else None)


def table(rows) -> dict:
    return {row.group: row.figures for row in rows}


def check_statistics(engine) -> None:
    load(engine)
    by_agent = table(stats.statistics(engine, StatsQuery(by="agent")))
    assert by_agent == {"": Figures(1, 1, 0, 0, 0), "a1": Figures(4, 3, 1, 5000, 500),
                        "a2": Figures(3, 2, 2, 4000, 600), "a3": Figures(1, 1, 1, 2000, 300)}
    assert by_agent["a1"].presentation_rate == 0.75
    assert by_agent["a1"].success_rate == pytest.approx(1 / 3)
    assert by_agent["a2"].presentation_rate == pytest.approx(2 / 3)
    assert by_agent["a2"].success_rate == 1.0
    assert table(stats.statistics(engine, StatsQuery(by="product"))) == {
        "fibre": Figures(3, 2, 1, 5000, 500), "mobile": Figures(2, 1, 0, 0, 0),
        "tv": Figures(4, 4, 3, 6000, 900)}
    days = stats.statistics(engine, StatsQuery(by="period", interval_s=86400))
    assert [(row.group, row.start, row.figures) for row in days] == [
        ("2026-03-02", D1, Figures(5, 3, 2, 7000, 800)),
        ("2026-03-03", D2, Figures(4, 4, 2, 4000, 600))]
    assert stats.total(days) == Figures(9, 7, 4, 11000, 1400)
    # Outcomes recorded without their customer are under "" by customer.
    assert table(stats.statistics(engine, StatsQuery(by="customer"))) == {
        "": Figures(9, 7, 4, 11000, 1400)}
    # A range: from 10:00 on the first day until 09:00 on the second (exclusive).
    assert table(stats.statistics(engine, StatsQuery(by="agent", since=D1 + 10 * H,
                                                     until=D2 + 9 * H))) == {
        "a1": Figures(1, 0, 0, 0, 0), "a2": Figures(3, 2, 2, 4000, 600),
        "a3": Figures(1, 1, 1, 2000, 300)}
    hours = stats.statistics(engine, StatsQuery(by="period", interval_s=H, since=D2))
    assert [(row.group, row.figures.eligible) for row in hours] == [
        ("2026-03-03 08:00", 2), ("2026-03-03 09:00", 1), ("2026-03-03 10:00", 1)]
    # Los Angeles (UTC-8): the first day's outcomes are on 2026-03-02 (01:00 .. 03:00 local),
    # the second day's at 00:00 .. 02:00 local on 2026-03-03.
    local = stats.statistics(engine, StatsQuery(by="period", tz="America/Los_Angeles"))
    assert [(row.group, row.start, row.figures.eligible) for row in local] == [
        ("2026-03-02", D1 + 8 * H, 5), ("2026-03-03", D2 + 8 * H, 4)]
    assert stats.statistics(engine, StatsQuery(by="agent", since=D2 + 20 * H)) == []


def test_statistics(engine):
    check_statistics(engine)


def ranks(standings) -> list:
    return [(entry.agent_id, entry.rank, entry.figures.commission_cents,
             entry.figures.accepted) for entry in standings]


def check_ranking(engine) -> None:
    load(engine)
    ranking = stats.ranking(engine, now=D2 + 12 * H)
    assert (ranking.day_start, ranking.day_end) == (D2, D2 + 86400)
    # Today a2 and a3 sold one tv each (3.00): a tie, ranked 1 both; a1 declined one.
    assert ranks(ranking.today) == [("a2", 1, 300, 1), ("a3", 1, 300, 1), ("a1", 3, 0, 0)]
    assert ranks(ranking.to_date) == [("a2", 1, 600, 2), ("a1", 2, 500, 1),
                                      ("a3", 3, 300, 1)]
    assert ranking.to_date[1].figures == Figures(4, 3, 1, 5000, 500)
    # 06:00 UTC on the second day is 22:00 the day before in Los Angeles: today there is
    # the first day's outcomes (a2's 08:00 UTC sale is 00:00 the next local day).
    local = stats.ranking(engine, now=D2 + 6 * H, tz="America/Los_Angeles")
    assert (local.day_start, local.day_end) == (D1 + 8 * H, D2 + 8 * H)
    assert ranks(local.today) == [("a1", 1, 500, 1), ("a2", 2, 300, 1)]
    assert local.to_date == ranking.to_date
    assert local.same_standings(stats.ranking(engine, now=D2 + 7 * H,
                                              tz="America/Los_Angeles"))
    assert not local.same_standings(ranking)


def test_ranking(engine):
    check_ranking(engine)


def test_periods_across_a_change_to_summer_time(engine):
    """New York moves its clocks on from 02:00 to 03:00 on 2026-03-08 (07:00 UTC): that
    local day has 23 hours, and no 02:00 hour."""
    history.put_offer(engine, "tv", product="tv")
    spring = datetime(2026, 3, 8, 7, tzinfo=timezone.utc).timestamp()
    times = [spring - 2.5 * H,          # 23:30 EST, 7 March
             spring - 0.5 * H,          # 01:30 EST
             spring + 0.5 * H,          # 03:30 EDT
             spring + 20.5 * H,         # 23:30 EDT, 8 March
             spring + 21.5 * H]         # 00:30 EDT, 9 March
    history.mark_eligible(engine, contact_id="k", offer_ids=["tv"], time=0.0)
    for number, time in enumerate(times):
        history.mark_eligible(engine, contact_id=f"k{number}", offer_ids=["tv"], time=time)
    days = stats.statistics(engine, StatsQuery(by="period", since=1.0, tz="America/New_York"))
    assert [(row.group, row.start, row.figures.eligible) for row in days] == [
        ("2026-03-07", spring - 26 * H, 1),
        ("2026-03-08", spring - 2 * H, 3),
        ("2026-03-09", spring + 21 * H, 1)]
    hours = stats.statistics(engine, StatsQuery(by="period", interval_s=H, since=1.0,
                                                tz="America/New_York"))
    assert [row.group for row in hours] == ["2026-03-07 23:00", "2026-03-08 01:00",
                                            "2026-03-08 03:00", "2026-03-08 23:00",
                                            "2026-03-09 00:00"]
    assert hours[2].start == spring
    changes = stats.offset_changes(stats.time_zone("America/New_York"), spring - 86400,
                                   spring + 86400)
    assert changes[1:] == [(spring, -4 * H)] and changes[0][1] == -5 * H


@pytest.mark.parametrize("options, option", [
    ({"by": "caller"}, "--by"),
    ({"interval_s": 7 * H}, "--interval"),        # does not divide a day
    ({"interval_s": 1.5 * 86400}, "--interval"),
    ({"interval_s": 30.0}, "--interval"),
    ({"interval_s": float("nan")}, "--interval"),
    ({"since": 10.0, "until": 10.0}, "--until"),
    ({"tz": "Mars/Olympus"}, "--tz"),
    ({"tz": "../etc/passwd"}, "--tz"),
])
def test_bad_requests_name_the_option(options, option):
    with pytest.raises(StatsError) as refused:
        StatsQuery(**options)
    assert refused.value.option == option and str(refused.value).startswith(option + ": ")


def test_rates_of_nothing_are_none():
    assert Figures().presentation_rate is None and Figures().success_rate is None
    assert Figures(2, 0, 0, 0, 0).success_rate is None


def test_the_repeated_hour_when_clocks_go_back(engine):
    """New York's clocks go back from 02:00 to 01:00 on 2026-11-01 (06:00 UTC): the hour
    from 01:00 happens twice and both count in the period 01:00, which starts at its first
    occurrence (05:00 UTC)."""
    history.put_offer(engine, "tv", product="tv")
    back = datetime(2026, 11, 1, 6, tzinfo=timezone.utc).timestamp()
    for number, time in enumerate((back - 0.5 * H, back + 0.5 * H, back + 1.5 * H)):
        history.mark_eligible(engine, contact_id=f"k{number}", offer_ids=["tv"], time=time)
    hours = stats.statistics(engine, StatsQuery(by="period", interval_s=H,
                                                tz="America/New_York"))
    assert [(row.group, row.start, row.figures.eligible) for row in hours] == [
        ("2026-11-01 01:00", back - H, 2), ("2026-11-01 02:00", back + H, 1)]
