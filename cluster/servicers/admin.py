"""Admin: sites, skills and agents, listed, read, created or changed, and deleted — live.

Put replaces the whole object (zero values mean the documented defaults). An agent changes
or goes only while logged out; a skill goes only when no agent has it and no contact uses
it; otherwise FAILED_PRECONDITION and nothing changes.
"""

from __future__ import annotations

import math

from cluster.host import NotFound
from cluster.servicers import convert
from cluster.servicers.errors import invalid, unary
from cluster.servicers.campaigns import CampaignAdministration
from cluster.servicers.plan_admin import PlanAdministration
from sites.errors import InvalidInput
from sites.model import AgentConfig, AgentSelection, CallSelection, Queueing, SkillConfig
from vcc.v1 import admin_pb2, admin_pb2_grpc, common_pb2

_QUEUEING_IN = {admin_pb2.QUEUEING_UNSPECIFIED: Queueing.DQP, admin_pb2.QUEUEING_DQP: Queueing.DQP,
                admin_pb2.QUEUEING_FIFO: Queueing.FIFO}
_QUEUEING_OUT = {Queueing.DQP: admin_pb2.QUEUEING_DQP, Queueing.FIFO: admin_pb2.QUEUEING_FIFO}
_SELECTION_IN = {admin_pb2.AGENT_SELECTION_UNSPECIFIED: AgentSelection.LONGEST_IDLE}
_SELECTION_IN.update({admin_pb2.AgentSelection.Value(f"AGENT_SELECTION_{s.name}"): s
                      for s in AgentSelection})
_SELECTION_OUT = {s: admin_pb2.AgentSelection.Value(f"AGENT_SELECTION_{s.name}")
                  for s in AgentSelection}
_CALL_SELECTION_IN = {admin_pb2.CALL_SELECTION_UNSPECIFIED: CallSelection.GREATEST_NEED}
_CALL_SELECTION_IN.update({admin_pb2.CallSelection.Value(f"CALL_SELECTION_{s.name}"): s
                           for s in CallSelection})
_CALL_SELECTION_OUT = {s: admin_pb2.CallSelection.Value(f"CALL_SELECTION_{s.name}")
                       for s in CallSelection}
_DEFAULT_SL_THRESHOLD_S = SkillConfig.__dataclass_fields__["sl_threshold_s"].default
_DEFAULT_OFFER_TIMEOUT_S = SkillConfig.__dataclass_fields__["offer_timeout_s"].default
_MAX_LEVEL = SkillConfig.__dataclass_fields__["widen_level"].default


def _lookup(table, value, field, what):
    member = table.get(value)
    if member is None:
        raise invalid(field, f"unknown {what} {value}")
    return member


def _positive_or_default(value, field, default):
    if value == 0:
        return default
    if not math.isfinite(value) or value < 0:
        raise invalid(field, f"must be a finite number > 0 (0: {default:g}); got {value!r}")
    return value


def _core_field(error: InvalidInput) -> str:
    """The request field of a config object's error (`skills.billing.wrap_up_s` -> `wrap_up_s`)."""
    return error.field.rsplit(".", 1)[-1]


# ---- skills -------------------------------------------------------------------------------------
def _skill_config(request, existing) -> SkillConfig:
    name = convert.name(request.name, "name", limit=convert.MAX_NAME)
    widen_level = request.widen_level or _MAX_LEVEL
    if not 1 <= widen_level <= _MAX_LEVEL:
        raise invalid("widen_level", f"must be 1..{_MAX_LEVEL} (0: {_MAX_LEVEL}); got {widen_level}")
    if request.max_queue_length < 0:
        raise invalid("max_queue_length", f"must be >= 0 (0: unbounded); got {request.max_queue_length}")
    objectives = {}
    for number, objective in enumerate(request.service_objectives):
        field = f"service_objectives[{number}]"
        if objective.priority == common_pb2.PRIORITY_UNSPECIFIED:
            raise invalid(f"{field}.priority", "required")
        level = convert.priority(objective.priority, f"{field}.priority")
        if level in objectives:
            raise invalid(f"{field}.priority", f"{level.name.lower()} given twice")
        value = objective.service_objective_s
        if not math.isfinite(value) or value <= 0:
            raise invalid(f"{field}.service_objective_s", f"must be a finite number > 0; got {value!r}")
        objectives[level] = value
    try:
        config = SkillConfig(
            name,
            queueing=_lookup(_QUEUEING_IN, request.queueing, "queueing", "queueing"),
            sl_threshold_s=_positive_or_default(request.sl_threshold_s, "sl_threshold_s",
                                                _DEFAULT_SL_THRESHOLD_S),
            agent_selection=_lookup(_SELECTION_IN, request.agent_selection, "agent_selection",
                                    "agent selection"),
            wrap_up_s=convert.finite(request.wrap_up_s, "wrap_up_s"),
            offer_timeout_s=_positive_or_default(request.offer_timeout_s, "offer_timeout_s",
                                                 _DEFAULT_OFFER_TIMEOUT_S),
            max_queue_length=request.max_queue_length or None,
            widen_level=widen_level,
            widen_after_s=convert.finite(request.widen_after_s, "widen_after_s"),
            # Not in the API: kept as it was.
            aht_estimate_s=existing.aht_estimate_s if existing is not None else
            SkillConfig.__dataclass_fields__["aht_estimate_s"].default,
            service_objectives=objectives)
    except InvalidInput as error:
        raise invalid(_core_field(error), error.problem) from None
    return config


