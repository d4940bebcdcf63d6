"""Routing plans and IVR services (SPEC §10): the validated configuration, as plain data.

Four keys of a configuration or scenario file describe what happens to a contact that
arrives with only a dialled number: `calendars` (sites.calendars), `entry_points` (DNIS ->
service), `services` (IVR ports and a schedule choosing the plan by calendar) and `plans`
(steps with an optional `if:` condition and `label:`). `parse_plan_config` reads them from
the plain values a YAML reader or an Admin request gives and checks them as a whole: a
plan that refers to an unknown skill, calendar, plan, label, entry point or prompt
variable is refused when loaded, never when a caller reaches it. A refusal is a
`PlanError` (an `InvalidInput`) whose `path` is the tuple of keys and list indexes that
lead to the bad value, e.g. `("plans", "care_open", 3, "queue", "skill")`, so that a file
reader can name the line. Everything here is immutable: a contact that started a plan can
keep the version it started while Admin swaps in a new `PlanConfig`.

The interpreter that runs plans (driven by events and deadlines, in the core) is separate;
this module only says what a valid plan is.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import operator
import re
from dataclasses import dataclass, field
from typing import ClassVar

from sites.calendars import Calendar
from sites.errors import InvalidInput
from sites.model import Priority

# Same limits as the API's (cluster/api_limits.py, which the core cannot import).
MAX_NAME = 64                  # calendar, service, plan, label, variable and skill names
MAX_PHONE = 32                 # a DNIS, an ANI prefix, a number to route to
MAX_PROMPT = 256               # a prompt's name (the PBX's file or id)
MAX_TABLE = 64
MAX_PLAN_STEPS = 1_000         # steps written in one plan
MAX_STEPS_RUN = 1_000          # steps run for one contact (the interpreter's loop guard)
MAX_SCHEDULE = 100             # entries of one service's schedule
MAX_CONDITIONS = 100           # conditions under one `all`/`any`
MAX_DIGITS = 32                # collect max_digits
MAX_STEP_SECONDS = 86_400.0    # announce, collect timeout, wait, self_service
MAX_LINES = 1_000_000          # a service's IVR ports
MAX_OBJECTIVE_S = 31 * 86_400.0

PRIORITIES = tuple(priority.name.lower() for priority in Priority)
TREATMENTS = ("music", "ringback", "silence")
MEASURES = ("staffed", "available", "queued", "oldest_wait", "ewt", "rolling_asa")
COMPARISONS = ("gt", "ge", "lt", "le", "eq")
# comparison -> the operator with its operands swapped (a > b is b < a)
_MIRRORED = {"gt": operator.lt, "ge": operator.le, "lt": operator.gt, "le": operator.ge,
             "eq": operator.eq}
_PHONE = re.compile(r"^\+?[0-9*#]{1,32}$")
_DIGITS = re.compile(r"^[0-9*#]{1,32}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PlanError(InvalidInput):
    """A plan configuration refused; `path` leads to the bad value (module docstring)."""

    def __init__(self, path: tuple, problem: str):
        super().__init__(dotted(path), problem)
        self.path = tuple(path)

    def __reduce__(self):
        return type(self), (self.path, self.problem)


def _key(key):
    """A mapping key as it goes into a path: text (an int key, say an unquoted number, is
    shown as written and never mistaken for a list index)."""
    return key if isinstance(key, str) else str(key)


def dotted(path) -> str:
    """("plans", "care", 3, "queue") -> "plans.care[3].queue"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


# ---- conditions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CalendarOpen:
    """`calendar: NAME`: the calendar is open now."""
    calendar: str


@dataclass(frozen=True)
class AniPrefix:
    """`ani_prefix: [...]`: the caller's number starts with one of these."""
    prefixes: tuple


@dataclass(frozen=True)
class AniIn:
    """`ani_in: TABLE`: the caller's number is in the named list (run-time data, not
    configuration: not checked when loaded)."""
    table: str


@dataclass(frozen=True)
class Digits:
    """`digits: {VAR: value | [values]}`: each variable (collected by this plan) holds one
    of its values; `values` is ((VAR, (value, ...)), ...)."""
    values: tuple


