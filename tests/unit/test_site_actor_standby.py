"""A standby site actor (actors/site_actor.py) without Ray: it holds no site and refuses
every change until a store is adopted; then it is the site recovered from that store."""

import pytest

from actors.site_actor import SiteActor, SiteNotAdopted
from cluster.store.site_store import SiteStore
from sites import actions as act
from sites import events as ev
from sites.model import AgentConfig, ContactState, SiteConfig, SkillConfig


def billing_site() -> SiteConfig:
    return SiteConfig("east", (SkillConfig("billing"),),
                      (AgentConfig("e1", {"billing": 1}),))


class CountingStore(SiteStore):
    warmed = 0

    def warm(self) -> None:
        CountingStore.warmed += 1
        super().warm()


def test_a_standby_refuses_changes_until_it_adopts_the_store(engine):
    url = engine.url.render_as_string(hide_password=False)
    # A leader journals a queued contact at east, then goes away.
    leader = SiteActor(billing_site(), SiteStore(url, fencing_token=3))
    [queued] = leader.handle_batch([ev.ContactArrived(1.0, "c1", "billing")])
    assert type(queued[-1]) is act.ContactQueued
    leader.close()

    before = CountingStore.warmed
    standby = SiteActor(billing_site(), standby=CountingStore(url))
    assert CountingStore.warmed == before + 1          # warmed up before it is needed
    for change in (lambda: standby.handle_batch([ev.AgentLoggedIn(2.0, "e1")]),
                   lambda: standby.tick(2.0),
                   lambda: standby.load_snapshot(standby.snapshot())):
        with pytest.raises(SiteNotAdopted, match="'east' is a standby"):
            change()
    assert standby.live_contacts() == {}            # nothing applied, nothing held

    assert standby.adopt(SiteStore(url, fencing_token=4)) is True
    assert standby.contact_view("c1") == (ContactState.QUEUED, None)
    assert standby.adopt(SiteStore(url, fencing_token=4)) is False     # a repeat: no-op
    results = standby.handle_batch([ev.AgentLoggedIn(2.0, "e1"), ev.AgentReady(2.0, "e1")])
    assert any(type(action) is act.OfferContact and action.contact_id == "c1"
               for action in results[-1])
    # A new gateway announces open offers again (its predecessor may have died with them).
    offer = standby.directory().offers["c1"]
    assert (type(offer), offer.agent_id, offer.skill) == (act.OfferContact, "e1", "billing")
    standby.close()


def test_an_actor_not_started_as_a_standby_cannot_adopt():
    actor = SiteActor(billing_site())
    with pytest.raises(RuntimeError, match="not started as a standby"):
        actor.adopt(SiteStore("sqlite://"))
