"""Traffic traces: one row per contact, read and written as CSV or JSON Lines (issue 7).

A trace is what `vcc loadtest` replays against a live cluster and what `vcc simulate`'s
simulator replays in simulated time (`--compare-sim`). Columns, in this order (CSV header;
JSON Lines: one object per line with these keys):

    arrival_s            seconds from the start of the trace, >= 0, rows in arrival order
    contact_id           unique in the trace
    ani                  caller number (card-number-like digit runs are masked, SPEC §9)
    site                 entry site
    dnis                 entry point dialled (optional)
    skill                empty: a dialled contact (dnis given), whose routing plan decides
    priority             top | high | medium | low (empty for a dialled contact)
    service_objective_s  optional: empty/null = the skill's objective for the priority
    channel              voice | chat | email | sms | callback | outbound
    handle_time_s        talk time (wrap-up comes from the agent or skill configuration)
    patience_s           optional: empty/null = never abandons
    data                 attached data, a JSON object of strings (CSV: its JSON text; optional)
    caller               a dialled contact's caller: what it does in the plan's IVR, decided
                         before the call (optional; loadtests.scenario.CallerDecisions):
                         `choice=2;callback=1;self_done=0` keys 2 at a `collect ... into:
                         choice` (`choice=`: keys nothing), accepts a callback offer, and
                         asks for an agent in self-service. Absent: keys nothing, declines
                         callbacks, is done in self-service. Traces without the column read.

The format is chosen by the file's suffix (`.csv`, `.jsonl`). Reading is strict: a bad row
raises `TraceError` (`file:line: column: problem`), and `vcc trace ...` exits 2 with it.

`vcc trace generate SCENARIO.yaml -o FILE [--seed N]` draws a trace from a scenario (SPEC §5):
Poisson arrivals per traffic entry at `rate_per_hour`, times the scenario's intraday
`profile` weights if it has one (`profile: {interval_s: 900, weights: [0.6, 1.0, ...]}`:
interval k has rate x weights[k mod n]; thinning keeps arrivals Poisson); the tier mix is
the traffic entries' priorities and objectives; handle time and patience from the entries'
distributions (exponential, lognormal, constant, empirical from a file). A traffic entry
that dials a `dnis` (SPEC §10) gives dialled contacts (no skill, priority or objective: the
plan decides) whose `caller` column its `caller:` model draws (`CallerModel.decide`, the
simulator's own model of callers).

`vcc trace import CDR.csv --mapping MAP.yaml -o FILE` converts a PBX's call detail records
(a CSV with a header) with a mapping file (see `import_cdr`).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
import pathlib
import random
import re
import sys
from dataclasses import dataclass, field

from cluster.api_limits import MAX_ID
from cluster.masking import mask_card_numbers
from cluster.yaml_reader import ConfigFileError, Reader, brief, cut, parse_yaml, read_text
from loadtests.scenario import (CallerDecisions, Distribution, Scenario, TrafficStream,
                                load_inbound_scenario)
from sites.model import Channel, Priority

# A bad trace row reads like a bad YAML key: `file:line: column: problem`.
TraceError = ConfigFileError

COLUMNS = ("arrival_s", "contact_id", "ani", "site", "dnis", "skill", "priority",
           "service_objective_s", "channel", "handle_time_s", "patience_s", "data", "caller")
REQUIRED = ("arrival_s", "contact_id", "site", "skill", "priority", "channel", "handle_time_s")
MAX_NAME = MAX_ID                  # the API's limit on ids (cluster/api_limits.py)
_PRIORITIES = {priority.name.lower(): priority for priority in Priority}
_COLUMN_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_ .-]{0,39}")
_CHANNELS = {channel.name.lower(): channel for channel in Channel}
SUFFIXES = (".csv", ".jsonl")
# A trace or CDR file is read whole: at most this big (~9 million contacts; the simulator's
# bound is 10 million). Anything else (/dev/zero, a FIFO) is refused before it is read.
MAX_TRACE_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Arrival:
    """One given contact for the simulator (loadtests/simulator.py): arrives at `time_s` as
    a contact of `scenario.traffic[stream]`."""
    time_s: float
    stream: int
    contact_id: str
    handle_time_s: float
    patience_s: float | None        # None: never abandons
    caller: CallerDecisions | None = None   # a dialled contact's caller (what it does)


@dataclass(frozen=True, slots=True)
class TraceContact:
    arrival_s: float
    contact_id: str
    ani: str
    site: str
    dnis: str
    skill: str                              # "": dialled (dnis), the routing plan decides
    priority: Priority | None               # None: dialled
    service_objective_s: float | None       # None: the skill's objective for the priority
    channel: Channel
    handle_time_s: float
    patience_s: float | None                # None: never abandons
    data: dict = field(default_factory=dict)
    caller: CallerDecisions | None = None   # a dialled contact's caller (None: the defaults)
    line: int = field(default=0, compare=False)   # where it was read (0: generated)

    @property
    def dialled(self) -> bool:
        """Arrives with only the number it dialled: its service's routing plan decides."""
        return not self.skill


