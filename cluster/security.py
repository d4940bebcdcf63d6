"""Security of the gRPC gateway (issue 4 item 3): TLS / mutual TLS credentials and bearer-token
auth by role, checked by a grpc.aio server interceptor.

Roles and what they may call (roles are not hierarchical: a token lists every role it needs,
so the config tool's admin token cannot fake PBX calls unless it is also given `pbx`):
    pbx    /vcc.v1.CallControl/*
    agent  /vcc.v1.AgentControl/*
    crm    /vcc.v1.Routing/*, /vcc.v1.Crm/* and /vcc.v1.Marketing/* (a desktop that records
           offer outcomes or shows the ranking holds `agent,crm`)
    admin  /vcc.v1.Admin/* and server reflection
    wallboard  no gRPC service: it only reads the wallboard's figures over HTTP (`vcc serve
           --http-port`, cluster/wallboard/), so a token on a kiosk screen can change nothing
Health.Check is open: load balancers probe it without a token. Health.Watch (a stream that
holds a place, cluster/admission.py) needs a token of any role.
Any other service is denied to every token (fail closed when a service is added unmapped).

Token file (`--token-file`), one token per line:
    # comment; blank lines are ignored; `#` after the roles starts a comment too
    <token> <role>[,<role>...]
Tokens are 16..4096 printable ASCII characters without spaces (they travel in the
`authorization: Bearer <token>` header); make one with
`python -c "import secrets; print(secrets.token_urlsafe(32))"`. A token may appear once. The
file should be readable by its owner only (a warning says so otherwise). Tokens are never
logged, not even in error messages: errors name the file and line instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
from collections.abc import Iterable, Mapping
from pathlib import Path

import grpc

_log = logging.getLogger(__name__)

# The `vcc serve` flags these files come from; errors name them so the operator knows which to fix.
TLS_CERT_FLAG = "--tls-cert"
TLS_KEY_FLAG = "--tls-key"
TLS_CLIENT_CA_FLAG = "--tls-client-ca"
TOKEN_FILE_FLAG = "--token-file"

ROLES = frozenset({"pbx", "agent", "crm", "admin", "wallboard"})
SERVICE_ROLES: Mapping[str, str] = {
    "vcc.v1.CallControl": "pbx",
    "vcc.v1.AgentControl": "agent",
    "vcc.v1.Routing": "crm",
    "vcc.v1.Crm": "crm",
    "vcc.v1.Marketing": "crm",
    "vcc.v1.Admin": "admin",
    "grpc.reflection.v1.ServerReflection": "admin",
    "grpc.reflection.v1alpha.ServerReflection": "admin",
}
OPEN_SERVICES = frozenset({"grpc.health.v1.Health"})
MIN_TOKEN_LENGTH = 16
MAX_TOKEN_LENGTH = 4096


class SecurityConfigError(ValueError):
    """A TLS file or the token file is missing, unreadable or malformed; the message names the
    flag or the file and line."""


# --- TLS ---------------------------------------------------------------------------------------

def _read_pem(path, flag: str, marker: bytes, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise SecurityConfigError(f"{flag} {path}: cannot read ({error.strerror})") from None
    if marker not in data:
        raise SecurityConfigError(f"{flag} {path}: not a PEM {what}")
    return data


def _refuse_passphrase():
    raise SecurityConfigError(f"{TLS_KEY_FLAG}: the private key is encrypted; "
                              "give an unencrypted key (gRPC cannot ask for a passphrase)")


def server_credentials(cert_file, key_file, client_ca_file=None) -> grpc.ServerCredentials:
    """TLS server credentials from PEM files; with `client_ca_file`, mutual TLS: clients must
    present a certificate signed by that CA. Files are checked here (readable, PEM, key matches
    certificate) so a mistake stops `vcc serve` with the flag named, not a failed handshake later."""
    if cert_file is None or key_file is None:
        raise SecurityConfigError(f"{TLS_CERT_FLAG} and {TLS_KEY_FLAG} go together: give both")
    certificate = _read_pem(cert_file, TLS_CERT_FLAG, b"-----BEGIN CERTIFICATE-----", "certificate")
    key = _read_pem(key_file, TLS_KEY_FLAG, b"PRIVATE KEY-----", "private key")
    client_ca = None
    if client_ca_file is not None:
        client_ca = _read_pem(client_ca_file, TLS_CLIENT_CA_FLAG, b"-----BEGIN CERTIFICATE-----",
                              "CA certificate")
    # gRPC only reports a bad pair at the first handshake; Python's ssl checks it now.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_file, key_file, password=_refuse_passphrase)
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            raise SecurityConfigError(
                f"{TLS_KEY_FLAG} {key_file} is not the key of {TLS_CERT_FLAG} {cert_file}") from None
        raise SecurityConfigError(f"{TLS_CERT_FLAG} {cert_file} / {TLS_KEY_FLAG} {key_file}: "
                                  f"cannot load ({error.reason or error})") from None
    if client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca_file))
        except ssl.SSLError as error:
            raise SecurityConfigError(f"{TLS_CLIENT_CA_FLAG} {client_ca_file}: cannot load "
                                      f"({error.reason or error})") from None
    return grpc.ssl_server_credentials([(key, certificate)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


# --- tokens ------------------------------------------------------------------------------------

def _valid_token(token: str) -> bool:
    return (MIN_TOKEN_LENGTH <= len(token) <= MAX_TOKEN_LENGTH and token.isascii()
            and token.isprintable())


def load_tokens(path) -> dict[str, frozenset[str]]:
    """Token -> roles from a token file (format in the module docstring)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        mode = os.stat(path).st_mode
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise SecurityConfigError(f"{TOKEN_FILE_FLAG} {path}: cannot read ({reason})") from None
    tokens: dict[str, frozenset[str]] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        for index, field in enumerate(fields):
            if field.startswith("#"):
                fields = fields[:index]
                break
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) != 2:
            raise SecurityConfigError(f"{where}: expected '<token> <role>[,<role>...]', "
                                      f"found {len(fields)} fields")
        token, role_list = fields
        if not _valid_token(token):
            raise SecurityConfigError(
                f"{where}: a token must be {MIN_TOKEN_LENGTH}..{MAX_TOKEN_LENGTH} printable ASCII "
                "characters (e.g. python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
        roles = frozenset(role_list.split(","))
        unknown = sorted(roles - ROLES)
        if unknown:
            raise SecurityConfigError(f"{where}: unknown role {unknown[0]!r} "
                                      f"(roles: {', '.join(sorted(ROLES))})")
        if token in tokens:
            raise SecurityConfigError(f"{where}: the token of line {first_line[token]} again")
        tokens[token], first_line[token] = roles, number
    if not tokens:
        raise SecurityConfigError(f"{TOKEN_FILE_FLAG} {path}: no tokens (every call would be refused)")
    if os.name == "posix" and mode & 0o077:
        _log.warning("token file %s is readable by group or others; chmod 600 it", path)
    return tokens


# --- the interceptor ---------------------------------------------------------------------------

def _service(method: str) -> str:
    """'/vcc.v1.Routing/RouteContact' -> 'vcc.v1.Routing'."""
    return method[1:].rpartition("/")[0]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _deny_handler(handler: grpc.RpcMethodHandler | None, code: grpc.StatusCode, details: str,
                  method: str, refusals: dict | None = None) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that aborts with `code`. It has no deserializer:
    a refused caller's request bytes are never parsed."""

    async def deny(unused_request, context: grpc.aio.ServicerContext):
        # Counted, and logged on the first and every 1000th of a kind: a stranger's flood
        # of refused calls must not flood the log (or block a server whose log is a pipe).
        key = (code, method)
        count = 1
        if refusals is not None:            # (status code, method) -> calls refused
            count = refusals[key] = refusals.get(key, 0) + 1
        if count % 1000 == 1:
            log = _log.warning if code == grpc.StatusCode.PERMISSION_DENIED else _log.info
            log("%s %s from %s: %s (%d so far)", code.name, method, context.peer(), details,
                count)
        await context.abort(code, details)

    if handler is None or (handler.request_streaming and handler.response_streaming):
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


class TokenRoles:
    """The roles of a presented token, compared in constant time; only digests are kept
    (equal-length values for compare_digest, no token in a dump)."""

    def __init__(self, tokens: Mapping[str, Iterable[str]]):
        self._tokens = tuple((_digest(token), frozenset({roles} if isinstance(roles, str) else roles))
                             for token, roles in tokens.items())

    def roles(self, token: str) -> frozenset[str] | None:
        """The token's roles, or None for an unknown token."""
        presented = _digest(token)
        found = None
        for digest, roles in self._tokens:  # no early exit: the time does not tell which matched
            if hmac.compare_digest(presented, digest):
                found = roles
        return found


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer-token auth: no or unknown token -> UNAUTHENTICATED; a known token without the
    role the service needs -> PERMISSION_DENIED. Works for all four RPC kinds.

    Put it last in the server's interceptors (after TracingInterceptor, so refused calls are
    traced too): it calls the continuation to learn the handler's kind and drops that handler
    when it refuses, which must not leave a later interceptor's bookkeeping half done."""

    def __init__(self, tokens: Mapping[str, Iterable[str]], *,
                 service_roles: Mapping[str, str] = SERVICE_ROLES,
                 open_services: Iterable[str] = OPEN_SERVICES):
        self._tokens = TokenRoles(tokens)
        self._service_roles = dict(service_roles)
        self._open_services = frozenset(open_services)
        self._refusals: dict = {}

    def _roles(self, metadata) -> frozenset[str] | None:
        values = [value for key, value in metadata or () if key == "authorization"]
        if len(values) != 1 or not isinstance(values[0], str):
            return None
        scheme, _, token = values[0].strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return self._tokens.roles(token)

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        service = _service(method)
        if service in self._open_services:
            handler = await continuation(handler_call_details)
            if handler is None or not handler.response_streaming or self._roles(
                    handler_call_details.invocation_metadata) is not None:
                return handler
            # A stream holds a place for as long as the caller likes: a stranger's would
            # lock callers out (issue 15). Load balancers probe with the unary Check.
            return _deny_handler(handler, grpc.StatusCode.UNAUTHENTICATED,
                                 "Health.Watch holds a stream: it needs a bearer token "
                                 "(Health.Check stays open)", method, self._refusals)
        handler = await continuation(handler_call_details)
        roles = self._roles(handler_call_details.invocation_metadata)
        if roles is None:
            return _deny_handler(handler, grpc.StatusCode.UNAUTHENTICATED,
                                 "missing or unknown bearer token "
                                 "(send metadata 'authorization: Bearer <token>')", method,
                                 self._refusals)
        if handler is None:
            return None  # UNIMPLEMENTED, told only to an authenticated caller
        required = self._service_roles.get(service)
        if required not in roles:
            needs = f"the {required} role" if required else "a role no token has"
            return _deny_handler(handler, grpc.StatusCode.PERMISSION_DENIED,
                                 f"{method} needs {needs}; this token has "
                                 f"{', '.join(sorted(roles)) or 'none'}", method,
                                 self._refusals)
        return handler
