"""The cluster configuration file: which sites, skills and agents a live cluster starts with.

Same vocabulary as scenario files (SPEC §5) so that one file can describe a center for
`vcc simulate` and for the live cluster:

```yaml
skills:
  billing: {queueing: dqp, sl_threshold_s: 20, sl_target_pct: 80,   # 80 % within 20 s
            service_objectives: {top: 10, high: 15}}   # default SO per priority
sites:
  east:
    agents:
      - {count: 10, skills: {billing: 1}}               # named east-g0-0 .. east-g0-9
      - {ids: [ann, bob], skills: {billing: 2}, channels: {voice: 1, chat: 3}}
routing: {multisite: bsr, adjust_by: 10, max_status_age_s: 10, hop_limit: 1}
```

Every skill exists at every site. A scenario file is a valid configuration: its
`duration_s`, `seed` and `traffic` describe load, not the center, and are ignored here.
An invalid file raises `ConfigFileError` naming the file, line and key; nothing starts.
Sizes are bounded as in scenario files (README, "Scenario files"): at most 100,000 agents
per group and 1,000,000 in all; site and skill names and agent ids fit the API's limits
(cluster/api_limits.py).
"""

from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass, field

from cluster.api_limits import MAX_ID, MAX_NAME
from cluster.plan_config import read_plan_config, read_tiers
from cluster.yaml_reader import ConfigFileError, Reader, brief, cut, parse_yaml, read_text
from sites.errors import InvalidInput
from sites.model import AgentConfig, Channel, Priority, SiteConfig, SkillConfig
from sites.plans import PlanConfig
from sites.tiers import TierConfig
from sites.virtual_center import BsrConfig

DEFAULT_CONFIG = pathlib.Path(__file__).with_name("configs") / "two_sites.yaml"

# A scenario file (SPEC §5) is a configuration too: its traffic keys (and `start`, the
# simulated clock's origin, `customers`, who calls, and `marketing`, the simulated offers)
# are accepted and left to the simulator and the load-test client; so are `campaigns`
# (SPEC §6), which only `vcc simulate` dials for now (the cluster's dialers: issue 19).
# The routing-plan keys (SPEC §10) are the center's: read and checked here as well.
_TOP_KEYS = {"skills", "sites", "routing", "duration_s", "seed", "traffic", "profile", "start",
             "calendars", "entry_points", "services", "plans", "tiers", "default_tier",
             "customers", "marketing", "campaigns"}
_SKILL_KEYS = {"queueing", "sl_threshold_s", "agent_selection", "wrap_up_s", "offer_timeout_s",
               "max_queue_length", "widen_level", "widen_after_s", "aht_estimate_s",
               "service_objectives", "sl_target_pct"}
# The share of contacts a skill should answer within `sl_threshold_s` (the "80" of 80/20):
# the wallboard (cluster/wallboard/) shows each skill's service level against it and alerts
# below it. Not the core's: routing never reads it, so it is not part of SkillConfig.
DEFAULT_SL_TARGET_PCT = 80.0
_NOT_CORE_SKILL_KEYS = {"service_objectives", "sl_target_pct"}
_SITE_KEYS = {"agents", "auto_pause_after_misses", "statistics_window_s"}
_AGENT_KEYS = {"count", "ids", "skills", "channels", "wrap_up_s", "call_selection",
               "voice_blocks_others"}
_ROUTING_KEYS = {"multisite", "adjust_by", "max_status_age_s", "hop_limit"}
_CHANNELS = tuple(channel.name.lower() for channel in Channel)
_PRIORITIES = tuple(priority.name.lower() for priority in Priority)
MAX_GROUP_AGENTS = 100_000          # agents of one group (count or ids)
MAX_AGENTS = 1_000_000              # agents of the whole configuration


