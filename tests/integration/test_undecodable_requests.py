"""Garbage bytes and invalid UTF-8 in any kind of call: INVALID_ARGUMENT naming `request`,
one log line, no traceback, and nothing changes (issue 15 item 9: UNKNOWN and a 7-line
traceback each)."""

from __future__ import annotations

import logging

import grpc
import pytest

pytestmark = pytest.mark.integration

CORRUPT = b"\xff\xff\xff"
BAD_UTF8 = b"\x0a\x02\xff\xfe"          # field 1 (a string) holding invalid UTF-8
CALLS = [
    ("unary_unary", "/vcc.v1.Admin/ListSites", CORRUPT),
    ("unary_unary", "/vcc.v1.Routing/RouteContact", BAD_UTF8),
    ("unary_stream", "/vcc.v1.Routing/StreamEvents", BAD_UTF8),
    ("unary_stream", "/vcc.v1.AgentControl/StreamEvents", BAD_UTF8),
    ("stream_stream", "/vcc.v1.CallControl/Connect", CORRUPT),
    ("stream_stream", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", CORRUPT),
]


async def call_raw(channel, kind, method, payload):
    try:
        if kind == "unary_unary":
            await channel.unary_unary(method)(payload, timeout=5)
        elif kind == "unary_stream":
            async for _ in channel.unary_stream(method)(payload, timeout=5):
                pass
        else:
            async def requests():
                yield payload
            async for _ in channel.stream_stream(method)(requests(), timeout=5):
                pass
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


def test_undecodable_requests_are_invalid_argument_with_one_log_line(cluster, caplog):
    before = cluster.fingerprint()

    async def scenario():
        return [await call_raw(cluster.channel, *call) for call in CALLS]
    with caplog.at_level(logging.INFO):
        outcomes = cluster.run(scenario())
    for (kind, method, _), (code, details) in zip(CALLS, outcomes):
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, details)
        assert details.startswith("request: cannot be decoded"), (method, details)
    assert not [record for record in caplog.records if record.exc_info], \
        "a traceback was logged"
    assert "Traceback" not in caplog.text
    assert cluster.fingerprint() == before
