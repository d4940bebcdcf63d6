"""Crm: customers, their history and notes, and agents' dispositions (SPEC §7), on the
customer store (`vcc serve --db`). Without a store every call answers FAILED_PRECONDITION.
"""

from __future__ import annotations

from vcc.v1 import crm_pb2_grpc


class CrmServicer(crm_pb2_grpc.CrmServicer):
    def __init__(self, engine=None) -> None:
        self.engine = engine        # SQLAlchemy Engine of the customer store, or None
