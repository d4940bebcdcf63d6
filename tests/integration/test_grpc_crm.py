"""The Crm service over a real server on loopback, on a SQLite customer store in tmp_path:
customers put and read back whole, searched a page at a time, interactions searched, notes
added (card numbers masked) and listed; every bad field named and nothing changed; a server
without a store answers FAILED_PRECONDITION.

The `check_*` functions run on PostgreSQL too (test_grpc_crm_postgres.py)."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest
import sqlalchemy as sa

from cluster.customers import history
from cluster.store.db import open_engine
from cluster.store.models import Customer, CustomerAccount, CustomerNote, CustomerPhone
from tests.integration.test_grpc_admin import failure
from vcc.v1 import common_pb2, crm_pb2, crm_pb2_grpc

pytestmark = pytest.mark.integration
T = 5.0
CARD = "4111 1111 1111 1111"


@pytest.fixture
def crm_cluster(make_cluster, engine):
    """A server whose customer store is `engine` (tests/conftest.py: SQLite; the PostgreSQL
    module's own), and its Crm stub as `crm`."""
    with make_cluster(server_options={"customer_store": engine}) as cluster:
        cluster.crm = crm_pb2_grpc.CrmStub(cluster.channel)
        yield cluster


def dump(engine) -> dict:
    with engine.connect() as connection:
        return {model.__tablename__: sorted(
            tuple(json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
                  for value in row)
            for row in connection.execute(sa.select(model.__table__)))
            for model in (Customer, CustomerPhone, CustomerAccount, CustomerNote)}


async def expect_refusals(method, message_type, cases) -> None:
    """Each case, (request fields, [status code,] details): the call is refused with that
    code (INVALID_ARGUMENT if none is given) and details that start so."""
    for case in cases:
        fields, code, details = case[0], case[1] if len(case) == 3 else INVALID, case[-1]
        got = await failure(method(message_type(**fields), timeout=T))
        assert got[0] == code and got[1].startswith(details), (case, got)


ADA = dict(customer_id="c1", name="Ada Lovelace", phones=["+44 20 7946 0958", "(+1) 415-555-2671"],
           email="ada@example.com", address="1 Loop Rd\nLondon", tier="gold",
           attributes={"segment": "smb", "card_on_file": "no"}, account_numbers=["ACC-1", "A/2"])


# ---- customers ---------------------------------------------------------------------------------
def check_put_then_get(cluster, engine) -> None:
    crm = cluster.crm

    async def scenario():
        put = await crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T)
        expected = crm_pb2.Customer(**{**ADA, "phones": ["+14155552671", "+442079460958"],
                                       "account_numbers": ["A/2", "ACC-1"]})
        assert put == expected
        for key in (dict(customer_id="c1"), dict(phone="+1 415 555 2671"),
                    dict(phone="tel:+44-20-7946-0958"), dict(account_number="A/2")):
            assert await crm.GetCustomer(crm_pb2.CustomerKey(**key), timeout=T) == expected
        stored = dump(engine)
        # The same again changes nothing; a new put replaces the customer whole.
        assert await crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T) == expected
        assert dump(engine) == stored
        replaced = await crm.PutCustomer(crm_pb2.Customer(
            customer_id="c1", name="Ada King", phones=["+1 415 555 0199"]), timeout=T)
        assert replaced == crm_pb2.Customer(customer_id="c1", name="Ada King",
                                            phones=["+14155550199"])
        assert await crm.GetCustomer(crm_pb2.CustomerKey(customer_id="c1"), timeout=T) == replaced
        for gone in (dict(phone="+14155552671"), dict(account_number="ACC-1")):
            code, _ = await failure(crm.GetCustomer(crm_pb2.CustomerKey(**gone), timeout=T))
            assert code == grpc.StatusCode.NOT_FOUND
        # A number moves to another customer only once its owner gave it up.
        moved = await crm.PutCustomer(crm_pb2.Customer(
            customer_id="c2", name="Bob", phones=["+14155552671"], account_numbers=["ACC-1"]),
            timeout=T)
        assert moved.phones == ["+14155552671"]
    cluster.run(scenario())


def test_put_then_get(crm_cluster, engine):
    check_put_then_get(crm_cluster, engine)


