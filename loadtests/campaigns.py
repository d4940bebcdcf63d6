"""Outbound campaigns in a scenario (SPEC §6 `campaigns:`): reading them, and the world
around each campaign's pacer in the simulator (the people it calls).

The pacer is the core's (`sites.dialer.Campaign`); this module only plays the callees:
each attempt ends as `outcomes` says (per attempt), a person or machine answers after
`answer_delay_s` (drawn again past `ring_timeout_s`, so that `outcomes` stay the shares per
attempt: who would answer later is a no answer, already counted in `no_answer`), a busy
line is known after BUSY_S, a failed call after FAILED_S, an unanswered one rings
`ring_timeout_s`. With AMD on, a machine is detected at once and dropped, and a live answer
is misread as a machine (and dropped: a person hung up on) with probability
`amd.false_positive`; with AMD off every answer goes to an agent, and a machine takes the
agent MESSAGE_S to leave a message. A live answer talks for `handle_time` (the agents'
wrap-up follows). All of it is drawn from the campaign's own generator, so that adding a
campaign leaves the draws of the inbound traffic as they were.
"""

from __future__ import annotations

import os
import random
import secrets
import stat
from array import array
from dataclasses import dataclass, field

from cluster.api_limits import MAX_NAME
from cluster.customers import csv_rows
from cluster.masking import mask_for_logs
from cluster.phone_keys import phone_key, time_zones
from cluster.yaml_reader import ConfigFileError as ScenarioError
from cluster.yaml_reader import Reader, brief, cut
from loadtests.distributions import Distribution, read_distribution
from sites.calendars import WallClock, zone
from sites.dialer.call_list import CallList
from sites.dialer.campaign import Campaign
from sites.dialer.config import (MAX_ATTEMPTS, RETRY_OUTCOMES, CampaignConfig, DialMode,
                                 Retry)
from sites.dialer.do_not_call import DoNotCall
from sites.dialer.events import CallOutcome
from sites.errors import InvalidInput

BUSY_S = 3.0            # a busy tone is known this long after the dial
FAILED_S = 1.0          # the network refuses a call this long after the dial
MESSAGE_S = 30.0        # AMD off: an agent leaving a message on a machine
PREVIEW_S = 10.0        # preview: an agent reads the record this long (`preview_s`)
MAX_LIST_SIZE = 10_000_000
_REDRAWS = 1_000        # answer delays past the ring timeout drawn again at most this often

_CAMPAIGN_KEYS = {"site", "skill", "mode", "pacing", "abandon_limit_pct", "abandon_window",
                  "ring_timeout_s", "list", "outcomes", "answer_delay_s", "handle_time", "amd",
                  "preview_s", "retries", "call_window", "do_not_call",
                  "protect_inbound_sl_pct"}
# The center's secret for the keys of phone numbers (cluster/phone_keys.py): a simulation's
# center lives in this process, and no key outlives it.
_SECRET = secrets.token_bytes(32)
_OUTCOME_KEYS = {"live", "machine", "busy", "no_answer", "failed"}