@dataclass(frozen=True)
class CustomerTier:
    """`customer: {tier: [...]}` (SPEC §7): the caller's tier is one of these."""
    tiers: tuple


@dataclass(frozen=True)
class SkillState:
    """`MEASURE: {skill?, priority?, gt|ge|lt|le|eq: N}`: a figure of a skill, as BSR
    publishes it, compared with N. `skill` None only for `ewt` (this contact's own EWT);
    `priority` None: the skill's figure for every priority (or the contact's)."""
    measure: str                  # MEASURES
    skill: str | None
    priority: Priority | None
    comparison: str               # COMPARISONS
    value: float

    def holds(self, observed: float | None) -> bool:
        """`observed <comparison> value`; an unknown figure (an EWT of None: nobody staffed)
        counts as infinite."""
        return self.test()(observed)

    def test(self):
        """`holds` as a function made once (a plan's compiled program calls it on every
        run)."""
        known = self.known_test()
        return lambda observed: known(math.inf if observed is None else observed)

    def known_test(self):
        """`holds` of a figure that is not None, as a function made once (a plan's compiled
        program calls it on every run): `value <mirrored comparison> observed`, which is
        `observed <comparison> value`, bound with functools.partial to call no Python code."""
        return functools.partial(_MIRRORED[self.comparison], self.value)


@dataclass(frozen=True)
class AllOf:
    conditions: tuple


@dataclass(frozen=True)
class AnyOf:
    conditions: tuple


@dataclass(frozen=True)
class Not:
    condition: object


# ---- actions ---------------------------------------------------------------------------------
class Action:
    """One step's action. `takes_time`: the caller spends time in it (a timer or the PBX);
    `ends`: the plan ends with it (a final state)."""
    takes_time: ClassVar[bool] = False
    ends: ClassVar[bool] = False
    kind: ClassVar[str] = ""


@dataclass(frozen=True)
class Announce(Action):
    prompt: str
    seconds: float
    takes_time: ClassVar[bool] = True
    kind: ClassVar[str] = "announce"


@dataclass(frozen=True)
class Collect(Action):
    """Play `prompt`, wait up to `timeout_s` for at most `max_digits` digits into `into`."""
    prompt: str
    max_digits: int
    timeout_s: float
    into: str
    takes_time: ClassVar[bool] = True
    kind: ClassVar[str] = "collect"


@dataclass(frozen=True)
class Queue(Action):
    """Wait in `skill` too (up to 3 at once); `priority` None: the caller's tier's (SPEC
    §7; medium without tiers); `service_objective_s` None: the tier's, else the skill's."""
    skill: str
    priority: Priority | None
    service_objective_s: float | None = None
    kind: ClassVar[str] = "queue"


@dataclass(frozen=True)
class SetPriority(Action):
    """`priority: P`: raise or lower the contact's priority while queued."""
    priority: Priority
    kind: ClassVar[str] = "priority"


@dataclass(frozen=True)
class Wait(Action):
    seconds: float
    treatment: str = "music"      # TREATMENTS
    takes_time: ClassVar[bool] = True
    kind: ClassVar[str] = "wait"


@dataclass(frozen=True)
class Goto(Action):
    label: str
    kind: ClassVar[str] = "goto"


@dataclass(frozen=True)
class Callback(Action):
    """Offer a callback; an accepting caller hangs up and keeps the place."""
    kind: ClassVar[str] = "callback"


@dataclass(frozen=True)
class RouteTo(Action):
    """Send the contact elsewhere: `target` is an entry point (`dnis`), a site, or an
    outside `number`."""
    to: str                       # "dnis" | "site" | "number"
    target: str
    ends: ClassVar[bool] = True
    kind: ClassVar[str] = "route_to"


@dataclass(frozen=True)
class SelfService(Action):
    """Served by the IVR for `seconds` (some callers then ask for an agent: the plan goes on)."""
    prompt: str
    seconds: float
    takes_time: ClassVar[bool] = True
    kind: ClassVar[str] = "self_service"


@dataclass(frozen=True)
class Voicemail(Action):
    ends: ClassVar[bool] = True
    kind: ClassVar[str] = "voicemail"


@dataclass(frozen=True)
class Busy(Action):
    ends: ClassVar[bool] = True
    kind: ClassVar[str] = "busy"


