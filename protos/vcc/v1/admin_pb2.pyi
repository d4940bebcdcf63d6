from vcc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CampaignState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAMPAIGN_STATE_UNSPECIFIED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_DRAFT: _ClassVar[CampaignState]
    CAMPAIGN_STATE_RUNNING: _ClassVar[CampaignState]
    CAMPAIGN_STATE_PAUSED: _ClassVar[CampaignState]
    CAMPAIGN_STATE_STOPPED: _ClassVar[CampaignState]

class Queueing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    QUEUEING_UNSPECIFIED: _ClassVar[Queueing]
    QUEUEING_DQP: _ClassVar[Queueing]
    QUEUEING_FIFO: _ClassVar[Queueing]

class AgentSelection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_SELECTION_UNSPECIFIED: _ClassVar[AgentSelection]
    AGENT_SELECTION_LONGEST_IDLE: _ClassVar[AgentSelection]
    AGENT_SELECTION_LEAST_OCCUPIED: _ClassVar[AgentSelection]
    AGENT_SELECTION_BEST_SKILL: _ClassVar[AgentSelection]
    AGENT_SELECTION_ROUND_ROBIN: _ClassVar[AgentSelection]

class CallSelection(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_SELECTION_UNSPECIFIED: _ClassVar[CallSelection]
    CALL_SELECTION_GREATEST_NEED: _ClassVar[CallSelection]
    CALL_SELECTION_SKILL_LEVEL: _ClassVar[CallSelection]
CAMPAIGN_STATE_UNSPECIFIED: CampaignState
CAMPAIGN_STATE_DRAFT: CampaignState
CAMPAIGN_STATE_RUNNING: CampaignState
CAMPAIGN_STATE_PAUSED: CampaignState
CAMPAIGN_STATE_STOPPED: CampaignState
QUEUEING_UNSPECIFIED: Queueing
QUEUEING_DQP: Queueing
QUEUEING_FIFO: Queueing
AGENT_SELECTION_UNSPECIFIED: AgentSelection
AGENT_SELECTION_LONGEST_IDLE: AgentSelection
AGENT_SELECTION_LEAST_OCCUPIED: AgentSelection
AGENT_SELECTION_BEST_SKILL: AgentSelection
AGENT_SELECTION_ROUND_ROBIN: AgentSelection
CALL_SELECTION_UNSPECIFIED: CallSelection
CALL_SELECTION_GREATEST_NEED: CallSelection
CALL_SELECTION_SKILL_LEVEL: CallSelection

class RetryRule(_message.Message):
    __slots__ = ("delay_s", "max_attempts")
    DELAY_S_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    delay_s: float
    max_attempts: int
    def __init__(self, delay_s: _Optional[float] = ..., max_attempts: _Optional[int] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("name", "site", "skill", "mode", "pacing", "abandon_limit_pct", "abandon_window", "ring_timeout_s", "amd", "amd_false_positive", "pace_every_s", "retries", "abandon_prompt", "call_window", "protect_inbound_sl_pct", "state", "records")
    class RetriesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: RetryRule
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[RetryRule, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    PACING_FIELD_NUMBER: _ClassVar[int]
    ABANDON_LIMIT_PCT_FIELD_NUMBER: _ClassVar[int]
    ABANDON_WINDOW_FIELD_NUMBER: _ClassVar[int]
    RING_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    AMD_FIELD_NUMBER: _ClassVar[int]
    AMD_FALSE_POSITIVE_FIELD_NUMBER: _ClassVar[int]
    PACE_EVERY_S_FIELD_NUMBER: _ClassVar[int]
    RETRIES_FIELD_NUMBER: _ClassVar[int]
    ABANDON_PROMPT_FIELD_NUMBER: _ClassVar[int]
    CALL_WINDOW_FIELD_NUMBER: _ClassVar[int]
    PROTECT_INBOUND_SL_PCT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    site: str
    skill: str
    mode: str
    pacing: str
    abandon_limit_pct: float
    abandon_window: str
    ring_timeout_s: float
    amd: bool
    amd_false_positive: float
    pace_every_s: float
    retries: _containers.MessageMap[str, RetryRule]
    abandon_prompt: str
    call_window: str
    protect_inbound_sl_pct: float
    state: CampaignState
    records: int
    def __init__(self, name: _Optional[str] = ..., site: _Optional[str] = ..., skill: _Optional[str] = ..., mode: _Optional[str] = ..., pacing: _Optional[str] = ..., abandon_limit_pct: _Optional[float] = ..., abandon_window: _Optional[str] = ..., ring_timeout_s: _Optional[float] = ..., amd: _Optional[bool] = ..., amd_false_positive: _Optional[float] = ..., pace_every_s: _Optional[float] = ..., retries: _Optional[_Mapping[str, RetryRule]] = ..., abandon_prompt: _Optional[str] = ..., call_window: _Optional[str] = ..., protect_inbound_sl_pct: _Optional[float] = ..., state: _Optional[_Union[CampaignState, str]] = ..., records: _Optional[int] = ...) -> None: ...

class CampaignKey(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCampaignsReply(_message.Message):
    __slots__ = ("campaigns",)
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[Campaign]
    def __init__(self, campaigns: _Optional[_Iterable[_Union[Campaign, _Mapping]]] = ...) -> None: ...

class CampaignListRow(_message.Message):
    __slots__ = ("id", "phone", "timezone", "customer_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    phone: str
    timezone: str
    customer_id: str
    def __init__(self, id: _Optional[str] = ..., phone: _Optional[str] = ..., timezone: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...

class CampaignListRows(_message.Message):
    __slots__ = ("campaign", "rows")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    rows: _containers.RepeatedCompositeFieldContainer[CampaignListRow]
    def __init__(self, campaign: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[CampaignListRow, _Mapping]]] = ...) -> None: ...

class CampaignListReply(_message.Message):
    __slots__ = ("added", "updated", "unchanged", "records")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    added: int
    updated: int
    unchanged: int
    records: int
    def __init__(self, added: _Optional[int] = ..., updated: _Optional[int] = ..., unchanged: _Optional[int] = ..., records: _Optional[int] = ...) -> None: ...

class DoNotCallNumbers(_message.Message):
    __slots__ = ("campaign", "numbers")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    NUMBERS_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    numbers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, campaign: _Optional[str] = ..., numbers: _Optional[_Iterable[str]] = ...) -> None: ...

class DoNotCallKey(_message.Message):
    __slots__ = ("campaign",)
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    def __init__(self, campaign: _Optional[str] = ...) -> None: ...

class DoNotCallReply(_message.Message):
    __slots__ = ("changed", "unchanged", "global_numbers", "campaign_numbers")
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    GLOBAL_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    changed: int
    unchanged: int
    global_numbers: int
    campaign_numbers: int
    def __init__(self, changed: _Optional[int] = ..., unchanged: _Optional[int] = ..., global_numbers: _Optional[int] = ..., campaign_numbers: _Optional[int] = ...) -> None: ...

class CampaignStatisticsRequest(_message.Message):
    __slots__ = ("campaign", "interval_s")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    interval_s: float
    def __init__(self, campaign: _Optional[str] = ..., interval_s: _Optional[float] = ...) -> None: ...

class CampaignStatistics(_message.Message):
    __slots__ = ("campaign", "state", "time_s", "attempts", "live_answers", "machines", "busy", "no_answer", "failed", "connected", "abandoned", "abandon_pct", "max_window_abandon_pct", "list_dialled", "records", "calls_up", "retries_scheduled", "messages_played")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LIVE_ANSWERS_FIELD_NUMBER: _ClassVar[int]
    MACHINES_FIELD_NUMBER: _ClassVar[int]
    BUSY_FIELD_NUMBER: _ClassVar[int]
    NO_ANSWER_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    ABANDON_PCT_FIELD_NUMBER: _ClassVar[int]
    MAX_WINDOW_ABANDON_PCT_FIELD_NUMBER: _ClassVar[int]
    LIST_DIALLED_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    CALLS_UP_FIELD_NUMBER: _ClassVar[int]
    RETRIES_SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_PLAYED_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    state: CampaignState
    time_s: float
    attempts: int
    live_answers: int
    machines: int
    busy: int
    no_answer: int
    failed: int
    connected: int
    abandoned: int
    abandon_pct: float
    max_window_abandon_pct: float
    list_dialled: int
    records: int
    calls_up: int
    retries_scheduled: int
    messages_played: int
    def __init__(self, campaign: _Optional[str] = ..., state: _Optional[_Union[CampaignState, str]] = ..., time_s: _Optional[float] = ..., attempts: _Optional[int] = ..., live_answers: _Optional[int] = ..., machines: _Optional[int] = ..., busy: _Optional[int] = ..., no_answer: _Optional[int] = ..., failed: _Optional[int] = ..., connected: _Optional[int] = ..., abandoned: _Optional[int] = ..., abandon_pct: _Optional[float] = ..., max_window_abandon_pct: _Optional[float] = ..., list_dialled: _Optional[int] = ..., records: _Optional[int] = ..., calls_up: _Optional[int] = ..., retries_scheduled: _Optional[int] = ..., messages_played: _Optional[int] = ...) -> None: ...

class GetPlansRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PlanDocument(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class PlanItemKey(_message.Message):
    __slots__ = ("kind", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class PlanItem(_message.Message):
    __slots__ = ("kind", "name", "json")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    json: str
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class ListPlanItemsReply(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class CalendarOverride(_message.Message):
    __slots__ = ("calendar", "start", "end", "open", "reason")
    CALENDAR_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    calendar: str
    start: str
    end: str
    open: bool
    reason: str
    def __init__(self, calendar: _Optional[str] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., open: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: str
    def __init__(self, site: _Optional[str] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("site", "name")
    SITE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    site: str
    name: str
    def __init__(self, site: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteReply(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class Site(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListSitesReply(_message.Message):
    __slots__ = ("sites",)
    SITES_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedCompositeFieldContainer[Site]
    def __init__(self, sites: _Optional[_Iterable[_Union[Site, _Mapping]]] = ...) -> None: ...

class ServiceObjective(_message.Message):
    __slots__ = ("priority", "service_objective_s")
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_OBJECTIVE_S_FIELD_NUMBER: _ClassVar[int]
    priority: _common_pb2.Priority
    service_objective_s: float
    def __init__(self, priority: _Optional[_Union[_common_pb2.Priority, str]] = ..., service_objective_s: _Optional[float] = ...) -> None: ...

class Skill(_message.Message):
    __slots__ = ("site", "name", "queueing", "sl_threshold_s", "agent_selection", "wrap_up_s", "offer_timeout_s", "max_queue_length", "widen_level", "widen_after_s", "service_objectives")
    SITE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUEING_FIELD_NUMBER: _ClassVar[int]
    SL_THRESHOLD_S_FIELD_NUMBER: _ClassVar[int]
    AGENT_SELECTION_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_S_FIELD_NUMBER: _ClassVar[int]
    OFFER_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    WIDEN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    WIDEN_AFTER_S_FIELD_NUMBER: _ClassVar[int]
    SERVICE_OBJECTIVES_FIELD_NUMBER: _ClassVar[int]
    site: str
    name: str
    queueing: Queueing
    sl_threshold_s: float
    agent_selection: AgentSelection
    wrap_up_s: float
    offer_timeout_s: float
    max_queue_length: int
    widen_level: int
    widen_after_s: float
    service_objectives: _containers.RepeatedCompositeFieldContainer[ServiceObjective]
    def __init__(self, site: _Optional[str] = ..., name: _Optional[str] = ..., queueing: _Optional[_Union[Queueing, str]] = ..., sl_threshold_s: _Optional[float] = ..., agent_selection: _Optional[_Union[AgentSelection, str]] = ..., wrap_up_s: _Optional[float] = ..., offer_timeout_s: _Optional[float] = ..., max_queue_length: _Optional[int] = ..., widen_level: _Optional[int] = ..., widen_after_s: _Optional[float] = ..., service_objectives: _Optional[_Iterable[_Union[ServiceObjective, _Mapping]]] = ...) -> None: ...

class ListSkillsReply(_message.Message):
    __slots__ = ("skills",)
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    skills: _containers.RepeatedCompositeFieldContainer[Skill]
    def __init__(self, skills: _Optional[_Iterable[_Union[Skill, _Mapping]]] = ...) -> None: ...

class SkillLevel(_message.Message):
    __slots__ = ("skill", "level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    level: int
    def __init__(self, skill: _Optional[str] = ..., level: _Optional[int] = ...) -> None: ...

class ChannelCapacity(_message.Message):
    __slots__ = ("channel", "capacity")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    channel: _common_pb2.Channel
    capacity: int
    def __init__(self, channel: _Optional[_Union[_common_pb2.Channel, str]] = ..., capacity: _Optional[int] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("site", "agent_id", "skills", "capacities", "call_selection", "wrap_up_s", "state")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    CAPACITIES_FIELD_NUMBER: _ClassVar[int]
    CALL_SELECTION_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_S_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    site: str
    agent_id: str
    skills: _containers.RepeatedCompositeFieldContainer[SkillLevel]
    capacities: _containers.RepeatedCompositeFieldContainer[ChannelCapacity]
    call_selection: CallSelection
    wrap_up_s: float
    state: _common_pb2.AgentState
    def __init__(self, site: _Optional[str] = ..., agent_id: _Optional[str] = ..., skills: _Optional[_Iterable[_Union[SkillLevel, _Mapping]]] = ..., capacities: _Optional[_Iterable[_Union[ChannelCapacity, _Mapping]]] = ..., call_selection: _Optional[_Union[CallSelection, str]] = ..., wrap_up_s: _Optional[float] = ..., state: _Optional[_Union[_common_pb2.AgentState, str]] = ...) -> None: ...

class ListAgentsReply(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...