@dataclass(frozen=True)
class ListRows:
    """A list file's records as the core gets them: ids, the zone group of each (an index
    into `zone_sets`) and the keys of their numbers (cluster/phone_keys.py)."""
    ids: tuple
    groups: array
    zone_sets: tuple
    keys: tuple


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign of a scenario: the pacer's configuration and the world's parameters."""
    config: CampaignConfig
    site: str
    list_size: int
    records: tuple | None           # `list: {file}`: the rows' ids; None: `list: {size}`
    outcomes: tuple                 # ((CallOutcome, share), ...) adding up to 1
    answer_delay: Distribution
    handle_time: Distribution
    preview_s: float = PREVIEW_S
    line: int | None = field(default=None, compare=False)
    rows: ListRows | None = field(default=None, compare=False)     # `list: {file}`
    list_zone: str | None = None    # `list: {size, timezone}`: every callee's zone
    # Keys of the numbers on the global do-not-call list (shared by every campaign) and on
    # the campaign's own.
    global_do_not_call: frozenset = field(default=frozenset(), compare=False)
    do_not_call: frozenset = field(default=frozenset(), compare=False)
    inbound_skills: tuple = ()      # blending: the inbound skills its agents serve

    def call_list(self) -> CallList:
        if self.rows is not None:
            rows = self.rows
            return CallList(rows.ids, rows.groups, rows.zone_sets, rows.keys)
        return CallList.numbered(self.config.name, self.list_size, self.list_zone)


def read_campaigns(top: Reader, skills: dict, sites: dict, traffic_skills: set,
                   calendars: dict | None = None, top_skills: set = frozenset()) -> tuple:
    """The `campaigns:` mapping (and the global `do_not_call:`); `sites` maps site -> agent
    groups, `traffic_skills` are the skills inbound traffic asks for (`top_skills` those it
    may ask for at priority top), `calendars` the scenario's (SPEC §10), by name."""
    global_list = read_do_not_call(top) if "do_not_call" in top.mapping else frozenset()
    campaigns_reader = top.child("campaigns", None)
    specs = []
    dialled = {}
    for name in campaigns_reader.mapping:
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            campaigns_reader.fail(name, f"a campaign name is a non-empty string of at most "
                                        f"{MAX_NAME} characters")
        reader = campaigns_reader.child(name, _CAMPAIGN_KEYS, required=(
            "site", "skill", "mode", "list", "outcomes", "answer_delay_s", "handle_time"))
        site = reader.name("site", MAX_NAME, "site name")
        if site not in sites:
            reader.fail("site", f"unknown site {brief(site)} (defined: {', '.join(sites)})")
        skill = reader.name("skill", MAX_NAME, "skill name")
        if skill not in skills:
            reader.fail("skill", f"unknown skill {brief(skill)} (defined: {', '.join(skills)})")
        inbound = _check_agents(reader, site, skill, sites[site], traffic_skills, top_skills)
        if (site, skill) in dialled:
            reader.fail("skill", f"campaign {dialled[site, skill]!r} dials for the agents of "
                                 f"{skill!r} at {site!r} already (one campaign a skill)")
        dialled[site, skill] = name
        config = _config(reader, name, skill, calendars or {})
        records, list_zone = _records(reader, config)
        rows = records if isinstance(records, ListRows) else None
        specs.append(CampaignSpec(
            config, site, len(rows.ids) if rows else records,
            rows.ids if rows else None, _outcomes(reader),
            read_distribution(reader, "answer_delay_s"), read_distribution(reader, "handle_time"),
            _preview_s(reader, config), line=reader.line, rows=rows, list_zone=list_zone,
            global_do_not_call=global_list,
            do_not_call=read_do_not_call(reader) if "do_not_call" in reader.mapping
            else frozenset(), inbound_skills=inbound))
    if not specs:
        top.fail("campaigns", "must define at least one campaign (or leave the key out)")
    return tuple(specs)


def _check_agents(reader: Reader, site: str, skill: str, groups, traffic_skills: set,
                  top_skills: set) -> tuple:
    """The inbound skills the agents of the skill at the site also serve (blending, SPEC §6),
    sorted. They need an outbound channel. Blending needs `protect_inbound_sl_pct`, and
    agents who take the live answer dialled for them before any inbound contact: greatest
    need call selection, and no inbound contact of their skills at priority top (the
    campaign's live answers enter at top; campaign.py)."""
    serving = [group for group in groups if skill in group.skills]
    if not any("outbound" in group.channels for group in serving):
        reader.fail("skill", f"no agent at site {site!r} has skill {skill!r} and an outbound "
                             "channel (give the group `channels: {outbound: 1}`)")
    shared = sorted({name for group in serving for name in group.skills} & traffic_skills)
    if not shared:
        if "protect_inbound_sl_pct" in reader.mapping:
            reader.fail("protect_inbound_sl_pct", f"the agents of {skill!r} at {site!r} serve "
                                                  "no inbound skill: nothing to blend")
        return ()
    if "protect_inbound_sl_pct" not in reader.mapping:
        reader.fail("skill", f"agents of {skill!r} at {site!r} also serve inbound traffic "
                             f"({', '.join(shared)}): give protect_inbound_sl_pct to blend "
                             "(SPEC §6), or agents of their own")
    for group in serving:
        if group.call_selection != "greatest_need":
            reader.fail("skill", f"blended agents of {skill!r} select calls by "
                                 f"{group.call_selection}: they must take the live answer "
                                 "dialled for them first (call_selection: greatest_need)")
    top = sorted(set(shared) & set(top_skills))
    if top:
        reader.fail("protect_inbound_sl_pct", f"inbound contacts of {', '.join(top)} may wait "
                                              "at priority top, before the live answers a "
                                              "blended agent is held for: give them a lower "
                                              "priority")
    return tuple(shared)


