"""Resuming campaigns after a restart or a takeover (SPEC §6): what `CampaignHost.attach`
does with the journal (journal.py) before the campaigns go on.

For each campaign the store says is running or paused (or stopped with calls still up),
in this order:
1. claim it: the new term's entry goes after every other, so the server that ran it before,
   if it still runs, fails its next write and dials nothing more (a SIGSTOPped old leader);
   the entry holds this host's wall clock (its time has another origin);
2. read its journal and rebuild the pacer: the list as imported (it cannot change once
   started), the do-not-call lists, call window and wall clock it started with, its newest
   snapshot if any (journal.py), then every journaled step after it replayed in order
   (each claim's wall clock, ours last, from its place). The pacer is deterministic, so it
   stands where the old one stood when it last committed; the decisions of the replay were
   carried out by the old server and are dropped;
3. catch up with what the journal could not hold:
   - the do-not-call lists as stored now (a change the old server stored but died before
     journaling) are given as one `DoNotCallChanged`;
   - calls still ringing: their dials are sent again once a PBX link serves the site (the
     old server may have died between journaling a dial and sending it; the PBX takes a
     dial whose call id it has as that same call);
   - live answers: the site core (recovered from its own journal first) says what became
     of each outbound contact, and the pacer is told what it missed: taken by an agent
     (`CallConnected`), ended (`CallEnded`), or still waiting, when the connect limit is
     armed again; a live answer the site never got is handed to it again;
   - agents it held (previewing, or a call dialled for them) who logged out meanwhile are
     let go (`AgentGone`);
4. pace it (a running one).
A campaign started before the journal existed (no start entry) is left as it is, with a
warning: it cannot be resumed. A resume replays at most the entries between two snapshots
(`--campaign-snapshot-every`, README).
"""

from __future__ import annotations

import asyncio
import logging

from cluster.campaigns.hosted import Hosted, Up
from cluster.campaigns.journal import JournalConflict
from sites.dialer import events as dev
from sites.dialer.decisions import Connect
from sites.dialer.do_not_call import CAMPAIGN, GLOBAL, DoNotCall
from sites.errors import InvalidInput
from sites.model import AgentState, ContactState

log = logging.getLogger(__name__)

_WAITING = (ContactState.QUEUED, ContactState.OFFERED)
# How long a live answer the site never got waits for a PBX link to come back before it
# counts as abandoned.
LINK_WAIT_S = 30.0


async def resume_campaigns(campaigns) -> None:
    """Resume every campaign the store and the journal say was under way (`campaigns`: a
    CampaignHost just attached to its host)."""
    loop = asyncio.get_running_loop()
    stored = await loop.run_in_executor(None, campaigns.store.all)
    for document, state, records in stored:
        if state not in ("running", "paused", "stopped"):
            continue
        try:
            await _resume(campaigns, document, state, records)
        except JournalConflict as error:
            log.error("campaign %s: not resumed here: %s", document["name"], error)
        except Exception:       # noqa: BLE001 - one campaign's failure leaves the others
            log.exception("campaign %s: could not be resumed; a restart tries again",
                          document["name"])


