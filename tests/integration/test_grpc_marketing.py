"""The Marketing service over a real server on 127.0.0.1 (cluster/servicers/marketing.py):
offers, target lists, outcomes and the live ranking on a SQLite store of the test's own,
every field checked (INVALID_ARGUMENT naming it, nothing changed), FAILED_PRECONDITION
without a store; the same flow on PostgreSQL, with the statistics checks of
tests/unit/test_marketing_stats.py."""

from __future__ import annotations

import asyncio
import contextlib
import math
import pathlib
import sys
import time

import grpc
import pytest
import sqlalchemy as sa

from cluster.store import open_engine, upgrade
from cluster.store.models import Customer, MarketingOffer, MarketingOutcome, MarketingTarget
from tests.integration.conftest import Cluster
from tests.integration.postgres import bare_engine, engine  # noqa: F401 (fixtures)
from vcc.v1 import common_pb2, crm_pb2, crm_pb2_grpc

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "unit"))
import test_marketing_stats as stats_checks  # noqa: E402

pytestmark = pytest.mark.integration
T = 5.0
NO_STORE = "no customer store: start vcc serve with --db"


@contextlib.contextmanager
def serving(engine):
    cluster = Cluster(server_options={"customer_store": engine}).start()
    cluster.marketing = crm_pb2_grpc.MarketingStub(cluster.channel)
    try:
        yield cluster
    finally:
        cluster.stop()


def add_customers(engine) -> None:
    """Customers c1, c2 and c3 (targets must be customers)."""
    rows = [{"customer_id": f"c{number}", "name": f"Customer {number}", "attributes": {}}
            for number in (1, 2, 3)]
    with engine.begin() as connection:
        connection.execute(Customer.__table__.insert(), rows)


@pytest.fixture
def store(tmp_path):
    """A SQLite store of the test's own, with three customers."""
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    add_customers(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def served(store):
    with serving(store) as cluster:
        yield cluster


def dump(engine) -> dict:
    """Every marketing row, to compare before and after a refused request."""
    with engine.connect() as connection:
        return {table.name: sorted(map(tuple, connection.execute(sa.select(table))), key=repr)
                for table in (MarketingOffer.__table__, MarketingTarget.__table__,
                              MarketingOutcome.__table__)}


async def failure(call) -> tuple:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    raise AssertionError("the call succeeded")


FIBRE = common_pb2.MarketingOffer(
    offer_id="fibre-1g", product="fibre", pitch="Twice the speed\nfor the same price",
    selling_points=["1 Gbit/s", "no installation fee"], script_ref="scripts/fibre.md",
    valid_from=1000.0, value_cents=4999, commission_cents=500, priority=5)


def check_offers_targets_and_outcomes(cluster, engine) -> None:
    marketing = cluster.marketing

    async def scenario():
        assert await marketing.PutOffer(FIBRE, timeout=T) == FIBRE
        tv = common_pb2.MarketingOffer(offer_id="tv", product="tv", value_cents=2000,
                                       commission_cents=300, priority=9)
        assert await marketing.PutOffer(tv, timeout=T) == tv
        listed = await marketing.ListOffers(crm_pb2.ListOffersRequest(), timeout=T)
        assert [offer.offer_id for offer in listed.offers] == ["tv", "fibre-1g"]
        changed = await marketing.SetOfferPriority(
            crm_pb2.OfferPriority(offer_id="fibre-1g", priority=10), timeout=T)
        assert changed.priority == 10 and changed.pitch == FIBRE.pitch
        listed = await marketing.ListOffers(crm_pb2.ListOffersRequest(), timeout=T)
        assert [offer.offer_id for offer in listed.offers] == ["fibre-1g", "tv"]
        only = await marketing.ListOffers(crm_pb2.ListOffersRequest(product="tv"), timeout=T)
        assert [offer.offer_id for offer in only.offers] == ["tv"]
        assert await failure(marketing.SetOfferPriority(
            crm_pb2.OfferPriority(offer_id="radio", priority=1), timeout=T)) == (
            grpc.StatusCode.NOT_FOUND, "offer_id: no offer 'radio'")

        targets = crm_pb2.TargetList(list_name="spring", targets=[
            crm_pb2.Target(customer_id="c1", product="fibre", phone="+1 (415) 555-2671"),
            crm_pb2.Target(customer_id="c2", product="fibre"),
            crm_pb2.Target(customer_id="c2", product="tv")])
        reply = await marketing.ImportTargets(targets, timeout=T)
        assert (reply.added, reply.updated, reply.unchanged) == (3, 0, 0)
        again = await marketing.ImportTargets(targets, timeout=T)
        assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
        moved = await marketing.ImportTargets(crm_pb2.TargetList(list_name="summer", targets=[
            crm_pb2.Target(customer_id="c2", product="tv"),
            crm_pb2.Target(customer_id="c3", product="tv")]), timeout=T)
        assert (moved.added, moved.updated, moved.unchanged) == (1, 1, 0)

        outcome = crm_pb2.OfferOutcome(offer_id="fibre-1g", result="accepted",
                                       order_reference="SO-1", contact_id="k1",
                                       customer_id="c1", agent_id="a1", time=2000.0)
        assert (await marketing.RecordOutcome(outcome, timeout=T)).recorded
        assert not (await marketing.RecordOutcome(outcome, timeout=T)).recorded   # the same
        declined = crm_pb2.OfferOutcome(offer_id="fibre-1g", result="declined",
                                        contact_id="k1", agent_id="a1", time=2100.0)
        assert (await marketing.RecordOutcome(declined, timeout=T)).recorded      # corrected
        assert (await marketing.RecordOutcome(crm_pb2.OfferOutcome(
            offer_id="tv", result="accepted", order_reference="SO-2", contact_id="k2",
            agent_id="a2"), timeout=T)).recorded
    cluster.run(scenario())
    stored = dump(engine)
    assert sorted(row[:2] + row[2:4] for row in stored["marketing_targets"]) == [
        ("c1", "fibre", "+14155552671", "spring"), ("c2", "fibre", None, "spring"),
        ("c2", "tv", None, "summer"), ("c3", "tv", None, "summer")]
    outcomes = {row.contact_id: row for row in _outcome_rows(engine)}
    assert (outcomes["k1"].result, outcomes["k1"].order_reference, outcomes["k1"].customer_id,
            outcomes["k1"].time) == ("declined", None, "c1", 2100.0)
    assert outcomes["k2"].result == "accepted" and abs(outcomes["k2"].time - time.time()) < 60


def _outcome_rows(engine) -> list:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(MarketingOutcome.__table__)))


