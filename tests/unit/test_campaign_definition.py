"""A campaign as Admin puts it (cluster/campaigns/definition.py): its `call_window` names a
calendar of the routing plans, kept by name in the store's document and given back; an
unknown one is refused naming the field; a document put before call windows has none."""

from __future__ import annotations

import json

import pytest

from cluster.campaigns.definition import call_window_of, config_of, document_of, message_of
from sites.calendars import Calendar
from sites.errors import InvalidInput
from vcc.v1 import admin_pb2

CALENDARS = {"callable": Calendar.from_spec("callable", {
    "timezone": "Europe/Berlin", "weekly": {"mon-fri": "09:00-20:00"}})}


def _request(**fields):
    return admin_pb2.Campaign(name="renewals", site="east", skill="outbound_sales",
                              mode="progressive", **fields)


def test_the_call_window_goes_through_the_store_and_back():
    document = json.loads(json.dumps(document_of(_request(call_window="callable"))))
    assert document["call_window"] == "callable"
    config = config_of(document, call_window_of(document, CALENDARS))
    assert config.call_window is CALENDARS["callable"]
    shown = message_of(document, "draft", 3, admin_pb2.Campaign())
    assert shown.call_window == "callable" and shown.records == 3
    assert shown.state == admin_pb2.CAMPAIGN_STATE_DRAFT


def test_no_call_window_is_no_window():
    document = document_of(_request())
    assert document["call_window"] == "" and call_window_of(document, CALENDARS) is None
    assert config_of(document).call_window is None
    # A document stored before campaigns had call windows.
    del document["call_window"]
    assert call_window_of(document, CALENDARS) is None
    assert message_of(document, "running", 0, admin_pb2.Campaign()).call_window == ""


@pytest.mark.parametrize("calendars", [CALENDARS, {}])
def test_an_unknown_calendar_is_refused_naming_the_field(calendars):
    document = document_of(_request(call_window="office"))
    with pytest.raises(InvalidInput) as refused:
        call_window_of(document, calendars)
    assert refused.value.field == "call_window"
    assert "unknown calendar 'office'" in refused.value.problem
    assert ("callable" if calendars else "none in the routing plans") in refused.value.problem


def test_protect_inbound_sl_pct_makes_a_blended_campaign_and_comes_back():
    document = json.loads(json.dumps(document_of(_request(protect_inbound_sl_pct=85.0))))
    assert document["protect_inbound_sl_pct"] == 85.0
    config = config_of(document)
    assert config.blended and config.protect_inbound_sl_pct == 85.0
    shown = message_of(document, "draft", 0, admin_pb2.Campaign())
    assert shown.HasField("protect_inbound_sl_pct") and shown.protect_inbound_sl_pct == 85.0
    # Unset (and in documents stored before blending): not blended, and shown unset.
    plain = document_of(_request())
    assert plain["protect_inbound_sl_pct"] is None and not config_of(plain).blended
    del plain["protect_inbound_sl_pct"]
    assert not config_of(plain).blended
    assert not message_of(plain, "draft", 0, admin_pb2.Campaign()).HasField(
        "protect_inbound_sl_pct")


@pytest.mark.parametrize("fields, problem", [
    ({"protect_inbound_sl_pct": 101.0}, "at most 100"),
    ({"protect_inbound_sl_pct": 90.0, "mode": "predictive"}, "mode preview or progressive"),
])
def test_a_bad_blend_is_refused_naming_the_field(fields, problem):
    request = _request(**{key: value for key, value in fields.items() if key != "mode"})
    request.mode = fields.get("mode", request.mode)
    with pytest.raises(InvalidInput) as raised:
        config_of(document_of(request))
    assert raised.value.field == "protect_inbound_sl_pct" and problem in raised.value.problem
