"""Persistence for the sites one process hosts: journal, records and snapshots together.

`Persistence.attach(state)` wraps one SiteState so that every entry it accepts (events
through `handle`, and live configuration changes) is collected in order and observed by the
Recorder, the moment the core has applied it. The core stays pure: the wrapping sits
outside it, and a refused entry (InvalidInput) is neither journaled nor recorded.

The host calls `flush()` after applying a batch and awaits it before acknowledging: it
appends each site's collected entries to the journal (durable when it resolves), queues the
records finished meanwhile, and snapshots every site whose journal has grown by
`Journal.snapshot_every` entries since its last snapshot.
"""

from __future__ import annotations

import asyncio

from cluster.store.codec import ConfigChange
from cluster.store.journal import Journal
from cluster.store.records import Recorder
from sites.state import SiteState

# SiteState configuration methods and the journal entry each one makes.
_CONFIG_METHODS = {
    "add_skill": ConfigChange.add_skill, "update_skill": ConfigChange.update_skill,
    "remove_skill": ConfigChange.remove_skill, "add_agent": ConfigChange.add_agent,
    "replace_agent": ConfigChange.replace_agent, "remove_agent": ConfigChange.remove_agent,
    "put_plans": ConfigChange.put_plans,
}


class Persistence:
    def __init__(self, journal: Journal, recorder: Recorder | None = None):
        self.journal = journal
        self.recorder = recorder
        self.sites: dict[str, SiteState] = {}
        self._collected: dict[str, list] = {}
        self._depth: dict[str, list] = {}      # site -> [configuration calls under way]

    def attach(self, state: SiteState) -> SiteState:
        """Collect every entry `state` accepts from now on (its current state must already
        be in the journal: a new site's snapshot, or a recovered one)."""
        name = state.name
        if name in self.sites:
            raise ValueError(f"site {name!r} is attached already")
        self.sites[name] = state
        self._collected[name] = []
        collected, recorder = self._collected, self.recorder
        handle = state.handle

        journal = self.journal

        def handle_and_collect(event):
            actions = handle(event)          # raises InvalidInput before anything changed
            entries = collected[name]
            entries.append(event)
            if recorder is not None:
                # The entry's journal number: flush numbers each site's entries in order.
                recorder.observe(state, event, actions, journal.last_seq(name) + len(entries))
            return actions

        state.handle = handle_and_collect
        for method_name, make_entry in _CONFIG_METHODS.items():
            setattr(state, method_name,
                    self._collecting(name, getattr(state, method_name), make_entry))
        return state

    def detach(self, name: str) -> None:
        """Stop journaling site `name` (its collected entries must be flushed first)."""
        if self._collected.get(name):
            raise ValueError(f"site {name!r} has entries not flushed yet")
        self.sites.pop(name, None)
        self._collected.pop(name, None)
        self._depth.pop(name, None)

    async def delete_site(self, name: str) -> None:
        """Journal the end of site `name` after everything it applied (a tombstone, so that
        recovery does not bring it back: journal.deleted_sites) and stop journaling it."""
        await self.flush()
        self.detach(name)
        await self.journal.append(name, [ConfigChange.delete_site()])

    def delete_site_now(self, name: str) -> None:
        """`delete_site` without an event loop (a site actor's store)."""
        self.flush_now(snapshots=False)
        self.detach(name)
        self.journal.append_now(name, [ConfigChange.delete_site()])

    def _collecting(self, name, method, make_entry):
        collected = self._collected
        depth = self._depth.setdefault(name, [0])      # shared by the site's wrappers

        def change_and_collect(argument):
            # Invariant: one configuration call, one entry. Should a change ever be made of
            # others (replace = remove + add), only the outermost is journaled, or replay
            # would apply the inner ones twice and refuse the journal (issue 15).
            depth[0] += 1
            try:
                method(argument)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                collected[name].append(make_entry(argument))
        return change_and_collect

    def start_site(self, state: SiteState) -> None:
        """Attach a new site and snapshot it at its current journal position (entry 0 for
        a new one), so that recovering it never depends on a configuration file that may
        have changed since."""
        self.attach(state)
        self.journal.snapshot_now(state.name, self.snapshot_document(state))

    def snapshot_document(self, state: SiteState) -> dict:
        document = {"site": state.snapshot()}
        if self.recorder is not None:
            document["recorder"] = self.recorder.dump(state.name)
        return document

    def _take(self) -> dict:
        """{site: entries collected since the last flush}; the lists handed out stay as
        they are (the journal encodes them later), new entries go to fresh lists."""
        taken = {name: entries for name, entries in self._collected.items() if entries}
        for name in taken:
            self._collected[name] = []
        return taken

    async def flush(self) -> None:
        """Journal everything applied since the last flush; returns once it is durable."""
        waits = [self.journal.append(name, entries) for name, entries in self._take().items()]
        if self.recorder is not None:
            self.journal.add_rows(*self.recorder.take())
        for name, state in self.sites.items():
            if self.journal.snapshot_due(name):
                waits.append(self.journal.snapshot(name, self.snapshot_document(state)))
        if waits:
            await asyncio.gather(*waits)
        else:
            await self.journal.drain()

    def flush_now(self, *, snapshots: bool = True) -> None:
        """`flush` without an event loop (tools, tests, the simulator); `snapshots=False`
        writes none even if one is due."""
        for name, entries in self._take().items():
            self.journal.append_now(name, entries)
        if self.recorder is not None:
            self.journal.add_rows(*self.recorder.take())
            self.journal.commit_now()
        for name, state in self.sites.items():
            if snapshots and self.journal.snapshot_due(name):
                self.journal.snapshot_now(name, self.snapshot_document(state))
