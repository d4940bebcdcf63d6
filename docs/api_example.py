"""One call of each vcc.v1 service, in Python (README "The gRPC API").

Run `vcc serve` (the bundled two-site configuration, no auth) in one terminal, then
`python docs/api_example.py` in another.
"""

import asyncio

from cluster.client import VccClient
from vcc.v1 import (admin_pb2, agent_control_pb2, call_control_pb2, common_pb2,
                    routing_pb2)


async def main(target="127.0.0.1:50051"):
    async with VccClient(target) as vcc:      # token=..., root_certificates=... when secured
        # Admin: what is configured.
        skills = await vcc.admin.ListSkills(admin_pb2.ListRequest(site="east"))
        print("east skills:", [skill.name for skill in skills.skills])

        # AgentControl (CTI): an agent logs in, becomes ready and follows its events.
        agent = dict(site="east", agent_id="east-g0-0")
        await vcc.agents.Login(agent_control_pb2.AgentRequest(**agent))
        events = vcc.agents.StreamEvents(agent_control_pb2.AgentRequest(**agent))
        await vcc.agents.SetState(agent_control_pb2.SetStateRequest(
            **agent, state=common_pb2.AGENT_STATE_READY))

        # Routing (CRM): route a chat; the ready agent gets it.
        reply = await vcc.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=common_pb2.ContactSpec(
                contact_id="crm-42", site="east", skill="billing",
                priority=common_pb2.PRIORITY_HIGH, channel=common_pb2.CHANNEL_VOICE,
                ani="+15551234567", data={"account": "A-1001"})))
        print("RouteContact:", reply.WhichOneof("decision"), reply.offer.agent_id)
        async for event in events:            # the agent's desktop sees the offer
            if event.WhichOneof("event") == "offer":
                print("agent offer:", event.offer.contact_id, dict(event.offer.data))
                break
        await vcc.agents.RespondToOffer(agent_control_pb2.OfferResponse(
            **agent, contact_id="crm-42", accept=True))
        await vcc.agents.CompleteContact(agent_control_pb2.ContactRequest(
            **agent, contact_id="crm-42"))
        await vcc.agents.WrapUpDone(agent_control_pb2.AgentRequest(**agent))   # after-call work
        events.cancel()

        ewt = await vcc.routing.GetEwt(routing_pb2.GetEwtRequest(
            site="east", skill="billing", priority=common_pb2.PRIORITY_MEDIUM))
        print("EWT medium:", ewt.ewt_s if ewt.ewt_known else "unknown")
        stats = await vcc.routing.GetStatistics(routing_pb2.GetStatisticsRequest(site="east"))
        for row in stats.skills:
            print(f"  {row.site}/{row.skill}: staffed {row.staffed} ready {row.ready} "
                  f"answered {row.answered}")

        # CallControl (PBX): one stream per link; messages carry batches of events.
        link = vcc.pbx_link("pbx-east-1")
        await link.connect()
        arrived = call_control_pb2.PbxEvent(arrived=common_pb2.ContactSpec(
            contact_id="call-7", site="east", skill="billing"))
        link.send(arrived)
        await link.flush()
        ended_seq = None
        async for message in link.messages():
            for action in message.actions:
                kind = action.WhichOneof("action")
                print("router:", kind)
                if kind == "route_to_agent":  # ring that agent; it answers, then hangs up
                    link.send(call_control_pb2.PbxEvent(answered="call-7"),
                              ended := call_control_pb2.PbxEvent(ended="call-7"))
                    await link.flush()
                    ended_seq = ended.seq
                if kind == "finished":        # completed: the agent's wrap-up is done
                    break
            else:
                if ended_seq is not None and message.acked_event_seq >= ended_seq:
                    ended_seq = None          # the router has the hang-up: end after-call work
                    await vcc.agents.WrapUpDone(agent_control_pb2.AgentRequest(**agent))
                continue
            break
        link.close_stream()
        reply = await vcc.agents.Logout(agent_control_pb2.AgentRequest(**agent))
        print("agent:", common_pb2.AgentState.Name(reply.state.state))


if __name__ == "__main__":
    asyncio.run(main())
