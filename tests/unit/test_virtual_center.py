"""Best Service Routing decisions, table-driven against worked examples (SPEC §3, multi-site).

Each row states the statuses the sites published, the contact entering site A, and the
decision a BSR engineer would work out by hand; the arithmetic is spelled out in the id.
"""

import math

import pytest

from sites.errors import InvalidInput
from sites.model import Channel
from sites.statistics import SkillStatus
from sites.virtual_center import BsrConfig, VirtualCenter, penalised

MEDIUM = 2
NOW = 100.0


def status(site, available=0, ewt=None, staffed=10, time=NOW, queued=0, oldest_arrival=None,
           skill="billing"):
    """A published status; `ewt` is the medium-priority EWT (None = nobody can serve)."""
    ewts = (0.0, 0.0, ewt, ewt)
    return SkillStatus(site, skill, Channel.VOICE, time, staffed, available, ewts, queued,
                       oldest_arrival)


def center(*statuses, adjust_by=0.0, max_status_age_s=10.0, hop_limit=1):
    vc = VirtualCenter(BsrConfig(adjust_by, max_status_age_s, hop_limit))
    for published in statuses:
        vc.publish(published)
    return vc


# (id, local status of A, remote statuses, adjust_by, expected site, expected reason, ewt)
DECISIONS = [
    ("local agent free beats a remote with more free agents",
     status("A", available=1), [status("B", available=5)], 0, "A", "local_available", 0.0),
    ("no local agent: the remote with a free agent wins over any EWT",
     status("A", ewt=5.0), [status("B", available=1)], 50, "B", "remote_available", 0.0),
    ("two remotes with free agents: the one with more",
     status("A", ewt=30.0), [status("B", available=1), status("C", available=3)], 0,
     "C", "remote_available", 0.0),
    ("two remotes with equally many free agents: the first by name",
     status("A", ewt=30.0), [status("C", available=2), status("B", available=2)], 0,
     "B", "remote_available", 0.0),
    ("adjust_by 10 on EWT 40: penalty max(10 s, 4 s) = 10 -> 50 < 60 local: interflow",
     status("A", ewt=60.0), [status("B", ewt=40.0)], 10, "B", "lower_ewt", 50.0),
    ("adjust_by 10 on EWT 40: 50 > 45 local: stay",
     status("A", ewt=45.0), [status("B", ewt=40.0)], 10, "A", "local_ewt", 45.0),
    ("adjust_by 10 on EWT 200: penalty max(10 s, 20 s) = 20 -> 220 < 230 local: interflow",
     status("A", ewt=230.0), [status("B", ewt=200.0)], 10, "B", "lower_ewt", 220.0),
    ("adjust_by 10 on EWT 200: 220 > 215 local: stay",
     status("A", ewt=215.0), [status("B", ewt=200.0)], 10, "A", "local_ewt", 215.0),
    ("a tie after the penalty keeps the contact local",
     status("A", ewt=50.0), [status("B", ewt=40.0)], 10, "A", "local_ewt", 50.0),
    ("adjust_by 0: strictly lower remote EWT wins",
     status("A", ewt=40.5), [status("B", ewt=40.0)], 0, "B", "lower_ewt", 40.0),
    ("the lowest penalised EWT among several remotes",
     status("A", ewt=300.0), [status("B", ewt=100.0), status("C", ewt=90.0)], 10,
     "C", "lower_ewt", 100.0),
    ("a remote nobody can serve (EWT unbounded) is never chosen",
     status("A", ewt=500.0), [status("B", ewt=None)], 0, "A", "local_ewt", 500.0),
    ("local unbounded, remote bounded: interflow",
     status("A", ewt=None), [status("B", ewt=900.0)], 10, "B", "lower_ewt", 990.0),
    ("a remote with nobody staffed is left out",
     status("A", ewt=500.0), [status("B", ewt=1.0, staffed=0)], 0, "A", "local_ewt", 500.0),
    ("a stale remote status (11 s old, limit 10 s) is not trusted",
     status("A", ewt=500.0), [status("B", available=4, time=NOW - 11)], 0,
     "A", "local_ewt", 500.0),
    ("a status exactly at the age limit is still trusted",
     status("A", ewt=500.0), [status("B", available=4, time=NOW - 10)], 0,
     "B", "remote_available", 0.0),
    ("the entry site's own published status is never a remote",
     status("A", ewt=500.0), [status("A", available=9)], 0, "A", "local_ewt", 500.0),
]


@pytest.mark.parametrize("local,remotes,adjust_by,site,reason,ewt",
                         [row[1:] for row in DECISIONS], ids=[row[0] for row in DECISIONS])
def test_best_site(local, remotes, adjust_by, site, reason, ewt):
    vc = center(*remotes, adjust_by=adjust_by)
    decision = vc.best_site(NOW, local, "c1", MEDIUM)
    assert (decision.site, decision.reason) == (site, reason)
    assert decision.ewt_s == ewt


