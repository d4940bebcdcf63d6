"""VirtualCenterActor: Best Service Routing across sites (`sites.virtual_center.VirtualCenter`).

A plain class like SiteActor (`actors/handles.py` makes it a Ray actor). Site actors'
statuses reach it in batches (`publish`), and a decision call may carry the statuses it
should see first (`publish=`), so that one Ray call both refreshes and decides.

What a restart loses: the statuses (sites publish again before the next decision, and a
status older than `max_status_age_s` is not trusted anyway) and the interflow counts of
contacts (a contact interflowed before the restart may move once more than `hop_limit`).
"""

from __future__ import annotations

from sites.model import Channel, Priority, parse_enum
from sites.statistics import SkillStatus
from sites.virtual_center import BsrConfig, RouteDecision, VirtualCenter


def _priority(priority) -> int:
    return priority.value if isinstance(priority, Priority) else priority


class VirtualCenterActor:
    def __init__(self, config: BsrConfig):
        self.config = config
        self.center = VirtualCenter(config)

    def publish(self, statuses) -> None:
        """Take the newest of each site's statuses (an older one than known is ignored)."""
        publish = self.center.publish
        for status in statuses:
            publish(status)

    def best_site(self, now: float, local: SkillStatus, contact_id: str, priority,
                  publish=()) -> RouteDecision:
        """Where a contact entering (or queued at) `local.site` should be served."""
        self.publish(publish)
        return self.center.best_site(now, local, contact_id, _priority(priority))

    def remote_accepts(self, remote_now: SkillStatus, local_ewt_s: float | None,
                       priority) -> bool:
        """Look-ahead: the remote site, on its current status, still beats the entry site."""
        return self.center.remote_accepts(remote_now, local_ewt_s, _priority(priority))

    def note_interflow(self, contact_id: str) -> int:
        """Count one more move of the contact; the number of moves so far."""
        self.center.note_interflow(contact_id)
        return self.center.hops(contact_id)

    def hops(self, contact_id: str) -> int:
        return self.center.hops(contact_id)

    def site_to_pull_from(self, now: float, idle_site: str, skill: str, channel=Channel.VOICE,
                          publish=()) -> str | None:
        """Agent surplus: the site whose queued contact of `skill` waited longest, or None."""
        self.publish(publish)
        return self.center.site_to_pull_from(now, idle_site, skill,
                                             parse_enum(Channel, channel, "channel"))
