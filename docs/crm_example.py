"""A CRM integration, in Python (README "Customers over the API"): a customer and an offer
put through the API, a call routed by the caller's number, the screen pop on the agent's
desktop, an accepted offer recorded with the wrap-up, and the agents' live ranking.

Run `vcc serve --db sqlite:///crm-demo.db` (the bundled two-site configuration, no auth) in
one terminal, then `python docs/crm_example.py` in another.
"""

import asyncio
import uuid

from cluster.client import VccClient
from vcc.v1 import agent_control_pb2, common_pb2, crm_pb2, routing_pb2


async def main(target="127.0.0.1:50051"):
    async with VccClient(target) as vcc:      # a token with roles agent,crm when secured
        # The CRM feeds vcc its customer, an offer and a target list.
        await vcc.crm.PutCustomer(crm_pb2.Customer(
            customer_id="cust-1001", name="Grace Hopper", phones=["+1 415 555 2671"],
            tier="gold", attributes={"plan": "fibre-100"}))
        await vcc.marketing.PutOffer(common_pb2.MarketingOffer(
            offer_id="tv-bundle", product="tv", pitch="TV for 5 a month with your fibre",
            selling_points=["200 channels", "no contract"], value_cents=6000,
            commission_cents=600, priority=10))
        await vcc.marketing.ImportTargets(crm_pb2.TargetList(
            list_name="winter", targets=[crm_pb2.Target(customer_id="cust-1001",
                                                        product="tv")]))

        # The agent's desktop: logged in, ready, following its events.
        agent = dict(site="east", agent_id="east-g0-1")
        await vcc.agents.Login(agent_control_pb2.AgentRequest(**agent))
        events = vcc.agents.StreamEvents(agent_control_pb2.AgentRequest(**agent))
        await vcc.agents.SetState(agent_control_pb2.SetStateRequest(
            **agent, state=common_pb2.AGENT_STATE_READY))

        # A call comes in from the customer's number: routed by ANI alone.
        contact_id = f"call-{uuid.uuid4().hex[:8]}"
        await vcc.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=common_pb2.ContactSpec(contact_id=contact_id, site="east",
                                           skill="billing", channel=common_pb2.CHANNEL_VOICE,
                                           ani="(+1) 415-555-2671")))
        async for event in events:            # the screen pop comes with the offer
            if event.WhichOneof("event") == "offer":
                pop = event.offer.screen_pop
                print("screen pop:", pop.name, pop.tier, list(pop.phones),
                      "offers:", [offer.offer_id for offer in pop.offers],
                      "history:", len(pop.history))
                break
        await vcc.agents.RespondToOffer(agent_control_pb2.OfferResponse(
            **agent, contact_id=contact_id, accept=True))

        # The agent sells the bundle: disposition, notes and the offer's result.
        await vcc.agents.CompleteContact(agent_control_pb2.ContactRequest(
            **agent, contact_id=contact_id, disposition="sale", notes="wants it installed",
            offer_results=[common_pb2.OfferResult(offer_id="tv-bundle", result="accepted",
                                                  order_reference="ORD-77")]))
        await vcc.agents.WrapUpDone(agent_control_pb2.AgentRequest(**agent))
        events.cancel()

        # The live ranking (a wallboard or the desktops keep this stream open).
        ranking = vcc.marketing.StreamRanking(crm_pb2.RankingRequest(interval_s=0.5))
        first = await ranking.read()
        for row in first.today:
            print(f"ranking today: #{row.rank} {row.agent_id} accepted {row.accepted} "
                  f"commission {row.commission_cents / 100:.2f}")
        ranking.cancel()
        await vcc.agents.Logout(agent_control_pb2.AgentRequest(**agent))


if __name__ == "__main__":
    asyncio.run(main())