@dataclass(frozen=True)
class Disconnect(Action):
    prompt: str | None = None
    ends: ClassVar[bool] = True
    kind: ClassVar[str] = "disconnect"


ACTIONS = {cls.kind: cls for cls in (Announce, Collect, Queue, SetPriority, Wait, Goto, Callback,
                                     RouteTo, SelfService, Voicemail, Busy, Disconnect)}


# ---- plans, services, entry points --------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    action: Action
    condition: object = None      # a condition above, or None: always
    label: str | None = None
    where: str = field(default="", compare=False)    # e.g. "plans.care_open[3]", for reports


@dataclass(frozen=True)
class Plan:
    name: str
    steps: tuple                  # Step
    labels: dict = field(default_factory=dict, compare=False, hash=False)   # label -> index


@dataclass(frozen=True)
class ScheduleEntry:
    """`{calendar, plan}`: while the calendar is open; `{otherwise: plan}`: calendar None."""
    plan: str
    calendar: str | None = None


@dataclass(frozen=True)
class Service:
    name: str
    max_lines: int                # IVR ports: a caller beyond them gets busy
    schedule: tuple               # ScheduleEntry; the last is the `otherwise`

    def plan_at(self, calendars: dict, epoch: float) -> str:
        """The plan of the first entry whose calendar is open at POSIX time `epoch`."""
        for entry in self.schedule:
            if entry.calendar is None or calendars[entry.calendar].is_open(epoch):
                return entry.plan
        raise AssertionError(f"service {self.name!r} has no otherwise")   # refused when loaded


@dataclass(frozen=True)
class EntryPoint:
    dnis: str
    service: str


@dataclass(frozen=True)
class PlanConfig:
    """The four keys of SPEC §10, checked as a whole. Empty when a file has none."""
    calendars: dict = field(default_factory=dict)       # name -> Calendar
    entry_points: dict = field(default_factory=dict)    # dnis -> EntryPoint
    services: dict = field(default_factory=dict)        # name -> Service
    plans: dict = field(default_factory=dict)           # name -> Plan
    # Every `ani_prefix` value of every plan, longest first (`ani_prefix_of`).
    ani_prefixes: tuple = ()
    # The four keys as plain JSON values (dates as ISO text): what Admin shows and edits,
    # what the journal and snapshots keep; parsing it again gives an equal configuration.
    source: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __bool__(self) -> bool:
        return bool(self.calendars or self.entry_points or self.services or self.plans)

    def ani_prefix_of(self, ani: str | None) -> str:
        """The longest `ani_prefix` value of these plans that `ani` starts with ("" if none).

        It is all that `ani_prefix` conditions need: a number starts with a configured
        prefix P exactly when this longest match starts with P. The host computes it at the
        edge and the core never sees the caller's number (no phone number in its journal)."""
        if ani:
            for prefix in self.ani_prefixes:
                if ani.startswith(prefix):
                    return prefix
        return ""

    def plan_for(self, dnis: str, epoch: float) -> Plan | None:
        """The plan a contact dialling `dnis` starts at POSIX time `epoch`; None: no such
        entry point."""
        entry = self.entry_points.get(dnis)
        if entry is None:
            return None
        service = self.services[entry.service]
        return self.plans[service.plan_at(self.calendars, epoch)]


# ---- reading -----------------------------------------------------------------------------------
KEYS = ("calendars", "entry_points", "services", "plans")


