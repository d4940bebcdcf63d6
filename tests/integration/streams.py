"""Client-side request streams for tests that drive a stream message by message."""

from __future__ import annotations

import asyncio


def queued_requests() -> tuple[asyncio.Queue, object]:
    """(outbox, request iterator): what is put in the outbox is sent, None ends the stream."""
    outbox = asyncio.Queue()

    async def requests():
        while (message := await outbox.get()) is not None:
            yield message
    return outbox, requests()
