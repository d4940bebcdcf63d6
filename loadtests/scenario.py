"""Scenario files (SPEC §5): load, validate with file/line/key errors, and build site configs.

The file is the contract of `vcc simulate` and `vcc loadtest`. Every key SPEC §5 names is
kept; additions are documented in README ("Scenario files"). Nothing runs on an invalid
file: `load_scenario` raises `ScenarioError` naming the file, line and key.

Sizes are bounded (README, "Scenario files"; issue 15: 10^11 agents, 10^12 calls an hour or
a `duration_s` of 10^15 ran until killed): no real center comes near these, and within them a
run is bounded in time and memory (the simulator keeps ~0.5 KB per contact, ~2 KB per agent).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field

from cluster.api_limits import MAX_NAME
from cluster.config import DEFAULT_SL_TARGET_PCT
from cluster.plan_config import read_plan_config, read_start, read_tiers
from cluster.yaml_reader import ConfigFileError, Reader, brief, cut, parse_yaml, read_text
from loadtests.campaigns import read_campaigns
from loadtests.distributions import Distribution, read_distribution
from loadtests.marketing import Marketing, read_marketing
from sites.calendars import DEFAULT_START_EPOCH
from sites.errors import InvalidInput
from sites.model import AgentConfig, Channel, Priority, SiteConfig, SkillConfig
from sites.plans import MAX_DIGITS, Collect, PlanConfig, Queue, SetPriority
from sites.tiers import TierConfig
from sites.virtual_center import BsrConfig

# The line-tracking YAML reader is shared with the cluster configuration (cluster/config.py).
ScenarioError = ConfigFileError

DAY_S = 86_400.0
MAX_DURATION_S = 31 * DAY_S             # duration_s: a month of traffic
MAX_GROUP_AGENTS = 100_000              # agents of one group (count)
MAX_AGENTS = 1_000_000                  # agents of the whole scenario
MAX_RATE_PER_HOUR = 10_000_000          # one traffic entry
MAX_CONTACTS = 10_000_000               # expected arrivals of a run (every entry, at peak profile)


# A caller in a routing plan answers a step this long after it starts (keys digits, says
# yes or no to a callback); one asking for an agent in self-service does so at this share
# of the step's time. The simulator and `vcc loadtest`'s PBX both answer so.
KEYING_S = 2.0
ASKS_AGENT_AT = 0.5


@dataclass(frozen=True)
class CallerModel:
    """How simulated callers answer a routing plan (SPEC §10): `digits` ((VAR, ((value,
    share), ...)), ...): what a caller keys at a `collect ... into: VAR` (shares sum to at
    most 1; the rest key nothing and the collect times out); the share of callers who accept
    a callback offer; and of those in a `self_service` step who are done rather than asking
    for an agent."""
    digits: tuple = ()
    accepts_callback: float = 0.0
    self_service_completes: float = 1.0

    # One draw per decision, in the simulator (lazily, when a step asks) and in a trace (up
    # front, `decide`): the one place that says what a caller of this model does.
    def keys(self, variable: str, rng: random.Random) -> str:
        """What a caller keys at a `collect ... into: variable` ("": nothing, it times out)."""
        draw = rng.random()
        for name, shares in self.digits:
            if name == variable:
                for value, share in shares:
                    if draw < share:
                        return value
                    draw -= share
        return ""

    def accepts(self, rng: random.Random) -> bool:
        """Whether a caller takes the callback offered."""
        return rng.random() < self.accepts_callback

    def completes(self, rng: random.Random) -> bool:
        """Whether a caller in self-service is done there (else asks for an agent)."""
        return rng.random() < self.self_service_completes

    def decide(self, rng: random.Random) -> "CallerDecisions":
        """Everything one caller will do, drawn at once (a trace's `caller` column)."""
        keyed = tuple((variable, self.keys(variable, rng)) for variable, _ in self.digits)
        return CallerDecisions(keyed, self.accepts(rng), self.completes(rng))


@dataclass(frozen=True)
class CallerDecisions:
    """What one caller does in a routing plan, decided before the call (a trace's `caller`
    column; `vcc loadtest` answers the plan's IVR with it): `digits` ((VAR, keyed), ...),
    "" keying nothing (a variable not listed keys nothing too); whether it accepts a
    callback offer; whether it is done in self-service rather than asking for an agent.
    The same answer every time the plan asks again. Text: `choice=2;callback=1;self_done=0`."""
    digits: tuple = ()
    accepts_callback: bool = False
    completes_self_service: bool = True

    def keyed(self, variable: str) -> str:
        return dict(self.digits).get(variable, "")

    # The CallerModel's questions, answered as decided (`rng` unused): the simulator asks a
    # trace's caller exactly as it asks its caller model (loadtests/simulator.py).
    def keys(self, variable: str, rng=None) -> str:
        return self.keyed(variable)

    def accepts(self, rng=None) -> bool:
        return self.accepts_callback

    def completes(self, rng=None) -> bool:
        return self.completes_self_service

    def text(self) -> str:
        return ";".join([f"{variable}={value}" for variable, value in self.digits]
                        + [f"callback={int(self.accepts_callback)}",
                           f"self_done={int(self.completes_self_service)}"])

    @staticmethod
    def parse(text: str) -> "CallerDecisions":
        """The decisions of `text()`; ValueError naming the problem (never echoing more
        than a short part of the text)."""
        digits, flags = [], {}
        for part in text.split(";"):
            name, equals, value = part.strip().partition("=")
            if not equals or not _VARIABLE.fullmatch(name):
                raise ValueError(f"parts are NAME=VALUE separated by ';' (e.g. "
                                 f"choice=2;callback=1;self_done=0); got {part[:40]!r}")
            if name in flags or name in dict(digits):
                raise ValueError(f"{name} is given twice")
            if name in ("callback", "self_done"):
                if value not in ("0", "1"):
                    raise ValueError(f"{name} is 0 or 1; got {value[:40]!r}")
                flags[name] = value == "1"
            else:
                if len(value) > MAX_KEYED or set(value) - set(DIGIT_KEYS):
                    raise ValueError(f"{name}: digits are up to {MAX_KEYED} of 0-9, * and #; "
                                     f"got {value[:40]!r}")
                digits.append((name, value))
        return CallerDecisions(tuple(digits), flags.get("callback", False),
                               flags.get("self_done", True))


DIGIT_KEYS = "0123456789*#"
MAX_KEYED = MAX_DIGITS                  # a collect's max_digits at most (sites/plans.py)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class TrafficStream:
    """Contacts arriving at `site`: either for `skill` at `priority` (the caller names them),
    or dialling `dnis`, whose routing plan decides (skill, priority and objective None)."""
    site: str
    skill: str | None
    rate_per_hour: float
    priority: Priority | None
    service_objective_s: float | None
    channel: Channel
    handle_time: Distribution       # talk time; wrap-up comes from the agents' wrap_up_s
    patience: Distribution | None   # None: never abandons
    dnis: str | None = None
    caller: CallerModel | None = None   # with dnis: the caller model (defaults if omitted)
    line: int | None = field(default=None, compare=False)     # in the scenario file


@dataclass(frozen=True)
class Customers:
    """`customers: {population, tiers: {TIER: share}}`: each arrival is a customer drawn
    from `population` (ids cust-0...); the first share of them has the first tier, and so
    on, so that the tiers' shares of callers are the given shares."""
    population: int
    shares: tuple                   # ((tier, share), ...) adding up to 1

    def tier_of(self, number: int) -> str:
        edge = 0.0
        for tier, share in self.shares:
            edge += share * self.population
            if number < edge:
                return tier
        return self.shares[-1][0]


@dataclass(frozen=True)
class AgentGroup:
    count: int
    skills: dict
    channels: dict
    wrap_up_s: float | None         # None: the skill's wrap-up
    call_selection: str


@dataclass(frozen=True)
class Profile:
    """Intraday profile: interval k (of `interval_s`) offers rate_per_hour x weights[k mod n]."""
    interval_s: float
    weights: tuple

    def weight_at(self, time_s: float) -> float:
        return self.weights[int(time_s // self.interval_s) % len(self.weights)]


@dataclass(frozen=True)
class Scenario:
    path: str
    duration_s: float
    seed: int
    skills: dict                    # name -> SkillConfig
    sites: dict                     # name -> [AgentGroup]
    multisite: str                  # "local" | "bsr"
    bsr: BsrConfig
    traffic: tuple
    profile: Profile | None = None  # None: every stream at its constant rate
    # POSIX time of simulated time 0 (`start:`; sites.calendars.WallClock maps the two).
    start_epoch: float = DEFAULT_START_EPOCH
    plans: PlanConfig = field(default_factory=PlanConfig)     # SPEC §10's four keys
    tiers: TierConfig = field(default_factory=TierConfig)     # SPEC §7 `tiers`
    customers: "Customers | None" = None     # SPEC §7 `customers`: who calls (None: nobody known)
    marketing: Marketing | None = None       # SPEC §7 `marketing`: offers popped on answer
    campaigns: tuple = ()                    # SPEC §6 `campaigns`: loadtests.campaigns.CampaignSpec

    def site_configs(self) -> dict:
        """One SiteConfig per site; agents are named site-g<group>-<n>."""
        configs = {}
        for site, groups in self.sites.items():
            agents = []
            for group_number, group in enumerate(groups):
                for n in range(group.count):
                    agents.append(AgentConfig(
                        f"{site}-g{group_number}-{n}", dict(group.skills),
                        channels=dict(group.channels), call_selection=group.call_selection,
                        wrap_up_s=group.wrap_up_s))
            configs[site] = SiteConfig(site, skills=tuple(self.skills.values()),
                                       agents=tuple(agents), tiers=self.tiers or None)
        return configs


_SKILL_KEYS = {"queueing", "sl_threshold_s", "agent_selection", "wrap_up_s", "offer_timeout_s",
               "max_queue_length", "widen_level", "widen_after_s", "aht_estimate_s",
               "sl_target_pct"}
_AGENT_KEYS = {"count", "skills", "channels", "wrap_up_s", "call_selection"}
_TRAFFIC_KEYS = {"site", "skill", "rate_per_hour", "priority", "service_objective_s", "channel",
                 "handle_time", "patience", "dnis", "caller"}
_CALLER_KEYS = {"digits", "accepts_callback", "self_service_completes"}
_CHANNELS = tuple(channel.name.lower() for channel in Channel)
_PRIORITIES = tuple(priority.name.lower() for priority in Priority)


def _skill(path, name, reader: Reader) -> SkillConfig:
    # sl_target_pct: the live wallboard's target (cluster/config.py), checked, not simulated.
    reader.number("sl_target_pct", default=DEFAULT_SL_TARGET_PCT, maximum=100.0)
    fields = {key: value for key, value in reader.mapping.items() if key != "sl_target_pct"}
    try:
        return SkillConfig(name, **fields)
    except InvalidInput as error:
        key = error.field.rsplit(".", 1)[-1]
        reader.fail(key if key in fields else next(iter(fields), "queueing"),
                    cut(error.problem, 200))


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    document = parse_yaml(text, path)
    top = Reader(path, document, "", 1,
                 {"duration_s", "seed", "skills", "sites", "routing", "traffic", "profile",
                  "start", "calendars", "entry_points", "services", "plans", "tiers",
                  "default_tier", "customers", "marketing", "campaigns", "do_not_call"},
                 required=("duration_s", "skills", "sites"))
    duration = top.number("duration_s", exclusive=True, maximum=MAX_DURATION_S)
    seed = top.integer("seed", default=0)

    skills_reader = top.child("skills", None)
    skills = {}
    for name in skills_reader.mapping:
        _check_name(skills_reader, name, "a skill")
        reader = skills_reader.child(name, _SKILL_KEYS)
        skills[name] = _skill(path, name, reader)
    if not skills:
        top.fail("skills", "must define at least one skill")

    sites_reader = top.child("sites", None)
    sites = {}
    agents_total = 0
    for site in sites_reader.mapping:
        _check_name(sites_reader, site, "a site")
        site_reader = sites_reader.child(site, {"agents"}, required=("agents",))
        groups_value = site_reader.mapping["agents"]
        if not isinstance(groups_value, list) or not groups_value:
            site_reader.fail("agents", "must be a non-empty list of agent groups")
        groups = []
        for number, group_value in enumerate(groups_value):
            group = Reader(path, group_value, f"sites.{site}.agents[{number}]",
                            site_reader.line_of("agents"), _AGENT_KEYS, required=("count", "skills"))
            count = group.integer("count", minimum=1, maximum=MAX_GROUP_AGENTS)
            agents_total += count
            if agents_total > MAX_AGENTS:
                group.fail("count", f"more than {MAX_AGENTS:,} agents in the scenario")
            levels = group.child("skills", None)
            for skill in levels.mapping:
                if skill not in skills:
                    levels.fail(skill, f"unknown skill (defined: {', '.join(skills)})")
                level = levels.mapping[skill]
                if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 16:
                    levels.fail(skill, f"level must be an integer 1..16; got {brief(level)}")
            if not levels.mapping:
                group.fail("skills", "must give at least one skill")
            channels = {"voice": 1}
            if "channels" in group.mapping:
                channel_reader = group.child("channels", set(_CHANNELS))
                channels = {}
                for channel in channel_reader.mapping:
                    channels[channel] = channel_reader.integer(channel, minimum=1)
            groups.append(AgentGroup(
                count, dict(levels.mapping), channels,
                # Omitted: the skill's wrap-up (0 unless the skill sets one), as `vcc serve`
                # reads the same file: one YAML, one center, simulated or served.
                group.number("wrap_up_s") if "wrap_up_s" in group.mapping else None,
                group.choice("call_selection", ("greatest_need", "skill_level"),
                             default="greatest_need")))
        sites[site] = groups
    if not sites:
        top.fail("sites", "must define at least one site")

    routing = top.child("routing", {"multisite", "adjust_by", "max_status_age_s", "hop_limit"}) \
        if "routing" in top.mapping else Reader(path, {}, "routing", None, set())
    multisite = routing.choice("multisite", ("local", "bsr"), default="local")
    bsr = BsrConfig(routing.number("adjust_by", default=0.0),
                    routing.number("max_status_age_s", default=10.0, exclusive=True),
                    routing.integer("hop_limit", default=1))

    start_epoch = read_start(top, DEFAULT_START_EPOCH)
    tiers = read_tiers(top)
    plans = read_plan_config(top, skills, sites, set(tiers.tiers) if tiers else None)
    customers = _customers(top, tiers) if "customers" in top.mapping else None
    marketing = read_marketing(top, customers) if "marketing" in top.mapping else None

    # An outbound-only center (SPEC §6) may leave traffic out or empty.
    outbound_only = "campaigns" in top.mapping and not top.mapping.get("traffic")
    if "traffic" not in top.mapping and not outbound_only:
        top.fail("traffic", "required key is missing")
    traffic_value = [] if outbound_only else top.mapping["traffic"]
    if not outbound_only and (not isinstance(traffic_value, list) or not traffic_value):
        top.fail("traffic", "must be a non-empty list of streams")
    traffic = []
    for number, stream_value in enumerate(traffic_value):
        stream = Reader(path, stream_value, f"traffic[{number}]", top.line_of("traffic"),
                         _TRAFFIC_KEYS, required=("site", "rate_per_hour", "handle_time"))
        site = stream.name("site", MAX_NAME, "site name")
        if site not in sites:
            stream.fail("site", f"unknown site {brief(site)} (defined: {', '.join(sites)})")
        if "dnis" in stream.mapping:
            traffic.append(_dnis_stream(stream, site, plans))
            continue
        if "skill" not in stream.mapping:
            stream.fail("skill", "required key is missing (or give dnis: a dialled number, "
                                 "whose routing plan decides)")
        if "caller" in stream.mapping:
            stream.fail("caller", "a caller model answers a routing plan: only with dnis")
        skill = stream.name("skill", MAX_NAME, "skill name")
        if skill not in skills:
            stream.fail("skill", f"unknown skill {brief(skill)} (defined: {', '.join(skills)})")
        servers = [name for name, groups in sites.items()
                   if any(skill in group.skills for group in groups)]
        if multisite == "local" and site not in servers:
            stream.fail("skill", f"no agent at site {site!r} has skill {skill!r} "
                                 "(routing is local)")
        if not servers:
            stream.fail("skill", f"no agent at any site has skill {skill!r}")
        traffic.append(TrafficStream(
            site, skill, stream.number("rate_per_hour", exclusive=True,
                                       maximum=MAX_RATE_PER_HOUR),
            # Without its own priority and objective a row of known callers takes each
            # caller's tier's (SPEC §7; the core applies them: None here).
            _priority_of(stream, tiered=customers is not None and bool(tiers)),
            None if customers is not None and tiers and "service_objective_s" not in
            stream.mapping else stream.number("service_objective_s",
                                              default=skills[skill].sl_threshold_s,
                                              exclusive=True),
            Channel[stream.choice("channel", _CHANNELS, default="voice").upper()],
            read_distribution(stream, "handle_time"),
            read_distribution(stream, "patience") if "patience" in stream.mapping else None,
            line=stream.line))
    profile = _profile(top) if "profile" in top.mapping else None
    # The work of a run: arrivals are drawn at the profile's peak rate (and thinned).
    peak = max(profile.weights) if profile is not None else 1.0
    expected = sum(stream.rate_per_hour for stream in traffic) * peak * duration / 3600.0
    if expected > MAX_CONTACTS:
        top.fail("traffic", f"about {expected:,.0f} contacts expected (rate_per_hour x "
                            f"duration_s{' x peak profile weight' if profile else ''}); at "
                            f"most {MAX_CONTACTS:,} in one run: shorten duration_s or split "
                            "the scenario")
    if "do_not_call" in top.mapping and "campaigns" not in top.mapping:
        top.fail("do_not_call", "the numbers campaigns never dial: define campaigns")
    campaigns = read_campaigns(top, skills, sites, _inbound_skills(traffic, plans),
                               plans.calendars, _top_priority_skills(traffic, plans, tiers)) \
        if "campaigns" in top.mapping else ()
    return Scenario(path, duration, seed, skills, sites, multisite, bsr, tuple(traffic),
                    profile, start_epoch, plans, tiers, customers, marketing, campaigns)


def _inbound_skills(traffic, plans: PlanConfig) -> set:
    """The skills inbound contacts may wait in: their rows', and those plans queue in."""
    skills = {stream.skill for stream in traffic if stream.skill is not None}
    if any(stream.dnis is not None for stream in traffic):
        skills.update(step.action.skill for plan in plans.plans.values()
                      for step in plan.steps if isinstance(step.action, Queue))
    return skills


def _top_priority_skills(traffic, plans: PlanConfig, tiers) -> set:
    """The skills an inbound contact may wait in at priority top: rows at top (or at their
    callers' tier's, when a tier is top), and every skill a plan that can queue or raise a
    contact at top queues in."""
    top_tier = bool(tiers) and any(tier.priority is Priority.TOP
                                   for tier in tiers.tiers.values())
    skills = {stream.skill for stream in traffic if stream.skill is not None and (
        stream.priority is Priority.TOP or (stream.priority is None and top_tier))}
    for plan in plans.plans.values():
        actions = [step.action for step in plan.steps]
        if any((isinstance(action, Queue) and (action.priority is Priority.TOP or (
                action.priority is None and top_tier))) or (
                isinstance(action, SetPriority) and action.priority is Priority.TOP)
               for action in actions):
            skills.update(action.skill for action in actions if isinstance(action, Queue))
    return skills


def _priority_of(stream: Reader, tiered: bool) -> Priority | None:
    if tiered and "priority" not in stream.mapping:
        return None
    return Priority[stream.choice("priority", _PRIORITIES, default="medium").upper()]


MAX_POPULATION = 100_000_000


def _customers(top: Reader, tiers) -> Customers:
    reader = top.child("customers", {"population", "tiers"}, required=("population",))
    population = reader.integer("population", minimum=1, maximum=MAX_POPULATION)
    if not tiers:
        top.fail("customers", "give `tiers` first: what each tier is promised (SPEC §7)")
    if "tiers" not in reader.mapping:
        return Customers(population, ((tiers.default, 1.0),))
    shares_reader = reader.child("tiers", None)
    shares = []
    for tier in shares_reader.mapping:
        if tier not in tiers.tiers:
            shares_reader.fail(tier, f"unknown tier (defined: {', '.join(tiers.tiers)})")
        shares.append((tier, shares_reader.number(tier, maximum=1.0)))
    total = sum(share for _, share in shares)
    if not shares or abs(total - 1.0) > 1e-6:
        reader.fail("tiers", f"the shares must add up to 1; they add up to {total:g}")
    return Customers(population, tuple(shares))


def _dnis_stream(stream: Reader, site: str, plans: PlanConfig) -> TrafficStream:
    """A traffic row that dials `dnis`: the plan decides skill, priority and objective."""
    for key in ("skill", "priority", "service_objective_s"):
        if key in stream.mapping:
            stream.fail(key, "a row with dnis leaves skill, priority and service objective to "
                             "the routing plan")
    dnis = stream.mapping["dnis"]
    if isinstance(dnis, (int, float)) and not isinstance(dnis, bool):
        stream.fail("dnis", f'a dialled number must be quoted text, e.g. "{dnis}" (YAML reads '
                            "it as a number and drops leading zeros)")
    if not isinstance(dnis, str) or dnis not in plans.entry_points:
        stream.fail("dnis", f"unknown entry point {brief(dnis)} (entry_points: "
                            f"{', '.join(plans.entry_points) or 'none defined'})")
    return TrafficStream(
        site, None, stream.number("rate_per_hour", exclusive=True, maximum=MAX_RATE_PER_HOUR),
        None, None, Channel[stream.choice("channel", _CHANNELS, default="voice").upper()],
        read_distribution(stream, "handle_time"),
        read_distribution(stream, "patience") if "patience" in stream.mapping else None,
        dnis, _caller(stream, _collected(plans, dnis)), line=stream.line)


def _collected(plans: PlanConfig, dnis: str) -> dict:
    """VAR -> max_digits of the collect steps of every plan `dnis`'s service may run."""
    service = plans.services[plans.entry_points[dnis].service]
    found = {}
    for entry in service.schedule:
        for step in plans.plans[entry.plan].steps:
            if isinstance(step.action, Collect):
                found[step.action.into] = max(found.get(step.action.into, 0),
                                              step.action.max_digits)
    return found


def _caller(stream: Reader, collected: dict) -> CallerModel:
    if "caller" not in stream.mapping:
        return CallerModel()
    caller = stream.child("caller", _CALLER_KEYS)
    digits = []
    if "digits" in caller.mapping:
        variables = caller.child("digits", None)
        for variable in variables.mapping:
            if variable not in collected:
                variables.fail(variable, f"no plan of dnis {stream.mapping['dnis']!r} collects "
                                         f"into {brief(variable)} (collected: "
                                         f"{', '.join(collected) or 'nothing'})")
            shares = variables.child(variable, None)
            pairs = []
            for value in shares.mapping:
                if not isinstance(value, str):
                    shares.fail(value, f'digits are quoted text, e.g. "{value}": {value} (YAML '
                                       "reads it as a number and 01 as 1)")
                if not value or len(value) > collected[variable] \
                        or any(ch not in DIGIT_KEYS for ch in value):
                    shares.fail(value, f"digits are 1 to {collected[variable]} (max_digits) of "
                                       "0-9, * and #")
                pairs.append((value, shares.number(value, maximum=1.0)))
            if sum(share for _, share in pairs) > 1.0 + 1e-9:
                variables.fail(variable, "the shares add up to more than 1 (the rest of the "
                                         "callers key nothing)")
            digits.append((variable, tuple(pairs)))
    return CallerModel(tuple(digits),
                       caller.number("accepts_callback", default=0.0, maximum=1.0),
                       caller.number("self_service_completes", default=1.0, maximum=1.0))


def load_inbound_scenario(path: str, runner: str) -> Scenario:
    """A scenario for a tool that plays inbound traffic only (traces, `vcc loadtest`):
    ScenarioError at its first campaign, which only `vcc simulate` dials (SPEC §6)."""
    scenario = load_scenario(path)
    for spec in scenario.campaigns:
        raise ScenarioError(scenario.path, spec.line, f"campaigns.{spec.config.name}",
                            f"outbound campaigns are dialled by vcc simulate only, not by "
                            f"{runner} yet: simulate the file, or leave campaigns out")
    return scenario


def _check_name(reader: Reader, name, what: str) -> None:
    """A skill or site name (a key of `skills` or `sites`): a non-empty string that fits
    the API and the store (cluster/api_limits.py)."""
    if not isinstance(name, str) or not name:
        reader.fail(name, f"{what} name must be a non-empty string")
    if len(name) > MAX_NAME:
        reader.fail(name, f"{what} name has at most {MAX_NAME} characters; got {len(name):,}")


def _profile(top: Reader) -> Profile:
    reader = top.child("profile", {"interval_s", "weights"}, required=("interval_s", "weights"))
    interval = reader.number("interval_s", exclusive=True, maximum=MAX_DURATION_S)
    weights = reader.mapping["weights"]
    if not isinstance(weights, list) or not weights:
        reader.fail("weights", "must be a non-empty list of rate multipliers")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight) or weight < 0:
            reader.fail("weights", f"each weight must be a number >= 0; got {brief(weight)}")
    if not any(weights):
        reader.fail("weights", "at least one weight must be > 0")
    return Profile(interval, tuple(float(weight) for weight in weights))


def load_scenario(path: str) -> Scenario:
    return parse_scenario(read_text(path), path)
