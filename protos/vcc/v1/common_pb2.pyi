from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_TOP: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_MEDIUM: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_VOICE: _ClassVar[Channel]
    CHANNEL_CHAT: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_CALLBACK: _ClassVar[Channel]
    CHANNEL_OUTBOUND: _ClassVar[Channel]

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_LOGGED_OUT: _ClassVar[AgentState]
    AGENT_STATE_READY: _ClassVar[AgentState]
    AGENT_STATE_NOT_READY: _ClassVar[AgentState]
    AGENT_STATE_RESERVED: _ClassVar[AgentState]
    AGENT_STATE_BUSY: _ClassVar[AgentState]
    AGENT_STATE_WRAP_UP: _ClassVar[AgentState]

class ContactState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_STATE_UNSPECIFIED: _ClassVar[ContactState]
    CONTACT_STATE_QUEUED: _ClassVar[ContactState]
    CONTACT_STATE_OFFERED: _ClassVar[ContactState]
    CONTACT_STATE_CONNECTED: _ClassVar[ContactState]
    CONTACT_STATE_WRAP_UP: _ClassVar[ContactState]
    CONTACT_STATE_COMPLETED: _ClassVar[ContactState]
    CONTACT_STATE_ABANDONED: _ClassVar[ContactState]
    CONTACT_STATE_INTERFLOWED: _ClassVar[ContactState]
    CONTACT_STATE_REJECTED: _ClassVar[ContactState]
    CONTACT_STATE_IN_IVR: _ClassVar[ContactState]
    CONTACT_STATE_SELF_SERVED: _ClassVar[ContactState]
    CONTACT_STATE_ROUTED_OUT: _ClassVar[ContactState]
    CONTACT_STATE_BUSY: _ClassVar[ContactState]
    CONTACT_STATE_VOICEMAIL: _ClassVar[ContactState]
    CONTACT_STATE_DISCONNECTED: _ClassVar[ContactState]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_TOP: Priority
PRIORITY_HIGH: Priority
PRIORITY_MEDIUM: Priority
PRIORITY_LOW: Priority
CHANNEL_UNSPECIFIED: Channel
CHANNEL_VOICE: Channel
CHANNEL_CHAT: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SMS: Channel
CHANNEL_CALLBACK: Channel
CHANNEL_OUTBOUND: Channel
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_LOGGED_OUT: AgentState
AGENT_STATE_READY: AgentState
AGENT_STATE_NOT_READY: AgentState
AGENT_STATE_RESERVED: AgentState
AGENT_STATE_BUSY: AgentState
AGENT_STATE_WRAP_UP: AgentState
CONTACT_STATE_UNSPECIFIED: ContactState
CONTACT_STATE_QUEUED: ContactState
CONTACT_STATE_OFFERED: ContactState
CONTACT_STATE_CONNECTED: ContactState
CONTACT_STATE_WRAP_UP: ContactState
CONTACT_STATE_COMPLETED: ContactState
CONTACT_STATE_ABANDONED: ContactState
CONTACT_STATE_INTERFLOWED: ContactState
CONTACT_STATE_REJECTED: ContactState
CONTACT_STATE_IN_IVR: ContactState
CONTACT_STATE_SELF_SERVED: ContactState
CONTACT_STATE_ROUTED_OUT: ContactState
CONTACT_STATE_BUSY: ContactState
CONTACT_STATE_VOICEMAIL: ContactState
CONTACT_STATE_DISCONNECTED: ContactState