def trace_format(path) -> str:
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise TraceError(str(path), None, "(file)",
                         f"a trace file ends in .csv or .jsonl; got {suffix or 'no suffix'!r}")
    return suffix[1:]


# ---- reading -------------------------------------------------------------------------------------
class _Row:
    """One row's fields with strict typed access; failures name file, line and column."""

    def __init__(self, path: str, line: int, values: dict, from_json: bool):
        self.path, self.line, self.values, self.from_json = path, line, values, from_json

    def fail(self, column, problem):
        raise TraceError(self.path, self.line, column, problem)

    def _raw(self, column):
        value = self.values.get(column)
        if value is None or value == "":
            return None
        return value

    def text(self, column, *, required=False, name=False) -> str:
        value = self._raw(column)
        if value is None:
            if required:
                self.fail(column, "required; empty")
            return ""
        if not isinstance(value, str):
            self.fail(column, f"must be a string; got {brief(value)}")
        if name and len(value) > MAX_NAME:
            self.fail(column, f"at most {MAX_NAME} characters; got {len(value)}")
        return value

    def number(self, column, *, required=False, positive=False) -> float | None:
        value = self._raw(column)
        if value is None:
            if required:
                self.fail(column, "required; empty")
            return None
        if self.from_json:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(column, f"must be a number; got {brief(value)}")
            number = float(value)
        else:
            try:
                number = float(value)
            except ValueError:
                self.fail(column, f"must be a number; got {brief(value)}")
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            self.fail(column, f"must be a finite number {'>' if positive else '>='} 0; "
                              f"got {brief(value)}")
        return number

    def choice(self, column, options: dict):
        value = self.text(column, required=True)
        if value.lower() not in options:
            self.fail(column, f"must be one of {', '.join(options)}; got {brief(value)}")
        return options[value.lower()]

    def data(self) -> dict:
        value = self._raw("data")
        if value is None:
            return {}
        if not self.from_json:
            try:
                value = json.loads(value)
            except ValueError as error:
                self.fail("data", f"must be a JSON object; {error}")
        if not isinstance(value, dict):
            self.fail("data", f"must be a JSON object of strings; got {brief(value)}")
        for key, item in value.items():
            if not key or len(key) > MAX_NAME:
                self.fail("data", f"keys are 1..{MAX_NAME} characters; got {brief(key)}")
            if not isinstance(item, str):
                self.fail("data", f"values must be strings; {brief(key)} is {brief(item)}")
        return {key: mask_card_numbers(item) for key, item in value.items()}

    def caller(self) -> CallerDecisions | None:
        text = self.text("caller")
        if not text:
            return None
        try:
            return CallerDecisions.parse(text)
        except ValueError as error:
            self.fail("caller", str(error))


def _contact(row: _Row) -> TraceContact:
    dnis = mask_card_numbers(row.text("dnis"))
    skill = row.text("skill", name=True)
    if skill:
        priority = row.choice("priority", _PRIORITIES)
        if row.text("caller"):
            row.fail("caller", "a caller's answers are for a routing plan: only on a dialled "
                               "contact (dnis and no skill)")
    else:
        if not dnis:
            row.fail("skill", "required; empty (a contact without a skill gives the dnis it "
                              "dialled, and its routing plan decides)")
        for column in ("priority", "service_objective_s"):
            if row._raw(column) is not None:
                row.fail(column, "a dialled contact (dnis, no skill) leaves skill, priority "
                                 "and objective to its routing plan: leave it empty")
        priority = None
    return TraceContact(
        arrival_s=row.number("arrival_s", required=True),
        contact_id=row.text("contact_id", required=True, name=True),
        ani=mask_card_numbers(row.text("ani")),
        site=row.text("site", required=True, name=True),
        dnis=dnis,
        skill=skill,
        priority=priority,
        service_objective_s=row.number("service_objective_s", positive=True),
        channel=row.choice("channel", _CHANNELS),
        handle_time_s=row.number("handle_time_s", required=True),
        patience_s=row.number("patience_s"),
        data=row.data(),
        caller=row.caller(),
        line=row.line)