def parse_plan_config(document: dict, skills, sites=None, tiers=None) -> PlanConfig:
    """The `calendars`, `entry_points`, `services` and `plans` of `document` (other keys are
    the caller's), checked against the known `skills` (names), and, when given, `sites`
    (for `route_to: {site}`) and customer `tiers`. PlanError otherwise."""
    skills = set(skills)
    calendars = {}
    for name, spec in _mapping(document, ("calendars",)).items():
        _name(name, ("calendars", _key(name)), "calendar")
        try:
            calendars[name] = Calendar.from_spec(name, spec)
        except PlanError:
            raise
        except InvalidInput as error:
            raise PlanError(("calendars", name) + _field_path(error.field), error.problem) \
                from None

    entry_spec = _mapping(document, ("entry_points",))
    for dnis in entry_spec:
        _phone(dnis, ("entry_points", _key(dnis)), "a dialled number (DNIS)")

    context = _Context(skills, set(calendars), set(entry_spec),
                       None if sites is None else set(sites),
                       None if tiers is None else set(tiers))
    plans = {}
    for name, spec in _mapping(document, ("plans",)).items():
        _name(name, ("plans", _key(name)), "plan")
        plans[name] = _plan(name, spec, context)

    services = {}
    for name, spec in _mapping(document, ("services",)).items():
        _name(name, ("services", _key(name)), "service")
        services[name] = _service(name, spec, calendars, plans)

    entry_points = {}
    for dnis, spec in entry_spec.items():
        path = ("entry_points", dnis)
        _only(spec, {"service"}, path, "an entry point is {service: NAME}")
        service = _text(spec, "service", path, MAX_NAME)
        if service not in services:
            _fail(path + ("service",), f"unknown service {service!r}{_defined(services)}")
        entry_points[dnis] = EntryPoint(dnis, service)
    return PlanConfig(calendars, entry_points, services, plans,
                      tuple(sorted(context.ani_prefixes, key=lambda p: (-len(p), p))),
                      {key: plain(document[key]) for key in KEYS if key in document})