class ContactSpec(_message.Message):
    __slots__ = ("contact_id", "site", "skill", "priority", "service_objective_s", "channel", "ani", "dnis", "customer_id", "data")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_OBJECTIVE_S_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ANI_FIELD_NUMBER: _ClassVar[int]
    DNIS_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    site: str
    skill: str
    priority: Priority
    service_objective_s: float
    channel: Channel
    ani: str
    dnis: str
    customer_id: str
    data: _containers.ScalarMap[str, str]
    def __init__(self, contact_id: _Optional[str] = ..., site: _Optional[str] = ..., skill: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., service_objective_s: _Optional[float] = ..., channel: _Optional[_Union[Channel, str]] = ..., ani: _Optional[str] = ..., dnis: _Optional[str] = ..., customer_id: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("contact_id", "agent_id", "site", "skill", "channel", "offer_deadline_s", "data", "callback", "screen_pop")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OFFER_DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_FIELD_NUMBER: _ClassVar[int]
    SCREEN_POP_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    agent_id: str
    site: str
    skill: str
    channel: Channel
    offer_deadline_s: float
    data: _containers.ScalarMap[str, str]
    callback: bool
    screen_pop: ScreenPop
    def __init__(self, contact_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., site: _Optional[str] = ..., skill: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., offer_deadline_s: _Optional[float] = ..., data: _Optional[_Mapping[str, str]] = ..., callback: _Optional[bool] = ..., screen_pop: _Optional[_Union[ScreenPop, _Mapping]] = ...) -> None: ...

class ScreenPop(_message.Message):
    __slots__ = ("customer_id", "name", "tier", "phones", "email", "address", "attributes", "history", "offers")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PHONES_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    name: str
    tier: str
    phones: _containers.RepeatedScalarFieldContainer[str]
    email: str
    address: str
    attributes: _containers.ScalarMap[str, str]
    history: _containers.RepeatedCompositeFieldContainer[Interaction]
    offers: _containers.RepeatedCompositeFieldContainer[MarketingOffer]
    def __init__(self, customer_id: _Optional[str] = ..., name: _Optional[str] = ..., tier: _Optional[str] = ..., phones: _Optional[_Iterable[str]] = ..., email: _Optional[str] = ..., address: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., history: _Optional[_Iterable[_Union[Interaction, _Mapping]]] = ..., offers: _Optional[_Iterable[_Union[MarketingOffer, _Mapping]]] = ...) -> None: ...

class Interaction(_message.Message):
    __slots__ = ("contact_id", "customer_id", "time", "channel", "skill", "agent_id", "disposition", "notes", "final_state")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    FINAL_STATE_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    customer_id: str
    time: float
    channel: Channel
    skill: str
    agent_id: str
    disposition: str
    notes: str
    final_state: ContactState
    def __init__(self, contact_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., time: _Optional[float] = ..., channel: _Optional[_Union[Channel, str]] = ..., skill: _Optional[str] = ..., agent_id: _Optional[str] = ..., disposition: _Optional[str] = ..., notes: _Optional[str] = ..., final_state: _Optional[_Union[ContactState, str]] = ...) -> None: ...

class MarketingOffer(_message.Message):
    __slots__ = ("offer_id", "product", "pitch", "selling_points", "script_ref", "valid_from", "valid_to", "value_cents", "commission_cents", "priority")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    SELLING_POINTS_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_REF_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_TO_FIELD_NUMBER: _ClassVar[int]
    VALUE_CENTS_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_CENTS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    product: str
    pitch: str
    selling_points: _containers.RepeatedScalarFieldContainer[str]
    script_ref: str
    valid_from: float
    valid_to: float
    value_cents: int
    commission_cents: int
    priority: int
    def __init__(self, offer_id: _Optional[str] = ..., product: _Optional[str] = ..., pitch: _Optional[str] = ..., selling_points: _Optional[_Iterable[str]] = ..., script_ref: _Optional[str] = ..., valid_from: _Optional[float] = ..., valid_to: _Optional[float] = ..., value_cents: _Optional[int] = ..., commission_cents: _Optional[int] = ..., priority: _Optional[int] = ...) -> None: ...

class OfferResult(_message.Message):
    __slots__ = ("offer_id", "result", "order_reference")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    result: str
    order_reference: str
    def __init__(self, offer_id: _Optional[str] = ..., result: _Optional[str] = ..., order_reference: _Optional[str] = ...) -> None: ...

class IvrTreatment(_message.Message):
    __slots__ = ("contact_id", "site", "kind", "prompt", "seconds", "max_digits", "treatment", "to", "target", "reason")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_DIGITS_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    site: str
    kind: str
    prompt: str
    seconds: float
    max_digits: int
    treatment: str
    to: str
    target: str
    reason: str
    def __init__(self, contact_id: _Optional[str] = ..., site: _Optional[str] = ..., kind: _Optional[str] = ..., prompt: _Optional[str] = ..., seconds: _Optional[float] = ..., max_digits: _Optional[int] = ..., treatment: _Optional[str] = ..., to: _Optional[str] = ..., target: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class QueueTreatment(_message.Message):
    __slots__ = ("contact_id", "site", "position", "ewt_known", "ewt_s")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EWT_KNOWN_FIELD_NUMBER: _ClassVar[int]
    EWT_S_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    site: str
    position: int
    ewt_known: bool
    ewt_s: float
    def __init__(self, contact_id: _Optional[str] = ..., site: _Optional[str] = ..., position: _Optional[int] = ..., ewt_known: _Optional[bool] = ..., ewt_s: _Optional[float] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("contact_id", "reason")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    reason: str
    def __init__(self, contact_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Interflow(_message.Message):
    __slots__ = ("contact_id", "from_site", "to_site")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SITE_FIELD_NUMBER: _ClassVar[int]
    TO_SITE_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    from_site: str
    to_site: str
    def __init__(self, contact_id: _Optional[str] = ..., from_site: _Optional[str] = ..., to_site: _Optional[str] = ...) -> None: ...

class ContactFinished(_message.Message):
    __slots__ = ("contact_id", "final_state", "site")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    FINAL_STATE_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    final_state: ContactState
    site: str
    def __init__(self, contact_id: _Optional[str] = ..., final_state: _Optional[_Union[ContactState, str]] = ..., site: _Optional[str] = ...) -> None: ...

class AgentStateChange(_message.Message):
    __slots__ = ("agent_id", "site", "state", "reason")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    site: str
    state: AgentState
    reason: str
    def __init__(self, agent_id: _Optional[str] = ..., site: _Optional[str] = ..., state: _Optional[_Union[AgentState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class OfferRevoked(_message.Message):
    __slots__ = ("contact_id", "agent_id", "site", "reason")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    agent_id: str
    site: str
    reason: str
    def __init__(self, contact_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., site: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