def _rows(path: str, text: str, kind: str):
    """(line, values, from_json) of every data row."""
    if kind == "csv":
        reader = csv.reader(text.splitlines(keepends=True))
        try:
            header = next(reader)
        except StopIteration:
            raise TraceError(path, 1, "(header)", "empty file; the header names the columns "
                                                  f"({', '.join(COLUMNS)})") from None
        header = [name.strip() for name in header]
        for number, name in enumerate(header, 1):
            if name not in COLUMNS:
                # Named only if it looks like a column name: the file may be anything
                # (`vcc trace check /etc/passwd.csv` must not print its first line).
                shown = name if _COLUMN_LIKE.fullmatch(name) else f"(header field {number})"
                raise TraceError(path, 1, shown,
                                 f"unknown column (columns: {', '.join(COLUMNS)})")
        if len(set(header)) != len(header):
            raise TraceError(path, 1, "(header)", "a column is named twice")
        for name in REQUIRED:
            if name not in header:
                raise TraceError(path, 1, name, "required column is missing")
        line = 1
        try:
            for values in reader:
                line = reader.line_num
                if not values or values == [""]:
                    continue
                if len(values) != len(header):
                    raise TraceError(path, line, "(row)", f"{len(values)} fields; the header "
                                                          f"has {len(header)}")
                yield line, dict(zip(header, values)), False
        except csv.Error as error:
            raise TraceError(path, reader.line_num, "(row)", str(error)) from None
        return
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            values = json.loads(raw)
        except ValueError as error:
            raise TraceError(path, line, "(row)", f"not JSON: {error}") from None
        if not isinstance(values, dict):
            raise TraceError(path, line, "(row)", "must be a JSON object")
        for name in values:
            if name not in COLUMNS:
                raise TraceError(path, line, name, f"unknown key (keys: {', '.join(COLUMNS)})")
        for name in REQUIRED:
            if name not in values:
                raise TraceError(path, line, name, "required key is missing")
        yield line, values, True


def parse_trace(text: str, path: str = "<trace>", kind: str | None = None) -> list:
    kind = kind or trace_format(path)
    contacts, seen = [], {}
    previous = 0.0
    for line, values, from_json in _rows(path, text, kind):
        row = _Row(path, line, values, from_json)
        contact = _contact(row)
        if contact.arrival_s < previous:
            row.fail("arrival_s", f"rows must be in arrival order; {contact.arrival_s:g} comes "
                                  f"after {previous:g}")
        if contact.contact_id in seen:
            row.fail("contact_id", f"{contact.contact_id!r} already used on line "
                                   f"{seen[contact.contact_id]}")
        seen[contact.contact_id] = line
        previous = contact.arrival_s
        contacts.append(contact)
    if not contacts:
        raise TraceError(path, None, "(file)", "no contacts in the trace")
    return contacts


def read_trace(path) -> list:
    """The contacts of a trace file, in arrival order; TraceError on the first bad row."""
    path = str(path)
    kind = trace_format(path)
    return parse_trace(read_text(path, limit=MAX_TRACE_BYTES), path, kind)


# ---- writing -------------------------------------------------------------------------------------
def _number(value: float | None) -> str:
    # repr is the shortest text that reads back as the same float: round trips are exact.
    return "" if value is None else repr(float(value))


def _record(contact: TraceContact) -> dict:
    return {"arrival_s": contact.arrival_s, "contact_id": contact.contact_id,
            "ani": mask_card_numbers(contact.ani), "site": contact.site,
            "dnis": mask_card_numbers(contact.dnis), "skill": contact.skill,
            "priority": None if contact.priority is None else contact.priority.name.lower(),
            "service_objective_s": contact.service_objective_s,
            "channel": contact.channel.name.lower(), "handle_time_s": contact.handle_time_s,
            "patience_s": contact.patience_s,
            "data": {key: mask_card_numbers(value) for key, value in contact.data.items()},
            "caller": None if contact.caller is None else contact.caller.text()}


