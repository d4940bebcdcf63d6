"""Writing a campaign's journal and snapshots (cluster/campaigns/journal.py) as its host runs
it: each step's entry committed before its decisions are carried out, a snapshot of the
pacer every `snapshot_every` entries, the last entry of a stopped campaign. A mixin of
CampaignHost: it uses its `journal`, `token`, `_spawn` and `_cancel_timer`.
"""

from __future__ import annotations

import asyncio
import logging

from cluster.campaigns.hosted import Hosted
from cluster.campaigns.journal import JournalConflict, closed_entry, snapshot_state

log = logging.getLogger("cluster.campaigns.hosting")


class Journaling:
    async def _write(self, hosted: Hosted, entry: dict) -> None:
        """Journal `entry` as the campaign's next (committed when this returns); a newer
        server that wrote it first deposes this one (JournalConflict)."""
        if self.journal is None:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.journal.append, hosted.name, hosted.seq,
                                       entry, self.token)
        except JournalConflict:
            self._depose(hosted, "a newer server journals it now")
            raise
        except Exception as error:
            # The pacer went on without its journal: a later server could not replay it,
            # so this one dials nothing more for it (a restart resumes it from the journal).
            self._depose(hosted, f"its journal could not be written ({type(error).__name__})")
            raise
        hosted.seq += 1

    async def _snapshot(self, hosted: Hosted) -> None:
        """Keep the pacer as it stands after the entry just written (taken under the
        campaign's lock: no step in between; written beside its next steps), so that a
        resume replays only what follows."""
        hosted.since_snapshot = 0
        try:
            state = snapshot_state(await hosted.pacer.snapshot(), hosted.paces)
        except Exception as error:      # noqa: BLE001 - its next step meets the same fault
            log.warning("campaign %s: no snapshot of its pacer (%s)", hosted.name,
                        type(error).__name__)
            return
        self._spawn(self._write_snapshot(hosted, hosted.seq - 1, state))

    async def _write_snapshot(self, hosted: Hosted, seq: int, state: dict) -> None:
        """A failed write is only logged: the journal still has everything."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self.journal.write_snapshot, hosted.name, seq,
                                       state, self.token)
        except Exception as error:      # noqa: BLE001 - a shortcut, not the record
            log.warning("campaign %s: snapshot after entry %d not written (%s); a resume "
                        "replays more of the journal", hosted.name, seq, type(error).__name__)

    def _depose(self, hosted: Hosted, why: str) -> None:
        log.error("campaign %s: %s; this server dials nothing more for it", hosted.name, why)
        hosted.deposed = True
        self._cancel_timer(hosted)

    async def _close_stopped(self, hosted: Hosted) -> None:
        """A stopped campaign's last call is over: journaled, so that no later server
        replays it."""
        async with hosted.lock:
            if not hosted.deposed and not hosted.calls:
                await self._write(hosted, closed_entry())
