"""Marketing: offers, target lists, outcomes and the live agent ranking (SPEC §7), on the
customer store (`vcc serve --db`). Without a store every call answers FAILED_PRECONDITION.

Every field is checked before anything changes (INVALID_ARGUMENT naming it, e.g.
`targets[3].customer_id`); an unknown offer is NOT_FOUND. The store is read and written on
a few threads of the servicer's own, never on the event loop. StreamRanking: the ranking
(cluster/customers/marketing_stats.py) at once, then each time it changes, checked every
`interval_s`; streams share one computation per time zone and 0.2 s, so a wallboard's
thousand agents cost the store no more than one. A stream ends when its client goes or the
server stops (`close`).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from cluster.api_limits import MAX_ID, MAX_NAME
from cluster.customers import history
from cluster.customers import marketing_stats as stats
from cluster.servicers import convert
from cluster.servicers.errors import (NO_STORE, RequestError, in_store, invalid, status_of,
                                     unary)
from cluster.servicers.streams import Writer
from vcc.v1 import common_pb2, crm_pb2, crm_pb2_grpc

MAX_PRODUCT = 128               # characters (the store's column)
MAX_SCRIPT_REF = 256
MAX_SELLING_POINTS = 20
MAX_SELLING_POINT = 500         # characters each
MAX_TARGETS = 10_000            # per ImportTargets call
DEFAULT_INTERVAL_S = 2.0        # StreamRanking: how often the ranking is looked at
MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 3600.0
STORE_THREADS = 4


# ---- requests ----------------------------------------------------------------------------
def _cents(value: int, field: str) -> int:
    if value < 0:
        raise invalid(field, f"must be >= 0 (cents); got {value}")
    return value


def _offer(request) -> dict:
    """PutOffer's fields, checked, as history.put_offer takes them."""
    if len(request.selling_points) > MAX_SELLING_POINTS:
        raise invalid("selling_points", f"at most {MAX_SELLING_POINTS}; got "
                                        f"{len(request.selling_points)}")
    valid_from = convert.finite(request.valid_from, "valid_from")
    valid_to = convert.finite(request.valid_to, "valid_to")
    if valid_from and valid_to and not valid_to > valid_from:
        raise invalid("valid_to", f"must be after valid_from ({valid_to!r} <= {valid_from!r})")
    return {
        "offer_id": convert.name(request.offer_id, "offer_id", limit=MAX_NAME),
        "product": convert.name(request.product, "product", limit=MAX_PRODUCT),
        "pitch": convert.notes(request.pitch, "pitch"),
        "selling_points": [convert.name(point, f"selling_points[{index}]",
                                        limit=MAX_SELLING_POINT)
                           for index, point in enumerate(request.selling_points)],
        "script_ref": convert.name(request.script_ref, "script_ref", required=False,
                                   limit=MAX_SCRIPT_REF) or None,
        "valid_from": valid_from or None, "valid_to": valid_to or None,
        "value_cents": _cents(request.value_cents, "value_cents"),
        "commission_cents": _cents(request.commission_cents, "commission_cents"),
        "priority": request.priority,
    }


class _TargetProblems:
    """What importer.checked_targets / store_targets are told of a bad row: the first one
    refuses the request, naming `targets[i].<field>`."""

    @staticmethod
    def add(index: int, column: str, problem: str) -> None:
        raise invalid(f"targets[{index}].{column}", problem)

    @staticmethod
    def where(index: int) -> str:
        return f"targets[{index}]"

    def raise_any(self) -> None:
        pass


def _targets(request) -> list:
    """ImportTargets' rows, each field checked (the CSV import's checks, then the API's
    limits), none twice."""
    from cluster.customers.importer import checked_targets

    if len(request.targets) > MAX_TARGETS:
        raise invalid("targets", f"at most {MAX_TARGETS:,} per call; got {len(request.targets):,}")
    list_name = convert.name(request.list_name, "list_name", required=False, limit=MAX_NAME)
    rows = []
    for index, target in enumerate(request.targets):
        prefix = f"targets[{index}]."
        rows.append((index, {
            "customer_id": convert.name(target.customer_id, prefix + "customer_id"),
            "product": convert.name(target.product, prefix + "product", limit=MAX_PRODUCT),
            "phone": convert.phone(target.phone, prefix + "phone"),
            "list": list_name}))
    # Numbers with their country code only (+1 415 ..., 0044 ...): a feed has no region.
    return checked_targets(rows, None, _TargetProblems())


def _outcome(request) -> dict:
    result = convert.offer_result(request)
    return {"offer_id": result.offer_id, "result": result.result,
            "order_reference": result.order_reference,
            "contact_id": convert.name(request.contact_id, "contact_id", required=False) or None,
            "customer_id": convert.name(request.customer_id, "customer_id",
                                        required=False) or None,
            "agent_id": convert.name(request.agent_id, "agent_id", required=False) or None,
            "time": convert.finite(request.time, "time") or time.time()}


def _ranking_request(request) -> tuple[float, str]:
    interval = convert.finite(request.interval_s, "interval_s") or DEFAULT_INTERVAL_S
    if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        raise invalid("interval_s", f"must be {MIN_INTERVAL_S:g} .. {MAX_INTERVAL_S:g} s "
                                    f"(0: {DEFAULT_INTERVAL_S:g}); got {interval!r}")
    zone = convert.name(request.time_zone, "time_zone", required=False, limit=MAX_ID)
    try:
        stats.time_zone(zone)
    except stats.StatsError as error:
        raise invalid("time_zone", error.problem) from None
    return interval, zone