async def _resume(campaigns, document: dict, state: str, records: int) -> None:
    name = document["name"]
    loop = asyncio.get_running_loop()
    journal = campaigns.journal
    started, closed = await loop.run_in_executor(None, journal.ends, name)
    if not started or (state == "stopped" and closed):
        if not started and state != "stopped":
            log.warning("campaign %s is %s but has no journal (started by an older server): "
                        "it cannot be resumed", name, state)
        return
    clock = campaigns.host.wall_clock
    await loop.run_in_executor(None, journal.claim, name, campaigns.token, clock)
    replay = await loop.run_in_executor(None, journal.read, name)     # up to our claim
    await loop.run_in_executor(None, campaigns.load_secret)
    # The call window and wall clock it started with: the replay's claims switch it to
    # each later term's clock, ours last.
    hosted = Hosted(document, state, records, replay.call_window)
    async with campaigns.lists_lock:
        rows = await loop.run_in_executor(None, campaigns.store.list_rows, name)
        replay, now, resumed = await _rebuild(campaigns, hosted, rows, replay, clock)
        hosted.seq = replay.next_seq
        hosted.time, hosted.figures = now, resumed.step.figures
        hosted.dialled_before = resumed.dialled
        hosted.paces = replay.paces         # the next pace is journaled against the last
        hosted.call_window = replay.call_window_now()
        # Agents it holds at the site (whose journal kept them not ready): those previewing
        # and, when it holds agents for their calls, those of calls not yet connected.
        hosted.previews = dict(resumed.previews or ())
        hosted.holding = set(hosted.previews)
        if hosted.config.holds_agents:
            hosted.holding.update(call.agent_id for call in resumed.calls
                                  if call.agent_id is not None and call.state != "talking")
        for call in resumed.calls:
            up = Up(call.record_id, None, answered=call.state != "ringing",
                    connected=call.state == "talking", recovered=True,
                    agent_id=call.agent_id)
            hosted.calls[call.call_id] = up
            campaigns._calls[call.call_id] = hosted
            if call.state == "ringing":
                hosted.resend.append(call.call_id)
        campaigns.hosted[name] = hosted
        changes = await _list_changes(campaigns, name, replay)
        if changes:
            await campaigns._feed(hosted, lambda at: changes(at))
    # Plans Admin changed before the campaign was back (a new leader serves first).
    await campaigns.call_window_changed(hosted, campaigns.host.plans.calendars)
    # Agents it held who logged out (or were deleted) while no server followed it.
    for agent in sorted(hosted.holding | set(hosted.previews)):
        if not await _logged_in(campaigns.host, hosted.site, agent):
            campaigns._let_go(hosted.site, agent)
    log.info("campaign %s resumed (%s): from %s, %d journal entries replayed, %d calls up",
             name, state, f"its snapshot after entry {replay.snapshot_seq}"
             if replay.pacer_state is not None else "its start", len(replay.steps),
             len(resumed.calls))
    for call in resumed.calls:
        if call.state != "ringing":     # beside the other campaigns' resumption
            campaigns._spawn(_follow_answer(campaigns, hosted, call))
    if state == "stopped" and not hosted.calls:
        await campaigns._close_stopped(hosted)
    elif state == "running" or hosted.resend:
        campaigns._pace_soon(hosted)        # a paused one only sends its dials again


async def rebuild_lost_pacer(campaigns, hosted: Hosted, lost: Exception) -> None:
    """The campaign's pacer is gone (its Ray actor died with its node, say; Ray does not
    restart it, actors/handles.py): a new one from the journal, as a resume builds it (its
    newest snapshot and the entries after it), standing where the old one last committed;
    the decisions of the replay were carried out already. What the host knows of its calls
    stays as it is: it is what those entries decided. `lost` is raised if it cannot be
    rebuilt here: no journal, a campaign this host no longer runs (detached, deposed), or a
    failure on the way, which leaves the dead pacer in place so that the next step tries
    again."""
    journal = campaigns.journal
    if (journal is None or campaigns.closed or campaigns.host is None or hosted.deposed
            or campaigns.hosted.get(hosted.name) is not hosted):
        raise lost
    loop = asyncio.get_running_loop()
    log.warning("campaign %s: its pacer is gone (%s); rebuilding it from its journal",
                hosted.name, lost)
    try:
        replay = await loop.run_in_executor(None, journal.read, hosted.name)
        rows = await loop.run_in_executor(None, campaigns.store.list_rows, hosted.name)
    except Exception as error:      # noqa: BLE001 - the store: the next step tries again
        log.error("campaign %s: its journal could not be read (%s: %s); its next step tries "
                  "again", hosted.name, type(error).__name__, error)
        raise lost from None
    if replay.next_seq != hosted.seq:
        # Someone else wrote its journal meanwhile (a newer leader): not ours to rebuild.
        campaigns._depose(hosted, f"its journal goes on at entry {replay.next_seq}, not "
                                  f"{hosted.seq}")
        raise lost
    dead, clock = hosted.pacer, campaigns.host.wall_clock
    try:
        campaigns.host.stop_pacer(dead)
    except Exception:       # noqa: BLE001 - gone already
        pass
    try:
        await _rebuild(campaigns, hosted, rows, replay, clock, dead)
    except Exception as error:      # noqa: BLE001 - a half-replayed pacer must not decide
        _stop_half_built(campaigns, hosted, dead)
        hosted.pacer = dead
        log.error("campaign %s: its pacer could not be rebuilt (%s: %s); its next step "
                  "tries again", hosted.name, type(error).__name__, error)
        raise lost from None


def _stop_half_built(campaigns, hosted: Hosted, dead=None) -> None:
    """Stop the pacer being built (not `dead`, the one it replaces, if any)."""
    if hosted.pacer is not None and hosted.pacer is not dead:
        try:
            campaigns.host.stop_pacer(hosted.pacer)
        except Exception:   # noqa: BLE001 - gone already
            pass
    hosted.pacer = None


