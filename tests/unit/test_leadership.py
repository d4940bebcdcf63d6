"""Leadership without a network: the in-process backend, the etcd backend's term logic on a
fake etcd client (deadline step-down, lease expiry, lost campaigns), its settings, and the
journal's fencing on SQLite (an old token is refused, also after a restart)."""

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from cluster.leadership import ChangeKind, InProcessLeadership, LeaderInfo
from cluster.leadership.etcd import EtcdConfig, EtcdConfigError, EtcdLeadership, channel_target
from cluster.store.journal import JOURNAL, Journal, JournalError, StaleLeaderError
from sites import events as ev


def run(coroutine, timeout=20):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


# ---- the in-process backend -------------------------------------------------------------------
def test_in_process_leads_at_once_with_token_1_and_resigns():
    async def scenario():
        leadership = InProcessLeadership("solo", "127.0.0.1:50051")
        changes = []
        leadership.on_change(changes.append)
        assert not leadership.is_leader() and leadership.token is None
        assert await leadership.campaign() is True
        assert leadership.is_leader() and leadership.token == 1 and leadership.term == 1
        assert leadership.leader() == LeaderInfo("solo", "127.0.0.1:50051", 1)
        await leadership.resign()
        assert not leadership.is_leader() and leadership.leader() is None
        await leadership.close()
        with pytest.raises(RuntimeError, match="closed"):
            await leadership.campaign()
        return changes
    changes = run(scenario())
    assert [change.kind for change in changes] == [
        ChangeKind.LEADER_CHANGED, ChangeKind.GAINED, ChangeKind.LEADER_CHANGED, ChangeKind.LOST]
    assert changes[1].token == 1 and changes[3].reason == "resigned"


# ---- the etcd backend on a fake client ----------------------------------------------------------
class FakeEtcd:
    """Just what EtcdLeadership calls. `renewals` decides each keep-alive: "ok", "expired"
    or "hang" (never answers, like a dead etcd)."""

    def __init__(self, *, key_exists=False, renewals="ok", ttl=2):
        self.renewals, self.ttl = renewals, ttl
        self.revoked, self.refreshes = [], 0
        self.transactions = SimpleNamespace(
            create=lambda key: Compare(), put=lambda *a, **k: ("put", a),
            get=lambda key: ("get", key))
        self.next_lease = 100
        # The key as etcd holds it: another node's, or (once this one wins) ours.
        self.holder = SimpleNamespace(value=LeaderInfo("other", "127.0.0.1:1", 0).encode(),
                                      create_revision=41) if key_exists else None

    async def lease(self, ttl):
        self.next_lease += 1
        return SimpleNamespace(id=self.next_lease, ttl=self.ttl)

    async def transaction(self, compare, success, failure):
        if self.holder is not None:
            return False, [[(self.holder.value, self.holder)]]
        self.holder = SimpleNamespace(value=b'{"node_id":"me","address":"a"}',
                                      create_revision=42)
        return True, [None, [(self.holder.value, self.holder)]]

    async def refresh_lease(self, lease_id):
        self.refreshes += 1
        if self.renewals == "hang":
            await asyncio.sleep(3600)
        return SimpleNamespace(TTL=0 if self.renewals == "expired" else self.ttl)

    async def get(self, key):
        if self.holder is None:
            return None
        return SimpleNamespace(value=self.holder.value,
                               create_revision=self.holder.create_revision,
                               header=SimpleNamespace(revision=50))

    async def revoke_lease(self, lease_id):
        self.revoked.append(lease_id)

    async def watch_once(self, key, timeout=None, start_revision=None):
        await asyncio.sleep(timeout)
        from aetcd.exceptions import WatchTimeoutError
        raise WatchTimeoutError

    async def close(self):
        pass


class Compare:
    def __eq__(self, other):
        return self


def etcd_leadership(fake, **config):
    leadership = EtcdLeadership(EtcdConfig(ttl_s=2, safety_margin_s=0.5, **config), "me", "a")
    leadership._client = fake
    return leadership