def write_trace(path, contacts) -> None:
    path = str(path)
    kind = trace_format(path)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        if kind == "csv":
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            for contact in contacts:
                record = _record(contact)
                writer.writerow([
                    _number(value) if name in ("arrival_s", "service_objective_s",
                                               "handle_time_s", "patience_s")
                    else json.dumps(value, sort_keys=True, separators=(",", ":"))
                    if name == "data" else value
                    for name, value in record.items()])
        else:
            for contact in contacts:
                handle.write(json.dumps(_record(contact), separators=(",", ":")) + "\n")


# ---- generating ----------------------------------------------------------------------------------
def _rounded(seconds: float) -> float:
    # Milliseconds: plenty for contact-center times, and the text stays short.
    return round(seconds, 3)


def generate_trace(scenario: Scenario, seed: int | None = None) -> list:
    """Contacts of every traffic entry over `duration_s`, merged in arrival order.

    Arrivals of an entry are a Poisson process of rate rate_per_hour x profile weight: with
    a profile, candidates at the peak rate are kept with probability weight/peak (thinning,
    which leaves a non-homogeneous Poisson process). Ids are c000001... in arrival order.
    An entry that dials a `dnis` gives dialled contacts, each with its caller's decisions
    drawn from the entry's caller model after its handle time and patience (entries
    without `dnis` draw exactly what they drew before dialled traffic existed).
    """
    rng = random.Random(scenario.seed if seed is None else seed)
    profile = scenario.profile
    peak = max(profile.weights) if profile is not None else 1.0
    drawn = []                      # (arrival, stream number, handle, patience, caller)
    for number, stream in enumerate(scenario.traffic):
        rate = stream.rate_per_hour * peak / 3600.0
        now = 0.0
        while True:
            now += rng.expovariate(rate)
            if now >= scenario.duration_s:
                break
            if profile is not None and rng.random() * peak >= profile.weight_at(now):
                continue
            handle = stream.handle_time.sample(rng)
            patience = stream.patience.sample(rng) if stream.patience is not None else None
            caller = stream.caller.decide(rng) if stream.dnis is not None else None
            drawn.append((_rounded(now), number, _rounded(handle),
                          None if patience is None else _rounded(patience), caller))
    drawn.sort(key=lambda item: (item[0], item[1]))
    width = max(6, len(str(len(drawn))))
    contacts = []
    for serial, (arrival, number, handle, patience, caller) in enumerate(drawn, 1):
        stream = scenario.traffic[number]
        if stream.dnis is not None:
            contacts.append(TraceContact(
                arrival, f"c{serial:0{width}d}", f"+1555{rng.randrange(10_000_000):07d}",
                stream.site, stream.dnis, "", None, None, stream.channel, handle, patience,
                {"account": f"{rng.randrange(100_000_000):08d}"}, caller))
            continue
        contacts.append(TraceContact(
            arrival, f"c{serial:0{width}d}", f"+1555{rng.randrange(10_000_000):07d}",
            stream.site, f"{stream.site}-{stream.skill}", stream.skill, stream.priority,
            stream.service_objective_s, stream.channel, handle, patience,
            {"account": f"{rng.randrange(100_000_000):08d}"}))
    return contacts


# ---- a trace as a scenario for the simulator -----------------------------------------------------
def class_key(site, skill, priority: Priority, service_objective_s: float, channel: Channel):
    return site, skill, priority, service_objective_s, channel


def arrivals_of(scenario: Scenario, contacts, objective=None) -> list:
    """`Arrival`s of `contacts`, each tied to the scenario's traffic entry of its
    class (site, skill, priority, objective, channel); `objective(contact)` resolves a
    contact without one (default: the scenario's own defaults)."""

    streams = {}
    for number, stream in enumerate(scenario.traffic):
        key = (("dialled", stream.site, stream.dnis, stream.channel) if stream.dnis is not None
               else class_key(stream.site, stream.skill, stream.priority,
                              stream.service_objective_s, stream.channel))
        streams.setdefault(key, number)
    if objective is None:
        def objective(contact):
            return (contact.service_objective_s
                    or scenario.skills[contact.skill].sl_threshold_s)
    arrivals = []
    for contact in contacts:
        key = stream_key(contact, objective)
        if key not in streams:
            raise TraceError(scenario.path, contact.line or None, "contact",
                             f"{contact.contact_id}: no traffic entry of class {key}")
        # A dialled contact without a `caller` keys nothing and so on, as `vcc loadtest`
        # plays it (CallerDecisions' defaults), rather than drawing from a caller model.
        caller = contact.caller if contact.caller is not None or not contact.dialled else (
            CallerDecisions())
        arrivals.append(Arrival(contact.arrival_s, streams[key], contact.contact_id,
                                contact.handle_time_s, contact.patience_s, caller))
    return arrivals


