from vcc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RouteContactRequest(_message.Message):
    __slots__ = ("contact",)
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    contact: _common_pb2.ContactSpec
    def __init__(self, contact: _Optional[_Union[_common_pb2.ContactSpec, _Mapping]] = ...) -> None: ...

class RouteContactReply(_message.Message):
    __slots__ = ("offer", "queued", "rejected", "ivr", "interflow")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    IVR_FIELD_NUMBER: _ClassVar[int]
    INTERFLOW_FIELD_NUMBER: _ClassVar[int]
    offer: _common_pb2.Offer
    queued: _common_pb2.QueueTreatment
    rejected: _common_pb2.Rejection
    ivr: _common_pb2.IvrTreatment
    interflow: _common_pb2.Interflow
    def __init__(self, offer: _Optional[_Union[_common_pb2.Offer, _Mapping]] = ..., queued: _Optional[_Union[_common_pb2.QueueTreatment, _Mapping]] = ..., rejected: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., ivr: _Optional[_Union[_common_pb2.IvrTreatment, _Mapping]] = ..., interflow: _Optional[_Union[_common_pb2.Interflow, _Mapping]] = ...) -> None: ...

class AbandonContactRequest(_message.Message):
    __slots__ = ("site", "contact_id")
    SITE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    site: str
    contact_id: str
    def __init__(self, site: _Optional[str] = ..., contact_id: _Optional[str] = ...) -> None: ...

class AbandonContactReply(_message.Message):
    __slots__ = ("final_state",)
    FINAL_STATE_FIELD_NUMBER: _ClassVar[int]
    final_state: _common_pb2.ContactState
    def __init__(self, final_state: _Optional[_Union[_common_pb2.ContactState, str]] = ...) -> None: ...

class GetEwtRequest(_message.Message):
    __slots__ = ("site", "skill", "priority")
    SITE_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    site: str
    skill: str
    priority: _common_pb2.Priority
    def __init__(self, site: _Optional[str] = ..., skill: _Optional[str] = ..., priority: _Optional[_Union[_common_pb2.Priority, str]] = ...) -> None: ...

class GetEwtReply(_message.Message):
    __slots__ = ("ewt_known", "ewt_s")
    EWT_KNOWN_FIELD_NUMBER: _ClassVar[int]
    EWT_S_FIELD_NUMBER: _ClassVar[int]
    ewt_known: bool
    ewt_s: float
    def __init__(self, ewt_known: _Optional[bool] = ..., ewt_s: _Optional[float] = ...) -> None: ...

class GetStatisticsRequest(_message.Message):
    __slots__ = ("site", "skill")
    SITE_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    site: str
    skill: str
    def __init__(self, site: _Optional[str] = ..., skill: _Optional[str] = ...) -> None: ...

class SkillStatistics(_message.Message):
    __slots__ = ("site", "skill", "staffed", "ready", "queued", "oldest_wait_known", "oldest_wait_s", "ewt_s", "answered", "abandoned", "asa_s", "sl_pct", "sl2_pct", "aht_s")
    SITE_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    STAFFED_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_WAIT_KNOWN_FIELD_NUMBER: _ClassVar[int]
    OLDEST_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    EWT_S_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    ASA_S_FIELD_NUMBER: _ClassVar[int]
    SL_PCT_FIELD_NUMBER: _ClassVar[int]
    SL2_PCT_FIELD_NUMBER: _ClassVar[int]
    AHT_S_FIELD_NUMBER: _ClassVar[int]
    site: str
    skill: str
    staffed: int
    ready: int
    queued: _containers.RepeatedScalarFieldContainer[int]
    oldest_wait_known: bool
    oldest_wait_s: float
    ewt_s: _containers.RepeatedScalarFieldContainer[float]
    answered: int
    abandoned: int
    asa_s: float
    sl_pct: float
    sl2_pct: float
    aht_s: float
    def __init__(self, site: _Optional[str] = ..., skill: _Optional[str] = ..., staffed: _Optional[int] = ..., ready: _Optional[int] = ..., queued: _Optional[_Iterable[int]] = ..., oldest_wait_known: _Optional[bool] = ..., oldest_wait_s: _Optional[float] = ..., ewt_s: _Optional[_Iterable[float]] = ..., answered: _Optional[int] = ..., abandoned: _Optional[int] = ..., asa_s: _Optional[float] = ..., sl_pct: _Optional[float] = ..., sl2_pct: _Optional[float] = ..., aht_s: _Optional[float] = ...) -> None: ...

class GetStatisticsReply(_message.Message):
    __slots__ = ("skills",)
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    skills: _containers.RepeatedCompositeFieldContainer[SkillStatistics]
    def __init__(self, skills: _Optional[_Iterable[_Union[SkillStatistics, _Mapping]]] = ...) -> None: ...

class StreamEventsRequest(_message.Message):
    __slots__ = ("sites", "skills", "kinds")
    SITES_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    KINDS_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedScalarFieldContainer[str]
    skills: _containers.RepeatedScalarFieldContainer[str]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sites: _Optional[_Iterable[str]] = ..., skills: _Optional[_Iterable[str]] = ..., kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class RoutingEvent(_message.Message):
    __slots__ = ("time_s", "offer", "queued", "interflow", "rejected", "finished", "offer_revoked", "agent_state", "ivr")
    TIME_S_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    INTERFLOW_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    OFFER_REVOKED_FIELD_NUMBER: _ClassVar[int]
    AGENT_STATE_FIELD_NUMBER: _ClassVar[int]
    IVR_FIELD_NUMBER: _ClassVar[int]
    time_s: float
    offer: _common_pb2.Offer
    queued: _common_pb2.QueueTreatment
    interflow: _common_pb2.Interflow
    rejected: _common_pb2.Rejection
    finished: _common_pb2.ContactFinished
    offer_revoked: _common_pb2.OfferRevoked
    agent_state: _common_pb2.AgentStateChange
    ivr: _common_pb2.IvrTreatment
    def __init__(self, time_s: _Optional[float] = ..., offer: _Optional[_Union[_common_pb2.Offer, _Mapping]] = ..., queued: _Optional[_Union[_common_pb2.QueueTreatment, _Mapping]] = ..., interflow: _Optional[_Union[_common_pb2.Interflow, _Mapping]] = ..., rejected: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., finished: _Optional[_Union[_common_pb2.ContactFinished, _Mapping]] = ..., offer_revoked: _Optional[_Union[_common_pb2.OfferRevoked, _Mapping]] = ..., agent_state: _Optional[_Union[_common_pb2.AgentStateChange, _Mapping]] = ..., ivr: _Optional[_Union[_common_pb2.IvrTreatment, _Mapping]] = ...) -> None: ...