def test_a_leader_whose_renewals_hang_steps_down_at_its_deadline_before_the_ttl():
    async def scenario():
        fake = FakeEtcd(renewals="hang")
        leadership = etcd_leadership(fake)
        changes = []
        leadership.on_change(changes.append)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await leadership.campaign(timeout=2) is True
        assert leadership.token == 42 and leadership.leader().token == 42
        # Bounded: the deadline is 1.5 s after the grant was sent.
        assert await leadership.wait_for(lambda: not leadership.is_leader(), 3)
        lost_after = loop.time() - started
        await leadership.close()
        return changes, lost_after, fake
    changes, lost_after, fake = run(scenario())
    lost = [change for change in changes if change.kind is ChangeKind.LOST]
    assert len(lost) == 1 and "deadline" in lost[0].reason
    # Stepped down by its own deadline = grant sent + TTL - margin, before the TTL ended.
    assert lost[0].at >= lost[0].deadline
    assert lost[0].deadline == pytest.approx(lost[0].renewed_at + 2 - 0.5)
    assert lost[0].at < lost[0].renewed_at + 2
    assert 1.4 <= lost_after < 2.0
    assert fake.refreshes >= 1 and 101 in fake.revoked    # lease revoked: standbys go at once


def test_is_leader_turns_false_by_the_clock_even_if_nothing_runs():
    """A paused process: no task ran since the deadline, is_leader() must still say False."""
    now = [1000.0]
    leadership = InProcessLeadership("solo", clock=lambda: now[0])
    leadership._token, leadership._deadline = 7, 1002.0
    assert leadership.is_leader() and leadership.token == 7
    now[0] = 1002.0
    assert not leadership.is_leader() and leadership.token is None and leadership.leader() is None


def test_a_lease_etcd_says_expired_ends_the_term():
    async def scenario():
        fake = FakeEtcd(renewals="expired")
        leadership = etcd_leadership(fake)
        changes = []
        leadership.on_change(changes.append)
        assert await leadership.campaign(timeout=2)
        assert await leadership.wait_for(lambda: not leadership.is_leader(), 3)
        await leadership.close()
        return changes
    lost = [c for c in run(scenario()) if c.kind is ChangeKind.LOST]
    assert lost and lost[0].reason == "etcd says the lease expired"


def test_a_renewing_leader_keeps_its_term_past_the_ttl():
    async def scenario():
        leadership = etcd_leadership(FakeEtcd(renewals="ok"))
        assert await leadership.campaign(timeout=2)
        first_deadline = leadership.deadline
        await asyncio.sleep(2.5)        # longer than the TTL: only renewals keep it
        still = leadership.is_leader(), leadership.token, leadership.deadline > first_deadline
        await leadership.close()
        return still, leadership.is_leader()
    (leading, token, moved), after_close = run(scenario())
    assert leading and token == 42 and moved
    assert not after_close


def test_a_lost_campaign_follows_the_leader_and_frees_its_lease():
    async def scenario():
        fake = FakeEtcd(key_exists=True)
        leadership = etcd_leadership(fake)
        assert await leadership.campaign(timeout=0.5) is False
        leader = leadership.leader()
        await leadership.close()
        return leader, fake
    leader, fake = run(scenario())
    assert leader == LeaderInfo("other", "127.0.0.1:1", 41)
    assert fake.revoked and fake.revoked[0] == 101


# ---- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, field", [
    ({"endpoints": ()}, "endpoints"), ({"endpoints": ("nohost",)}, "endpoints"),
    ({"endpoints": ("http://127.0.0.1:2379",)}, "scheme"), ({"ttl_s": 1}, "ttl_s"),
    ({"safety_margin_s": 1.5}, "safety_margin_s"), ({"prefix": "vcc"}, "prefix"),
    ({"ca_file": "ca.pem", "cert_file": "c.pem"}, "key_file"),
    ({"cert_file": "c.pem", "key_file": "k.pem"}, "ca_file"),
])
def test_bad_settings_name_the_setting(options, field):
    with pytest.raises(EtcdConfigError, match=field):
        EtcdConfig(**options)


def test_settings_defaults_and_targets():
    config = EtcdConfig(endpoints="127.0.0.1:1, 127.0.0.1:2")
    assert config.endpoints == ("127.0.0.1:1", "127.0.0.1:2")
    assert config.ttl_s == 3.0 and config.key == b"/vcc/leadership/leader"
    assert config.grant_ttl == 3 and config.renew_interval_s == 1.0
    assert channel_target(config.endpoints) == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert channel_target(("etcd.local:2379",)) == "etcd.local:2379"
    with pytest.raises(EtcdConfigError, match="IP address"):
        channel_target(("a.local:1", "b.local:2"))