@dataclass(frozen=True)
class CenterScenario(Scenario):
    """A Scenario whose sites come as ready `SiteConfig`s (a live cluster's configuration)
    and whose traffic entries are the classes of a trace, for `Simulation(arrivals=...)`."""
    site_config_map: dict = field(default_factory=dict)

    def site_configs(self) -> dict:
        return dict(self.site_config_map)


def stream_key(contact: TraceContact, objective) -> tuple:
    """The traffic class of a contact (`trace_streams`): its class_key, or for a dialled
    contact (whose plan picks skill, priority and objective) its site, number and channel."""
    if contact.dialled:
        return "dialled", contact.site, contact.dnis, contact.channel
    return class_key(contact.site, contact.skill, contact.priority, objective(contact),
                     contact.channel)


def trace_streams(contacts, objective) -> dict:
    """{stream_key: TrafficStream} of the trace's classes, at their mean rates; constant
    distributions carry the class means (the simulator uses each contact's own values). A
    dialled class's stream has its `dnis` and no skill, priority or objective."""
    span = max(contacts[-1].arrival_s, 1e-9)
    classes = {}
    for contact in contacts:
        classes.setdefault(stream_key(contact, objective), []).append(contact)
    streams = {}
    for key, members in classes.items():
        handle = Distribution("constant", max(sum(c.handle_time_s for c in members)
                                              / len(members), 1e-9))
        rate = 3600.0 * len(members) / span
        if key[0] == "dialled":
            _, site, dnis, channel = key
            streams[key] = TrafficStream(site, None, rate, None, None, channel, handle, None,
                                         dnis=dnis)
        else:
            site, skill, priority, so, channel = key
            streams[key] = TrafficStream(site, skill, rate, priority, so, channel, handle, None)
    return streams


def center_scenario(config, contacts, *, agents=None, duration_s=None, path=None,
                    seed: int = 0) -> CenterScenario:
    """A CenterScenario of a cluster configuration (`cluster.config.ClusterConfig`) and a
    trace; `agents` (site -> set of agent ids) keeps only those agents."""
    sites = {}
    for name, site in config.sites.items():
        if agents is not None:
            site = dataclasses.replace(site, agents=tuple(
                agent for agent in site.agents if agent.agent_id in agents.get(name, ())))
        sites[name] = site
    objective = objective_resolver(config.skills, config.service_objectives)
    span = contacts[-1].arrival_s if contacts else 0.0
    return CenterScenario(path or config.path, duration_s or max(span, 1e-9), seed,
                          dict(config.skills), {name: [] for name in sites}, config.multisite,
                          config.bsr, tuple(trace_streams(contacts, objective).values()),
                          site_config_map=sites)


def objective_resolver(skills: dict, objectives: dict):
    """contact -> its service objective as the router applies it: the contact's own, else the
    skill's for the priority (`service_objectives`), else the skill's sl_threshold_s."""
    def objective(contact) -> float:
        if contact.service_objective_s:
            return contact.service_objective_s
        by_priority = objectives.get(contact.skill) or {}
        return by_priority.get(contact.priority) or skills[contact.skill].sl_threshold_s
    return objective


# ---- importing CDRs ------------------------------------------------------------------------------
_MAP_COLUMNS = ("arrival", "contact_id", "ani", "site", "dnis", "skill", "priority",
                "service_objective_s", "channel", "handle_time_s", "patience_s")
_MAP_KEYS = {"columns", "time_format", "defaults", "values", "data"}


@dataclass
class CdrMapping:
    path: str
    columns: dict              # trace field -> CDR column
    time_format: str           # "seconds" | "epoch" | "iso" | a strptime format
    defaults: dict             # trace field -> value when the column is absent or empty
    values: dict               # trace field -> {CDR value: trace value}
    data: list                 # CDR columns copied into attached data