def check_concurrent_puts(cluster, engine) -> None:
    """Puts of one new customer at once all succeed (one customer, the last put's); puts
    of several new customers with one number at once: one gets it, the others are told
    who has it."""
    async def scenario():
        replies = await asyncio.gather(*(cluster.crm.PutCustomer(crm_pb2.Customer(
            customer_id="c7", name=f"Name {n}", phones=["+1 415 555 0107"]), timeout=T)
            for n in range(6)))
        assert {reply.customer_id for reply in replies} == {"c7"}
        results = await asyncio.gather(*(cluster.crm.PutCustomer(crm_pb2.Customer(
            customer_id=f"d{n}", name="Dup", phones=["+1 415 555 0200"]), timeout=T)
            for n in range(6)), return_exceptions=True)
        refused = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
        assert len(refused) == 5, results
        for error in refused:
            assert error.code() == grpc.StatusCode.ALREADY_EXISTS
            assert error.details().startswith("phones[0]: +*******0200 belongs to customer 'd")
    cluster.run(scenario())
    stored = dump(engine)
    assert [row[1] for row in stored["customer_phones"] if row[0] == "+14155550107"] == ["c7"]
    assert len(stored["customers"]) == 2


def test_concurrent_puts(crm_cluster, engine):
    check_concurrent_puts(crm_cluster, engine)


INVALID = grpc.StatusCode.INVALID_ARGUMENT
BAD_CUSTOMERS = [
    (dict(customer_id=""), "customer_id: required"),
    (dict(customer_id="c\n1"), "customer_id: must be printable"),
    (dict(customer_id="x" * 129), "customer_id: at most 128 characters"),
    (dict(name=""), "name: empty (required)"),
    (dict(name="A" * 201), "name: longer than 200 characters"),
    (dict(email="not-an-email"), "email: not an e-mail address"),
    (dict(tier="Gold!"), "tier: a tier is a lowercase name"),
    (dict(address="x\x07"), "address: contains control characters"),
    (dict(phones=["+14155552671", "+1 555"]), "phones[1]: '+1 555': not a possible number"),
    (dict(phones=["+14155552671", " "]), "phones[1]: empty"),
    (dict(phones=["020 7946 0958"]), "phones[0]: '*** **** 0958': no valid country code"),
    (dict(phones=["+1" + "5" * 40]), "phones[0]: at most 32 characters"),
    (dict(phones=[f"+1415555{n:04d}" for n in range(33)]), "phones: at most 32; got 33"),
    (dict(account_numbers=["OK-1", "no 12345678"]),
     "account_numbers[1]: 'no ****5678': letters, digits"),
    (dict(attributes={f"k{n}": "v" for n in range(65)}), "attributes: at most 64 keys"),
    (dict(attributes={"k": "v" * 20_000}), "attributes: at most 16384 bytes"),
    (dict(attributes={"": "v"}), "attributes: keys must be printable and not empty"),
]


@pytest.mark.parametrize("change, details", BAD_CUSTOMERS)
def test_a_bad_customer_names_the_field_and_changes_nothing(crm_cluster, engine, change,
                                                            details):
    async def scenario():
        await crm_cluster.crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T)
        before = dump(engine)
        code, message = await failure(crm_cluster.crm.PutCustomer(
            crm_pb2.Customer(**{**ADA, **change}), timeout=T))
        assert code == INVALID and message.startswith(details), message
        assert dump(engine) == before
    crm_cluster.run(scenario())


def check_a_number_of_another_customer_is_refused(cluster, engine) -> None:
    crm = cluster.crm

    async def scenario():
        await crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T)
        bob = crm_pb2.Customer(customer_id="c2", name="Bob", phones=["+1 415 555 0100"],
                               account_numbers=["B-1"])
        await crm.PutCustomer(bob, timeout=T)
        before = dump(engine)
        # Bob's update would take one of Ada's numbers: refused whole, Bob as he was.
        code, details = await failure(crm.PutCustomer(crm_pb2.Customer(
            customer_id="c2", name="Bob B", phones=["+1 415 555 0101", "+1 (415) 555-2671"]),
            timeout=T))
        assert code == grpc.StatusCode.ALREADY_EXISTS
        assert details == ("phones[1]: +*******2671 belongs to customer 'c1' in the store: "
                           "a number belongs to one customer")
        code, details = await failure(crm.PutCustomer(crm_pb2.Customer(
            customer_id="c3", name="Cy", account_numbers=["C-1", "ACC-1"]), timeout=T))
        assert code == grpc.StatusCode.ALREADY_EXISTS
        assert details.startswith("account_numbers[1]: ") and "'c1'" in details
        assert dump(engine) == before
        assert await crm.GetCustomer(crm_pb2.CustomerKey(customer_id="c2"), timeout=T) == \
            crm_pb2.Customer(customer_id="c2", name="Bob", phones=["+14155550100"],
                             account_numbers=["B-1"])
    cluster.run(scenario())