def _config(reader: Reader, name: str, skill: str, calendars: dict) -> CampaignConfig:
    mode = reader.choice("mode", tuple(mode.value for mode in DialMode))
    fields = {"mode": mode}
    if "call_window" in reader.mapping:
        calendar = reader.mapping["call_window"]
        if not isinstance(calendar, str) or calendar not in calendars:
            reader.fail("call_window", f"unknown calendar {brief(calendar)} (defined in "
                                       f"calendars: {', '.join(calendars) or 'none'})")
        fields["call_window"] = calendars[calendar]
    if "pacing" in reader.mapping:
        if mode != DialMode.PREDICTIVE.value:
            reader.fail("pacing", "only a predictive campaign paces (model or adaptive)")
        fields["pacing"] = reader.choice("pacing", ("model", "adaptive"))
    if "abandon_limit_pct" in reader.mapping:
        fields["abandon_limit_pct"] = reader.number("abandon_limit_pct", maximum=99.0)
    if "abandon_window" in reader.mapping:
        fields["abandon_window"] = reader.choice("abandon_window", ("30d", "24h"))
    if "ring_timeout_s" in reader.mapping:
        fields["ring_timeout_s"] = reader.number("ring_timeout_s", exclusive=True,
                                                 maximum=600.0)
    if "amd" in reader.mapping:
        amd = reader.child("amd", {"enabled", "false_positive"}, required=("enabled",))
        if not isinstance(amd.mapping["enabled"], bool):
            amd.fail("enabled", f"must be true or false; got {brief(amd.mapping['enabled'])}")
        fields["amd_enabled"] = amd.mapping["enabled"]
        if "false_positive" in amd.mapping:
            if not fields["amd_enabled"]:
                amd.fail("false_positive", "AMD is off: nothing is misread")
            fields["amd_false_positive"] = amd.number("false_positive", maximum=0.99)
    if "protect_inbound_sl_pct" in reader.mapping:
        fields["protect_inbound_sl_pct"] = reader.number("protect_inbound_sl_pct",
                                                         maximum=100.0)
    if "retries" in reader.mapping:
        retries = reader.child("retries", set(RETRY_OUTCOMES))
        fields["retries"] = {}
        for outcome in retries.mapping:
            rule = retries.child(outcome, {"delay_s", "max_attempts"},
                                 required=("delay_s", "max_attempts"))
            fields["retries"][outcome] = Retry(
                rule.number("delay_s", maximum=30 * 86_400.0),
                rule.integer("max_attempts", minimum=2, maximum=MAX_ATTEMPTS))
    try:
        return CampaignConfig(name, skill, **fields)
    except InvalidInput as error:
        *parents, key = error.field.split(".")
        where = reader
        for parent in parents:          # e.g. retries.abandoned.delay_s
            where = where.child(parent, None)
        where.fail(key, cut(error.problem, 200))


def _records(reader: Reader, config: CampaignConfig) -> tuple:
    """(records, zone): `list: {size: N[, timezone: Z]}` (N, records NAME-0... whose callees
    are all in Z) or `list: {file: F}` (its rows, ListRows; zone None)."""
    records = reader.child("list", {"size", "file", "timezone"})
    if ("size" in records.mapping) == ("file" in records.mapping):
        reader.fail("list", "give either size (records NAME-0, NAME-1, ...) or file (a CSV "
                            "with columns id,phone[,timezone,customer_id])")
    if "size" in records.mapping:
        list_zone = None
        if "timezone" in records.mapping:
            list_zone = records.mapping["timezone"]
            try:
                zone(list_zone, "timezone")
            except InvalidInput as error:
                records.fail("timezone", error.problem)
        elif config.call_window is not None:
            records.fail("timezone", "required with a call_window: the callees' time zone "
                                     "(a list of size has no numbers to derive it from)")
        return records.integer("size", minimum=1, maximum=MAX_LIST_SIZE), list_zone
    if "timezone" in records.mapping:
        records.fail("timezone", "only with size: a list file gives each row's zone (its "
                                 "timezone column, else its number's prefix)")
    return read_list_file(records), None


LIST_COLUMNS = ("id", "phone", "timezone", "customer_id")
MAX_LIST_BYTES = 1 << 30
MAX_ID = 128