@dataclass(frozen=True)
class ClusterConfig:
    path: str
    skills: dict                    # name -> SkillConfig, created at every site
    service_objectives: dict        # skill name -> {Priority: seconds} (also in each SkillConfig)
    sites: dict                     # name -> SiteConfig (skills and agents included)
    multisite: str                  # "local" | "bsr"
    bsr: BsrConfig = field(default_factory=BsrConfig)
    plans: PlanConfig = field(default_factory=PlanConfig)     # SPEC §10 (empty: none given)
    tiers: TierConfig = field(default_factory=TierConfig)     # SPEC §7 (empty: none given)
    # skill name -> its service level target in % (sl_target_pct; DEFAULT_SL_TARGET_PCT when
    # not given); a skill Admin adds later has the default.
    sl_targets: dict = field(default_factory=dict)
    # The POSIX time the routing plans' calendars read when the router starts (`vcc serve
    # --calendar-start`: a replay of a recorded day); None: the real time.
    calendar_start: float | None = None


def _skill(name, reader: Reader) -> SkillConfig:
    fields = {key: value for key, value in reader.mapping.items()
              if key not in _NOT_CORE_SKILL_KEYS}
    try:
        return SkillConfig(name, **fields)
    except InvalidInput as error:
        key = error.field.rsplit(".", 1)[-1]
        reader.fail(key if key in fields else next(iter(fields), "queueing"),
                    cut(error.problem, 200))


def _service_objectives(reader: Reader) -> dict:
    if "service_objectives" not in reader.mapping:
        return {}
    objectives = reader.child("service_objectives", set(_PRIORITIES))
    return {Priority[name.upper()]: objectives.number(name, exclusive=True)
            for name in objectives.mapping}


def _names(reader: Reader, key) -> list:
    value = reader.mapping.get(key)
    if not isinstance(value, list) or not value:
        reader.fail(key, "must be a non-empty list of agent ids")
    if len(value) > MAX_GROUP_AGENTS:
        reader.fail(key, f"at most {MAX_GROUP_AGENTS:,} agents in a group; got {len(value):,}")
    for agent_id in value:
        if not isinstance(agent_id, str) or not agent_id:
            reader.fail(key, f"agent ids must be non-empty strings; got {brief(agent_id)}")
        if len(agent_id) > MAX_ID:
            reader.fail(key, f"an agent id has at most {MAX_ID} characters; got "
                             f"{brief(agent_id)} ({len(agent_id):,})")
    return value


def _check_name(reader: Reader, name, what: str) -> None:
    """A skill or site name (a key of `skills` or `sites`): a non-empty string that fits
    the API and the store."""
    if not isinstance(name, str) or not name:
        reader.fail(name, f"a {what} name must be a non-empty string")
    if len(name) > MAX_NAME:
        reader.fail(name, f"a {what} name has at most {MAX_NAME} characters; got {len(name):,}")


def _agent_group(path, site, number, value, line, skills) -> tuple:
    group = Reader(path, value, f"sites.{site}.agents[{number}]", line, _AGENT_KEYS,
                   required=("skills",))
    if ("count" in group.mapping) == ("ids" in group.mapping):
        group.fail("count", "give exactly one of count (agents named "
                            f"{site}-g{number}-<n>) or ids")
    if "count" in group.mapping:
        ids = [f"{site}-g{number}-{n}"
               for n in range(group.integer("count", minimum=1, maximum=MAX_GROUP_AGENTS))]
    else:
        ids = _names(group, "ids")
    levels = group.child("skills", None)
    if not levels.mapping:
        group.fail("skills", "must give at least one skill")
    for skill, level in levels.mapping.items():
        if skill not in skills:
            levels.fail(skill, f"unknown skill (defined: {', '.join(skills)})")
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 16:
            levels.fail(skill, f"level must be an integer 1..16; got {brief(level)}")
    channels = {"voice": 1}
    if "channels" in group.mapping:
        channel_reader = group.child("channels", set(_CHANNELS))
        channels = {name: channel_reader.integer(name, minimum=1)
                    for name in channel_reader.mapping}
        if not channels:
            group.fail("channels", "must give at least one channel")
    wrap_up_s = group.number("wrap_up_s") if "wrap_up_s" in group.mapping else None
    call_selection = group.choice("call_selection", ("greatest_need", "skill_level"),
                                  default="greatest_need")
    blocks = group.mapping.get("voice_blocks_others", True)
    if not isinstance(blocks, bool):
        group.fail("voice_blocks_others", f"must be true or false; got {brief(blocks)}")
    return [AgentConfig(agent_id, dict(levels.mapping), channels=dict(channels),
                        call_selection=call_selection, wrap_up_s=wrap_up_s,
                        voice_blocks_others=blocks)
            for agent_id in ids], group


