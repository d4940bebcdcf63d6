"""Writing to a server stream without waiting forever on a client that does not read.

A write blocks when the client's flow-control window is full. Meanwhile the host keeps
queueing actions for the stream; when its bounded queue overflows, it sets the stream's
`stopped` event. `Writer.write` races each write against that event, so the stream ends
with RESOURCE_EXHAUSTED instead of memory growing.
"""

from __future__ import annotations

import asyncio


class Writer:
    """Writes of one server stream. Start the stream with `await start()`: the initial
    metadata must be out before a write can be abandoned, or the final status could not be
    sent after it (grpc refuses a second send of initial metadata)."""

    def __init__(self, context, stopped: asyncio.Event, *, grace_s: float = 0.2):
        self._context = context
        self._stop = asyncio.ensure_future(stopped.wait())
        self._grace_s = grace_s

    async def start(self) -> None:
        await self._context.send_initial_metadata(())

    async def write(self, message) -> bool:
        """Write one message; False if the stream was stopped first.

        A write still in flight when the stream stops gets `grace_s` to finish (it is
        usually just being flushed); one that is stuck behind a client not reading is
        abandoned.
        """
        if self._stop.done():
            return False
        write = asyncio.ensure_future(self._context.write(message))
        try:
            done, _ = await asyncio.wait((write, self._stop), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:       # the client went away
            write.cancel()
            raise
        if write in done:
            write.result()
            return True
        done, _ = await asyncio.wait((write,), timeout=self._grace_s)
        if not done:
            write.cancel()
        elif not write.cancelled():
            write.exception()         # retrieved: the stream ends either way
        return False

    def close(self) -> None:
        self._stop.cancel()


OVERFLOW_DETAILS = ("stream: the client reads too slowly; more than {limit} events were "
                    "waiting (reconnect to continue)")