def test_a_threaded_leadership_renews_while_the_servers_loop_is_blocked():
    """The server's loop busy for 3 s (a router catching up after a takeover) with a TTL of
    2 s: on its own thread the leadership goes on renewing and the term survives; its
    listeners are still called on the server's loop."""
    from cluster.leadership.threaded import ThreadedLeadership

    async def scenario():
        fake = FakeEtcd()
        leadership = ThreadedLeadership(lambda: etcd_leadership(fake))
        changes, loops = [], []
        caller = asyncio.get_running_loop()

        def listener(change):
            changes.append(change)
            loops.append(asyncio.get_running_loop() is caller)
        leadership.on_change(listener)
        assert await leadership.campaign(timeout=2) is True
        token, renewed = leadership.token, fake.refreshes
        time.sleep(3.0)                 # blocks this loop, as a long router round would
        assert leadership.is_leader() and leadership.token == token == 42
        assert fake.refreshes >= renewed + 3, (renewed, fake.refreshes)
        await leadership.close()
        assert not leadership.is_leader()
        await asyncio.sleep(0.1)        # the listener calls queued on this loop run now
        return changes, loops
    changes, loops = run(scenario())
    kinds = [change.kind for change in changes]
    # Gained once; lost only when closed (a lapse during the blocked loop would be a LOST
    # between them).
    assert kinds.count(ChangeKind.GAINED) == 1 and kinds.count(ChangeKind.LOST) == 1
    assert kinds.index(ChangeKind.GAINED) < kinds.index(ChangeKind.LOST)
    assert loops and all(loops)


def test_a_threaded_leadership_subscribes_without_waiting_for_its_thread():
    """`on_change` runs on the server's loop (LeaderGate.run): it must not wait for the
    leadership's thread, which may be busy (here: stuck in a call until released), or the
    whole gateway stalls with it. Changes then reach the listener on the subscriber's loop,
    in the order the backend made them; after unsubscribing, none."""
    from cluster.leadership.threaded import ThreadedLeadership

    async def scenario():
        leadership = ThreadedLeadership(lambda: InProcessLeadership("solo"))
        stuck, release, unstuck = threading.Event(), threading.Event(), threading.Event()

        def hold_the_thread():
            stuck.set()
            release.wait(3.0)               # bounded: a failing run ends after 3 s
            unstuck.set()
        leadership._loop.call_soon_threadsafe(hold_the_thread)
        assert stuck.wait(5.0)
        caller = asyncio.get_running_loop()
        seen, on_caller = [], []

        def listener(change):
            seen.append((change.kind, change.token))
            on_caller.append(asyncio.get_running_loop() is caller)
        try:
            unsubscribe = leadership.on_change(listener)
            # Returned while the leadership's thread was still held: it did not wait for it.
            assert not unstuck.is_set(), "on_change waited for the leadership's thread"
        finally:
            release.set()
        # What the backend emits, in its order, as seen on its own thread.
        made = []
        leadership.inner.on_change(lambda change: made.append((change.kind, change.token)))
        for _ in range(3):
            assert await leadership.campaign() is True
            assert leadership.token == 1
            await leadership.resign()
            assert leadership.token is None     # at once: no listener needed for that
        for _ in range(200):                    # bounded: at most 2 s
            if len(seen) >= len(made):
                break
            await asyncio.sleep(0.01)
        unsubscribe()
        delivered, made_before = len(seen), list(made)
        await leadership.campaign()
        await asyncio.sleep(0.05)
        after_unsubscribe = seen[delivered:]
        await leadership.close()
        return seen[:delivered], made_before, on_caller, after_unsubscribe
    seen, made, on_caller, after_unsubscribe = run(scenario())
    assert len(made) == 12 and seen == made
    assert on_caller and all(on_caller)
    assert after_unsubscribe == []


# ---- fencing in the journal (SQLite) -------------------------------------------------------------
def tokens_of(engine, site):
    with engine.connect() as connection:
        return connection.execute(sa.select(JOURNAL.c.fencing_token).where(
            JOURNAL.c.site == site).order_by(JOURNAL.c.seq)).scalars().all()


def test_the_journal_refuses_a_deposed_leaders_token_also_after_a_restart(engine):
    old = Journal(engine, fencing_token=5)
    assert old.append_now("east", [ev.Tick(1.0)]) == 1
    # A newer leader (another process, its own Journal) writes with token 6.
    new = Journal(engine, fencing_token=6)
    assert new.newest_token == 5
    assert new.append_now("east", [ev.Tick(2.0)]) == 2
    # The deposed leader's late write: refused inside its transaction, nothing written.
    with pytest.raises(StaleLeaderError, match=r"fencing token 5 refused.*token 6.*'east'"):
        old.append_now("east", [ev.Tick(3.0)])
    with pytest.raises(JournalError, match="stopped.*fencing token 5 refused"):
        old.append_now("west", [ev.Tick(3.0)])        # and its journal has stopped
    old.close()
    new.close()
    assert tokens_of(engine, "east") == [5, 6]
    # A restarted process still knows token 6 (from the database): token 5 is refused at
    # once, for any site, before anything is numbered or queued.
    restarted = Journal(engine, fencing_token=5)
    assert restarted.newest_token == 6
    with pytest.raises(StaleLeaderError, match="fencing token 5 refused"):
        restarted.append_now("west", [ev.Tick(4.0)])
    assert restarted.last_seq("west") == 0
    # The same process may go on with a current token, per append or by default.
    assert restarted.append_now("west", [ev.Tick(4.0)], fencing_token=6) == 1
    restarted.fencing_token = 7
    assert restarted.append_now("east", [ev.Tick(5.0)]) == 3
    with pytest.raises(StaleLeaderError, match="token 7"):
        restarted.append_now("east", [ev.Tick(6.0)], fencing_token=6)
    restarted.close()
    assert tokens_of(engine, "east") == [5, 6, 7] and tokens_of(engine, "west") == [6]