async def _rebuild(campaigns, hosted: Hosted, rows: list, replay, clock, dead=None) -> tuple:
    """The pacer from the list, the lists and clock it started with, the replay's snapshot
    if any and its steps: (the replay used, its time, DialerActor.Resumed). A snapshot this
    server cannot restore (another version's layout, say) is only a shortcut: the whole
    journal is read and replayed instead. `dead`: the pacer it replaces (left alone)."""
    try:
        return (replay, *await _build_and_replay(campaigns, hosted, rows, replay, clock))
    except Exception as error:      # noqa: BLE001 - the journal alone still has it all
        if replay.pacer_state is None:
            raise
        log.warning("campaign %s: its snapshot after entry %d was not restored (%s: %s); "
                    "replaying its whole journal", hosted.name, replay.snapshot_seq,
                    type(error).__name__, error)
    _stop_half_built(campaigns, hosted, dead)
    replay = await asyncio.get_running_loop().run_in_executor(
        None, campaigns.journal.read, hosted.name, False)
    return (replay, *await _build_and_replay(campaigns, hosted, rows, replay, clock))


async def _build_and_replay(campaigns, hosted: Hosted, rows: list, replay, clock) -> tuple:
    """(its time, DialerActor.Resumed) of the pacer built from `replay`."""
    await campaigns._build_pacer(hosted, rows,
                                 DoNotCall(replay.global_keys, replay.campaign_keys),
                                 replay.clock or clock, replay.pacer_state)
    now = max(campaigns.host.now(), replay.last_time)
    return now, await hosted.pacer.replay(replay.steps, now)


async def _logged_in(host, site: str, agent_id: str) -> bool:
    try:
        state, _ = await host.agent_state(site, agent_id)
    except InvalidInput:            # deleted
        return False
    return state is not AgentState.LOGGED_OUT


async def _list_changes(campaigns, name: str, replay):
    """The events that bring the pacer's do-not-call lists to what the store holds now, as
    a function of the time (None: nothing changed)."""
    global_now, campaign_now = await campaigns._list_keys(name)
    global_then, campaign_then = replay.lists_now()
    changes = [(scope, tuple(now - then), tuple(then - now))
               for scope, now, then in ((GLOBAL, set(global_now), global_then),
                                        (CAMPAIGN, set(campaign_now), campaign_then))]
    changes = [change for change in changes if change[1] or change[2]]
    if not changes:
        return None
    return lambda at: [dev.DoNotCallChanged(at, scope, add, remove)
                       for scope, add, remove in changes]


async def _follow_answer(campaigns, hosted, call) -> None:
    """A live answer the journal has as waiting for an agent or talking: what became of its
    outbound contact at the site since (the site's own journal knows)."""
    call_id = call.call_id
    up = hosted.calls.get(call_id)
    if up is None:
        return
    view = await campaigns.host.contact_view(call_id)
    if call.state == "talking":
        if view is None:            # it ended while no server followed the campaign
            campaigns._forget(hosted, call_id)
            await campaigns._feed(hosted, lambda now: [dev.CallEnded(now, call_id)])
        return
    final = campaigns.host.final_state(call_id) if view is None else None
    if final is not None:
        # It ended at the site while no server followed the campaign: completed means an
        # agent had it; abandoned means nobody took it.
        if final[0] is ContactState.COMPLETED:
            campaigns._forget(hosted, call_id)
            await campaigns._feed(hosted, lambda now: [dev.CallConnected(now, call_id),
                                                       dev.CallEnded(now, call_id)])
        else:
            up.abandoning = True
            await campaigns._abandoned(hosted, call_id)
        return
    if view is None:
        # The site never got it (the old server died after journaling the answer): handed
        # to the site again, owned by the link that serves the site (once the PBX is back);
        # no link within the limit makes it an abandon.
        if not await campaigns.link_for_resumed(hosted, up, LINK_WAIT_S):
            up.abandoning = True
            await campaigns._abandoned(hosted, call_id)
            return
        await campaigns._connect(hosted, Connect(call_id, hosted.skill, call.agent_id,
                                                 hosted.config.connect_within_s),
                                 campaigns.host.now())
    elif view.state in _WAITING:
        asyncio.get_running_loop().call_later(
            hosted.config.connect_within_s,
            lambda: campaigns._spawn(campaigns._connect_limit(hosted, call_id)))
    else:                           # an agent took it while no server followed the campaign
        up.connected = True
        await campaigns._feed(hosted, lambda now: [dev.CallConnected(now, call_id)])