def test_offers_targets_and_outcomes(served, store):
    check_offers_targets_and_outcomes(served, store)


def _offer(**fields):
    spec = {"offer_id": "o1", "product": "fibre", **fields}
    return common_pb2.MarketingOffer(**spec)


def _targets(*targets, list_name="l"):
    return crm_pb2.TargetList(list_name=list_name, targets=[crm_pb2.Target(**target)
                                                            for target in targets])


def _outcome(**fields):
    spec = {"offer_id": "tv", "result": "declined", "contact_id": "k9", **fields}
    return crm_pb2.OfferOutcome(**spec)


GOOD = {"customer_id": "c1", "product": "tv"}
BAD_REQUESTS = [
    ("PutOffer", _offer(offer_id=""), "offer_id: required"),
    ("PutOffer", _offer(offer_id="x" * 65), "offer_id: at most 64 characters"),
    ("PutOffer", _offer(product=""), "product: required"),
    ("PutOffer", _offer(product="tv\x00"), "product: must be printable"),
    ("PutOffer", _offer(pitch="a\x07b"), "pitch: must be printable text"),
    ("PutOffer", _offer(selling_points=["fast", ""]), "selling_points[1]: required"),
    ("PutOffer", _offer(selling_points=["p"] * 21), "selling_points: at most 20"),
    ("PutOffer", _offer(script_ref="s" * 257), "script_ref: at most 256 characters"),
    ("PutOffer", _offer(valid_from=math.nan), "valid_from: must be a finite number"),
    ("PutOffer", _offer(valid_from=20.0, valid_to=10.0), "valid_to: must be after valid_from"),
    ("PutOffer", _offer(value_cents=-1), "value_cents: must be >= 0"),
    ("PutOffer", _offer(commission_cents=-5), "commission_cents: must be >= 0"),
    ("ListOffers", crm_pb2.ListOffersRequest(product="p" * 129), "product: at most 128"),
    ("SetOfferPriority", crm_pb2.OfferPriority(), "offer_id: required"),
    ("ImportTargets", _targets(GOOD, {"product": "tv"}), "targets[1].customer_id: required"),
    ("ImportTargets", _targets(GOOD, {"customer_id": "c2"}), "targets[1].product: required"),
    ("ImportTargets", _targets({**GOOD, "phone": "+1 555"}),
     "targets[0].phone: '+1 555': not a possible number"),
    ("ImportTargets", _targets({**GOOD, "phone": "415 555 2671"}), "targets[0].phone: "),
    ("ImportTargets", _targets(GOOD, {"customer_id": "c2", "product": "tv"}, GOOD),
     "targets[2].product: customer 'c1' and product 'tv' again (first on targets[0])"),
    ("ImportTargets", _targets(GOOD, {"customer_id": "c7", "product": "tv"}),
     "targets[1].customer_id: no customer 'c7' in the store (import customers first)"),
    ("ImportTargets", _targets(GOOD, list_name="l\n"), "list_name: must be printable"),
    ("ImportTargets", _targets(*[GOOD] * 10_001), "targets: at most 10,000 per call"),
    ("RecordOutcome", _outcome(offer_id=""), "offer_id: required"),
    ("RecordOutcome", _outcome(result="sold"), "result: must be one of accepted, declined"),
    ("RecordOutcome", _outcome(result="accepted"),
     "order_reference: required when the offer is accepted"),
    ("RecordOutcome", _outcome(agent_id="a\tb"), "agent_id: must be printable"),
    ("RecordOutcome", _outcome(contact_id="k" * 129), "contact_id: at most 128 characters"),
    ("RecordOutcome", _outcome(time=-1.0), "time: must be a finite number >= 0"),
]


