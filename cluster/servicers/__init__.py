"""The gRPC servicers of vcc.v1, one module per service, each thin: validate the request
(INVALID_ARGUMENT naming the field; nothing changes), translate it into core events for
`cluster.host.CoreHost`, and translate the actions back into messages.
"""

from cluster.servicers.admin import AdminServicer
from cluster.servicers.agent_control import AgentControlServicer
from cluster.servicers.call_control import CallControlServicer
from cluster.servicers.crm import CrmServicer
from cluster.servicers.marketing import MarketingServicer
from cluster.servicers.routing import RoutingServicer

__all__ = ["AdminServicer", "AgentControlServicer", "CallControlServicer", "CrmServicer",
           "MarketingServicer", "RoutingServicer"]