def load_mapping(path) -> CdrMapping:
    """The mapping file of `vcc trace import`:

        columns:                      # trace field: CDR column (arrival, handle_time_s required)
          arrival: start_time
          contact_id: call_id         # default: the CDR line number
          ani: caller
          site: site                  # or defaults.site
          dnis: called
          skill: queue                # or defaults.skill
          priority: tier              # or defaults.priority (default medium)
          channel: media              # or defaults.channel (default voice)
          handle_time_s: talk_s
          patience_s: abandon_after_s # default: empty (never abandons)
        time_format: iso              # seconds | epoch | iso | a strptime format ("%d/%m/%Y %H:%M")
        defaults: {site: east, skill: billing}
        values: {priority: {Gold: high, Std: medium}, skill: {Q100: billing}}
        data: [account, reason]       # CDR columns copied into attached data (masked)

    Arrival times become seconds after the earliest one; rows are sorted by arrival.
    """
    path = str(path)
    top = Reader(path, parse_yaml(read_text(path), path), "", 1, _MAP_KEYS,
                 required=("columns",))
    columns_reader = top.child("columns", set(_MAP_COLUMNS), required=("arrival", "handle_time_s"))
    for key, value in columns_reader.mapping.items():
        if not isinstance(value, str) or not value:
            columns_reader.fail(key, f"must name a CDR column; got {brief(value)}")
    time_format = top.mapping.get("time_format", "seconds")
    if not isinstance(time_format, str) or not time_format:
        top.fail("time_format",
                 f"seconds, epoch, iso or a strptime format; got {brief(time_format)}")
    defaults = {}
    if "defaults" in top.mapping:
        reader = top.child("defaults", {"site", "skill", "priority", "channel", "dnis"})
        for key, value in reader.mapping.items():
            if not isinstance(value, str) or not value:
                reader.fail(key, f"must be a non-empty string; got {brief(value)}")
        defaults = dict(reader.mapping)
    for key in ("site", "skill"):
        if key not in columns_reader.mapping and key not in defaults:
            top.fail("columns", f"map `{key}` to a column or give defaults.{key}")
    values = {}
    if "values" in top.mapping:
        reader = top.child("values", {"site", "skill", "priority", "channel"})
        for key, table in reader.mapping.items():
            if not isinstance(table, dict):
                reader.fail(key, "must map CDR values to trace values")
            values[key] = {str(raw): str(value) for raw, value in table.items()}
    data = top.mapping.get("data", [])
    if not isinstance(data, list) or not all(isinstance(item, str) and item for item in data):
        top.fail("data", f"must be a list of CDR column names; got {brief(data)}")
    return CdrMapping(path, dict(columns_reader.mapping), time_format, defaults, values,
                      list(data))


def _parse_time(text: str, time_format: str) -> float:
    if time_format in ("seconds", "epoch"):
        return float(text)
    if time_format == "iso":
        moment = datetime.datetime.fromisoformat(text)
    else:
        moment = datetime.datetime.strptime(text, time_format)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def import_cdr(cdr_path, mapping: CdrMapping) -> list:
    """Trace contacts of a CDR CSV (with a header) under `mapping`; a bad row raises
    TraceError naming the CDR file, line and column."""
    cdr_path = str(cdr_path)
    text = read_text(cdr_path, limit=MAX_TRACE_BYTES)
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = reader.fieldnames or []
    wanted = [(f"columns.{name}", column) for name, column in mapping.columns.items()]
    for key, column in wanted + [("data", column) for column in mapping.data]:
        if column not in header:
            # The header's names only if they look like column names: the CDR file may be
            # anything, and its first line is not to be printed.
            names = ", ".join(name for name in header if _COLUMN_LIKE.fullmatch(name))
            raise TraceError(mapping.path, None, key, f"column {brief(column)} is not in "
                                                      f"{cdr_path}'s header "
                                                      f"({cut(names, 200) or 'no column names'})")
    rows = []
    for values in reader:
        line = reader.line_num
        raw = {name: (values.get(column) or "").strip()
               for name, column in mapping.columns.items()}
        fields = {}
        for name in ("contact_id", "ani", "site", "dnis", "skill", "priority", "channel",
                     "service_objective_s", "handle_time_s", "patience_s"):
            value = raw.get(name, "") or mapping.defaults.get(name, "")
            if name in mapping.values and value:
                value = mapping.values[name].get(value, value)
            fields[name] = value
        fields["priority"] = fields["priority"] or "medium"
        fields["channel"] = fields["channel"] or "voice"
        fields["contact_id"] = fields["contact_id"] or f"cdr-{line}"
        try:
            arrival = _parse_time(raw["arrival"], mapping.time_format)
        except (ValueError, OverflowError) as error:
            raise TraceError(cdr_path, line, mapping.columns["arrival"],
                             f"arrival time {brief(raw['arrival'])} "
                             f"({brief(mapping.time_format)}): {cut(str(error), 120)}") from None
        fields["data"] = json.dumps({column: values.get(column) or ""
                                     for column in mapping.data})
        fields["arrival_s"] = str(arrival)
        # Errors name the CDR's own column where there is one.
        row = _Row(cdr_path, line, fields, False)
        try:
            contact = _contact(row)
        except TraceError as error:
            column = mapping.columns.get(error.key, error.key)
            raise TraceError(cdr_path, line, column, error.problem) from None
        rows.append(contact)
    if not rows:
        raise TraceError(cdr_path, None, "(file)", "no CDR rows")
    start = min(contact.arrival_s for contact in rows)
    rows.sort(key=lambda contact: (contact.arrival_s, contact.line))
    seen = {}
    contacts = []
    for contact in rows:
        if contact.contact_id in seen:
            raise TraceError(cdr_path, contact.line,
                             mapping.columns.get("contact_id", "contact_id"),
                             f"{contact.contact_id!r} already used on line "
                             f"{seen[contact.contact_id]}")
        seen[contact.contact_id] = contact.line
        contacts.append(dataclasses.replace(contact, arrival_s=_rounded(contact.arrival_s - start)))
    return contacts


