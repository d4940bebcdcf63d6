from vcc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentRequest(_message.Message):
    __slots__ = ("site", "agent_id")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    site: str
    agent_id: str
    def __init__(self, site: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class SetStateRequest(_message.Message):
    __slots__ = ("site", "agent_id", "state", "reason")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    site: str
    agent_id: str
    state: _common_pb2.AgentState
    reason: str
    def __init__(self, site: _Optional[str] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.AgentState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class OfferResponse(_message.Message):
    __slots__ = ("site", "agent_id", "contact_id", "accept")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    site: str
    agent_id: str
    contact_id: str
    accept: bool
    def __init__(self, site: _Optional[str] = ..., agent_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., accept: _Optional[bool] = ...) -> None: ...

class ContactRequest(_message.Message):
    __slots__ = ("site", "agent_id", "contact_id", "disposition", "notes", "offer_results")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    OFFER_RESULTS_FIELD_NUMBER: _ClassVar[int]
    site: str
    agent_id: str
    contact_id: str
    disposition: str
    notes: str
    offer_results: _containers.RepeatedCompositeFieldContainer[_common_pb2.OfferResult]
    def __init__(self, site: _Optional[str] = ..., agent_id: _Optional[str] = ..., contact_id: _Optional[str] = ..., disposition: _Optional[str] = ..., notes: _Optional[str] = ..., offer_results: _Optional[_Iterable[_Union[_common_pb2.OfferResult, _Mapping]]] = ...) -> None: ...

class PreviewResponse(_message.Message):
    __slots__ = ("site", "agent_id", "campaign", "record_id", "dial")
    SITE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    DIAL_FIELD_NUMBER: _ClassVar[int]
    site: str
    agent_id: str
    campaign: str
    record_id: str
    dial: bool
    def __init__(self, site: _Optional[str] = ..., agent_id: _Optional[str] = ..., campaign: _Optional[str] = ..., record_id: _Optional[str] = ..., dial: _Optional[bool] = ...) -> None: ...

class AgentReply(_message.Message):
    __slots__ = ("state", "offers")
    STATE_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.AgentStateChange
    offers: _containers.RepeatedCompositeFieldContainer[_common_pb2.Offer]
    def __init__(self, state: _Optional[_Union[_common_pb2.AgentStateChange, _Mapping]] = ..., offers: _Optional[_Iterable[_Union[_common_pb2.Offer, _Mapping]]] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("offer", "offer_revoked", "state_changed", "contact_finished", "preview")
    OFFER_FIELD_NUMBER: _ClassVar[int]
    OFFER_REVOKED_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FINISHED_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    offer: _common_pb2.Offer
    offer_revoked: _common_pb2.OfferRevoked
    state_changed: _common_pb2.AgentStateChange
    contact_finished: _common_pb2.ContactFinished
    preview: PreviewRecord
    def __init__(self, offer: _Optional[_Union[_common_pb2.Offer, _Mapping]] = ..., offer_revoked: _Optional[_Union[_common_pb2.OfferRevoked, _Mapping]] = ..., state_changed: _Optional[_Union[_common_pb2.AgentStateChange, _Mapping]] = ..., contact_finished: _Optional[_Union[_common_pb2.ContactFinished, _Mapping]] = ..., preview: _Optional[_Union[PreviewRecord, _Mapping]] = ...) -> None: ...

class PreviewRecord(_message.Message):
    __slots__ = ("campaign", "record_id", "customer_id")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    record_id: str
    customer_id: str
    def __init__(self, campaign: _Optional[str] = ..., record_id: _Optional[str] = ..., customer_id: _Optional[str] = ...) -> None: ...
