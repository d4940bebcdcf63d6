"""A campaign's list of records to dial, in order: record ids, with what the core may know
of each callee without their number.

Phone numbers stay with the host (the PBX link, the simulator's world): no number reaches
the core, its journal or its snapshots (as for inbound callers, sites/events.py). The host
gives, per record, the callee's time zone group (an index into `zone_sets`, each a tuple of
IANA zone names: one for a known zone, several when the number's prefix spans zones, none
when unknown) and, for the do-not-call lists, a keyed hash of the number (`keys`; see
do_not_call.py).

Order. Fresh records are taken first to last; records to try again (retries, SPEC §6) come
back when they are due, before fresh ones. With call windows (windows.py), a record is
taken only while its callee's window is open: fresh records of a closed zone group stay
where they are (those of open groups go first, still in list order) and a retry that comes
due outside its window waits in the due-time heap until the window opens, keeping its place
among those due then. A record of an unknown zone is never dialled when the campaign has a
call window (counted in `skipped_unknown_zone`).
"""

from __future__ import annotations

import heapq
import math
from array import array

from sites.errors import InvalidInput


class CallList:
    """Records `ids` (a sequence of strings), first to last; `groups[i]` the zone group of
    record i (None: all in group 0); `zone_sets[g]` the zones of group g; `keys[i]` the
    keyed hash of record i's number (None: no numbers known, as for `numbered` lists)."""
    __slots__ = ("ids", "groups", "zone_sets", "keys", "windows", "_fresh", "_heads",
                 "_retries", "_order", "_out", "dialled", "skipped_unknown_zone",
                 "window_waits")

    def __init__(self, ids, groups=None, zone_sets=((),), keys=None):
        self.ids = ids
        self.zone_sets = tuple(tuple(zones) for zones in zone_sets)
        if not self.zone_sets:
            raise InvalidInput("zone_sets", "give at least one zone group")
        self.groups = groups
        self.keys = keys
        for name, values in (("groups", groups), ("keys", keys)):
            if values is not None and len(values) != len(ids):
                raise InvalidInput(name, f"one per record: {len(values)} for {len(ids)} records")
        if groups is None:
            self._fresh = [range(len(ids))] + [range(0)] * (len(self.zone_sets) - 1)
        else:
            fresh = [array("q") for _ in self.zone_sets]
            for index, group in enumerate(groups):
                if not 0 <= group < len(fresh):
                    raise InvalidInput(f"groups[{index}]", f"no zone group {group!r}")
                fresh[group].append(index)
            self._fresh = fresh
        self._heads = [0] * len(self._fresh)
        self._retries: list = []        # heap of (due, order, record index)
        self._order = 0
        self._out: dict = {}            # record id -> index, from take until retry or done
        self.windows = None             # windows.CallWindows, set by the campaign
        self.dialled = 0                # fresh records taken
        self.skipped_unknown_zone = 0
        self.window_waits = 0           # retries put off until their window opened

    @classmethod
    def numbered(cls, name: str, size: int, zone: str | None = None) -> "CallList":
        """`size` records NAME-0 .. NAME-(size-1), made as they are dialled, all of them in
        `zone` (None: unknown)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput("list.size", f"must be an integer >= 0; got {size!r}")
        return cls(_Numbered(name, size), zone_sets=((zone,) if zone else (),))

    def take(self, now: float = math.inf) -> str | None:
        """The next record to dial at `now`: a retry that is due, else the next fresh one
        (None: nothing now)."""
        retries, windows = self._retries, self.windows
        while retries and retries[0][0] <= now:
            _, order, index = heapq.heappop(retries)
            if windows is not None:
                opens = windows.opens_at(self._group(index), now)
                if opens is None:           # its window never opens again
                    self.skipped_unknown_zone += 1
                    continue
                if opens > now:             # bounded: it goes back after `now`
                    heapq.heappush(retries, (opens, order, index))
                    self.window_waits += 1
                    continue
            return self._take_out(index)
        best = best_index = None
        for group, fresh in enumerate(self._fresh):
            head = self._heads[group]
            if head >= len(fresh):
                continue
            if windows is not None:
                opens = windows.opens_at(group, now)
                if opens is None:
                    self.skipped_unknown_zone += len(fresh) - head
                    self._heads[group] = len(fresh)
                    continue
                if opens > now:
                    continue
            if best is None or fresh[head] < best_index:
                best, best_index = group, fresh[head]
        if best is None:
            return None
        self._heads[best] += 1
        self.dialled += 1
        return self._take_out(best_index)

    def _take_out(self, index: int) -> str:
        record = self.ids[index]
        self._out[record] = index
        return record

    def _group(self, index: int) -> int:
        return 0 if self.groups is None else self.groups[index]

    def key(self, record: str):
        """The keyed hash of a taken record's number (None: not known)."""
        return None if self.keys is None else self.keys[self._index(record)]

    def retry(self, record: str, due: float) -> None:
        """Try `record` (taken) again from `due` on (in the order they were asked, at one
        time)."""
        heapq.heappush(self._retries, (due, self._order, self._pop_out(record)))
        self._order += 1

    def _pop_out(self, record: str) -> int:
        index = self._index(record)
        del self._out[record]
        return index

    def _index(self, record: str) -> int:
        index = self._out.get(record)
        if index is None:
            raise InvalidInput("record_id", f"record {record!r} is not being dialled")
        return index

    def shift_retries(self, delta: float) -> None:
        """Move every waiting retry's due time by `delta` seconds (the core's time was mapped
        anew to the wall clock), keeping their order."""
        if delta:
            self._retries = [(due + delta, order, index) for due, order, index in self._retries]
            heapq.heapify(self._retries)    # rounding may make two dues equal

    def done(self, record: str) -> None:
        """`record` (taken) is over: not to be dialled again."""
        self._out.pop(record, None)

    def next_due(self, now: float | None = None) -> float | None:
        """When a record may next be taken (None: none waits): the first waiting retry, or,
        given `now`, the first opening of a call window that has fresh records."""
        due = self._retries[0][0] if self._retries else None
        if now is None:
            return due
        windows = self.windows
        for group, fresh in enumerate(self._fresh):
            if self._heads[group] >= len(fresh):
                continue
            opens = now if windows is None else windows.opens_at(group, now)
            if opens is not None and (due is None or opens < due):
                due = opens
        return due

    def state(self) -> dict:
        """Where it stands, as JSON-ready data (a campaign's snapshot): the records
        themselves are the host's (its store's list), so records appear as their index."""
        return {"heads": list(self._heads),
                "retries": [list(retry) for retry in sorted(self._retries)],
                "order": self._order, "out": list(self._out.values()),
                "dialled": self.dialled, "skipped_unknown_zone": self.skipped_unknown_zone,
                "window_waits": self.window_waits}

    def restore(self, state: dict) -> None:
        """Put back `state()` of a CallList of the same records."""
        heads = state["heads"]
        if len(heads) != len(self._heads):
            raise ValueError(f"{len(self._heads)} zone groups; the state has {len(heads)}")
        self._heads = list(heads)
        # Sorted is a heap already; (due, order) is unique, so any heap pops alike.
        self._retries = [(due, order, index) for due, order, index in state["retries"]]
        self._order = state["order"]
        self._out = {self.ids[index]: index for index in state["out"]}
        self.dialled = state["dialled"]
        self.skipped_unknown_zone = state["skipped_unknown_zone"]
        self.window_waits = state["window_waits"]

    @property
    def remaining(self) -> int:
        """Records still to dial: fresh ones and retries waiting."""
        return sum(len(fresh) - head for fresh, head in zip(self._fresh, self._heads)) + len(
            self._retries)


class _Numbered:
    """A sequence of NAME-i without holding them all."""
    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int):
        self.name, self.size = name, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return f"{self.name}-{index}"