# ---- replies -----------------------------------------------------------------------------
def _offer_message(row) -> common_pb2.MarketingOffer:
    from cluster.customers.screen_pop import offer_message

    return offer_message(row)


def _standing(entry: stats.AgentRank) -> crm_pb2.AgentRanking:
    figures = entry.figures
    return crm_pb2.AgentRanking(
        agent_id=entry.agent_id, rank=entry.rank, eligible=figures.eligible,
        presented=figures.presented, accepted=figures.accepted,
        presentation_rate=figures.presentation_rate or 0.0,
        success_rate=figures.success_rate or 0.0, revenue_cents=figures.revenue_cents,
        commission_cents=figures.commission_cents)


def ranking_message(ranking: stats.Ranking) -> crm_pb2.Ranking:
    return crm_pb2.Ranking(time=ranking.time,
                           today=[_standing(entry) for entry in ranking.today],
                           to_date=[_standing(entry) for entry in ranking.to_date])


class _Rankings:
    """The latest ranking per time zone, computed at most once per MIN_INTERVAL_S whatever
    the number of streams asking; streams waiting for one share it."""

    def __init__(self, compute) -> None:
        self._compute = compute                     # async (tz) -> stats.Ranking
        self._latest: dict = {}                     # tz -> (monotonic time, future)

    async def get(self, zone: str) -> stats.Ranking:
        now = time.monotonic()
        entry = self._latest.get(zone)
        if entry is None or (entry[1].done() and now - entry[0] >= MIN_INTERVAL_S):
            entry = self._latest[zone] = (now, asyncio.ensure_future(self._compute(zone)))
        # Shielded: a stream whose client goes does not cancel the others' computation.
        return await asyncio.shield(entry[1])


# ---- the service -------------------------------------------------------------------------
class MarketingServicer(crm_pb2_grpc.MarketingServicer):
    def __init__(self, engine=None) -> None:
        self.engine = engine        # SQLAlchemy Engine of the customer store, or None
        self._executor = (ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="vcc-marketing")
                          if engine is not None else None)
        self._closing = asyncio.Event()
        self._rankings = _Rankings(self._compute_ranking)

    def close(self) -> None:
        """End every ranking stream (the server is stopping)."""
        self._closing.set()

    async def _store(self, function, *args, **kwargs):
        """`function(engine, ...)` on a store thread."""
        if self.engine is None:
            raise NO_STORE
        return await in_store(self._executor, function, self.engine, *args, **kwargs)

    async def ranking(self, zone: str = "") -> stats.Ranking:
        """The ranking now (at most MIN_INTERVAL_S old), the computation the streams share
        (the wallboard's panel reads it too)."""
        return await self._rankings.get(zone)

    async def _compute_ranking(self, zone: str) -> stats.Ranking:
        return await self._store(stats.ranking, now=time.time(), tz=zone)

    @unary()
    async def PutOffer(self, request, context):
        if self.engine is None:
            raise NO_STORE
        offer = _offer(request)
        await self._store(history.put_offer, offer.pop("offer_id"), **offer)
        return _offer_message(await self._store(history.get_offer, request.offer_id))

    @unary()
    async def ListOffers(self, request, context):
        if self.engine is None:
            raise NO_STORE
        product = convert.name(request.product, "product", required=False, limit=MAX_PRODUCT)
        rows = await self._store(history.list_offers, product or None)
        return crm_pb2.OfferList(offers=[_offer_message(row) for row in rows])

    @unary()
    async def SetOfferPriority(self, request, context):
        if self.engine is None:
            raise NO_STORE
        offer_id = convert.name(request.offer_id, "offer_id", limit=MAX_NAME)
        if not await self._store(history.set_offer_priority, offer_id, request.priority):
            raise RequestError(grpc.StatusCode.NOT_FOUND, "offer_id", f"no offer {offer_id!r}")
        return _offer_message(await self._store(history.get_offer, offer_id))

    @unary()
    async def ImportTargets(self, request, context):
        from cluster.customers.importer import store_targets

        if self.engine is None:
            raise NO_STORE
        rows = _targets(request)
        result = await self._store(store_targets, rows, _TargetProblems())
        return crm_pb2.ImportTargetsReply(added=result.added, unchanged=result.unchanged,
                                          updated=result.updated)

    @unary()
    async def RecordOutcome(self, request, context):
        if self.engine is None:
            raise NO_STORE
        recorded = await self._store(history.record_known_outcome, **_outcome(request))
        return crm_pb2.RecordOutcomeReply(recorded=recorded)

    async def StreamRanking(self, request, context):
        try:
            if self.engine is None:
                raise NO_STORE
            interval, zone = _ranking_request(request)
        except RequestError as error:
            code, details = status_of(error)
            await context.abort(code, details)
        writer = Writer(context, self._closing)
        sent = failed = None
        try:
            await writer.start()
            while not self._closing.is_set():
                try:
                    ranking = await self._rankings.get(zone)
                except RequestError as error:       # the store is not answering
                    failed = error
                    break
                if not ranking.same_standings(sent):
                    if not await writer.write(ranking_message(ranking)):
                        break
                    sent = ranking
                try:
                    await asyncio.wait_for(self._closing.wait(), interval)
                except asyncio.TimeoutError:
                    pass
        finally:
            writer.close()
        if failed is not None:
            code, details = status_of(failed)
            await context.abort(code, details)
