from vcc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_OUTCOME_UNSPECIFIED: _ClassVar[CallOutcome]
    CALL_OUTCOME_LIVE: _ClassVar[CallOutcome]
    CALL_OUTCOME_MACHINE: _ClassVar[CallOutcome]
    CALL_OUTCOME_NO_ANSWER: _ClassVar[CallOutcome]
    CALL_OUTCOME_BUSY: _ClassVar[CallOutcome]
    CALL_OUTCOME_FAILED: _ClassVar[CallOutcome]
CALL_OUTCOME_UNSPECIFIED: CallOutcome
CALL_OUTCOME_LIVE: CallOutcome
CALL_OUTCOME_MACHINE: CallOutcome
CALL_OUTCOME_NO_ANSWER: CallOutcome
CALL_OUTCOME_BUSY: CallOutcome
CALL_OUTCOME_FAILED: CallOutcome

class PbxHello(_message.Message):
    __slots__ = ("link_id", "last_action_seq", "sites")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTION_SEQ_FIELD_NUMBER: _ClassVar[int]
    SITES_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    last_action_seq: int
    sites: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, link_id: _Optional[str] = ..., last_action_seq: _Optional[int] = ..., sites: _Optional[_Iterable[str]] = ...) -> None: ...

class PbxEvent(_message.Message):
    __slots__ = ("seq", "arrived", "answered", "rejected", "offer_timed_out", "ended", "abandoned", "digits_collected", "prompt_finished", "self_service_ended", "callback_chosen", "call_progress")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ARRIVED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    OFFER_TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    DIGITS_COLLECTED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SELF_SERVICE_ENDED_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_CHOSEN_FIELD_NUMBER: _ClassVar[int]
    CALL_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    arrived: _common_pb2.ContactSpec
    answered: str
    rejected: str
    offer_timed_out: str
    ended: str
    abandoned: str
    digits_collected: CollectedDigits
    prompt_finished: str
    self_service_ended: SelfServiceResult
    callback_chosen: CallbackAnswer
    call_progress: CallProgress
    def __init__(self, seq: _Optional[int] = ..., arrived: _Optional[_Union[_common_pb2.ContactSpec, _Mapping]] = ..., answered: _Optional[str] = ..., rejected: _Optional[str] = ..., offer_timed_out: _Optional[str] = ..., ended: _Optional[str] = ..., abandoned: _Optional[str] = ..., digits_collected: _Optional[_Union[CollectedDigits, _Mapping]] = ..., prompt_finished: _Optional[str] = ..., self_service_ended: _Optional[_Union[SelfServiceResult, _Mapping]] = ..., callback_chosen: _Optional[_Union[CallbackAnswer, _Mapping]] = ..., call_progress: _Optional[_Union[CallProgress, _Mapping]] = ...) -> None: ...

class CallProgress(_message.Message):
    __slots__ = ("call_id", "outcome")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    outcome: CallOutcome
    def __init__(self, call_id: _Optional[str] = ..., outcome: _Optional[_Union[CallOutcome, str]] = ...) -> None: ...

class CollectedDigits(_message.Message):
    __slots__ = ("contact_id", "digits")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DIGITS_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    digits: str
    def __init__(self, contact_id: _Optional[str] = ..., digits: _Optional[str] = ...) -> None: ...

class SelfServiceResult(_message.Message):
    __slots__ = ("contact_id", "completed")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    completed: bool
    def __init__(self, contact_id: _Optional[str] = ..., completed: _Optional[bool] = ...) -> None: ...

class CallbackAnswer(_message.Message):
    __slots__ = ("contact_id", "accepted")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    accepted: bool
    def __init__(self, contact_id: _Optional[str] = ..., accepted: _Optional[bool] = ...) -> None: ...

class PbxMessage(_message.Message):
    __slots__ = ("hello", "events")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    hello: PbxHello
    events: _containers.RepeatedCompositeFieldContainer[PbxEvent]
    def __init__(self, hello: _Optional[_Union[PbxHello, _Mapping]] = ..., events: _Optional[_Iterable[_Union[PbxEvent, _Mapping]]] = ...) -> None: ...

class RouterAction(_message.Message):
    __slots__ = ("seq", "route_to_agent", "queued", "interflow", "reject", "finished", "offer_revoked", "error", "ivr", "dial", "hang_up", "play_message")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ROUTE_TO_AGENT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    INTERFLOW_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    OFFER_REVOKED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IVR_FIELD_NUMBER: _ClassVar[int]
    DIAL_FIELD_NUMBER: _ClassVar[int]
    HANG_UP_FIELD_NUMBER: _ClassVar[int]
    PLAY_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    route_to_agent: _common_pb2.Offer
    queued: _common_pb2.QueueTreatment
    interflow: _common_pb2.Interflow
    reject: _common_pb2.Rejection
    finished: _common_pb2.ContactFinished
    offer_revoked: _common_pb2.OfferRevoked
    error: EventError
    ivr: _common_pb2.IvrTreatment
    dial: DialCall
    hang_up: str
    play_message: PlayMessage
    def __init__(self, seq: _Optional[int] = ..., route_to_agent: _Optional[_Union[_common_pb2.Offer, _Mapping]] = ..., queued: _Optional[_Union[_common_pb2.QueueTreatment, _Mapping]] = ..., interflow: _Optional[_Union[_common_pb2.Interflow, _Mapping]] = ..., reject: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., finished: _Optional[_Union[_common_pb2.ContactFinished, _Mapping]] = ..., offer_revoked: _Optional[_Union[_common_pb2.OfferRevoked, _Mapping]] = ..., error: _Optional[_Union[EventError, _Mapping]] = ..., ivr: _Optional[_Union[_common_pb2.IvrTreatment, _Mapping]] = ..., dial: _Optional[_Union[DialCall, _Mapping]] = ..., hang_up: _Optional[str] = ..., play_message: _Optional[_Union[PlayMessage, _Mapping]] = ...) -> None: ...

class DialCall(_message.Message):
    __slots__ = ("call_id", "campaign", "site", "record_id", "phone_number", "ring_timeout_s", "amd", "agent_id")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    RING_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    AMD_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    campaign: str
    site: str
    record_id: str
    phone_number: str
    ring_timeout_s: float
    amd: bool
    agent_id: str
    def __init__(self, call_id: _Optional[str] = ..., campaign: _Optional[str] = ..., site: _Optional[str] = ..., record_id: _Optional[str] = ..., phone_number: _Optional[str] = ..., ring_timeout_s: _Optional[float] = ..., amd: _Optional[bool] = ..., agent_id: _Optional[str] = ...) -> None: ...

class PlayMessage(_message.Message):
    __slots__ = ("call_id", "prompt")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    prompt: str
    def __init__(self, call_id: _Optional[str] = ..., prompt: _Optional[str] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ("event_seq", "contact_id", "field", "message")
    EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    event_seq: int
    contact_id: str
    field: str
    message: str
    def __init__(self, event_seq: _Optional[int] = ..., contact_id: _Optional[str] = ..., field: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RouterMessage(_message.Message):
    __slots__ = ("acked_event_seq", "actions")
    ACKED_EVENT_SEQ_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    acked_event_seq: int
    actions: _containers.RepeatedCompositeFieldContainer[RouterAction]
    def __init__(self, acked_event_seq: _Optional[int] = ..., actions: _Optional[_Iterable[_Union[RouterAction, _Mapping]]] = ...) -> None: ...