@pytest.mark.parametrize("method, request_, details", BAD_REQUESTS,
                         ids=[f"{number}-{case[0]}" for number, case in enumerate(BAD_REQUESTS)])
def test_bad_requests_name_the_field_and_change_nothing(served, store, method, request_,
                                                        details):
    async def scenario():
        await served.marketing.PutOffer(common_pb2.MarketingOffer(offer_id="tv", product="tv"),
                                        timeout=T)
        before = dump(store)
        code, message = await failure(getattr(served.marketing, method)(request_, timeout=T))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, message)
        assert message.startswith(details), message
        assert dump(store) == before
    served.run(scenario())


def test_outcomes_of_unknown_offers_or_customers_are_not_found(served, store):
    async def scenario():
        await served.marketing.PutOffer(common_pb2.MarketingOffer(offer_id="tv", product="tv"),
                                        timeout=T)
        before = dump(store)
        assert await failure(served.marketing.RecordOutcome(_outcome(offer_id="radio"),
                                                            timeout=T)) == (
            grpc.StatusCode.NOT_FOUND, "offer_id: no offer 'radio'")
        assert await failure(served.marketing.RecordOutcome(_outcome(customer_id="c9"),
                                                            timeout=T)) == (
            grpc.StatusCode.NOT_FOUND, "customer_id: no customer 'c9' in the store")
        assert dump(store) == before
    served.run(scenario())


