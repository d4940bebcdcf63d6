"""A Leadership run on an event loop of its own thread, so the server's loop cannot starve it.

The gateway's event loop also runs the router: a RayHost round blocks it while it waits on
the site actors, and after a takeover the backlog of PBX events keeps it busy round after
round. Measured in `python -m loadtests.failover_drill --runtime ray` (2-core machine,
200 contacts/s): a new leader catching up lost its term three times in a row with "could
not renew the lease before the deadline" (no renewal was sent for 3 s), each loss a
needless takeover. Renewals on their own thread are sent on time whatever the router does
(a blocking Ray call releases the GIL; pure-Python work yields it every few milliseconds).

`ThreadedLeadership(factory)` builds the backend with `factory()` on that thread's loop and
forwards the Leadership interface: reads (`is_leader`, `token`, `leader`) go straight to
the backend (plain attributes checked against the monotonic clock), coroutines run on the
backend's loop and are awaited from the caller's, and listeners are called on the loop that
subscribed them, as the interface promises.

Nothing here makes the caller's loop wait for the backend's thread (issue 15): a busy or
stuck leadership thread must never stall a gateway's loop. `on_change` subscribes locally
(one forwarder was subscribed to the backend when it was built) and each change is handed
to the subscriber's loop with `call_soon_threadsafe`, which never blocks and keeps the
order the backend emitted them in (one thread posts, the loop runs its callbacks FIFO).
Listeners only wake the gate; what decides whether this node may write is the token, read
straight from the backend (`token` is None as soon as the term ends, whatever is queued).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Callable

from cluster.leadership.base import Leadership, LeaderInfo, LeadershipChange

log = logging.getLogger(__name__)

START_TIMEOUT_S = 10.0


class _Subscriber:
    """A listener and the loop it is called on."""

    __slots__ = ("loop", "listener", "active")

    def __init__(self, loop: asyncio.AbstractEventLoop, listener):
        self.loop, self.listener, self.active = loop, listener, True

    def post(self, change: LeadershipChange) -> None:
        """On the backend's thread: queue the call on the subscriber's loop (never waits)."""
        if not self.active:
            return
        try:
            self.loop.call_soon_threadsafe(self._deliver, change)
        except RuntimeError:        # that loop is closed: nobody is listening any more
            self.active = False

    def _deliver(self, change: LeadershipChange) -> None:
        if not self.active:         # unsubscribed after the change was queued
            return
        try:
            self.listener(change)
        except Exception:   # noqa: BLE001 - one bad listener must not stop the others
            log.exception("leadership listener failed on %s", change.kind.value)


class ThreadedLeadership:
    """Forwards to a Leadership living on its own thread (see the module doc)."""

    def __init__(self, factory: Callable[[], Leadership]):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="vcc-leadership")
        self._thread.start()
        self._subscribers: tuple[_Subscriber, ...] = ()
        self._subscribers_lock = threading.Lock()
        self.inner: Leadership = self._call_soon(lambda: self._build(factory)).result(
            START_TIMEOUT_S)
        self.node_id = self.inner.node_id
        self.address = self.inner.address

    def _build(self, factory) -> Leadership:
        """On the backend's thread: the backend, with the one forwarder every subscriber of
        this wrapper is reached through (so subscribing later needs no call to it)."""
        inner = factory()
        inner.on_change(self._forward)
        return inner

    def _forward(self, change: LeadershipChange) -> None:
        for subscriber in self._subscribers:        # a tuple, replaced whole: no lock needed
            subscriber.post(change)

    def _call_soon(self, function):
        """Run `function()` on the backend's loop; a concurrent future of its result."""
        future = concurrent.futures.Future()

        def run():
            try:
                future.set_result(function())
            except BaseException as error:       # noqa: BLE001 - handed to the caller
                future.set_exception(error)
        self._loop.call_soon_threadsafe(run)
        return future

    async def _run(self, coroutine):
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    # ---- reads ------------------------------------------------------------------------------
    def is_leader(self) -> bool:
        return self.inner.is_leader()

    @property
    def token(self) -> int | None:
        return self.inner.token

    @property
    def term(self) -> int | None:
        return self.inner.term

    @property
    def deadline(self) -> float:
        return self.inner.deadline

    def leader(self) -> LeaderInfo | None:
        return self.inner.leader()

    # ---- listeners: called on the subscriber's loop ----------------------------------------------
    def on_change(self, listener) -> Callable[[], None]:
        """Call `listener(change)` on the calling loop for every change from now on, in
        order. Returns at once (it used to wait, up to 10 s, for the backend's thread)."""
        subscriber = _Subscriber(asyncio.get_running_loop(), listener)
        with self._subscribers_lock:
            self._subscribers = self._subscribers + (subscriber,)

        def unsubscribe() -> None:
            subscriber.active = False
            with self._subscribers_lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
        return unsubscribe

    # ---- coroutines: run on the backend's loop ----------------------------------------------------
    async def campaign(self, timeout: float | None = None) -> bool:
        return await self._run(self.inner.campaign(timeout))

    async def observe(self) -> None:
        await self._run(self.inner.observe())

    async def resign(self) -> None:
        await self._run(self.inner.resign())

    async def wait_for(self, predicate, timeout: float) -> bool:
        return await self._run(self.inner.wait_for(predicate, timeout))

    async def close(self) -> None:
        """Close the backend, then stop its loop and thread (bounded)."""
        try:
            await self._run(self.inner.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, START_TIMEOUT_S)
            if not self._thread.is_alive():
                self._loop.close()
