"""Best Service Routing across sites: several sites acting as one virtual center (SPEC §3).

Pure and deterministic like the site core: sites' statuses arrive as `publish()` calls
carrying the time they were true, and every decision takes the time it is made at.

Rules (Avaya BSR style):
- an available agent anywhere wins, the entry site first on a tie of "has one";
  among remote sites the one with most available agents, then by name;
- otherwise the lowest EWT, where a remote site's EWT is penalised by `adjust_by`:
  ewt + max(N s, N% of ewt); the entry site keeps the contact on a tie;
- a status older than `max_status_age_s` is not trusted (the site is left out);
- interflow is look-ahead: the chosen remote site checks its own current status
  (`remote_accepts`) while the contact stays queued at the entry site; a refusal leaves it
  where it was;
- a contact moves at most `hop_limit` times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sites.errors import InvalidInput
from sites.model import check_number
from sites.recent import RecentMap
from sites.statistics import SkillStatus


@dataclass(frozen=True)
class BsrConfig:
    adjust_by: float = 0.0          # N: remote penalty max(N s, N% of EWT)
    max_status_age_s: float = 10.0
    hop_limit: int = 1

    def __post_init__(self):
        check_number(self.adjust_by, "routing.adjust_by", 0)
        check_number(self.max_status_age_s, "routing.max_status_age_s", 0, exclusive=True)
        if isinstance(self.hop_limit, bool) or not isinstance(self.hop_limit, int) or self.hop_limit < 0:
            raise InvalidInput("routing.hop_limit", f"must be an integer >= 0; got {self.hop_limit!r}")


@dataclass(frozen=True, slots=True)
class RouteDecision:
    site: str
    reason: str      # local_available | remote_available | lower_ewt | local_ewt | hop_limit
    ewt_s: float | None   # the chosen site's EWT as compared (penalised when remote)


def penalised(ewt_s: float | None, adjust_by: float) -> float:
    """A remote site's EWT after the adjust_by penalty; unbounded stays unbounded."""
    if ewt_s is None:
        return math.inf
    return ewt_s + max(adjust_by, adjust_by / 100.0 * ewt_s)


def _ewt(ewt_s: float | None) -> float:
    return math.inf if ewt_s is None else ewt_s


class VirtualCenter:
    """The statuses of every site and the BSR decisions made from them."""

    def __init__(self, config: BsrConfig):
        self.config = config
        self._statuses: dict = {}     # (skill, channel) -> {site: newest SkillStatus}
        self._hops = RecentMap()      # contact id -> times interflowed (the most recent)

    def publish(self, status: SkillStatus) -> None:
        by_site = self._statuses.setdefault((status.skill, status.channel), {})
        known = by_site.get(status.site)
        if known is None or status.time >= known.time:
            by_site[status.site] = status

    def _fresh_remote(self, now, entry_site, skill, channel):
        """Statuses of the other sites young enough to trust, in site-name order."""
        limit = self.config.max_status_age_s
        by_site = self._statuses.get((skill, channel), {})
        return [by_site[site] for site in sorted(by_site)
                if site != entry_site and now - by_site[site].time <= limit]

    def hops(self, contact_id: str) -> int:
        return self._hops.get(contact_id, 0)

    def best_site(self, now: float, local: SkillStatus, contact_id: str,
                  priority: int) -> RouteDecision:
        """Where a contact entering (or queued at) `local.site` should be served."""
        local_ewt = _ewt(local.ewt_s[priority])
        if local.available > 0:
            return RouteDecision(local.site, "local_available", 0.0)
        if self.hops(contact_id) >= self.config.hop_limit:
            return RouteDecision(local.site, "hop_limit", local.ewt_s[priority])
        remotes = [status for status in self._fresh_remote(now, local.site, local.skill,
                                                            local.channel) if status.staffed > 0]
        with_agents = [status for status in remotes if status.available > 0]
        if with_agents:
            best = max(with_agents, key=lambda status: status.available)  # first max: by name
            return RouteDecision(best.site, "remote_available", 0.0)
        best_remote, best_ewt = None, math.inf
        for status in remotes:
            ewt = penalised(status.ewt_s[priority], self.config.adjust_by)
            if ewt < best_ewt:
                best_remote, best_ewt = status, ewt
        if best_remote is not None and best_ewt < local_ewt:
            return RouteDecision(best_remote.site, "lower_ewt", best_ewt)
        return RouteDecision(local.site, "local_ewt", local.ewt_s[priority])

    def remote_accepts(self, remote_now: SkillStatus, local_ewt_s: float | None,
                       priority: int) -> bool:
        """Look-ahead: the remote site, on its current status, still beats the entry site."""
        if remote_now.available > 0:
            return True
        return penalised(remote_now.ewt_s[priority], self.config.adjust_by) < _ewt(local_ewt_s)

    def note_interflow(self, contact_id: str) -> None:
        self._hops[contact_id] = self.hops(contact_id) + 1

    def site_to_pull_from(self, now: float, idle_site: str, skill: str, channel) -> str | None:
        """Agent surplus: the site whose queued contact of this skill waited longest, or None.

        An idle agent at `idle_site` beats any wait elsewhere, so no penalty applies.
        """
        oldest_site, oldest = None, math.inf
        for status in self._fresh_remote(now, idle_site, skill, channel):
            if status.queued and status.oldest_arrival is not None and status.oldest_arrival < oldest:
                oldest_site, oldest = status.site, status.oldest_arrival
        return oldest_site
