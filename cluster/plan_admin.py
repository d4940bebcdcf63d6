"""Admin of routing plans (SPEC §10): edits of the plan document, checked whole.

The center's plans are one document: the four keys `calendars`, `entry_points`, `services`
and `plans` as plain JSON values (`PlanConfig.source`). Every Admin change — the whole
document, one item put or deleted, an emergency close of a calendar — makes a new document
from the one in force, then checks it whole against the center's skills and sites
(`checked_change`): a change that would leave, say, a service naming a deleted plan is
refused naming the key, and nothing changes. The accepted change goes to every site as one
configuration change (`SiteState.put_plans`), journaled in order with the events, so that a
restart or a new leader meets the plans exactly when the old one did. A contact already in
a plan finishes the version it started.
"""

from __future__ import annotations

import copy
import datetime as dt
import json

from sites.errors import InvalidInput, NotFound
from sites.plans import KEYS, PlanConfig, parse_plan_config

MAX_DOCUMENT_BYTES = 1 << 20        # one gRPC message at most (cluster/api_limits.py)
KINDS = KEYS                         # what an item is: one of the four keys


def parse_document(text: str, field: str = "json") -> dict:
    """A JSON object with (some of) the four keys; InvalidInput naming `field` otherwise."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(field, f"at most {MAX_DOCUMENT_BYTES:,} bytes")
    try:
        document = json.loads(text) if text.strip() else {}
    except ValueError as error:
        raise InvalidInput(field, f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidInput(field, "must be a JSON object with calendars, entry_points, "
                                  "services and plans")
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise InvalidInput(f"{field}.{unknown[0]}", f"unknown key (known: {', '.join(KEYS)})")
    return document


def parse_value(text: str, field: str):
    """One item's value: any JSON value (checked with the whole document afterwards)."""
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(field, f"at most {MAX_DOCUMENT_BYTES:,} bytes")
    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidInput(field, f"not JSON: {error}") from None


def show(document) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def checked_change(document: dict, skills, sites) -> tuple[PlanConfig, dict]:
    """(PlanConfig, the change every site applies) of a whole new document; PlanError (an
    InvalidInput whose field is the path to the bad value) when it does not hold."""
    config = parse_plan_config(document, skills, sites)
    change = {"document": config.source, "skills": sorted(skills), "sites": sorted(sites)}
    return config, change


def kind_of(kind: str, field: str = "kind") -> str:
    if kind not in KINDS:
        raise InvalidInput(field, f"must be one of {', '.join(KINDS)}; got {kind!r}")
    return kind


def with_item(document: dict, kind: str, name: str, value) -> dict:
    """`document` with `kind[name]` set to `value` (a new document; the old one unchanged)."""
    out = copy.deepcopy(document)
    out.setdefault(kind_of(kind), {})[name] = value
    return out


def without_item(document: dict, kind: str, name: str) -> dict:
    out = copy.deepcopy(document)
    items = out.get(kind_of(kind), {})
    if name not in items:
        raise _not_found(kind, name)
    del items[name]
    return out


def item(document: dict, kind: str, name: str):
    items = document.get(kind_of(kind), {})
    if name not in items:
        raise _not_found(kind, name)
    return items[name]


def names(document: dict, kind: str) -> list:
    return sorted(document.get(kind_of(kind), {}))


def with_override(document: dict, calendar: str, start: str, end: str, state: str,
                  reason: str) -> dict:
    """`document` with a dated override of `calendar` (an emergency close is one with state
    closed); the last override listed decides, so it goes last."""
    calendars = document.get("calendars", {})
    if calendar not in calendars:
        raise _not_found("calendars", calendar, field="calendar")
    override = {"start": start, "end": end, "state": state}
    if reason:
        override["reason"] = reason
    out = copy.deepcopy(document)
    spec = out["calendars"][calendar]
    if not isinstance(spec, dict):
        raise InvalidInput("calendar", f"calendar {calendar!r} is not a mapping")
    spec["overrides"] = [*spec.get("overrides", []), override]
    return out


def now_iso(epoch: float) -> str:
    """An instant as ISO 8601 with its UTC offset (an override starting now)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def _not_found(kind: str, name: str, field: str = "name") -> NotFound:
    return NotFound(field, f"no {kind.rstrip('s').replace('_', ' ')} {name!r}")