def plain(value):
    """`value` as JSON values: dates and times as ISO 8601 text, mappings with text keys."""
    if isinstance(value, dict):
        return {_key(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


class _Context:
    def __init__(self, skills, calendars, entry_points, sites, tiers):
        self.skills, self.calendars, self.entry_points = skills, calendars, entry_points
        self.sites, self.tiers = sites, tiers
        self.variables = []           # (path, VAR, values) of digits conditions in this plan
        self.ani_prefixes = set()     # every ani_prefix value of every plan


def _fail(path, problem):
    raise PlanError(tuple(path), problem)


def _defined(names) -> str:
    names = sorted(str(name) for name in names)
    if not names:
        return " (none defined)"
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return f" (defined: {shown})"


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _field_path(text: str) -> tuple:
    """"overrides[2].end" -> ("overrides", 2, "end") (fields of sites.calendars)."""
    path = []
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", text):
        path.append(int(index) if index else key)
    return tuple(path)


def _mapping(document, path, what="a mapping of names") -> dict:
    value = document
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        _fail(path, f"must be {what}; got {_show(value)}")
    return value


def _only(value, allowed: set, path, shape: str) -> dict:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        _fail(path, f"must be a mapping: {shape}; got {_show(value)}")
    for key in value:
        if key not in allowed:
            _fail(tuple(path) + (_key(key),),
                  f"unknown key (allowed: {', '.join(sorted(allowed)) or 'none'})")
    return value


def _name(name, path, what: str) -> str:
    if not isinstance(name, str) or not name:
        _fail(path, f"a {what} name must be non-empty text; got {_show(name)}")
    if len(name) > MAX_NAME:
        _fail(path, f"a {what} name has at most {MAX_NAME} characters; got {len(name):,}")
    return name


def _phone(value, path, what: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _fail(path, f"{what} must be quoted text, e.g. \"8005550100\" (YAML reads "
                    f"{value} as a number and drops leading zeros)")
    if not isinstance(value, str) or not _PHONE.match(value):
        _fail(path, f"{what} is 1 to {MAX_PHONE} digits, * or #, with an optional leading +; "
                    f"got {_show(value)}")
    return value


def _text(spec: dict, key, path, limit: int, what="text") -> str:
    if key not in spec:
        _fail(tuple(path) + (key,), "required key is missing")
    value = spec[key]
    if not isinstance(value, str) or not value:
        _fail(tuple(path) + (key,), f"must be non-empty {what}; got {_show(value)}")
    if len(value) > limit:
        _fail(tuple(path) + (key,), f"at most {limit} characters; got {len(value):,}")
    return value


def _number(spec: dict, key, path, *, maximum: float, integer=False, minimum=0.0,
            exclusive=True, default=None):
    if key not in spec:
        if default is not None:
            return default
        _fail(tuple(path) + (key,), "required key is missing")
    value = spec[key]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) \
            or value < minimum or (exclusive and value == minimum) or value > maximum:
        bound = f"{'>' if exclusive else '>='} {minimum:g} and <= {maximum:,g}"
        _fail(tuple(path) + (key,), f"must be {'an integer' if integer else 'a number'} "
                                    f"{bound}; got {_show(value)}")
    return value if integer else float(value)


def _priority(value, path) -> Priority:
    if not isinstance(value, str) or value.lower() not in PRIORITIES:
        _fail(path, f"must be one of {', '.join(PRIORITIES)}; got {_show(value)}")
    return Priority[value.upper()]


def _skill(value, path, context: _Context) -> str:
    if not isinstance(value, str) or not value:
        _fail(path, f"must name a skill; got {_show(value)}")
    if value not in context.skills:
        _fail(path, f"unknown skill {value!r}{_defined(context.skills)}")
    return value


# ---- plans -----------------------------------------------------------------------------------
_NO_ARGUMENT = ("callback", "voicemail", "busy", "disconnect")


def _plan(name: str, spec, context: _Context) -> Plan:
    path = ("plans", name)
    if not isinstance(spec, list) or not spec:
        _fail(path, "a plan is a non-empty list of steps")
    if len(spec) > MAX_PLAN_STEPS:
        _fail(path, f"at most {MAX_PLAN_STEPS:,} steps; got {len(spec):,}")
    context.variables = []
    steps, labels = [], {}
    for number, value in enumerate(spec):
        step = _step(value, path + (number,), context)
        if step.label is not None:
            if step.label in labels:
                _fail(path + (number, "label"), f"duplicate label {step.label!r} (also step "
                                                f"{labels[step.label]})")
            labels[step.label] = number
        steps.append(step)
    collected = {}
    for number, step in enumerate(steps):
        if isinstance(step.action, Collect):
            collected.setdefault(step.action.into, []).append(step.action.max_digits)
        if isinstance(step.action, Goto) and step.action.label not in labels:
            _fail(path + (number, "goto"), f"unknown label {step.action.label!r}"
                                           f"{_defined(labels)}")
    for where, variable, values in context.variables:
        if variable not in collected:
            _fail(where, f"unknown prompt variable {variable!r}: no collect step of plan "
                         f"{name!r} has into: {variable} (collected: "
                         f"{', '.join(sorted(collected)) or 'nothing'})")
        longest = max(collected[variable])
        for value in values:
            if len(value) > longest:
                _fail(where, f"{value!r} can never be keyed: {variable!r} is collected with "
                             f"max_digits {longest}")
    plan = Plan(name, tuple(steps), labels)
    _check_no_busy_loop(plan, path)
    return plan


def _step(value, path, context: _Context) -> Step:
    where = dotted(path)
    if isinstance(value, str):
        if value not in _NO_ARGUMENT:
            _fail(path, f"a step is a mapping such as {{announce: {{...}}}}; a bare word only "
                        f"for {', '.join(_NO_ARGUMENT)}; got {_show(value)}")
        return Step(ACTIONS[value](), where=where)
    if not isinstance(value, dict):
        _fail(path, f"a step is a mapping with one action; got {_show(value)}")
    actions = [key for key in value if key not in ("if", "label")]
    for key in actions:
        if key not in ACTIONS:
            _fail(tuple(path) + (_key(key),), f"unknown action (actions: {', '.join(ACTIONS)}; "
                                        "and if, label)")
    if len(actions) != 1:
        _fail(path, f"a step has exactly one action; got {', '.join(map(str, actions)) or 'none'}"
                    + (" (put a label on the step it names)" if "label" in value and not actions
                       else ""))
    kind = actions[0]
    action = _action(kind, value[kind], tuple(path) + (kind,), context)
    label = None
    if "label" in value:
        label = _name(value["label"], tuple(path) + ("label",), "label")
    condition = _condition(value["if"], tuple(path) + ("if",), context) if "if" in value else None
    return Step(action, condition, label, where)


def _action(kind: str, spec, path, context: _Context) -> Action:
    if kind == "announce":
        spec = _only(spec, {"prompt", "seconds"}, path, "{prompt, seconds}")
        return Announce(_text(spec, "prompt", path, MAX_PROMPT),
                        _number(spec, "seconds", path, maximum=MAX_STEP_SECONDS))
    if kind == "collect":
        spec = _only(spec, {"prompt", "max_digits", "timeout_s", "into"}, path,
                     "{prompt, max_digits, timeout_s, into}")
        into = _text(spec, "into", path, MAX_NAME, "a variable name")
        if not _VARIABLE.match(into):
            _fail(path + ("into",), f"a variable name is letters, digits and _; got {into!r}")
        return Collect(_text(spec, "prompt", path, MAX_PROMPT),
                       _number(spec, "max_digits", path, maximum=MAX_DIGITS, integer=True),
                       _number(spec, "timeout_s", path, maximum=MAX_STEP_SECONDS), into)
    if kind == "queue":
        spec = _only(spec, {"skill", "priority", "service_objective_s"}, path,
                     "{skill, priority, service_objective_s?}")
        if "skill" not in spec:
            _fail(path + ("skill",), "required key is missing")
        objective = _number(spec, "service_objective_s", path, maximum=MAX_OBJECTIVE_S) \
            if "service_objective_s" in spec else None
        return Queue(_skill(spec["skill"], path + ("skill",), context),
                     _priority(spec["priority"], path + ("priority",))
                     if "priority" in spec else None, objective)
    if kind == "priority":
        return SetPriority(_priority(spec, path))
    if kind == "wait":
        spec = _only(spec, {"seconds", "treatment"}, path, "{seconds, treatment}")
        treatment = spec.get("treatment", "music")
        if treatment not in TREATMENTS:
            _fail(path + ("treatment",), f"must be one of {', '.join(TREATMENTS)}; got "
                                         f"{_show(treatment)}")
        return Wait(_number(spec, "seconds", path, maximum=MAX_STEP_SECONDS), treatment)
    if kind == "goto":
        return Goto(_name(spec, path, "label"))
    if kind == "route_to":
        spec = _only(spec, {"dnis", "site", "number"}, path, "{dnis} or {site} or {number}")
        if len(spec) != 1:
            _fail(path, f"give exactly one of dnis, site or number; got "
                        f"{', '.join(spec) or 'none'}")
        (to, target), = spec.items()
        if to == "site":
            _name(target, path + (to,), "site")
            if context.sites is not None and target not in context.sites:
                _fail(path + (to,), f"unknown site {target!r}{_defined(context.sites)}")
        else:
            _phone(target, path + (to,), "a dialled number" if to == "dnis" else "a number")
            if to == "dnis" and target not in context.entry_points:
                _fail(path + (to,), f"unknown entry point {target!r}"
                                    f"{_defined(context.entry_points)}")
        return RouteTo(to, target)
    if kind == "self_service":
        spec = _only(spec, {"prompt", "seconds"}, path, "{prompt, seconds}")
        return SelfService(_text(spec, "prompt", path, MAX_PROMPT),
                           _number(spec, "seconds", path, maximum=MAX_STEP_SECONDS))
    if kind == "disconnect":
        spec = _only(spec, {"prompt"}, path, "{prompt?}")
        return Disconnect(_text(spec, "prompt", path, MAX_PROMPT) if "prompt" in spec else None)
    _only(spec, set(), path, "{}")          # callback, voicemail, busy: nothing to give
    return ACTIONS[kind]()


def _check_no_busy_loop(plan: Plan, path) -> None:
    """Refuse a `goto` loop on which no step takes time: it would spin through the 1,000
    step guard at once. A step with an `if:` may be skipped, so only an unconditional
    announce, collect, wait or self_service breaks a loop."""
    steps = plan.steps
    edges = []
    for number, step in enumerate(steps):
        following = [number + 1] if number + 1 < len(steps) else []
        out = list(following) if step.condition is not None else []
        action = step.action
        if isinstance(action, Goto):
            out.append(plan.labels[action.label])
        elif not action.takes_time and not action.ends:
            out.extend(following)
        edges.append(sorted(set(out)))
    state = [0] * len(steps)       # 0 new, 1 on the path, 2 done
    for root in range(len(steps)):
        if state[root]:
            continue
        stack = [(root, iter(edges[root]))]
        state[root] = 1
        # Bounded: each step is entered once and each edge followed once.
        while stack:
            node, children = stack[-1]
            for child in children:
                if state[child] == 1:
                    # Only a goto leads back, so the loop holds one: name the last.
                    on_path = [n for n, _ in stack]
                    cycle = on_path[on_path.index(child):]
                    goto = max(n for n in cycle if isinstance(steps[n].action, Goto))
                    _fail(tuple(path) + (goto, "goto"),
                          f"a loop back to {steps[goto].action.label!r} with no announce, "
                          "collect, wait or self_service on the way that always runs: it "
                          f"would run {MAX_STEPS_RUN:,} steps at once")
                if state[child] == 0:
                    state[child] = 1
                    stack.append((child, iter(edges[child])))
                    break
            else:
                state[node] = 2
                stack.pop()


# ---- conditions -----------------------------------------------------------------------------
_CONDITION_KEYS = ("calendar", "ani_prefix", "ani_in", "digits", "customer", "all", "any",
                   "not") + MEASURES


def _condition(spec, path, context: _Context):
    path = tuple(path)
    if not isinstance(spec, dict) or len(spec) != 1:
        got = ", ".join(map(str, spec)) if isinstance(spec, dict) else _show(spec)
        _fail(path, f"a condition has exactly one key ({', '.join(_CONDITION_KEYS)}); "
                    f"combine several with all: [...] or any: [...]; got {got or 'none'}")
    (kind, value), = spec.items()
    here = path + (_key(kind),)
    if kind == "calendar":
        _name(value, here, "calendar")
        if value not in context.calendars:
            _fail(here, f"unknown calendar {value!r}{_defined(context.calendars)}")
        return CalendarOpen(value)
    if kind == "ani_prefix":
        prefixes = [value] if isinstance(value, str) else value
        if not isinstance(prefixes, list) or not prefixes:
            _fail(here, f"must be a list of number prefixes, e.g. [\"+49\", \"0800\"]; got "
                        f"{_show(value)}")
        condition = AniPrefix(tuple(_phone(prefix, here, "a prefix") for prefix in prefixes))
        context.ani_prefixes.update(condition.prefixes)
        return condition
    if kind == "ani_in":
        return AniIn(_name(value, here, "table"))
    if kind == "digits":
        if not isinstance(value, dict) or not value:
            _fail(here, f"must map a collected variable to a value or a list of values, e.g. "
                        f"{{choice: \"2\"}}; got {_show(value)}")
        pairs = []
        for variable, wanted in value.items():
            where = here + (_key(variable),)
            _name(variable, where, "variable")
            options = wanted if isinstance(wanted, list) else [wanted]
            if not options:
                _fail(where, "give at least one value")
            for option in options:
                if isinstance(option, int) and not isinstance(option, bool):
                    _fail(where, f"digits are quoted text, e.g. \"{option}\" (YAML reads "
                                 f"{option} as a number and 01 as 1)")
                if not isinstance(option, str) or not _DIGITS.match(option):
                    _fail(where, f"digits are 1 to {MAX_DIGITS} of 0-9, * and #; got "
                                 f"{_show(option)}")
            context.variables.append((where, variable, tuple(options)))
            pairs.append((variable, tuple(options)))
        return Digits(tuple(pairs))
    if kind == "customer":
        spec = _only(value, {"tier"}, here, "{tier: [...]}")
        if "tier" not in spec:
            _fail(here + ("tier",), "required key is missing")
        tiers = spec["tier"] if isinstance(spec["tier"], list) else [spec["tier"]]
        if not tiers:
            _fail(here + ("tier",), "give at least one tier")
        for tier in tiers:
            _name(tier, here + ("tier",), "tier")
            if context.tiers is not None and tier not in context.tiers:
                _fail(here + ("tier",), f"unknown tier {tier!r}{_defined(context.tiers)}")
        return CustomerTier(tuple(tiers))
    if kind in ("all", "any"):
        if not isinstance(value, list) or not value:
            _fail(here, "must be a non-empty list of conditions")
        if len(value) > MAX_CONDITIONS:
            _fail(here, f"at most {MAX_CONDITIONS} conditions")
        parts = tuple(_condition(part, here + (number,), context)
                      for number, part in enumerate(value))
        return AllOf(parts) if kind == "all" else AnyOf(parts)
    if kind == "not":
        return Not(_condition(value, here, context))
    if kind in MEASURES:
        return _skill_state(kind, value, here, context)
    _fail(here, f"unknown condition (conditions: {', '.join(_CONDITION_KEYS)})")


def _skill_state(measure: str, value, path, context: _Context) -> SkillState:
    allowed = {"skill", "priority"} | set(COMPARISONS)
    if measure in ("staffed", "available"):
        allowed.discard("priority")
    spec = _only(value, allowed, path, "{skill, priority?, gt|ge|lt|le|eq: N}")
    comparisons = [key for key in spec if key in COMPARISONS]
    if len(comparisons) != 1:
        _fail(path, f"give exactly one comparison of {', '.join(COMPARISONS)}; got "
                    f"{', '.join(comparisons) or 'none'}")
    comparison = comparisons[0]
    number = _number(spec, comparison, path, maximum=1e12, exclusive=False)
    skill = None
    if "skill" in spec:
        skill = _skill(spec["skill"], path + ("skill",), context)
    elif measure != "ewt":
        _fail(path + ("skill",), f"required key is missing ({measure} is a skill's figure; "
                                 "only ewt without a skill means this contact's own)")
    priority = _priority(spec["priority"], path + ("priority",)) if "priority" in spec else None
    return SkillState(measure, skill, priority, comparison, number)


# ---- services --------------------------------------------------------------------------------
def _service(name: str, spec, calendars: dict, plans: dict) -> Service:
    path = ("services", name)
    spec = _only(spec, {"max_lines", "schedule"}, path, "{max_lines, schedule}")
    max_lines = _number(spec, "max_lines", path, maximum=MAX_LINES, integer=True, minimum=1,
                        exclusive=False)
    schedule_spec = spec.get("schedule")
    if "schedule" not in spec:
        _fail(path + ("schedule",), "required key is missing")
    if not isinstance(schedule_spec, list) or not schedule_spec:
        _fail(path + ("schedule",), "must be a non-empty list: {calendar, plan} entries, the "
                                    "last {otherwise: plan}")
    if len(schedule_spec) > MAX_SCHEDULE:
        _fail(path + ("schedule",), f"at most {MAX_SCHEDULE} entries")
    schedule = []
    for number, entry in enumerate(schedule_spec):
        where = path + ("schedule", number)
        if schedule and schedule[-1].calendar is None:
            _fail(where, "comes after otherwise and can never be chosen")
        if isinstance(entry, dict) and "otherwise" in entry:
            _only(entry, {"otherwise"}, where, "{otherwise: plan}")
            plan, calendar = entry["otherwise"], None
            plan_path = where + ("otherwise",)
        else:
            entry = _only(entry, {"calendar", "plan"}, where, "{calendar, plan} or "
                                                              "{otherwise: plan}")
            calendar = _text(entry, "calendar", where, MAX_NAME, "a calendar name")
            if calendar not in calendars:
                _fail(where + ("calendar",), f"unknown calendar {calendar!r}"
                                             f"{_defined(calendars)}")
            plan = _text(entry, "plan", where, MAX_NAME, "a plan name")
            plan_path = where + ("plan",)
        if not isinstance(plan, str) or plan not in plans:
            _fail(plan_path, f"unknown plan {_show(plan)}{_defined(plans)}")
        schedule.append(ScheduleEntry(plan, calendar))
    if schedule[-1].calendar is not None:
        _fail(path + ("schedule",), "needs a last entry {otherwise: plan} for when no "
                                    "calendar is open")
    return Service(name, max_lines, tuple(schedule))


__all__ = ["ACTIONS", "AllOf", "AniIn", "AniPrefix", "AnyOf", "Announce", "Busy", "Callback",
           "CalendarOpen", "Collect", "CustomerTier", "Digits", "Disconnect", "EntryPoint",
           "Goto", "KEYS", "MAX_STEPS_RUN", "Not", "Plan", "PlanConfig", "PlanError", "Queue",
           "RouteTo", "ScheduleEntry", "SelfService", "Service", "SetPriority", "SkillState",
           "Step", "Voicemail", "Wait", "dotted", "parse_plan_config"]
