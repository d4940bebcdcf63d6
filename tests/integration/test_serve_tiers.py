"""`vcc serve --db` routes on its callers' customer tiers (SPEC §7, issue 18): an arrival
without a priority gets its caller's tier's, found by ANI (or the customer id a CRM passes)
in the customer store of the same database; a caller nobody knows gets the default tier.
The phone number never reaches the server's log in clear."""

from __future__ import annotations

import asyncio
import os

import pytest

from cluster.client import VccClient
from cluster.store.db import open_engine
from cluster.store.migrate import upgrade
from cluster.store.models import Customer, CustomerPhone
from tests.integration.test_cli_serve import start, stop
from vcc.v1 import agent_control_pb2, common_pb2, routing_pb2

pytestmark = pytest.mark.integration

CONFIG = """\
skills:
  billing: {sl_threshold_s: 30}
sites:
  east:
    agents:
      - {ids: [e1], skills: {billing: 1}}
tiers:
  gold: {priority: high, service_objective_s: 10}
  standard: {priority: low}
"""


def route(contact_id, **caller):
    return routing_pb2.RouteContactRequest(contact=common_pb2.ContactSpec(
        contact_id=contact_id, site="east", skill="billing", **caller))


@pytest.mark.parametrize("runtime", ["inprocess", "ray"])
def test_a_known_caller_is_routed_at_its_tier_s_priority(tmp_path, runtime):
    if runtime == "ray" and os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("VCC_PURE_PYTHON=1: the Ray runtime runs in the compiled pass")
    url = f"sqlite:///{tmp_path}/vcc.db"
    engine = open_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), [
            {"customer_id": "cust-7", "name": "Ada", "tier": "gold", "attributes": {}},
            {"customer_id": "cust-8", "name": "Bob", "tier": "gold", "attributes": {}}])
        connection.execute(CustomerPhone.__table__.insert(),
                           [{"number": "+14155552671", "customer_id": "cust-7"}])
    engine.dispose()
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    process, port = start("--config", str(config), "--db", url, "--runtime", runtime)

    async def scenario():
        async with VccClient(f"127.0.0.1:{port}") as client:
            await client.agents.Login(agent_control_pb2.AgentRequest(
                site="east", agent_id="e1"), timeout=10)
            places = {}
            for contact_id, caller in (("anon", {"ani": "+14155550000"}),
                                       ("by-ani", {"ani": "+1 415 555 2671"}),
                                       ("by-id", {"customer_id": "cust-8"})):
                reply = await client.routing.RouteContact(route(contact_id, **caller),
                                                          timeout=10)
                assert reply.WhichOneof("decision") == "queued", reply
                places[contact_id] = reply.queued.position
            for contact_id in places:
                await client.routing.AbandonContact(routing_pb2.AbandonContactRequest(
                    site="east", contact_id=contact_id), timeout=10)
            return places

    try:
        places = asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        assert stop(process) == 0
    log = process.stderr.read()
    # The gold callers (high) go ahead of the unknown one (the default tier: low).
    assert places == {"anon": 1, "by-ani": 1, "by-id": 2}, places
    assert "4155552671" not in log and "555 2671" not in log