def test_a_number_of_another_customer_is_refused(crm_cluster, engine):
    check_a_number_of_another_customer_is_refused(crm_cluster, engine)


@pytest.mark.parametrize("key, code, details", [
    (dict(), INVALID, "customer_id: give exactly one of customer_id, phone, account_number"),
    (dict(customer_id="c1", phone="+14155552671"), INVALID,
     "phone: give exactly one of customer_id, phone, account_number (and customer_id is given)"),
    (dict(phone="12"), INVALID, "phone: '12': "),
    (dict(account_number="a b"), INVALID, "account_number: "),
    (dict(customer_id="c\t"), INVALID, "customer_id: must be printable"),
    (dict(customer_id="nobody"), grpc.StatusCode.NOT_FOUND, "customer_id: no such customer"),
    (dict(phone="+1 415 555 0000"), grpc.StatusCode.NOT_FOUND, "phone: no such customer"),
    (dict(account_number="NONE"), grpc.StatusCode.NOT_FOUND,
     "account_number: no such customer"),
])
def test_customer_keys(crm_cluster, key, code, details):
    async def scenario():
        await crm_cluster.crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T)
        for method in (crm_cluster.crm.GetCustomer, crm_cluster.crm.ListNotes):
            got = await failure(method(crm_pb2.CustomerKey(**key), timeout=T))
            assert got[0] == code and got[1].startswith(details), got
    crm_cluster.run(scenario())


def check_search_customers(cluster, engine) -> None:
    crm = cluster.crm

    async def scenario():
        for n in range(25):
            await crm.PutCustomer(crm_pb2.Customer(
                customer_id=f"c{n:02d}", name=("Zoë " if n % 5 == 0 else "ann ") + str(n),
                tier="gold" if n % 2 else "", phones=[f"+1 415 555 01{n:02d}"],
                account_numbers=[f"A{n}"]), timeout=T)
        await crm.PutCustomer(crm_pb2.Customer(customer_id="c99", name="100%_ann"), timeout=T)

        async def ids(**query):
            reply = await crm.SearchCustomers(crm_pb2.CustomerQuery(**query), timeout=T)
            return [customer.customer_id for customer in reply.customers]
        # Pages of 10 by id, each after the last of the one before.
        pages, after = [], ""
        while True:
            page = await ids(limit=10, after_customer_id=after)
            if not page:
                break
            pages.append(page)
            after = page[-1]
        assert [len(page) for page in pages] == [10, 10, 6]
        assert sum(pages, []) == sorted(f"c{n:02d}" for n in range(25)) + ["c99"]
        assert len(await ids()) == 26                          # limit 0: 100
        assert await ids(name_prefix="ANN 1", limit=3) == ["c01", "c11", "c12"]
        assert await ids(name_prefix="100%_") == ["c99"]       # % and _ are no wildcards
        assert await ids(name_prefix="1%") == []
        assert await ids(tier="gold", after_customer_id="c18") == ["c19", "c21", "c23"]
        assert await ids(phone="(415) 555-0107".replace("(", "+1 (")) == ["c07"]
        assert await ids(phone="+1 415 555 0107", tier="gold") == ["c07"]
        assert await ids(phone="+1 415 555 0108", tier="gold") == []
        reply = await crm.SearchCustomers(crm_pb2.CustomerQuery(name_prefix="ann 3"), timeout=T)
        assert reply.customers[0] == crm_pb2.Customer(
            customer_id="c03", name="ann 3", tier="gold", phones=["+14155550103"],
            account_numbers=["A3"])
        await expect_refusals(crm.SearchCustomers, crm_pb2.CustomerQuery, (
            (dict(limit=1001), "limit: must be 1..1,000 (0: 100); got 1001"),
            (dict(limit=-1), "limit: must be 1..1,000"),
            (dict(tier="GOLD"), "tier: a tier is a lowercase name"),
            (dict(phone="abc"), "phone: "),
            (dict(name_prefix="a\x00"), "name_prefix: must be printable"),
            (dict(after_customer_id="x" * 200), "after_customer_id: at most")))
    cluster.run(scenario())


def test_search_customers(crm_cluster, engine):
    check_search_customers(crm_cluster, engine)