@pytest.mark.parametrize("ewt,adjust_by,expected", [
    (0.0, 10, 10.0), (40.0, 10, 50.0), (100.0, 10, 110.0), (200.0, 10, 220.0),
    (200.0, 0, 200.0), (30.0, 50, 80.0), (300.0, 50, 450.0), (None, 10, math.inf)])
def test_penalty_is_the_larger_of_n_seconds_and_n_percent(ewt, adjust_by, expected):
    assert penalised(ewt, adjust_by) == expected


def test_look_ahead_refusal_when_the_remote_filled_up_since_it_published():
    vc = center(status("B", ewt=10.0), adjust_by=10)
    local = status("A", ewt=60.0)
    decision = vc.best_site(NOW, local, "c1", MEDIUM)
    assert decision.site == "B"
    # B's own current status at the moment it is asked: its queue grew to EWT 55 -> 65 > 60.
    assert not vc.remote_accepts(status("B", ewt=55.0), local.ewt_s[MEDIUM], MEDIUM)
    assert vc.remote_accepts(status("B", ewt=49.0), local.ewt_s[MEDIUM], MEDIUM)
    assert vc.remote_accepts(status("B", available=1, ewt=999.0), local.ewt_s[MEDIUM], MEDIUM)
    # A refusal is not a hop: the contact may still be interflowed later.
    assert vc.hops("c1") == 0


def test_hop_limit_keeps_an_interflowed_contact_where_it_is():
    vc = center(status("A", available=3), adjust_by=0, hop_limit=1)
    at_b = status("B", ewt=600.0)
    assert vc.best_site(NOW, at_b, "c1", MEDIUM).site == "A"
    vc.note_interflow("c1")
    decision = vc.best_site(NOW, at_b, "c1", MEDIUM)
    assert (decision.site, decision.reason) == ("B", "hop_limit")
    # Another contact is not affected.
    assert vc.best_site(NOW, at_b, "c2", MEDIUM).site == "A"


def test_hop_limit_two_allows_a_second_move():
    vc = center(status("A", available=3), hop_limit=2)
    vc.note_interflow("c1")
    assert vc.best_site(NOW, status("B", ewt=600.0), "c1", MEDIUM).site == "A"
    vc.note_interflow("c1")
    assert vc.best_site(NOW, status("B", ewt=600.0), "c1", MEDIUM).reason == "hop_limit"


def test_hop_limit_zero_turns_interflow_off():
    vc = center(status("B", available=3), hop_limit=0)
    assert vc.best_site(NOW, status("A", ewt=600.0), "c1", MEDIUM).reason == "hop_limit"


def test_an_older_status_never_replaces_a_newer_one():
    vc = center(status("B", available=2, time=NOW))
    vc.publish(status("B", available=0, ewt=900.0, time=NOW - 5))   # arrives late
    decision = vc.best_site(NOW, status("A", ewt=60.0), "c1", MEDIUM)
    assert decision.reason == "remote_available"
    vc.publish(status("B", available=0, ewt=900.0, time=NOW + 1))
    assert vc.best_site(NOW + 1, status("A", ewt=60.0), "c1", MEDIUM).reason == "local_ewt"


def test_statuses_are_per_skill():
    vc = center(status("B", available=5, skill="sales"))
    assert vc.best_site(NOW, status("A", ewt=60.0), "c1", MEDIUM).reason == "local_ewt"


def test_priority_picks_its_own_ewt():
    remote = SkillStatus("B", "billing", Channel.VOICE, NOW, 10, 0, (5.0, 10.0, 50.0, 90.0), 3,
                         None)
    local = SkillStatus("A", "billing", Channel.VOICE, NOW, 10, 0, (8.0, 20.0, 40.0, 100.0), 3,
                        None)
    vc = center(remote)
    assert vc.best_site(NOW, local, "c1", 0).site == "B"     # top: 5 < 8
    assert vc.best_site(NOW, local, "c1", 2).site == "A"     # medium: 50 > 40
    assert vc.best_site(NOW, local, "c1", 3).site == "B"     # low: 90 < 100


def test_agent_surplus_pulls_from_the_site_with_the_oldest_waiting_contact():
    vc = center(status("B", queued=3, oldest_arrival=50.0),
                status("C", queued=1, oldest_arrival=20.0),
                status("D", queued=0),
                status("E", queued=9, oldest_arrival=1.0, time=NOW - 60))   # stale
    assert vc.site_to_pull_from(NOW, "A", "billing", Channel.VOICE) == "C"
    assert vc.site_to_pull_from(NOW, "C", "billing", Channel.VOICE) == "B"
    assert vc.site_to_pull_from(NOW, "A", "sales", Channel.VOICE) is None


@pytest.mark.parametrize("kwargs,field", [
    ({"adjust_by": -1}, "routing.adjust_by"),
    ({"max_status_age_s": 0}, "routing.max_status_age_s"),
    ({"hop_limit": -1}, "routing.hop_limit"),
    ({"hop_limit": 1.5}, "routing.hop_limit"),
    ({"hop_limit": True}, "routing.hop_limit"),
])
def test_bad_bsr_config_names_the_field(kwargs, field):
    with pytest.raises(InvalidInput) as raised:
        BsrConfig(**kwargs)
    assert raised.value.field == field
