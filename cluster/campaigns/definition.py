"""A campaign as Admin puts it: a JSON document (kept in the store) and the core's
`CampaignConfig` made from it, every problem named by the request's field.

The live host runs every mode: a `preview` campaign's agents get each record on their
desktop (AgentControl.StreamEvents `preview`) and answer with AgentControl.FinishPreview.

`call_window` names a calendar of the center's routing plans (SPEC §10, `calendars:`): the
document keeps the name, and the calendar it names is read when the campaign starts
(`call_window_of`); empty: no window.

`protect_inbound_sl_pct` (absent or None: not blended) makes a progressive campaign blend
(SPEC §6): its agents' other skills are the inbound it protects (CampaignHost.start checks
them with the site, sites/dialer/snapshot.py `blend_problem`).
"""

from __future__ import annotations

from sites.calendars import Calendar
from sites.dialer.config import RETRY_OUTCOMES, CampaignConfig, Retry
from sites.errors import InvalidInput

HOSTED_MODES = ("preview", "progressive", "predictive")
STATES = ("draft", "running", "paused", "stopped")
# The request's name of a field the core names otherwise.
_FIELDS = {"amd.enabled": "amd", "amd.false_positive": "amd_false_positive"}
DEFAULTS = {"pacing": "model", "abandon_limit_pct": 3.0, "abandon_window": "30d",
            "ring_timeout_s": 15.0, "amd": False, "amd_false_positive": 0.0,
            "pace_every_s": 1.0, "abandon_prompt": "abandon_message"}


def document_of(message) -> dict:
    """The document of an `admin_pb2.Campaign` (zero values: the defaults); checked by
    `config_of`."""
    document = {"name": message.name, "site": message.site, "skill": message.skill,
                "mode": message.mode}
    for key, default in DEFAULTS.items():
        value = getattr(message, key)
        document[key] = value if value else default
    document["retries"] = {outcome: [rule.delay_s, rule.max_attempts]
                           for outcome, rule in sorted(message.retries.items())}
    document["call_window"] = message.call_window
    document["protect_inbound_sl_pct"] = (message.protect_inbound_sl_pct if message.HasField(
        "protect_inbound_sl_pct") else None)
    return document


def call_window_of(document: dict, calendars: dict) -> Calendar | None:
    """The calendar the document's `call_window` names among `calendars` (name -> Calendar,
    the center's), None without one; InvalidInput naming `call_window` if it is unknown."""
    name = document.get("call_window", "")      # documents put before call windows: none
    if not name:
        return None
    calendar = calendars.get(name)
    if calendar is None:
        known = ", ".join(sorted(calendars)[:20]) or "none in the routing plans"
        raise InvalidInput("call_window", f"unknown calendar {name[:64]!r} (calendars: {known})")
    return calendar


def config_of(document: dict, call_window: Calendar | None = None) -> CampaignConfig:
    """The core's configuration of a campaign document, with the calendar its `call_window`
    names (`call_window_of`); InvalidInput naming the field."""
    mode = document.get("mode")
    if mode not in HOSTED_MODES:
        raise InvalidInput("mode", f"must be one of {', '.join(HOSTED_MODES)}; got {mode!r}")
    if document.get("pacing") != "model" and mode != "predictive":
        raise InvalidInput("pacing", "only a predictive campaign paces (model or adaptive)")
    retries = {}
    for outcome, rule in document.get("retries", {}).items():
        if outcome not in RETRY_OUTCOMES:
            raise InvalidInput(f"retries[{outcome}]",
                               f"not an outcome to retry ({', '.join(RETRY_OUTCOMES)})")
        retries[outcome] = Retry(rule[0], rule[1])
    try:
        return CampaignConfig(
            document["name"], document["skill"], mode=mode, pacing=document["pacing"],
            abandon_limit_pct=document["abandon_limit_pct"],
            abandon_window=document["abandon_window"],
            ring_timeout_s=document["ring_timeout_s"], amd_enabled=document["amd"],
            amd_false_positive=document["amd_false_positive"],
            pace_every_s=document["pace_every_s"], abandon_prompt=document["abandon_prompt"],
            retries=retries, call_window=call_window,
            protect_inbound_sl_pct=document.get("protect_inbound_sl_pct"))
    except InvalidInput as error:
        field = _FIELDS.get(error.field, error.field)
        if field.startswith("retries."):            # retries.busy.delay_s
            _, outcome, key = field.split(".", 2)
            field = f"retries[{outcome}].{key}"
        raise InvalidInput(field, error.problem) from None


def message_of(document: dict, state: str, records: int, into):
    """Fill an `admin_pb2.Campaign` (`into`) from a stored document."""
    for key in ("name", "site", "skill", "mode", *DEFAULTS):
        setattr(into, key, document[key])
    for outcome, (delay_s, attempts) in document.get("retries", {}).items():
        rule = into.retries[outcome]
        rule.delay_s, rule.max_attempts = delay_s, attempts
    into.call_window = document.get("call_window", "")
    if document.get("protect_inbound_sl_pct") is not None:
        into.protect_inbound_sl_pct = document["protect_inbound_sl_pct"]
    into.state = STATES.index(state) + 1
    into.records = records
    return into
