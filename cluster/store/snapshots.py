"""Recovery: a site's state is its last snapshot plus the replay of the journal after it.

The core is deterministic, so the replay rebuilds exactly the state the site had after its
last committed entry; snapshots bound how much is replayed. A site with no snapshot starts
from its initial configuration (the host writes a snapshot at entry 0 when it creates a
site, so that a later change of the configuration file cannot change the past).

Several sites are replayed together, merged by event time, so that a `Recorder` fed during
the replay sees a contact's life in the order it happened across sites: entries of one
instant are grouped per site, and a site that interflowed a contact at that instant goes
before the site it went to (where it arrived second).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cluster.store import codec
from cluster.store.journal import SNAPSHOTS, decode_snapshot, read_entries
from sites import events as ev
from sites.errors import InvalidInput
from sites.model import SiteConfig
from sites.state import SiteState


class RecoveryError(RuntimeError):
    """The journal cannot be replayed (missing start, or an entry the core refuses)."""


class RefusedEntry(RecoveryError):
    """A journal entry the core refuses on replay. The message is one paragraph for an
    operator: which site and entry, why, that nothing was changed, and the ways out."""

    def __init__(self, site: str, seq: int, entry, error: InvalidInput):
        self.site, self.seq, self.entry, self.error = site, seq, entry, error
        super().__init__(
            f"site {site!r}: journal entry {seq} ({describe_entry(entry)}) is refused by the "
            f"routing core on replay: {error}. The store cannot be recovered past it; nothing "
            f"was changed. Ways out: `vcc store repair --db URL` replays every site, skips "
            f"refused entries (it lists each), and writes a snapshot after the last entry so "
            f"that recovery starts there (the skipped changes are lost; the journal keeps "
            f"them); or start with another --db; or run the vcc version that wrote the entry.")


def describe_entry(entry) -> str:
    """An entry's kind and what it names, for messages (never attached data)."""
    if type(entry) is codec.ConfigChange:
        payload = entry.payload
        named = payload.get("agent_id") or payload.get("name")
        return f"{entry.kind} {named!r}" if named else entry.kind
    contact = getattr(entry, "contact_id", None) or getattr(entry, "agent_id", None)
    return f"{type(entry).__name__} {contact!r}" if contact else type(entry).__name__


@dataclass
class Recovered:
    state: SiteState
    seq: int                        # the last journal entry applied
    snapshot_seq: int | None        # where the replay started (None: the initial config)
    replayed: int                   # journal entries applied after the snapshot
    recorder_dump: dict | None = None   # the Recorder's open records saved with the snapshot


def latest_snapshot(engine: Engine, site: str) -> tuple[int, dict] | None:
    """(seq, document) of the site's newest snapshot, or None."""
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(SNAPSHOTS.c.seq, SNAPSHOTS.c.payload).where(SNAPSHOTS.c.site == site)
            .order_by(SNAPSHOTS.c.seq.desc()).limit(1)).first()
    return None if row is None else (row.seq, decode_snapshot(row.payload))


def _start(engine, site, initial, scheduler_factory) -> Recovered:
    found = latest_snapshot(engine, site)
    if found is not None:
        seq, document = found
        # Contacts in a routing plan go on with the plan of their name in the configuration
        # the site starts with.
        plans = initial.plans if isinstance(initial, SiteConfig) else None
        state = SiteState.restore(document["site"], scheduler_factory=scheduler_factory,
                                  plans=plans)
        if isinstance(initial, SiteConfig) and initial.tiers is not None:
            state.tiers = initial.tiers     # configuration, as plans: not in the snapshot
        return Recovered(state, seq, seq, 0, document.get("recorder"))
    if initial is None:
        raise RecoveryError(f"site {site!r}: no snapshot and no initial configuration")
    if isinstance(initial, dict):     # a snapshot document given by the caller
        return Recovered(SiteState.restore(initial, scheduler_factory=scheduler_factory),
                         0, None, 0)
    if not isinstance(initial, SiteConfig) or initial.name != site:
        raise RecoveryError(f"site {site!r}: the initial configuration is for "
                            f"{getattr(initial, 'name', initial)!r}")
    return Recovered(SiteState(initial, scheduler_factory=scheduler_factory), 0, None, 0)


def _timed(entries):
    """(time, seq, entry) with configuration changes at their site's current time."""
    last = -math.inf
    for seq, entry in entries:
        if type(entry) is not codec.ConfigChange:
            last = entry.time
        yield last, seq, entry


def _sources_first(group: dict, names: list) -> list:
    """The sites of one instant in replay order: a site that interflowed a contact to
    another comes first (the contact arrived there before it arrived at the other), ties and
    cycles by site order."""
    feeds = {rank: {names.index(entry.to_site) for _, entry in entries
                    if type(entry) is ev.ContactInterflowed and entry.to_site in names}
             for rank, entries in group.items()}
    waiting = sorted(group)
    order = []
    while waiting:
        fed = {target for rank in waiting for target in feeds[rank] if target != rank}
        rank = next((rank for rank in waiting if rank not in fed), waiting[0])
        waiting.remove(rank)
        order.append(rank)
    return order


def _merged(streams: list, names: list):
    """(rank, seq, entry) of every site's journal tail, merged by time; entries of one
    instant grouped per site and the sites ordered by `_sources_first`."""
    heads = [next(stream, None) for stream in streams]
    while True:
        live = [head[0] for head in heads if head is not None]
        if not live:
            return
        now = min(live)
        group = {}
        for rank, stream in enumerate(streams):
            while heads[rank] is not None and heads[rank][0] == now:
                group.setdefault(rank, []).append(heads[rank][1:])
                heads[rank] = next(stream, None)
        for rank in _sources_first(group, names):
            for seq, entry in group[rank]:
                yield rank, seq, entry


def recover_sites(engine: Engine, sites: dict, *, scheduler_factory=None,
                  recorder=None, skip_refused=None) -> dict:
    """{name: Recovered} of every site in `sites` ({name: initial SiteConfig, a snapshot
    document, or None when a snapshot must exist}). `recorder` (a Recorder) gets its
    snapshot state back and observes the replay. An entry the core refuses raises
    RefusedEntry, or, with `skip_refused` (a function of the RefusedEntry; repair tools),
    is passed to it and skipped."""
    recovered = {name: _start(engine, name, initial, scheduler_factory)
                 for name, initial in sites.items()}
    if recorder is not None:
        for name, item in recovered.items():
            if item.recorder_dump is not None:
                recorder.load(name, item.recorder_dump)
    names = list(recovered)
    streams = [_timed(read_entries(engine, name, recovered[name].seq)) for name in names]
    for rank, seq, entry in _merged(streams, names):
        item = recovered[names[rank]]
        try:
            actions = codec.apply(item.state, entry)
        except InvalidInput as error:
            refused = RefusedEntry(names[rank], seq, entry, error)
            if skip_refused is None:
                raise refused from error
            skip_refused(refused)
            item.seq = seq
            continue
        if recorder is not None and type(entry) is not codec.ConfigChange:
            recorder.observe(item.state, entry, actions, seq)
        item.seq = seq
        item.replayed += 1
    if recorder is not None:
        recorder.reconcile(item.state for item in recovered.values())
    return recovered


def recover_site(engine: Engine, site: str, initial=None, *, scheduler_factory=None,
                 recorder=None) -> Recovered:
    """One site's state from its last snapshot (or `initial`) and the journal after it."""
    return recover_sites(engine, {site: initial}, scheduler_factory=scheduler_factory,
                         recorder=recorder)[site]
