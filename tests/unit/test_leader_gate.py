"""The leader gate's steps on a fake host: whatever the leadership does between two reads,
no host is ever opened (or kept) without a fencing token (issue 15)."""

import asyncio
from types import SimpleNamespace

from cluster.leader_gate import LeaderGate
from cluster.leadership import InProcessLeadership


class FakeHost:
    def __init__(self):
        self.closed = False

    def site_names(self):
        return []


class StepClock:
    """A monotonic clock that reads `before` for its first `calls` readings, then `after`:
    a deadline that passes at an exact point of the code under test, not by sleeping."""

    def __init__(self, before: float, after: float, calls: int = 1):
        self.before, self.after, self.calls = before, after, calls
        self.readings = 0

    def __call__(self) -> float:
        self.readings += 1
        return self.before if self.readings <= self.calls else self.after


def gate_on(leadership):
    opened, closed = [], []

    async def open_host(config, url, *, fencing_token, **options):
        opened.append(fencing_token)
        return FakeHost(), SimpleNamespace(recovered={}, started=[])

    async def close_host(host):
        closed.append(host)
        host.closed = True

    gate = LeaderGate(None, "sqlite://", leadership, open_host=open_host, close_host=close_host)
    return gate, opened, closed


def test_a_term_that_ends_between_the_leadership_check_and_the_token_read_opens_no_host():
    """The term's deadline passes right after the first reading of the clock: checking
    `is_leader()` and then reading `token` would see True, then None, and open an unfenced
    host (its writes carry no token: the journal cannot refuse them). One read decides."""
    clock = StepClock(before=999.9, after=1000.1)
    leadership = InProcessLeadership("n1", clock=clock)
    leadership._token, leadership._deadline = 7, 1000.0
    gate, opened, _ = gate_on(leadership)
    asyncio.run(gate._step())
    assert None not in opened, opened
    assert gate.token is not None or gate.host is None
    assert not gate.serving()


def test_a_leading_gate_stops_serving_at_its_deadline_and_steps_down():
    """Serving term 7; the deadline passes: `serving()` (checked on every RPC) is False at
    once, before the gate's next step, which closes the host."""
    clock = StepClock(before=999.0, after=999.0, calls=1_000_000)
    leadership = InProcessLeadership("n1", clock=clock)
    leadership._token, leadership._deadline = 7, 1000.0
    gate, opened, closed = gate_on(leadership)
    asyncio.run(gate._step())
    assert opened == [7] and gate.token == 7 and gate.serving()
    clock.calls, clock.after = clock.readings, 1000.1          # the deadline has passed
    assert not gate.serving()
    asyncio.run(gate._step())
    assert gate.host is None and len(closed) == 1 and not gate.serving()
    assert opened == [7]


def test_the_gate_never_opens_a_host_without_a_token():
    gate, opened, _ = gate_on(InProcessLeadership("n1"))
    asyncio.run(gate._take_over(None))
    assert opened == [] and gate.host is None