# ---- interactions ------------------------------------------------------------------------------
def check_search_interactions(cluster, engine) -> None:
    crm = cluster.crm

    async def scenario():
        await crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T)
        await crm.PutCustomer(crm_pb2.Customer(customer_id="c2", name="Bob"), timeout=T)
        for n, (customer, agent, disposition, channel) in enumerate([
                ("c1", "a1", "resolved", "voice"), ("c1", "a2", "callback", "chat"),
                ("c2", "a1", "resolved", "email"), ("c1", "a1", None, "voice")]):
            await asyncio.to_thread(
                history.add_interaction, engine, customer_id=customer, time=1000.0 + n,
                channel=channel, skill=None if n == 2 else "billing", agent_id=agent,
                disposition=disposition, notes=f"card {CARD}" if n == 1 else "",
                contact_id=f"k{n}")
        with engine.begin() as connection:      # how the contact ended, as records write it
            connection.execute(sa.text("UPDATE interactions SET final_state = 'completed' "
                                       "WHERE contact_id IN ('k0', 'k1')"))
            connection.execute(sa.text("UPDATE interactions SET final_state = 'abandoned' "
                                       "WHERE contact_id = 'k3'"))

        async def search(**query):
            reply = await crm.SearchInteractions(crm_pb2.InteractionQuery(**query), timeout=T)
            return reply.interactions
        found = await search(customer_id="c1")
        assert [row.contact_id for row in found] == ["k3", "k1", "k0"]     # newest first
        assert found[1] == common_pb2.Interaction(
            contact_id="k1", customer_id="c1", time=1001.0, channel=common_pb2.CHANNEL_CHAT,
            skill="billing", agent_id="a2", disposition="callback",
            notes="card 4111 11** **** 1111",
            final_state=common_pb2.CONTACT_STATE_COMPLETED)
        assert found[0].final_state == common_pb2.CONTACT_STATE_ABANDONED
        assert found[0].disposition == ""
        assert [row.contact_id for row in await search(agent_id="a1")] == ["k3", "k2", "k0"]
        assert [row.contact_id for row in await search(disposition="resolved")] == ["k2", "k0"]
        assert [row.contact_id for row in await search(start=1001, end=1003)] == ["k2", "k1"]
        assert [row.contact_id for row in await search(start=1001, limit=2)] == ["k3", "k2"]
        third = (await search(customer_id="c2"))[0]
        assert (third.channel, third.final_state, third.skill) == (
            common_pb2.CHANNEL_EMAIL, common_pb2.CONTACT_STATE_UNSPECIFIED, "")
        assert len(await search()) == 4
        await expect_refusals(crm.SearchInteractions, crm_pb2.InteractionQuery, (
            (dict(limit=10_001), "limit: must be 1..10,000 (0: 100)"),
            (dict(start=-1), "start: must be a finite number >= 0"),
            (dict(end=float("nan")), "end: must be a finite number"),
            (dict(start=10, end=5), "end: must be after start"),
            (dict(agent_id="a\n"), "agent_id: must be printable"),
            (dict(disposition="d" * 65), "disposition: at most 64")))
    cluster.run(scenario())


def test_search_interactions(crm_cluster, engine):
    check_search_interactions(crm_cluster, engine)


# ---- notes -------------------------------------------------------------------------------------
def check_notes(cluster, engine) -> None:
    crm = cluster.crm

    async def scenario():
        await crm.PutCustomer(crm_pb2.Customer(**ADA), timeout=T)
        before = time.time()
        first = await crm.AddNote(crm_pb2.Note(customer_id="c1", text=f"paid with {CARD}\n"
                                                                      f"thanks", author="a1"),
                                  timeout=T)
        assert first.text == "paid with 4111 11** **** 1111\nthanks"
        assert before <= first.time <= time.time() and first.author == "a1"
        second = await crm.AddNote(crm_pb2.Note(customer_id="c1", text="called back",
                                                time=first.time + 5), timeout=T)
        assert second.time == first.time + 5 and second.author == ""
        with engine.connect() as connection:
            stored = connection.execute(sa.select(CustomerNote.text)).scalars().all()
        assert sorted(stored) == ["called back", "paid with 4111 11** **** 1111\nthanks"]
        for key in (dict(customer_id="c1"), dict(phone="+442079460958"),
                    dict(account_number="ACC-1")):
            listed = await crm.ListNotes(crm_pb2.CustomerKey(**key), timeout=T)
            assert list(listed.notes) == [second, first]          # newest first
        await crm.PutCustomer(crm_pb2.Customer(customer_id="c2", name="Bob"), timeout=T)
        assert not (await crm.ListNotes(crm_pb2.CustomerKey(customer_id="c2"), timeout=T)).notes
        before_bad = dump(engine)
        await expect_refusals(crm.AddNote, crm_pb2.Note, (
            (dict(customer_id="nobody", text="x"), grpc.StatusCode.NOT_FOUND,
             "customer_id: no such customer"),
            (dict(customer_id="", text="x"), "customer_id: required"),
            (dict(customer_id="c1", text=""), "text: required"),
            (dict(customer_id="c1", text="x" * 4001), "text: at most 4000 characters"),
            (dict(customer_id="c1", text="a\x00b"), "text: must be printable text (line "
             "breaks and tabs allowed): character 1 is U+0000"),
            (dict(customer_id="c1", text="x", author="a\nb"), "author: must be printable"),
            (dict(customer_id="c1", text="x", time=-5), "time: must be a finite"),
            (dict(customer_id="c1", text="x", time=float("inf")), "time: ")))
        assert dump(engine) == before_bad
    cluster.run(scenario())


