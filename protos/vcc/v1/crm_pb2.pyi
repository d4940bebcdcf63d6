from vcc.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CustomerKey(_message.Message):
    __slots__ = ("customer_id", "phone", "account_number")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    phone: str
    account_number: str
    def __init__(self, customer_id: _Optional[str] = ..., phone: _Optional[str] = ..., account_number: _Optional[str] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "name", "phones", "email", "address", "tier", "attributes", "account_numbers")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONES_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    name: str
    phones: _containers.RepeatedScalarFieldContainer[str]
    email: str
    address: str
    tier: str
    attributes: _containers.ScalarMap[str, str]
    account_numbers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, customer_id: _Optional[str] = ..., name: _Optional[str] = ..., phones: _Optional[_Iterable[str]] = ..., email: _Optional[str] = ..., address: _Optional[str] = ..., tier: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., account_numbers: _Optional[_Iterable[str]] = ...) -> None: ...

class CustomerQuery(_message.Message):
    __slots__ = ("name_prefix", "tier", "phone", "after_customer_id", "limit")
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    AFTER_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    name_prefix: str
    tier: str
    phone: str
    after_customer_id: str
    limit: int
    def __init__(self, name_prefix: _Optional[str] = ..., tier: _Optional[str] = ..., phone: _Optional[str] = ..., after_customer_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class CustomerList(_message.Message):
    __slots__ = ("customers",)
    CUSTOMERS_FIELD_NUMBER: _ClassVar[int]
    customers: _containers.RepeatedCompositeFieldContainer[Customer]
    def __init__(self, customers: _Optional[_Iterable[_Union[Customer, _Mapping]]] = ...) -> None: ...

class InteractionQuery(_message.Message):
    __slots__ = ("customer_id", "agent_id", "disposition", "start", "end", "limit")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    agent_id: str
    disposition: str
    start: float
    end: float
    limit: int
    def __init__(self, customer_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., disposition: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., limit: _Optional[int] = ...) -> None: ...

class InteractionList(_message.Message):
    __slots__ = ("interactions",)
    INTERACTIONS_FIELD_NUMBER: _ClassVar[int]
    interactions: _containers.RepeatedCompositeFieldContainer[_common_pb2.Interaction]
    def __init__(self, interactions: _Optional[_Iterable[_Union[_common_pb2.Interaction, _Mapping]]] = ...) -> None: ...

class Note(_message.Message):
    __slots__ = ("customer_id", "text", "author", "time")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    text: str
    author: str
    time: float
    def __init__(self, customer_id: _Optional[str] = ..., text: _Optional[str] = ..., author: _Optional[str] = ..., time: _Optional[float] = ...) -> None: ...

class NoteList(_message.Message):
    __slots__ = ("notes",)
    NOTES_FIELD_NUMBER: _ClassVar[int]
    notes: _containers.RepeatedCompositeFieldContainer[Note]
    def __init__(self, notes: _Optional[_Iterable[_Union[Note, _Mapping]]] = ...) -> None: ...

class Disposition(_message.Message):
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

class DispositionReply(_message.Message):
    __slots__ = ("recorded", "outcomes_recorded")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    outcomes_recorded: int
    def __init__(self, recorded: _Optional[bool] = ..., outcomes_recorded: _Optional[int] = ...) -> None: ...

class ListOffersRequest(_message.Message):
    __slots__ = ("product",)
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    product: str
    def __init__(self, product: _Optional[str] = ...) -> None: ...

class OfferList(_message.Message):
    __slots__ = ("offers",)
    OFFERS_FIELD_NUMBER: _ClassVar[int]
    offers: _containers.RepeatedCompositeFieldContainer[_common_pb2.MarketingOffer]
    def __init__(self, offers: _Optional[_Iterable[_Union[_common_pb2.MarketingOffer, _Mapping]]] = ...) -> None: ...

class OfferPriority(_message.Message):
    __slots__ = ("offer_id", "priority")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    priority: int
    def __init__(self, offer_id: _Optional[str] = ..., priority: _Optional[int] = ...) -> None: ...

class Target(_message.Message):
    __slots__ = ("customer_id", "phone", "product")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    phone: str
    product: str
    def __init__(self, customer_id: _Optional[str] = ..., phone: _Optional[str] = ..., product: _Optional[str] = ...) -> None: ...

class TargetList(_message.Message):
    __slots__ = ("list_name", "targets")
    LIST_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    list_name: str
    targets: _containers.RepeatedCompositeFieldContainer[Target]
    def __init__(self, list_name: _Optional[str] = ..., targets: _Optional[_Iterable[_Union[Target, _Mapping]]] = ...) -> None: ...

class ImportTargetsReply(_message.Message):
    __slots__ = ("added", "unchanged", "updated")
    ADDED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    added: int
    unchanged: int
    updated: int
    def __init__(self, added: _Optional[int] = ..., unchanged: _Optional[int] = ..., updated: _Optional[int] = ...) -> None: ...

class OfferOutcome(_message.Message):
    __slots__ = ("offer_id", "result", "order_reference", "contact_id", "customer_id", "agent_id", "time")
    OFFER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ORDER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    offer_id: str
    result: str
    order_reference: str
    contact_id: str
    customer_id: str
    agent_id: str
    time: float
    def __init__(self, offer_id: _Optional[str] = ..., result: _Optional[str] = ..., order_reference: _Optional[str] = ..., contact_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., time: _Optional[float] = ...) -> None: ...

class RecordOutcomeReply(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    def __init__(self, recorded: _Optional[bool] = ...) -> None: ...

class RankingRequest(_message.Message):
    __slots__ = ("interval_s", "time_zone")
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    interval_s: float
    time_zone: str
    def __init__(self, interval_s: _Optional[float] = ..., time_zone: _Optional[str] = ...) -> None: ...

class AgentRanking(_message.Message):
    __slots__ = ("agent_id", "rank", "eligible", "presented", "accepted", "presentation_rate", "success_rate", "revenue_cents", "commission_cents")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    PRESENTED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    PRESENTATION_RATE_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_RATE_FIELD_NUMBER: _ClassVar[int]
    REVENUE_CENTS_FIELD_NUMBER: _ClassVar[int]
    COMMISSION_CENTS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    rank: int
    eligible: int
    presented: int
    accepted: int
    presentation_rate: float
    success_rate: float
    revenue_cents: int
    commission_cents: int
    def __init__(self, agent_id: _Optional[str] = ..., rank: _Optional[int] = ..., eligible: _Optional[int] = ..., presented: _Optional[int] = ..., accepted: _Optional[int] = ..., presentation_rate: _Optional[float] = ..., success_rate: _Optional[float] = ..., revenue_cents: _Optional[int] = ..., commission_cents: _Optional[int] = ...) -> None: ...

class Ranking(_message.Message):
    __slots__ = ("time", "today", "to_date")
    TIME_FIELD_NUMBER: _ClassVar[int]
    TODAY_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    time: float
    today: _containers.RepeatedCompositeFieldContainer[AgentRanking]
    to_date: _containers.RepeatedCompositeFieldContainer[AgentRanking]
    def __init__(self, time: _Optional[float] = ..., today: _Optional[_Iterable[_Union[AgentRanking, _Mapping]]] = ..., to_date: _Optional[_Iterable[_Union[AgentRanking, _Mapping]]] = ...) -> None: ...