def read_list_file(records: Reader) -> ListRows:
    """The records of the CSV `file` (relative to the scenario), every row checked: a
    unique id, an E.164 phone number (+ and country code), an IANA time zone if given. A
    problem stops the run as `file:line: key: column: problem` (phone numbers masked).

    Each callee's zone is the row's `timezone`, else the zones of its number's prefix
    (cluster/phone_keys.py: several when the prefix spans zones, none when unknown)."""
    path, key = _csv_path(records)
    problems = csv_rows.Problems(path)
    ids, first_line, groups, keys = [], {}, array("l"), []
    group_of: dict = {}             # zones -> group
    try:
        for row in csv_rows.read_rows(path, LIST_COLUMNS, ("id", "phone"), problems):
            fields = row.fields
            record = fields["id"]
            number = None
            for column, check in (
                    ("id", lambda value: csv_rows.text(value, MAX_ID, required=True)),
                    ("phone", lambda value: csv_rows.phone(value, None)),
                    ("timezone", _timezone),
                    ("customer_id", lambda value: csv_rows.text(value, MAX_ID))):
                if column in fields:
                    try:
                        checked = check(fields[column])
                    except ValueError as error:
                        problems.add(row.line, column, str(error))
                    else:
                        if column == "phone":
                            number = checked
            if record in first_line:
                problems.add(row.line, "id", f"given twice (first on line {first_line[record]})")
            first_line.setdefault(record, row.line)
            ids.append(record)
            if len(ids) > MAX_LIST_SIZE:
                problems.add(row.line, "(row)", f"more than {MAX_LIST_SIZE:,} records")
            if number is None or problems.found:
                continue                # refused anyway: spare the work
            zones = (fields["timezone"],) if fields.get("timezone") else time_zones(number)
            groups.append(group_of.setdefault(zones, len(group_of)))
            keys.append(phone_key(_SECRET, number))
        problems.raise_any()
    except csv_rows.ImportRefused as refused:
        first = refused.problems[0]
        raise ScenarioError(path, first.line, key, f"{first.column}: "
                                                   f"{mask_for_logs(first.problem)}") from None
    if not ids:
        raise ScenarioError(path, None, key, "holds no record (after its header line)")
    return ListRows(tuple(ids), groups, tuple(group_of) or ((),), tuple(keys))


def _csv_path(reader: Reader) -> tuple:
    """(path, key) of the CSV file `reader` names in `file`, checked to be a regular file of
    a sane size."""
    name = reader.mapping["file"]
    if not isinstance(name, str) or not name:
        reader.fail("file", f"must name a CSV file; got {brief(name)}")
    path = os.path.join(os.path.dirname(reader.path), name)
    key = reader.key("file")
    try:
        info = os.stat(path)
    except OSError as error:
        raise ScenarioError(path, None, key, error.strerror or str(error)) from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_LIST_BYTES:
        raise ScenarioError(path, None, key, f"must be a regular file of at most "
                                             f"{MAX_LIST_BYTES >> 20:,} MiB")
    return path, key


DO_NOT_CALL_COLUMNS = ("phone",)


def read_do_not_call(parent: Reader) -> frozenset:
    """`do_not_call: {file: F}` of `parent` (the scenario: the global list; a campaign: its
    own): a CSV with a `phone` column, each an E.164 number, as the keys of the numbers
    (cluster/phone_keys.py). Errors as for list files (file, line, column; masked)."""
    reader = parent.child("do_not_call", {"file"}, required=("file",))
    path, key = _csv_path(reader)
    problems = csv_rows.Problems(path)
    keys = set()
    try:
        for row in csv_rows.read_rows(path, DO_NOT_CALL_COLUMNS, DO_NOT_CALL_COLUMNS, problems):
            try:
                keys.add(phone_key(_SECRET, csv_rows.phone(row.fields["phone"], None)))
            except ValueError as error:
                problems.add(row.line, "phone", str(error))
            if len(keys) > MAX_LIST_SIZE:
                problems.add(row.line, "(row)", f"more than {MAX_LIST_SIZE:,} numbers")
        problems.raise_any()
    except csv_rows.ImportRefused as refused:
        first = refused.problems[0]
        raise ScenarioError(path, first.line, key, f"{first.column}: "
                                                   f"{mask_for_logs(first.problem)}") from None
    return frozenset(keys)


def _timezone(value: str) -> None:
    if value:
        try:
            zone(value, "timezone")
        except InvalidInput as error:
            raise ValueError(error.problem) from None


def _outcomes(reader: Reader) -> tuple:
    shares = reader.child("outcomes", _OUTCOME_KEYS)
    pairs = tuple((CallOutcome(key), shares.number(key, maximum=1.0))
                  for key in ("live", "machine", "busy", "no_answer", "failed")
                  if key in shares.mapping)
    total = sum(share for _, share in pairs)
    if abs(total - 1.0) > 1e-6:
        reader.fail("outcomes", f"the shares per attempt must add up to 1; they add up to "
                                f"{total:g}")
    return pairs