@pytest.mark.parametrize("request_, details", [
    (crm_pb2.RankingRequest(interval_s=0.1), "interval_s: must be 0.2 .. 3600 s"),
    (crm_pb2.RankingRequest(interval_s=math.inf), "interval_s: must be a finite number"),
    (crm_pb2.RankingRequest(time_zone="Mars/Olympus"), "time_zone: unknown time zone"),
])
def test_bad_ranking_requests(served, request_, details):
    async def scenario():
        code, message = await failure(_first(served.marketing.StreamRanking(request_,
                                                                            timeout=T)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and message.startswith(details), message
    served.run(scenario())


async def _first(stream):
    async for message in stream:
        return message


def test_without_a_store_every_call_is_refused():
    with serving(None) as cluster:
        async def scenario():
            calls = [cluster.marketing.PutOffer(_offer(), timeout=T),
                     cluster.marketing.ListOffers(crm_pb2.ListOffersRequest(), timeout=T),
                     cluster.marketing.SetOfferPriority(crm_pb2.OfferPriority(offer_id="o1"),
                                                        timeout=T),
                     cluster.marketing.ImportTargets(_targets(GOOD), timeout=T),
                     cluster.marketing.RecordOutcome(_outcome(), timeout=T),
                     _first(cluster.marketing.StreamRanking(crm_pb2.RankingRequest(),
                                                            timeout=T))]
            for call in calls:
                assert await failure(call) == (grpc.StatusCode.FAILED_PRECONDITION, NO_STORE)
        cluster.run(scenario())


def check_ranking_stream(cluster) -> None:
    marketing = cluster.marketing

    async def scenario():
        for offer_id, commission in (("tv", 300), ("fibre", 500)):
            await marketing.PutOffer(common_pb2.MarketingOffer(
                offer_id=offer_id, product=offer_id, value_cents=10 * commission,
                commission_cents=commission), timeout=T)
        await marketing.RecordOutcome(crm_pb2.OfferOutcome(
            offer_id="tv", result="accepted", order_reference="o1", contact_id="k1",
            agent_id="a1"), timeout=T)
        stream = marketing.StreamRanking(crm_pb2.RankingRequest(interval_s=0.2,
                                                                time_zone="Europe/Paris"),
                                         timeout=15)
        messages = stream.__aiter__()
        first = await asyncio.wait_for(messages.__anext__(), T)
        assert [(entry.agent_id, entry.rank, entry.accepted, entry.commission_cents)
                for entry in first.today] == [("a1", 1, 1, 300)]
        assert list(first.to_date) == list(first.today)
        assert first.today[0].presentation_rate == 1.0 and first.today[0].success_rate == 1.0
        # Nothing changes: nothing more is sent (a few checks go by).
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(pending := asyncio.ensure_future(
                messages.__anext__())), 0.7)
        # An outcome is recorded: the next check sends the new standings.
        await marketing.RecordOutcome(crm_pb2.OfferOutcome(
            offer_id="fibre", result="accepted", order_reference="o2", contact_id="k2",
            agent_id="a2"), timeout=T)
        second = await asyncio.wait_for(pending, T)
        assert [(entry.agent_id, entry.rank, entry.commission_cents, entry.revenue_cents)
                for entry in second.today] == [("a2", 1, 500, 5000), ("a1", 2, 300, 3000)]
        assert second.time > first.time
        # The server stops: the stream ends (OK), at once rather than after the grace time.
        started = time.monotonic()
        cluster.server.marketing.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(messages.__anext__(), T)
        assert time.monotonic() - started < 2.0
        assert await stream.code() == grpc.StatusCode.OK
    cluster.run(scenario())


def test_the_ranking_stream_sends_each_change(served):
    check_ranking_stream(served)


def test_a_client_that_goes_away_ends_its_stream(served):
    async def scenario():
        stream = served.marketing.StreamRanking(crm_pb2.RankingRequest(interval_s=0.2),
                                                timeout=15)
        first = await _first(stream)
        assert list(first.today) == [] and first.time > 0
        stream.cancel()
        await asyncio.sleep(0.5)
        # The server is still serving others.
        listed = await served.marketing.ListOffers(crm_pb2.ListOffersRequest(), timeout=T)
        assert list(listed.offers) == []
    served.run(scenario())


# ---- PostgreSQL ----------------------------------------------------------------------------
def _clear(engine) -> None:  # noqa: F811 (not the fixture)
    with engine.begin() as connection:
        connection.execute(MarketingOutcome.__table__.delete())
        connection.execute(MarketingOffer.__table__.delete())


def test_on_postgresql(engine):  # noqa: F811
    add_customers(engine)
    with serving(engine) as cluster:
        check_offers_targets_and_outcomes(cluster, engine)
        _clear(engine)
        check_ranking_stream(cluster)


def test_statistics_on_postgresql(engine):  # noqa: F811
    stats_checks.check_statistics(engine)
    _clear(engine)
    stats_checks.check_ranking(engine)


def test_vcc_serve_ends_ranking_streams_when_it_stops(tmp_path):
    """`vcc serve --db` serves Marketing on its store; SIGTERM ends a ranking stream at once
    (status OK), not after the grace time for other calls (5 s)."""
    import signal

    from tests.integration.test_cli_serve import start, stop

    process, port = start("--runtime", "inprocess", "--db", f"sqlite:///{tmp_path}/vcc.db")
    try:
        async def scenario():
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                marketing = crm_pb2_grpc.MarketingStub(channel)
                await marketing.PutOffer(_offer(), timeout=T)
                stream = marketing.StreamRanking(crm_pb2.RankingRequest(interval_s=0.2),
                                                 timeout=30)
                messages = stream.__aiter__()
                assert list((await asyncio.wait_for(messages.__anext__(), T)).today) == []
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                with pytest.raises(StopAsyncIteration):
                    await asyncio.wait_for(messages.__anext__(), 10)
                assert await stream.code() == grpc.StatusCode.OK
                return time.monotonic() - started
        assert asyncio.run(scenario()) < 3.0
        assert process.wait(20) == 0            # SIGTERM: a clean stop
    finally:
        if process.poll() is None:
            stop(process, signal.SIGKILL)