def _skill_message(site, config: SkillConfig) -> admin_pb2.Skill:
    return admin_pb2.Skill(
        site=site, name=config.name, queueing=_QUEUEING_OUT[config.queueing],
        sl_threshold_s=config.sl_threshold_s, agent_selection=_SELECTION_OUT[config.agent_selection],
        wrap_up_s=config.wrap_up_s, offer_timeout_s=config.offer_timeout_s,
        max_queue_length=config.max_queue_length or 0, widen_level=config.widen_level,
        widen_after_s=config.widen_after_s,
        service_objectives=[admin_pb2.ServiceObjective(priority=convert.PRIORITY_OUT[level],
                                                       service_objective_s=value)
                            for level, value in sorted(config.service_objectives.items(),
                                                       key=lambda item: item[0].value)])


# ---- agents -------------------------------------------------------------------------------------
def _agent_config(request, known_skills, existing) -> AgentConfig:
    agent_id = convert.name(request.agent_id, "agent_id")
    if not request.skills:
        raise invalid("skills", "must give at least one skill")
    skills = {}
    for number, entry in enumerate(request.skills):
        skill = convert.name(entry.skill, f"skills[{number}].skill")
        if skill in skills:
            raise invalid(f"skills[{number}].skill", f"skill {skill!r} given twice")
        if skill not in known_skills:
            raise invalid(f"skills[{number}].skill", f"unknown skill {skill!r} at site "
                                                      f"{request.site!r}")
        if not 1 <= entry.level <= _MAX_LEVEL:
            raise invalid(f"skills[{number}].level", f"must be 1..{_MAX_LEVEL}; got {entry.level}")
        skills[skill] = entry.level
    channels = {}
    for number, entry in enumerate(request.capacities):
        if entry.channel == common_pb2.CHANNEL_UNSPECIFIED:
            raise invalid(f"capacities[{number}].channel", "required")
        channel = convert.channel(entry.channel, f"capacities[{number}].channel")
        if channel in channels:
            raise invalid(f"capacities[{number}].channel", f"{channel.name.lower()} given twice")
        if entry.capacity < 1:
            raise invalid(f"capacities[{number}].capacity", f"must be >= 1; got {entry.capacity}")
        channels[channel] = entry.capacity
    wrap_up_s = request.wrap_up_s
    if not math.isfinite(wrap_up_s) or wrap_up_s < 0:
        raise invalid("wrap_up_s", f"must be a finite number >= 0 (0: the skill's); got {wrap_up_s!r}")
    try:
        return AgentConfig(
            agent_id, skills, channels=channels or {"voice": 1},
            call_selection=_lookup(_CALL_SELECTION_IN, request.call_selection, "call_selection",
                                   "call selection"),
            wrap_up_s=wrap_up_s or None,
            # Not in the API: kept as it was.
            voice_blocks_others=existing.voice_blocks_others if existing is not None else True)
    except InvalidInput as error:
        raise invalid(_core_field(error), error.problem) from None


def _agent_message(site, config: AgentConfig, state) -> admin_pb2.Agent:
    return admin_pb2.Agent(
        site=site, agent_id=config.agent_id,
        skills=[admin_pb2.SkillLevel(skill=skill, level=level)
                for skill, level in config.skills.items()],
        capacities=[admin_pb2.ChannelCapacity(channel=convert.CHANNEL_OUT[channel],
                                              capacity=capacity)
                    for channel, capacity in config.channels.items()],
        call_selection=_CALL_SELECTION_OUT[config.call_selection],
        wrap_up_s=config.wrap_up_s or 0.0, state=convert.AGENT_STATE_OUT[state])