def _preview_s(reader: Reader, config: CampaignConfig) -> float:
    if "preview_s" not in reader.mapping:
        return PREVIEW_S
    if config.mode is not DialMode.PREVIEW:
        reader.fail("preview_s", "only a preview campaign has agents preview records")
    return reader.number("preview_s", maximum=3600.0)


class Callees:
    """What becomes of each attempt of one campaign: its own generator, drawn per dial in
    a fixed order (outcome, then answer time, then AMD's reading)."""

    def __init__(self, spec: CampaignSpec, seed):
        self.spec = spec
        self.rng = random.Random(f"campaign-{spec.config.name}-{seed}")
        self.amd_false_positives = 0

    def attempt(self) -> tuple:
        """(seconds after the dial, reported CallOutcome, a person answered, talk seconds)."""
        spec, rng = self.spec, self.rng
        config = spec.config
        draw = rng.random()
        outcome = spec.outcomes[-1][0]
        for candidate, share in spec.outcomes:
            if draw < share:
                outcome = candidate
                break
            draw -= share
        if outcome is CallOutcome.BUSY:
            return BUSY_S, outcome, False, 0.0
        if outcome is CallOutcome.FAILED:
            return FAILED_S, outcome, False, 0.0
        if outcome is CallOutcome.NO_ANSWER:
            return config.ring_timeout_s, outcome, False, 0.0
        delay = self._answer_delay()
        person = outcome is CallOutcome.LIVE
        if config.amd_enabled:
            if not person:
                return delay, CallOutcome.MACHINE, False, 0.0
            if config.amd_false_positive and rng.random() < config.amd_false_positive:
                self.amd_false_positives += 1
                return delay, CallOutcome.MACHINE, True, 0.0
        talk = spec.handle_time.sample(rng) if person else MESSAGE_S
        return delay, CallOutcome.LIVE, person, talk

    def _answer_delay(self) -> float:
        limit = self.spec.config.ring_timeout_s
        for _ in range(_REDRAWS):
            delay = self.spec.answer_delay.sample(self.rng)
            if delay <= limit:
                return delay
        return limit


class CampaignRun:
    """One campaign in a simulation: its pacer, its callees, and its figures."""

    def __init__(self, spec: CampaignSpec, seed, stream, clock: WallClock | None = None):
        self.spec = spec
        self.name = spec.config.name
        self.site = spec.site
        self.skill = spec.config.skill
        self.stream = stream            # what its outbound contacts' records report under
        self.campaign = Campaign(spec.config, spec.call_list(), clock,
                                 DoNotCall(spec.global_do_not_call, spec.do_not_call))
        self.callees = Callees(spec, seed)
        self.pace_at = None             # the pace scheduled next, if any
        self.messages_played = 0        # abandoned callees who heard the recorded message
        self._calls: dict = {}          # call id -> (agent dialled for, person, talk seconds)
        self.shift: dict = {}           # figures at the end of the shift

    def dial(self, decision) -> tuple:
        """(seconds until the call's progress, CallOutcome reported) of a Dial."""
        delay, outcome, person, talk = self.callees.attempt()
        self._calls[decision.call_id] = (decision.agent_id, person, talk)
        return delay, outcome

    def answered(self, call_id: str) -> tuple:
        """(agent it was dialled for or None, talk seconds) of a call answered LIVE."""
        agent_id, _, talk = self._calls[call_id]
        return agent_id, talk

    def finished(self, call_id: str) -> bool:
        """Forget a call that is over; whether a person was on it."""
        return self._calls.pop(call_id)[1]

    def end_shift(self, site, now: float) -> None:
        """Agent utilization and connects over the shift: (talk + wrap-up) minutes per
        logged-in agent hour, live answers connected per agent hour."""
        agents = [agent_id for agent_id, agent in site.agents.items()
                  if self.skill in agent.config.skills]
        hours = now / 3600.0
        self.shift = {
            "agents": len(agents),
            "agent_utilization_min_per_h": round(
                60.0 * sum(site.agent_occupancy(agent_id, now) for agent_id in agents)
                / len(agents), 2) if agents else None,
            "connects_per_agent_hour": round(self.campaign.connected / (len(agents) * hours),
                                             2) if agents and hours else None,
        }

    def report(self) -> dict:
        return {**self.campaign.figures(), **self.shift,
                "amd_false_positives": self.callees.amd_false_positives,
                "messages_played": self.messages_played}
