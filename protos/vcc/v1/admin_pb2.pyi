from vcc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
