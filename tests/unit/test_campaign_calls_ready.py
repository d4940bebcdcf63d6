"""Admin's campaign calls say why they cannot run: without a store they never can; while a
new leader (or a restarted server) resumes its campaigns they wait, and say so if it takes
too long, instead of answering from a host that does not yet know its campaigns."""

import asyncio

import pytest

from cluster.campaigns import hosting
from cluster.servicers.admin import AdminServicer
from cluster.servicers.errors import RequestError


def test_without_a_store_the_calls_say_to_start_with_one():
    servicer = AdminServicer(host=None, campaigns=None, has_store=False)
    with pytest.raises(RequestError) as refused:
        asyncio.run(servicer._store())
    assert "start vcc serve with --db" in str(refused.value.problem)
    assert refused.value.code.name == "FAILED_PRECONDITION"


class _Resuming:
    until_resumed = hosting.CampaignHost.until_resumed

    def __init__(self):
        self.resumed = asyncio.Event()
        self.store = object()


def test_calls_wait_for_the_campaigns_to_be_resumed(monkeypatch):
    monkeypatch.setattr(hosting, "RESUME_WAIT_S", 0.05)

    async def main():
        host = _Resuming()
        servicer = AdminServicer(host=None, campaigns=host, has_store=True)
        with pytest.raises(RequestError) as refused:
            await servicer._store()
        assert refused.value.code.name == "UNAVAILABLE"
        assert "resuming" in refused.value.problem
        waiting = asyncio.ensure_future(servicer._store())
        await asyncio.sleep(0.01)
        assert not waiting.done()
        host.resumed.set()
        assert await waiting is servicer.campaign_store

    asyncio.run(main())