# ---- the `vcc trace` command ---------------------------------------------------------------------
def summary(contacts) -> str:
    span = contacts[-1].arrival_s if contacts else 0.0
    sites = sorted({contact.site for contact in contacts})
    skills = sorted({contact.skill for contact in contacts if not contact.dialled})
    dialled = sorted({contact.dnis for contact in contacts if contact.dialled})
    rate = 3600.0 * len(contacts) / span if span > 0 else 0.0
    return (f"{len(contacts):,} contacts over {span:,.0f} s ({rate:,.0f}/hour); sites "
            f"{', '.join(sites)}; skills {', '.join(skills) or 'none'}"
            + (f"; dialled numbers {', '.join(dialled)}" if dialled else ""))


def _write(command: str, output: str, make) -> int:
    """Make contacts and write them to `output`: exit 2 with file:line:key on bad input."""
    try:
        trace_format(output)
        contacts = make()
        write_trace(output, contacts)
    except ConfigFileError as error:
        print(f"vcc trace {command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"vcc trace {command}: {output}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"{output}: {summary(contacts)}", file=sys.stderr)
    return 0


def _generate(args) -> int:
    return _write("generate", args.output,
                  lambda: generate_trace(load_inbound_scenario(args.scenario, "vcc trace"),
                                         args.seed))


def _import(args) -> int:
    return _write("import", args.output,
                  lambda: import_cdr(args.cdr, load_mapping(args.mapping)))


def _check(args) -> int:
    try:
        contacts = read_trace(args.trace)
    except ConfigFileError as error:
        print(f"vcc trace check: {error}", file=sys.stderr)
        return 2
    print(f"{args.trace}: {summary(contacts)}")
    return 0


def add_trace_parser(commands) -> None:
    """`vcc trace generate|import|check` (cluster/cli.py calls this)."""
    trace = commands.add_parser("trace", help="traffic traces: generate, import CDRs, check")
    actions = trace.add_subparsers(dest="trace_command", required=True)
    generate = actions.add_parser("generate", help="draw a trace from a scenario file")
    generate.add_argument("scenario", help="scenario YAML file (README: Scenario files)")
    generate.add_argument("-o", "--output", required=True, help="trace file (.csv or .jsonl)")
    generate.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    generate.set_defaults(run=_generate)
    cdr = actions.add_parser("import", help="convert call detail records (CSV) into a trace")
    cdr.add_argument("cdr", help="CDR CSV file with a header")
    cdr.add_argument("--mapping", required=True, help="mapping YAML (see loadtests/trace.py)")
    cdr.add_argument("-o", "--output", required=True, help="trace file (.csv or .jsonl)")
    cdr.set_defaults(run=_import)
    check = actions.add_parser("check", help="validate a trace file and summarise it")
    check.add_argument("trace", help="trace file (.csv or .jsonl)")
    check.set_defaults(run=_check)
