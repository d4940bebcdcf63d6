"""Do-not-call lists (SPEC §6): a number on the global list or on the campaign's is never
dialled.

Phone numbers are personal data and the core does without them: the host turns every
number, of the records and of the lists alike, into a keyed hash (HMAC with a secret of the
center, over the number's E.164 form: cluster/phone_keys.py), and the core compares those.
Without the secret nobody can tell from the core's state, journal or snapshots which
numbers it holds.

A list changes while a campaign runs (`DoNotCallChanged`): from then on its numbers are
skipped when their turn comes, retries included; a call already ringing is not cut.
"""

from __future__ import annotations

from sites.errors import InvalidInput

GLOBAL, CAMPAIGN = "global", "campaign"
SCOPES = (GLOBAL, CAMPAIGN)
MAX_KEY = 128


class _KeySet:
    """`base` (shared between campaigns, never changed here) with what was added and removed
    since: the global list of a large center is not copied into every campaign."""
    __slots__ = ("base", "added", "removed")

    def __init__(self, base):
        self.base = base
        self.added: set = set()
        self.removed: set = set()

    def __contains__(self, key) -> bool:
        return key in self.added or (key in self.base and key not in self.removed)

    def change(self, add, remove) -> None:
        for key in remove:
            self.added.discard(key)
            if key in self.base:
                self.removed.add(key)
        for key in add:
            self.removed.discard(key)
            if key not in self.base:
                self.added.add(key)


class DoNotCall:
    """The global list and the campaign's, as sets of keys (str or bytes)."""

    def __init__(self, global_keys=frozenset(), campaign_keys=frozenset()):
        self.lists = {GLOBAL: _KeySet(check_keys(global_keys, "do_not_call.global")),
                      CAMPAIGN: _KeySet(check_keys(campaign_keys, "do_not_call.campaign"))}

    def __contains__(self, key) -> bool:
        return key is not None and any(key in keys for keys in self.lists.values())

    def change(self, scope: str, add=(), remove=()) -> None:
        if scope not in SCOPES:
            raise InvalidInput("scope", f"must be one of {', '.join(SCOPES)}; got {scope!r}")
        add, remove = check_keys(add, "add"), check_keys(remove, "remove")
        self.lists[scope].change(add, remove)

    def changes(self) -> dict:
        """What changed since the lists it was made with, as JSON-ready data (a campaign's
        snapshot: the lists themselves are in its journal's first entry, and a center's
        global list may hold millions of keys)."""
        return {scope: {"added": keys_to_data(sorted(keys.added)),
                        "removed": keys_to_data(sorted(keys.removed))}
                for scope, keys in self.lists.items()}

    def restore_changes(self, data: dict) -> None:
        """Apply `changes()` of a DoNotCall made with the same lists."""
        for scope, keys in self.lists.items():
            keys.added = set(keys_from_data(data[scope]["added"]))
            keys.removed = set(keys_from_data(data[scope]["removed"]))


def keys_to_data(keys) -> list:
    """Keys as JSON strings: the core takes str or bytes keys (a host's are bytes, keyed
    hashes), tagged so that each comes back as it was."""
    return ["x" + key.hex() if isinstance(key, bytes) else "s" + key for key in keys]


def keys_from_data(data) -> tuple:
    return tuple(bytes.fromhex(key[1:]) if key[0] == "x" else key[1:] for key in data)


def check_keys(keys, field_name: str):
    """`keys` (a set, frozenset, tuple or list of str or bytes keys), every one checked; a
    set or frozenset comes back as it is (not copied)."""
    if isinstance(keys, (str, bytes)) or not isinstance(keys, (set, frozenset, tuple, list)):
        raise InvalidInput(field_name, f"must be a collection of keys; got {type(keys).__name__}")
    for key in keys:
        if not isinstance(key, (str, bytes)) or not key or len(key) > MAX_KEY:
            raise InvalidInput(field_name, f"each key is a non-empty str or bytes of at most "
                                           f"{MAX_KEY}; got {type(key).__name__}")
    return keys if isinstance(keys, (set, frozenset)) else frozenset(keys)
