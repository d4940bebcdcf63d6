"""How servicers turn errors into gRPC status codes.

A request is validated before anything changes; whatever refuses it (the servicer's own
checks, the core's `InvalidInput`, the host's `NotFound` / `PreconditionFailed`) ends the
RPC with a status whose details start with the request field at fault, e.g.
`contact.skill: unknown skill 'x'`. Anything else is a bug and is left to surface as
UNKNOWN, so that tests notice it.
"""

from __future__ import annotations

import asyncio
import functools

import grpc
import sqlalchemy as sa

from actors.site_actor import ActorUnavailable
from cluster.host import HostClosed, Overloaded
from sites.errors import InvalidInput, NotFound, PreconditionFailed

INVALID = grpc.StatusCode.INVALID_ARGUMENT
# Trailing metadata of an UNAVAILABLE from a standby: the leader's host:port.
LEADER_METADATA = "vcc-leader"


class RequestError(Exception):
    """A request refused by a servicer: a status code and the field at fault."""

    def __init__(self, code: grpc.StatusCode, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.code = code
        self.field = field
        self.problem = problem


def invalid(field: str, problem: str) -> RequestError:
    return RequestError(INVALID, field, problem)


# The Crm and Marketing services without a customer store (`vcc serve` without `--db`).
NO_STORE = RequestError(grpc.StatusCode.FAILED_PRECONDITION, "no customer store",
                        "start vcc serve with --db")


async def in_store(executor, function, *args, **kwargs):
    """`function(*args, **kwargs)` (a blocking call on the customer store) on a thread of
    `executor` (None: asyncio's default), never on the event loop. A database error is
    UNAVAILABLE naming the customer store: it refused or is gone, nothing was written, the
    caller may try again."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(executor, functools.partial(function, *args,
                                                                      **kwargs))
    except sa.exc.DBAPIError as error:
        first = (str(error.orig or error).strip().splitlines() or [""])[0][:200]
        raise RequestError(grpc.StatusCode.UNAVAILABLE, "customer store",
                           f"{type(error).__name__}: {first}") from None


def request_field(field: str, fields) -> str:
    """The request's name for a core field: `fields` is a prefix ("contact.") or a mapping."""
    if isinstance(fields, str):
        return fields + field
    if fields:
        return fields.get(field, field)
    return field


# The one mapping of the core's and the gateway's refusals (all InvalidInput) to statuses.
_REFUSAL_CODES = {NotFound: grpc.StatusCode.NOT_FOUND,
                  PreconditionFailed: grpc.StatusCode.FAILED_PRECONDITION,
                  Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED}


def status_of(error: Exception, fields=None) -> tuple[grpc.StatusCode, str]:
    if isinstance(error, RequestError):
        return error.code, str(error)
    if isinstance(error, InvalidInput):
        return _REFUSAL_CODES.get(type(error), INVALID), \
            f"{request_field(error.field, fields)}: {error.problem}"
    if isinstance(error, ActorUnavailable):
        # A site actor is restarting or gone (the Ray runtime): the caller may retry.
        return grpc.StatusCode.UNAVAILABLE, str(error)
    if isinstance(error, HostClosed):
        # A RayHost's SiteUnavailable carries the site actor's problem; a bare HostClosed
        # means the router is stopping.
        return grpc.StatusCode.UNAVAILABLE, str(error) or "the router is shutting down"
    raise error


_EXPECTED = (RequestError, InvalidInput, HostClosed,
             ActorUnavailable)


def unary(fields=None):
    """Decorate a unary servicer method: expected errors become statuses naming the field."""
    def decorate(method):
        @functools.wraps(method)
        async def wrapper(self, request, context):
            try:
                return await method(self, request, context)
            except _EXPECTED as error:
                code, details = status_of(error, fields)
                leader = getattr(error, "leader_address", "")
                if leader:      # NotLeader: leader-aware clients go there (cluster/client.py)
                    context.set_trailing_metadata(((LEADER_METADATA, leader),))
            await context.abort(code, details)
        return wrapper
    return decorate


def raise_first_error(results, fields=None) -> None:
    """Raise the error of the first refused event in a host `submit` result."""
    for result in results:
        error = result.error
        if error is not None:
            raise RequestError(_REFUSAL_CODES.get(type(error), INVALID),
                               request_field(error.field, fields), error.problem)