class AdminServicer(CampaignAdministration, PlanAdministration, admin_pb2_grpc.AdminServicer):
    def __init__(self, host, campaigns=None, *, has_store: bool | None = None,
                 config_tables=None):
        """`config_tables` (cluster/store/config_tables.py; None: none kept): told of every
        change of a site, skill or agent."""
        self.host = host
        self.config_tables = config_tables
        # Outbound campaigns (cluster/campaigns/): None without a customer store, or on a
        # host that cannot run them (`has_store` tells which).
        self.campaigns = campaigns
        self.campaign_store = campaigns.store if campaigns is not None else None
        self.has_store = campaigns is not None if has_store is None else has_store

    def _changed(self, site: str) -> None:
        if self.config_tables is not None:
            self.config_tables.changed(self.host, site)

    @staticmethod
    async def _existing(lookup, site, name):
        """The current configuration of a skill or agent about to be put, or None if new."""
        try:
            found = await lookup(site, name)
        except NotFound:
            return None
        return found[0] if isinstance(found, tuple) else found     # agents: (config, state)

    # ---- sites ----
    @unary()
    async def ListSites(self, request, context):
        return admin_pb2.ListSitesReply(sites=[admin_pb2.Site(name=name)
                                               for name in self.host.site_names()])

    @unary()
    async def GetSite(self, request, context):
        name = convert.name(request.name, "name")
        if name not in self.host.site_names():
            raise NotFound("name", f"no site {name!r}")
        return admin_pb2.Site(name=name)

    @unary()
    async def PutSite(self, request, context):
        name = convert.name(request.name, "name", limit=convert.MAX_NAME)
        await self.host.put_site(name)
        self._changed(name)
        return admin_pb2.Site(name=name)

    @unary()
    async def DeleteSite(self, request, context):
        name = convert.name(request.name, "name")
        await self.host.delete_site(name)
        self._changed(name)
        return admin_pb2.DeleteReply(deleted=True)

    # ---- skills ----
    @unary()
    async def ListSkills(self, request, context):
        site = convert.name(request.site, "site")
        skills = []
        for name in await self.host.skills_of(site):
            skills.append(_skill_message(site, await self.host.skill(site, name)))
        return admin_pb2.ListSkillsReply(skills=skills)

    @unary()
    async def GetSkill(self, request, context):
        site = convert.name(request.site, "site")
        return _skill_message(site, await self.host.skill(site, convert.name(request.name, "name")))

    @unary()
    async def PutSkill(self, request, context):
        site = convert.name(request.site, "site")
        existing = await self._existing(self.host.skill, site, request.name)
        config = _skill_config(request, existing)
        await self.host.put_skill(site, config)
        self._changed(site)
        return _skill_message(site, await self.host.skill(site, config.name))

    @unary()
    async def DeleteSkill(self, request, context):
        site = convert.name(request.site, "site")
        await self.host.delete_skill(site, convert.name(request.name, "name"))
        self._changed(site)
        return admin_pb2.DeleteReply(deleted=True)

    # ---- agents ----
    @unary()
    async def ListAgents(self, request, context):
        site = convert.name(request.site, "site")
        return admin_pb2.ListAgentsReply(agents=[
            _agent_message(site, config, state)
            for config, state in await self.host.agents_of(site)])

    @unary()
    async def GetAgent(self, request, context):
        site = convert.name(request.site, "site")
        config, state = await self.host.agent(site, convert.name(request.name, "name"))
        return _agent_message(site, config, state)

    @unary()
    async def PutAgent(self, request, context):
        site = convert.name(request.site, "site")
        known = set(await self.host.skills_of(site))
        existing = await self._existing(self.host.agent, site, request.agent_id)
        config = _agent_config(request, known, existing)
        await self.host.put_agent(site, config)
        self._changed(site)
        config, state = await self.host.agent(site, config.agent_id)
        return _agent_message(site, config, state)

    @unary()
    async def DeleteAgent(self, request, context):
        site = convert.name(request.site, "site")
        await self.host.delete_agent(site, convert.name(request.name, "name"))
        self._changed(site)
        return admin_pb2.DeleteReply(deleted=True)

