"""A campaign's pacer behind the one interface both runtimes use: `DialerActor.step`.

A plain class (like SiteActor: importable without Ray): the in-process runtime holds one per
campaign directly, the Ray runtime makes it a Ray actor, one per campaign
(actors/handles.py `DialerHandle`). Either way the gateway's campaign host
(cluster/campaigns/hosting.py, the one implementation of hosting) sends it the events of a
moment in ONE call and gets back everything it needs to carry them out and to know when to
come back: a Ray call costs about a millisecond (ARCHITECTURE.md), so a pace is one call,
not one per question.
"""

from __future__ import annotations

from dataclasses import dataclass

from sites.calendars import WallClock
from sites.dialer.call_list import CallList
from sites.dialer.campaign import Campaign
from sites.dialer.config import CampaignConfig
from sites.dialer.do_not_call import DoNotCall
from sites.errors import InvalidInput


@dataclass(slots=True)
class Step:
    """What a step of the pacer decided, and where it stands after it."""
    decisions: list
    pace_at: float | None        # when to pace next if nothing else happens (None: on events)
    figures: dict                # Campaign.figures() and the calls up now
    remaining: int               # records still to dial (fresh and retries waiting)
    # The first event the pacer refused of a step whose others it applied (their indexes,
    # `applied`; None: it applied every event): the host must journal exactly those and
    # carry out their decisions, or its journal would replay to another pacer than the
    # one deciding.
    refused: Exception | None = None
    applied: list | None = None


@dataclass(slots=True)
class OpenCall:
    """A call the pacer dialled that is not over: `state` ringing (no answer reported yet),
    waiting (answered live, no agent yet) or talking (connected to an agent)."""
    call_id: str
    record_id: str
    state: str
    agent_id: str | None


@dataclass(slots=True)
class Resumed:
    step: Step                   # where it stands (no decisions: they were carried out)
    calls: list                  # OpenCall, ...
    previews: list = None        # (agent id, record id) of the records in preview
    dialled: int = 0             # calls it ever dialled: its call ids below this number


class DialerActor:
    def __init__(self, config: CampaignConfig, ids, groups, zone_sets, keys,
                 do_not_call: DoNotCall | None = None, clock: WallClock | None = None,
                 state: dict | None = None):
        """The campaign's list as the core gets it (sites/dialer/call_list.py): record ids,
        their zone groups and the keyed hashes of their numbers; never a number. `clock`:
        the host's time as wall-clock time, for the call window (the host's `wall_clock`).
        `state`: a `snapshot()` of the campaign's pacer to start from (made with these
        arguments: `do_not_call` the lists it started with)."""
        self.campaign = Campaign(config, CallList(ids, groups, zone_sets, keys), clock=clock,
                                 do_not_call=do_not_call)
        if state is not None:
            self.campaign.restore(state)

    def step(self, events: list, now: float) -> Step:
        """Apply `events` in order (each carries its time). An event the pacer refuses
        (InvalidInput: it changed nothing) is left out and the others are applied all the
        same (each is a fact of its own: one agent's refused hold says nothing of the
        next's). If it refused every event, the first refusal is raised; if some, the Step
        holds the first refusal (`refused`) and the indexes of the events it `applied`."""
        campaign = self.campaign
        decisions = []
        refused = applied = None
        for index, event in enumerate(events):
            try:
                decisions.extend(campaign.handle(event))
            except InvalidInput as error:
                if refused is None:
                    refused, applied = error, list(range(index))
                continue
            if applied is not None:
                applied.append(index)
        if refused is not None and not applied:
            raise refused
        pace_at = campaign.next_pace_at(now)
        if pace_at is None and not campaign.stopped:
            # A campaign that dials only for idle agents is paced on events; a retry that
            # comes due while nothing happens is paced at its time (as the simulator does).
            due = campaign.call_list.next_due(now)
            pace_at = due if due is not None and due > now else None
        figures = campaign.figures()
        figures["calls_up"] = len(campaign.ringing) + len(campaign.waiting)
        return Step(decisions, pace_at, figures, campaign.call_list.remaining, refused, applied)

    def replay(self, steps: list, now: float) -> Resumed:
        """Apply journaled steps ([[event, ...], ...]) as they were first applied, their
        decisions already carried out by the process that journaled them (so dropped here);
        where the pacer stands after them."""
        for events in steps:
            self.step(events, events[-1].time if events else now)
        step = self.step([], now)
        return Resumed(step, [OpenCall(*call) for call in self.campaign.open_calls()],
                       self.campaign.in_preview(), self.campaign.dialled)

    def snapshot(self) -> dict:
        """The pacer's state as JSON-ready data (Campaign.snapshot)."""
        return self.campaign.snapshot()
