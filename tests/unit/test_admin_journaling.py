"""Every Admin change, made through the host's real journaling path, survives a restart.

Issue 15: reconfiguring an existing agent (Admin.PutAgent) journaled two entries (AddAgent
and ReplaceAgent) and the store could never be recovered again. Here hypothesis drives any
sequence of the host's administration calls (the ones the Admin servicer makes), with
agents logging in and out between them, on the journaled in-process host (SQLite), then
drops the host and recovers it from the store: the recovered configuration must be what
was answered before, and a contact must route on it. tests/integration/test_admin_recovery.py
does the same through gRPC on both runtimes, with and without etcd.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster.config import load_config
from cluster.durable import close_durable_host, open_durable_host
from cluster.host import NotFound, PreconditionFailed
from cluster.store.journal import Journal
from cluster.store.codec import ConfigChange
from cluster.store.db import open_engine
from cluster.store.repair import repair_store
from cluster.store.snapshots import RecoveryError
from sites import events as ev
from sites.errors import InvalidInput
from sites.model import AgentConfig, Priority, SkillConfig

SITES = ("east", "west", "north")       # north is new: PutSite adds it
SKILLS = ("billing", "sales", "chat")
AGENTS = ("east-g0-0", "east-g0-1", "a1", "a2")
_numbers = itertools.count()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 0.5
        return self.now


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


skill_configs = st.builds(
    lambda name, queueing, threshold, wrap_up, objectives: SkillConfig(
        name, queueing=queueing, sl_threshold_s=threshold, wrap_up_s=wrap_up,
        service_objectives=objectives),
    st.sampled_from(SKILLS), st.sampled_from(["dqp", "fifo"]),
    st.sampled_from([10.0, 20.0, 45.0]), st.sampled_from([0.0, 5.0]),
    st.dictionaries(st.sampled_from(list(Priority)), st.sampled_from([5.0, 15.0, 60.0]),
                    max_size=2))
agent_configs = st.builds(
    lambda agent_id, skills, chat: AgentConfig(
        agent_id, skills, channels={"voice": 1, "chat": chat} if chat else {"voice": 1}),
    st.sampled_from(AGENTS),
    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 16), min_size=1, max_size=2),
    st.integers(0, 3))
operations = st.one_of(
    st.tuples(st.just("put_site"), st.sampled_from(SITES)),
    st.tuples(st.just("put_skill"), st.sampled_from(SITES), skill_configs),
    st.tuples(st.just("delete_skill"), st.sampled_from(SITES), st.sampled_from(SKILLS)),
    st.tuples(st.just("put_agent"), st.sampled_from(SITES), agent_configs),
    st.tuples(st.just("delete_agent"), st.sampled_from(SITES), st.sampled_from(AGENTS)),
    st.tuples(st.just("login"), st.sampled_from(SITES), st.sampled_from(AGENTS)),
    st.tuples(st.just("logout"), st.sampled_from(SITES), st.sampled_from(AGENTS)))


async def apply(host, operation) -> str:
    """Make one change as the Admin/AgentControl servicers would; what came of it."""
    kind, site, *rest = operation
    try:
        if kind == "put_site":
            await host.put_site(site)
        elif kind == "put_skill":
            await host.put_skill(site, rest[0])
        elif kind == "delete_skill":
            await host.delete_skill(site, rest[0])
        elif kind == "put_agent":
            await host.put_agent(site, rest[0])
        elif kind == "delete_agent":
            await host.delete_agent(site, rest[0])
        elif kind == "login":
            await host.submit(site, [ev.AgentLoggedIn(0, rest[0]), ev.AgentReady(0, rest[0])])
        else:
            await host.submit(site, [ev.AgentLoggedOut(0, rest[0])])
    except (InvalidInput, NotFound, PreconditionFailed) as refusal:
        return f"refused: {refusal}"        # refusals change nothing: checked by the replay
    return "done"


async def view(host) -> dict:
    """What Admin shows: every site's skills (objectives included) and agents with state."""
    shown = {}
    for site in sorted(host.sites):
        skills = {name: await host.skill(site, name) for name in await host.skills_of(site)}
        agents = {config.agent_id: (config, state) for config, state in await host.agents_of(site)}
        shown[site] = (skills, agents)
    return shown


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(operations, min_size=1, max_size=14))
def test_any_admin_sequence_is_recovered_as_it_was_answered(tmp_path, sequence):
    url = f"sqlite:///{tmp_path}/admin-{next(_numbers)}.db"
    config = load_config()

    async def first_life():
        host, _ = await open_durable_host(config, url, clock=Clock())
        for operation in sequence:
            await apply(host, operation)
        shown = await view(host)
        host.validate()
        await close_durable_host(host)
        return shown

    async def second_life():
        host, recovery = await open_durable_host(config, url, clock=Clock())
        try:
            assert recovery.started == []
            shown = await view(host)
            host.validate()
            return shown
        finally:
            await close_durable_host(host)

    before = run(first_life())
    assert run(second_life()) == before


def test_reconfiguring_an_agent_journals_one_entry_and_recovers(tmp_path):
    """The reported case: PutAgent on an existing, logged-out agent, then a restart."""
    url = f"sqlite:///{tmp_path}/vcc.db"
    config = load_config()
    new_config = AgentConfig("east-g0-0", {"billing": 3}, channels={"voice": 1, "chat": 2})

    async def reconfigure():
        host, _ = await open_durable_host(config, url, clock=Clock())
        assert await host.put_agent("east", new_config) is False
        await close_durable_host(host)

    async def recovered():
        host, _ = await open_durable_host(config, url, clock=Clock())
        try:
            return (await host.agent("east", "east-g0-0"))[0]
        finally:
            await close_durable_host(host)

    run(reconfigure())
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            kinds = [row[0] for row in connection.exec_driver_sql(
                "SELECT event_type FROM journal WHERE site = 'east' ORDER BY seq")]
    finally:
        engine.dispose()
    assert kinds == ["ReplaceAgent"]
    assert run(recovered()) == new_config


def test_a_store_refused_on_replay_says_which_entry_and_how_to_repair_it(tmp_path):
    """A journal written by the old bug (AddAgent of an agent that exists): recovery stops
    with one paragraph naming the entry and the way out; `repair_store` makes it
    recoverable again, skipping the entry and keeping what came after it."""
    url = f"sqlite:///{tmp_path}/vcc.db"
    config = load_config()
    agent = AgentConfig("east-g0-0", {"billing": 3})

    async def first_life():
        host, _ = await open_durable_host(config, url, clock=Clock())
        await close_durable_host(host)

    run(first_life())
    engine = open_engine(url)
    journal = Journal(engine)
    journal.append_now("east", [ConfigChange.add_agent(agent), ConfigChange.replace_agent(agent)])
    journal.close()
    engine.dispose()

    with pytest.raises(RecoveryError) as refused:
        run(open_durable_host(config, url, clock=Clock()))
    message = str(refused.value)
    assert "site 'east': journal entry 1 (AddAgent 'east-g0-0')" in message
    assert "already exists" in message and "vcc store repair --db URL" in message
    assert "\n" not in message and "Traceback" not in message

    repair = repair_store(url)
    assert [(item.site, item.seq) for item in repair.skipped] == [("east", 1)]
    assert repair.snapshots == {"east": 2}

    async def second_life():
        host, _ = await open_durable_host(config, url, clock=Clock())
        try:
            return (await host.agent("east", "east-g0-0"))[0]
        finally:
            await close_durable_host(host)

    assert run(second_life()) == agent           # the ReplaceAgent after it still counts
    assert repair_store(url).skipped == []       # and a second repair finds nothing