def parse_config(text: str, path: str = "<config>") -> ClusterConfig:
    top = Reader(path, parse_yaml(text, path), "", 1, _TOP_KEYS, required=("skills", "sites"))

    skills_reader = top.child("skills", None)
    skills, objectives, targets = {}, {}, {}
    for name in skills_reader.mapping:
        _check_name(skills_reader, name, "skill")
        reader = skills_reader.child(name, _SKILL_KEYS) if skills_reader.mapping[name] is not None \
            else Reader(path, {}, skills_reader.key(name), skills_reader.line_of(name), set())
        objectives[name] = _service_objectives(reader)
        targets[name] = reader.number("sl_target_pct", default=DEFAULT_SL_TARGET_PCT,
                                      maximum=100.0)
        skills[name] = dataclasses.replace(_skill(name, reader),
                                           service_objectives=objectives[name])
    if not skills:
        top.fail("skills", "must define at least one skill")

    sites_reader = top.child("sites", None)
    sites = {}
    agents_total = 0
    for site in sites_reader.mapping:
        _check_name(sites_reader, site, "site")
        site_value = sites_reader.mapping[site]
        site_reader = sites_reader.child(site, _SITE_KEYS) if site_value is not None \
            else Reader(path, {}, sites_reader.key(site), sites_reader.line_of(site), set())
        groups = site_reader.mapping.get("agents", [])
        if not isinstance(groups, list):
            site_reader.fail("agents", "must be a list of agent groups")
        agents, seen = [], {}
        for number, group_value in enumerate(groups):
            group_agents, group = _agent_group(path, site, number, group_value,
                                               site_reader.line_of("agents"), skills)
            agents_total += len(group_agents)
            if agents_total > MAX_AGENTS:
                group.fail("ids" if "ids" in group.mapping else "count",
                           f"more than {MAX_AGENTS:,} agents in the configuration")
            for agent in group_agents:
                if agent.agent_id in seen:
                    group.fail("ids" if "ids" in group.mapping else "count",
                               f"agent {agent.agent_id!r} already defined at site {site!r}")
                seen[agent.agent_id] = True
            agents.extend(group_agents)
        try:
            sites[site] = SiteConfig(
                site, skills=tuple(skills.values()), agents=tuple(agents),
                auto_pause_after_misses=site_reader.mapping.get("auto_pause_after_misses", 3),
                statistics_window_s=site_reader.mapping.get("statistics_window_s", 900.0))
        except InvalidInput as error:
            site_reader.fail(error.field, cut(error.problem, 200))
    if not sites:
        top.fail("sites", "must define at least one site")

    routing = top.child("routing", _ROUTING_KEYS) if "routing" in top.mapping \
        else Reader(path, {}, "routing", None, set())
    multisite = routing.choice("multisite", ("local", "bsr"), default="local")
    bsr = BsrConfig(routing.number("adjust_by", default=0.0),
                    routing.number("max_status_age_s", default=10.0, exclusive=True),
                    routing.integer("hop_limit", default=1))
    tiers = read_tiers(top)
    plans = read_plan_config(top, skills, sites, set(tiers.tiers) if tiers else None)
    if plans:       # every site runs the center's plans (a site lacking a skill skips it)
        sites = {name: dataclasses.replace(site, plans=plans) for name, site in sites.items()}
    if tiers:       # and promises the center's tiers
        sites = {name: dataclasses.replace(site, tiers=tiers) for name, site in sites.items()}
    return ClusterConfig(path, skills, objectives, sites, multisite, bsr, plans, tiers,
                         sl_targets=targets)


def load_config(path=None) -> ClusterConfig:
    """The configuration in `path`, or the bundled two-site default when None (a
    ClusterConfig already loaded is returned as it is)."""
    if isinstance(path, ClusterConfig):
        return path
    path = str(DEFAULT_CONFIG if path is None else path)
    return parse_config(read_text(path), path)


__all__ = ["ClusterConfig", "ConfigFileError", "DEFAULT_CONFIG", "DEFAULT_SL_TARGET_PCT",
           "load_config", "parse_config"]
