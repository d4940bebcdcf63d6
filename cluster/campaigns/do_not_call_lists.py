"""The do-not-call lists as the campaigns of this server hold them (cluster/campaigns/
hosting.py; SPEC §6): numbers become keyed hashes with the center's secret here, the store
keeps the keys, and every change reaches the pacers it concerns at once. A mixin of
CampaignHost: it uses its `do_not_call`, `lists_lock`, `hosted` and `_feed`.
"""

from __future__ import annotations

import asyncio

from cluster.phone_keys import phone_key
from sites.dialer import events as dev
from sites.dialer.do_not_call import CAMPAIGN, GLOBAL


class DoNotCallLists:
    async def _list_keys(self, name: str) -> tuple:
        """(global keys, the campaign's keys) of the do-not-call lists in the store now."""
        if self.do_not_call is None:
            return frozenset(), frozenset()
        loop = asyncio.get_running_loop()
        global_keys = await loop.run_in_executor(None, self.do_not_call.keys, "")
        campaign_keys = await loop.run_in_executor(None, self.do_not_call.keys, name)
        return global_keys, campaign_keys

    def load_secret(self) -> bytes:
        """The center's secret, read from its source the first time (blocking: callers run
        it off the event loop, as every store call)."""
        if self._secret is None:
            self._secret = self._secret_source()
        return self._secret

    @property
    def secret(self) -> bytes:
        if self._secret is None:
            raise RuntimeError("the center's number-key secret is not loaded: load_secret()")
        return self._secret

    def number_key(self, e164: str) -> bytes:
        """The keyed hash of a number in E.164 form, with the center's secret."""
        return phone_key(self.secret, e164)

    async def change_do_not_call(self, campaign: str, add: list, remove: list, write) -> tuple:
        """Change the global list (`campaign` "") or a campaign's: `add`/`remove` are E.164
        numbers, turned into keys here; `write(scope, add_keys, remove_keys)` is an
        awaitable that stores the change and answers (keys added, keys removed, size). Every
        pacer the change concerns gets it at once; what `write` answered comes back."""
        add_keys = [self.number_key(number) for number in add]
        remove_keys = [self.number_key(number) for number in remove]
        async with self.lists_lock:
            added, removed, size = await write(campaign, add_keys, remove_keys)
            if added or removed:
                scope = CAMPAIGN if campaign else GLOBAL
                for hosted in list(self.hosted.values()):
                    if hosted.pacer is not None and (not campaign or hosted.name == campaign):
                        await self._feed(hosted, lambda now: [dev.DoNotCallChanged(
                            now, scope, tuple(added), tuple(removed))])
        return added, removed, size
