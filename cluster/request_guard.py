"""Requests that cannot be decoded (garbage bytes, invalid UTF-8 in a string field) end with
INVALID_ARGUMENT and one log line, instead of UNKNOWN and a traceback per call (issue 15).

gRPC decodes a request before any servicer code runs, and a DecodeError there is reported
as UNKNOWN with the exception's traceback in the log. `guard_deserializer` makes the
decoder return an `Undecodable` marker instead; the handler wrapper (cluster/admission.py)
refuses a unary request that is one, and `checked_requests` raises `UndecodableRequest`
(an InvalidInput naming the field `request`) when a streamed one arrives, which the
wrapper and the PBX stream turn into INVALID_ARGUMENT.
"""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError

from sites.errors import InvalidInput

log = logging.getLogger(__name__)
_logged = {"count": 0}


class Undecodable:
    """What a guarded decoder returns for bytes that are not the request message."""
    __slots__ = ("problem",)

    def __init__(self, problem: str):
        self.problem = problem


class UndecodableRequest(InvalidInput):
    def __init__(self, problem: str):
        super().__init__("request", f"cannot be decoded: {problem}")


def guard_deserializer(deserializer):
    if deserializer is None:
        return None

    def decode(data):
        try:
            return deserializer(data)
        except DecodeError as error:
            return Undecodable(str(error))
    return decode


def refusal(request, method: str, peer: str) -> UndecodableRequest | None:
    """The refusal of an undecodable request (logged: one line, the first and every
    1000th), or None for a good one."""
    if not isinstance(request, Undecodable):
        return None
    _logged["count"] += 1
    if _logged["count"] % 1000 == 1:
        log.info("INVALID_ARGUMENT %s from %s: request cannot be decoded: %s (%d so far)",
                 method, peer, request.problem, _logged["count"])
    return UndecodableRequest(request.problem)


async def checked_requests(requests, method: str, context):
    """A request stream that raises UndecodableRequest at the first undecodable message."""
    async for request in requests:
        refused = refusal(request, method, context.peer())
        if refused is not None:
            raise refused
        yield request
