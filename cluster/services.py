"""The names of the vcc.v1 gRPC services a gateway serves (health and leader gate use them)."""

from vcc.v1 import admin_pb2, agent_control_pb2, call_control_pb2, crm_pb2, routing_pb2

SERVICE_NAMES = tuple(module.DESCRIPTOR.services_by_name[name].full_name for module, name in (
    (call_control_pb2, "CallControl"), (agent_control_pb2, "AgentControl"),
    (routing_pb2, "Routing"), (admin_pb2, "Admin"), (crm_pb2, "Crm"), (crm_pb2, "Marketing")))
