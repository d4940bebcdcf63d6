"""A calendar that changes while campaigns run (cluster/campaigns/hosting.py; SPEC §6, §10):
Admin's new hours, a dated override or an emergency close reach each campaign whose call
window names it, as the journaled pacer event `CallWindowChanged`. A mixin of CampaignHost:
it uses its `hosted`, `_feed` and `_pace_soon`.
"""

from __future__ import annotations

import logging

from cluster.campaigns.hosted import Hosted
from sites.dialer import events as dev

log = logging.getLogger("cluster.campaigns.hosting")


class CallWindowChanges:
    async def calendars_changed(self, calendars: dict) -> None:
        """The routing plans changed (Admin: new hours, a dated override, an emergency
        close): each campaign here whose call window names a calendar that changed reads
        the new one from now on (`calendars`: name -> Calendar, the center's now)."""
        for hosted in list(self.hosted.values()):
            try:
                await self.call_window_changed(hosted, calendars)
            except Exception as error:      # noqa: BLE001 - the plans changed all the same
                # A campaign whose journal failed is deposed by _write (it dials nothing
                # more here); the others go on.
                log.error("campaign %s: the new call window was not applied: %s: %s",
                          hosted.name, type(error).__name__, error)

    async def call_window_changed(self, hosted: Hosted, calendars: dict) -> None:
        """One campaign: `CallWindowChanged` (journaled) if its calendar differs now. A
        calendar the plans no longer have leaves it the one it has (a new start of the
        campaign is refused until its call window names another)."""
        current = hosted.call_window
        if current is None or hosted.pacer is None or hosted.state == "stopped":
            return
        calendar = calendars.get(current.name)
        if calendar is None or calendar == current:
            return
        hosted.call_window = calendar
        await self._feed(hosted, lambda now: [dev.CallWindowChanged(now, calendar)])
        if hosted.state == "running":
            self._pace_soon(hosted)         # a window that opened: dial now
