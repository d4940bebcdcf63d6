"""The wallboard's HTTP server (aiohttp, on the gateway's event loop): `vcc serve --http-port N`.

    GET /                the page (plain HTML, CSS and one JS file: no build step)
    GET /kiosk           the same page laid out for a 1920x1080 screen (also /?kiosk=1)
    GET /static/NAME     its CSS and JS (package data: cluster/wallboard/static/)
    GET /board.json      the board now (cluster/wallboard/board.py), JSON
    GET /events          the boards as server-sent events, one every 0.5 s
                         (cluster/wallboard/feed.py), each `data:` line one board

Who may read the figures: without `--token-file`, whoever reaches the address (loopback by
default). With it, /board.json and /events need a token of the `wallboard` role (read-only:
it opens no gRPC service, cluster/security.py), given as `?token=...` (a kiosk browser's
URL: the page passes it on to /events) or as `Authorization: Bearer ...`; no or an unknown
token: 401, a token without the role: 403. The page and its static files carry no figures
and are open. Requests are not logged (a token may be in the URL), and the page tells the
browser to send no Referer. With `--tls-cert`/`--tls-key` the server speaks HTTPS with the
gRPC server's certificate, and with `--tls-client-ca` it asks browsers for a client
certificate signed by that CA, as gRPC does. `vcc serve` refuses a `--http-host` off
loopback without TLS and a way to tell readers apart, unless `--insecure` (cluster/cli.py).
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import ssl

from aiohttp import web

from cluster.wallboard.feed import Feed, TooManyClients

log = logging.getLogger(__name__)

STATIC = pathlib.Path(__file__).with_name("static")
ROLE = "wallboard"
WRITE_TIMEOUT_S = 10.0          # a page whose write stays blocked this long is dropped
RETRY_MS = 2000                 # EventSource reconnects after this long
SHUTDOWN_S = 2.0                # handlers still running when the server stops get this long
_PAGE_HEADERS = {
    # Only this server's own script and style; no Referer (a token may be in the URL).
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class WallboardListenError(OSError):
    """--http-host/--http-port cannot be listened on (the message names the flag)."""


def tls_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """An HTTPS server context from the gRPC server's certificate and key (files checked by
    cluster/security.py before this); with `client_ca`, a client certificate is required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Wallboard:
    """The wallboard's server: the feed of boards and the HTTP endpoint."""

    def __init__(self, listen_host: str = "127.0.0.1", port: int = 0, *, tokens=None,
                 ssl_context: ssl.SSLContext | None = None, feed: Feed | None = None):
        self.listen_host = listen_host
        self.port = port                # the bound one once started
        self.tokens = tokens            # cluster.security.TokenRoles, or None: open
        self.ssl_context = ssl_context
        self.feed = feed or Feed()
        self._runner: web.AppRunner | None = None

    def read_from(self, host, *, targets: dict, gate=None, ranking=None,
                  campaigns=None) -> None:
        self.feed.read_from(host, targets=targets, gate=gate, ranking=ranking,
                            campaigns=campaigns)

    @property
    def url(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}/"

    # ---- lifetime --------------------------------------------------------------------------
    def application(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.get("/", self._page), web.get("/kiosk", self._page),
                        web.get("/board.json", self._board), web.get("/events", self._events),
                        web.static("/static", STATIC, append_version=False)])
        app.on_response_prepare.append(_security_headers)
        return app

    async def start(self) -> None:
        """Listen. Raises WallboardListenError naming the flag if the address cannot be
        listened on."""
        # access_log=None: a request line may hold a token.
        runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        site = web.TCPSite(runner, self.listen_host, self.port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise WallboardListenError(
                f"--http-port {self.port}: cannot listen on {self.listen_host}:{self.port} "
                f"({error.strerror or error})") from None
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def close(self) -> None:
        await self.feed.close()         # ends every /events stream
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- handlers --------------------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    def _refused(self, request: web.Request) -> web.Response | None:
        """None when the request may read the figures, else the answer that refuses it."""
        if self.tokens is None:
            return None
        token = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if not token and header:
            scheme, _, token = header.strip().partition(" ")
            token = token.strip() if scheme.lower() == "bearer" else ""
        roles = self.tokens.roles(token) if token else None
        if roles is None:
            return web.Response(status=401, text="a wallboard token is needed: ?token=... or "
                                                 "Authorization: Bearer ...\n",
                                headers={"WWW-Authenticate": 'Bearer realm="vcc wallboard"'})
        if ROLE not in roles:
            return web.Response(status=403, text=f"this token lacks the {ROLE} role\n")
        return None

    async def _board(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            body = await self.feed.current()
        except asyncio.TimeoutError:
            return web.Response(status=503, text="the router's figures did not come in time\n")
        return web.Response(body=body, content_type="application/json",
                            headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        feed = self.feed
        if feed.closing:
            return web.Response(status=503, text="the server is stopping\n")
        try:
            feed.join()
        except TooManyClients:
            return web.Response(status=503, headers={"Retry-After": "10"},
                                text=f"{feed.max_clients} wallboard pages are open already; "
                                     f"the limit keeps the router's loop free\n")
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-store",
            "X-Accel-Buffering": "no"})           # a proxy in between must not hold events
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            seen = 0
            while True:
                newest = await feed.newer(seen)
                if newest is None:
                    break
                seen, board = newest
                await asyncio.wait_for(
                    response.write(b"id: %d\ndata: %s\n\n" % (seen, board)), WRITE_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.info("wallboard: dropped a page that read nothing for %g s (%s)",
                     WRITE_TIMEOUT_S, request.remote)
        except ConnectionError:
            pass                        # the page went
        finally:
            feed.leave()
        return response


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
