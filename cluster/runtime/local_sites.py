"""The sites of a round in this process: the in-process runtime's and the simulator's backend
of `cluster.runtime.rounds.Rounds` (the Ray runtime's is cluster/runtime/ray_sites.py).

Each site is a `SiteState` answered through `sites.rounds.SiteRounds`, the class a Ray
site actor answers with, so both backends give the same answers. Reads that the Ray backend
keeps from earlier answers (queue lengths, deadlines, skills) are read from the sites
directly here: they are exact and cost nothing.

A local site is never late (`cluster.runtime.rounds.Late`). The round's questions are coroutines (the Ray backend's wait for the actors) that never
wait here: `cluster.runtime.rounds.run_now` runs a round over local sites to its end at once.
A call that raises here is a bug (refusals are results): it propagates to the round's
caller, as a core bug does in the in-process runtime.
"""

from __future__ import annotations

from typing import Mapping

from sites import events as ev
from sites.errors import InvalidInput
from sites.rounds import RoundResult, SiteRounds
from sites.state import SiteState


class LocalSites:
    def __init__(self, states: Mapping[str, SiteState]):
        self.states = states        # the host's own mapping: sites added later are seen
        self._rounds: dict[str, SiteRounds] = {}

    def _site(self, name: str) -> SiteRounds:
        state = self.states[name]
        rounds = self._rounds.get(name)
        if rounds is None or rounds.state is not state:     # a site replaced (restore)
            rounds = self._rounds[name] = SiteRounds(state)
        return rounds

    # ---- what a round asks --------------------------------------------------------------------
    def count(self) -> int:
        return len(self.states)

    async def handle_rounds(self, events_by_site: dict, may_be_late: bool = False) -> dict:
        # Only `results` is read from these answers: no queue lengths to gather.
        return {site: RoundResult(self._site(site).handle_batch(events), None, None)
                for site, events in events_by_site.items()}

    async def handle_one(self, site: str, event, may_be_late: bool = False):
        """One event at one site: its actions, or the InvalidInput that refused it."""
        try:
            return self.states[site].handle(event)
        except InvalidInput as error:
            return error

    async def surveys(self, requests: dict) -> dict:
        return {site: self._site(site).survey(*arguments) for site, arguments in requests.items()}

    async def accept_interflows(self, arrivals_by_site: dict) -> dict:
        return {site: self._site(site).accept_interflows(arrivals)
                for site, arrivals in arrivals_by_site.items()}

    async def ticks_due(self, now: float) -> dict:
        answers = {}
        for name, state in list(self.states.items()):
            deadline = state.next_deadline()
            if deadline is not None and deadline <= now:
                answers[name] = RoundResult(state.handle(ev.Tick(now)), None, None)
        return answers

    def with_skill(self, skill: str) -> list:
        return [name for name, state in self.states.items() if skill in state.skills]

    def agent_config(self, site: str, agent_id: str):
        state = self.states.get(site)
        agent = state.agents.get(agent_id) if state is not None else None
        return agent.config if agent is not None else None

    def queued_elsewhere(self, site: str, skill: str) -> bool:
        """Does a contact of `skill` wait at a site other than `site`? (A loop, not any()
        over a generator: this runs each time an agent becomes ready.)"""
        for name, other in self.states.items():
            if name != site and skill in other.skills and other.queued_total(skill):
                return True
        return False

    def earliest_deadline(self) -> float | None:
        deadlines = [d for d in (state.next_deadline() for state in self.states.values())
                     if d is not None]
        return min(deadlines) if deadlines else None