def test_notes(crm_cluster, engine):
    check_notes(crm_cluster, engine)


def test_a_call_s_disposition_is_kept_for_its_interaction(crm_cluster, engine):
    from cluster.store.models import ContactDisposition, MarketingOutcome

    history.put_offer(engine, "tv-1", product="tv", value_cents=100, commission_cents=10)
    crm = crm_cluster.crm
    given = dict(site="east", agent_id="e1", contact_id="k1")

    def kept():
        with engine.connect() as connection:
            return ([(row.contact_id, row.agent_id, row.disposition, row.notes)
                     for row in connection.execute(sa.select(ContactDisposition.__table__))],
                    [(row.offer_id, row.result, row.order_reference) for row in
                     connection.execute(sa.select(MarketingOutcome.__table__))])

    async def scenario():
        await expect_refusals(crm.RecordDisposition, crm_pb2.Disposition, [
            (given, "disposition: give a disposition, notes or offer results"),
            ({**given, "agent_id": ""}, "agent_id: required"),
            ({**given, "disposition": "x" * 65}, "disposition: at most 64 characters"),
            ({**given, "offer_results": [common_pb2.OfferResult(offer_id="tv-1",
                                                                 result="maybe")]},
             "offer_results[0].result: must be one of"),
            ({**given, "offer_results": [common_pb2.OfferResult(offer_id="tv-1",
                                                                 result="declined"),
                                         common_pb2.OfferResult(offer_id="nope",
                                                                 result="declined")]},
             grpc.StatusCode.NOT_FOUND, "offer_results[1].offer_id: no offer 'nope'")])
        assert kept() == ([], [])                       # nothing changed
        request = crm_pb2.Disposition(
            **given, disposition="sold", notes=f"card {CARD}",
            offer_results=[common_pb2.OfferResult(offer_id="tv-1", result="accepted",
                                                  order_reference="O-1")])
        first = await crm.RecordDisposition(request, timeout=T)
        again = await crm.RecordDisposition(request, timeout=T)
        return first, again

    first, again = crm_cluster.run(scenario())
    assert (first.recorded, first.outcomes_recorded) == (True, 1)
    assert (again.recorded, again.outcomes_recorded) == (True, 0)      # counted once
    assert kept() == ([("k1", "e1", "sold", "card 4111 11** **** 1111")],
                      [("tv-1", "accepted", "O-1")])


def test_without_a_store_every_call_is_a_failed_precondition(make_cluster):
    with make_cluster() as cluster:
        crm = crm_pb2_grpc.CrmStub(cluster.channel)
        calls = [(crm.GetCustomer, crm_pb2.CustomerKey(customer_id="c1")),
                 (crm.PutCustomer, crm_pb2.Customer(**ADA)),
                 (crm.SearchCustomers, crm_pb2.CustomerQuery()),
                 (crm.SearchInteractions, crm_pb2.InteractionQuery()),
                 (crm.AddNote, crm_pb2.Note(customer_id="c1", text="x")),
                 (crm.ListNotes, crm_pb2.CustomerKey(customer_id="c1")),
                 (crm.RecordDisposition, crm_pb2.Disposition(
                     site="east", agent_id="e1", contact_id="k1", disposition="sold"))]
        for method, request in calls:
            code, details = cluster.run(failure(method(request, timeout=T)))
            assert (code, details) == (grpc.StatusCode.FAILED_PRECONDITION,
                                       "no customer store: start vcc serve with --db")


def test_a_store_that_does_not_answer_is_unavailable(make_cluster, tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/missing/vcc.db")     # no such directory
    with make_cluster(server_options={"customer_store": engine}) as cluster:
        crm = crm_pb2_grpc.CrmStub(cluster.channel)
        code, details = cluster.run(failure(crm.GetCustomer(
            crm_pb2.CustomerKey(phone="+14155552671"), timeout=T)))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert details.startswith("customer store: OperationalError: ") and "2671" not in details
    engine.dispose()
