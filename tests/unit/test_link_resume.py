"""What lets a PBX link survive a failover or a restart: the contact's link (origin) is
part of the site's state, and a link a new router process built goes on numbering its
actions after the PBX's last one."""

import asyncio

from cluster.host import PbxLink
from sites import events as ev
from sites.model import AgentConfig, SiteConfig, SkillConfig
from sites.state import SiteState


def site() -> SiteState:
    return SiteState(SiteConfig("east", (SkillConfig("billing"),),
                                (AgentConfig("e1", {"billing": 1}),)))


def test_the_origin_of_a_contact_survives_a_snapshot():
    state = site()
    state.handle(ev.AgentLoggedIn(0.0, "e1"))
    state.handle(ev.ContactArrived(1.0, "c1", "billing", origin="pbx-7"))
    state.handle(ev.ContactArrived(2.0, "c2", "billing"))
    restored = SiteState.restore(state.snapshot())
    assert restored.contacts["c1"].origin == "pbx-7"
    assert restored.contacts["c2"].origin is None
    assert restored.snapshot() == state.snapshot()


def test_a_snapshot_written_before_origin_existed_still_restores():
    state = site()
    state.handle(ev.ContactArrived(1.0, "c1", "billing", origin="pbx-7"))
    snapshot = state.snapshot()
    assert [record.pop("origin") for record in snapshot["contacts"]] == ["pbx-7"]
    restored = SiteState.restore(snapshot)
    assert restored.contacts["c1"].origin is None and restored.contacts["c1"].skill == "billing"


def pushed(link, count):
    for number in range(count):
        link.push(f"action-{number}")


def test_a_link_built_by_a_new_leader_numbers_on_after_the_pbx():
    async def scenario():
        link = PbxLink("pbx-1", replay_window=100, stream_limit=100)
        link.may_rebase = True              # a host with a store: an earlier process existed
        pushed(link, 3)                     # offers of recovered contacts, sent again
        assert link.check_resume(41) is None          # the PBX handled 41 actions before
        link.attach(41)
        batch = link.take(10)
        assert [seq for seq, _ in batch] == [42, 43, 44]
        assert [item for _, item in batch] == ["action-0", "action-1", "action-2"]
        link.push("action-3")
        assert link.take(10) == [(45, "action-3")]
        # Once attached, the numbering is this link's own: a resume ahead of it is refused.
        assert link.check_resume(99)[0] == "INVALID_ARGUMENT"
    asyncio.run(scenario())


def test_without_a_store_a_resume_ahead_of_the_link_is_refused():
    link = PbxLink("pbx-1", replay_window=100, stream_limit=100)
    pushed(link, 2)
    problem = link.check_resume(5)
    assert problem[0] == "INVALID_ARGUMENT" and problem[1] == "hello.last_action_seq"


def test_an_event_re_sent_for_a_finished_contact_gets_its_final_state_again():
    """After a failover the PBX re-sends `ended` for a call whose end the old leader had
    committed but not announced: refused (nothing changes), and the link is told the
    contact's final state, so the PBX learns it."""
    from cluster.config import load_config
    from cluster.host import CoreHost
    from sites.actions import ContactFinished
    from sites.model import ContactState

    async def scenario():
        host = CoreHost(load_config())
        link = host.link("pbx-1")
        await host.submit("east", [ev.AgentLoggedIn(0, "east-g0-0"), ev.AgentReady(0, "east-g0-0")])
        await host.submit("east", [ev.ContactArrived(0, "c1", "sales")], link_id="pbx-1")
        await host.submit(None, [ev.ContactConnected(0, "c1"), ev.ContactEnded(0, "c1")],
                          link_id="pbx-1")
        link.ack(link.last_action_seq)                 # the PBX had every action so far
        [again] = await host.submit(None, [ev.ContactEnded(0, "c1")], link_id="pbx-1")
        told = [item for _, item in link.take(10)]
        await host.close()
        return again, told

    again, told = asyncio.run(scenario())
    assert again.error is not None and "already finished" in again.error.problem
    assert [(type(item.action), item.action.contact_id, item.action.final_state)
            for item in told] == [(ContactFinished, "c1", ContactState.COMPLETED)]