def test_an_async_append_with_a_stale_token_fails_its_future_and_stops_the_journal(engine):
    async def scenario():
        old = Journal(engine, fencing_token=3)
        await old.append("east", [ev.Tick(1.0)])
        new = Journal(engine, fencing_token=4)
        await new.append("east", [ev.Tick(2.0)])
        with pytest.raises(StaleLeaderError, match="fencing token 3 refused"):
            await old.append("east", [ev.Tick(3.0)])
        with pytest.raises(JournalError):
            old.append("east", [ev.Tick(4.0)])
        await new.aclose()
        await old.aclose()
    run(scenario())
    assert tokens_of(engine, "east") == [3, 4]


def check_a_write_waits_for_a_claim_in_flight_and_is_refused(engine):
    """The race the site fence closes: a newer leader's claim has locked the site's fence but
    not committed yet when the older leader writes. The older write must wait for the claim
    and then be refused; it must not commit next to it unseen (the new leader recovers right
    after its claim, so a write it cannot see would be a lost contact)."""
    from cluster.store.journal import FENCES

    old = Journal(engine, fencing_token=5)
    assert old.append_now("east", [ev.Tick(1.0)]) == 1
    claim = engine.connect()
    claim.execute(FENCES.update().where(FENCES.c.site == "east").values(token=6))
    outcome = {}

    def late_write():
        try:
            outcome["seq"] = old.append_now("east", [ev.Tick(2.0)])
        except Exception as error:          # noqa: BLE001 - the test looks at it
            outcome["error"] = error

    writer = threading.Thread(target=late_write, daemon=True)
    writer.start()
    writer.join(0.5)
    assert writer.is_alive(), f"the old write did not wait for the claim: {outcome}"
    claim.commit()
    claim.close()
    writer.join(10)
    assert not writer.is_alive()
    assert isinstance(outcome.get("error"), StaleLeaderError), outcome
    assert "fencing token 5 refused" in str(outcome["error"])
    old.close()
    assert tokens_of(engine, "east") == [5]


def test_a_write_waits_for_a_claim_in_flight_and_is_refused(engine):
    check_a_write_waits_for_a_claim_in_flight_and_is_refused(engine)


def test_a_journal_written_before_fences_gets_them_from_its_newest_tokens(tmp_path):
    """Migration 0002 starts each site's fence at its newest journal token."""
    from cluster.store.db import open_engine
    from cluster.store.journal import FENCES
    from cluster.store.migrate import upgrade

    engine = open_engine(f"sqlite:///{tmp_path}/old.db")
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(JOURNAL.insert(), [
            {"site": "east", "seq": 1, "fencing_token": 4, "event_type": "Tick",
             "payload": {}, "time": 1.0},
            {"site": "east", "seq": 2, "fencing_token": 7, "event_type": "Tick",
             "payload": {}, "time": 2.0},
            {"site": "west", "seq": 1, "fencing_token": None, "event_type": "Tick",
             "payload": {}, "time": 1.0}])
    upgrade(engine)
    with engine.connect() as connection:
        assert dict(connection.execute(sa.select(FENCES.c.site, FENCES.c.token)).all()) \
            == {"east": 7}
    with pytest.raises(StaleLeaderError, match="fencing token 6 refused.*token 7"):
        Journal(engine, fencing_token=6).append_now("west", [ev.Tick(3.0)])
    engine.dispose()


def test_entries_without_a_token_are_not_fenced(engine):
    """A process without leadership (tools, the old embedded path) writes unchecked."""
    fenced = Journal(engine, fencing_token=9)
    fenced.append_now("east", [ev.Tick(1.0)])
    fenced.close()
    plain = Journal(engine)
    assert plain.append_now("east", [ev.Tick(2.0)]) == 2
    plain.close()
    assert tokens_of(engine, "east") == [9, None]
