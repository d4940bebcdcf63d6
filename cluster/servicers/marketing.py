"""Marketing: offers, target lists, outcomes and the live agent ranking (SPEC §7), on the
customer store (`vcc serve --db`). Without a store every call answers FAILED_PRECONDITION.
"""

from __future__ import annotations

from vcc.v1 import crm_pb2_grpc


class MarketingServicer(crm_pb2_grpc.MarketingServicer):
    def __init__(self, engine=None) -> None:
        self.engine = engine        # SQLAlchemy Engine of the customer store, or None
