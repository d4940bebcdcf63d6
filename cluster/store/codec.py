"""Journal entries: a core event or a configuration change as (type, JSON payload, time).

Events go in exactly as the core accepted them (after the host stamped their time and filled
their service objective), so replaying them rebuilds the same state. Enums are written by
lower-case name, as in configuration files. Attached data is masked once more on the way in
(`mask_data` is idempotent): a card number never reaches the database in clear, even from a
caller that forgot to mask (SPEC §9).

Configuration changes made while a site runs (the Admin API) are journaled too, in order
with the events, so that replay meets every skill and agent when it did live.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum

from cluster.masking import mask_data
from sites import events as ev
from sites.model import AgentConfig, SkillConfig
from sites.state import SiteState, config_to_dict


@dataclass(slots=True)
class ConfigChange:
    """A live configuration change of one site, as the journal keeps it."""
    kind: str               # one of CONFIG_KINDS
    payload: dict           # config_to_dict(...) of the new config, or {"name"/"agent_id": ...}

    @classmethod
    def add_skill(cls, config: SkillConfig) -> "ConfigChange":
        return cls("AddSkill", config_to_dict(config))

    @classmethod
    def update_skill(cls, config: SkillConfig) -> "ConfigChange":
        return cls("UpdateSkill", config_to_dict(config))

    @classmethod
    def remove_skill(cls, name: str) -> "ConfigChange":
        return cls("RemoveSkill", {"name": name})

    @classmethod
    def add_agent(cls, config: AgentConfig) -> "ConfigChange":
        return cls("AddAgent", config_to_dict(config))

    @classmethod
    def replace_agent(cls, config: AgentConfig) -> "ConfigChange":
        return cls("ReplaceAgent", config_to_dict(config))

    @classmethod
    def remove_agent(cls, agent_id: str) -> "ConfigChange":
        return cls("RemoveAgent", {"agent_id": agent_id})

    @classmethod
    def put_plans(cls, change: dict) -> "ConfigChange":
        return cls("PutPlans", change)

    @classmethod
    def delete_site(cls) -> "ConfigChange":
        return cls(DELETE_SITE, {})


DELETE_SITE = "DeleteSite"
_CONFIG_APPLY = {
    "AddSkill": lambda state, payload: state.add_skill(SkillConfig(**payload)),
    "UpdateSkill": lambda state, payload: state.update_skill(SkillConfig(**payload)),
    "RemoveSkill": lambda state, payload: state.remove_skill(payload["name"]),
    "AddAgent": lambda state, payload: state.add_agent(AgentConfig(**payload)),
    "ReplaceAgent": lambda state, payload: state.replace_agent(AgentConfig(**payload)),
    "RemoveAgent": lambda state, payload: state.remove_agent(payload["agent_id"]),
    "PutPlans": lambda state, payload: state.put_plans(payload),
    # A new leader's first entry for the site (Journal.claim_now): it changes no state; it
    # is there so that the site's newest fencing token is the new leader's from then on.
    "LeaderClaim": lambda state, payload: None,
    # Admin deleted the site: its journal ends here (journal.deleted_sites), and recovery
    # never reads it; if the site is added again, it starts from a snapshot at this entry.
    DELETE_SITE: lambda state, payload: None,
}
CONFIG_KINDS = frozenset(_CONFIG_APPLY)
EVENT_CLASSES = {cls.__name__: cls for cls in ev.EVENT_TYPES}
# Field names after `time` (which has its own column), per event class.
_FIELDS = {cls: tuple(f.name for f in dataclasses.fields(cls) if f.name != "time")
           for cls in ev.EVENT_TYPES}


# ContactArrived fields most arrivals leave at None: the PBX link that owns the contact, and
# what a contact interflowed from another site brings (where and when it first arrived,
# its contact record so far).
_OPTIONAL_ARRIVAL_FIELDS = ("origin", "entry_site", "first_arrival", "record", "dnis", "tier",
                            "ani_prefix")


class UnknownEntry(ValueError):
    """A journal row this version cannot read (written by a newer vcc, or damaged)."""


def _plain(value):
    return value.name.lower() if isinstance(value, Enum) else value


def encode(entry) -> tuple[str, dict, float | None]:
    """(event type, payload, time) of a core event or a ConfigChange."""
    if type(entry) is ConfigChange:
        if entry.kind not in CONFIG_KINDS:
            raise ValueError(f"unknown configuration change {entry.kind!r}")
        return entry.kind, entry.payload, None
    cls = type(entry)
    names = _FIELDS.get(cls)
    if names is None:
        raise TypeError(f"cannot journal {cls.__name__}")
    payload = {name: _plain(getattr(entry, name)) for name in names}
    if cls is ev.ContactArrived:
        payload["data"] = mask_data(entry.data) if entry.data else {}
        # Most rows: no key rather than a null. An entry without one (also every entry
        # written before entry_site, first_arrival and record existed) decodes to None.
        for name in _OPTIONAL_ARRIVAL_FIELDS:
            if payload[name] is None:
                del payload[name]

    return cls.__name__, payload, entry.time


def decode(event_type: str, payload: dict, time: float | None):
    """The core event or ConfigChange a journal row holds."""
    if event_type in CONFIG_KINDS:
        return ConfigChange(event_type, payload)
    cls = EVENT_CLASSES.get(event_type)
    if cls is None:
        raise UnknownEntry(f"unknown journal entry type {event_type!r}")
    try:
        return cls(time, **payload)
    except TypeError as error:
        raise UnknownEntry(f"journal entry {event_type}: {error}") from None


def apply(state: SiteState, entry) -> list:
    """Apply an entry to a site; the core's actions (none for a configuration change)."""
    if type(entry) is ConfigChange:
        _CONFIG_APPLY[entry.kind](state, entry.payload)
        return []
    return state.handle(entry)
