"""Expected wait time (EWT) of a contact at a given place in a skill's queue.

With every serving agent busy, departures come at `serving / aht` per second. Without
abandonment the contact at place k (1 = next) waits for the k-th departure: k * aht / serving.
With abandonment each contact ahead may also hang up, at rate theta (1 / mean patience), so
the line moves faster the longer it is: while the contact is at place m, it moves on at
`serving / aht + (m - 1) * theta`. The EWT is announced to callers and judged over the ones
who are answered (SPEC §8); a caller who is answered is one whose own patience outlasted the
wait, which, with exponential patience, adds theta to each of those rates. So the EWT of
place k is the sum over m = 1..k of 1 / (serving / aht + m * theta): Ibrahim & Whitt's
queue-length predictor for the Erlang A model, conditioned on being answered. Agents already
available take the first places at once. Multi-skilled agents also serve other skills, so
this is optimistic for them; the prediction error is reported (SPEC §8) to keep it honest.

`ServiceEstimates` learns aht and theta from what the site saw, with a memory counted in
contacts rather than seconds, so that a busy skill's figures are no noisier than a quiet
one's (a short window made the EWT jump with every few long calls).
"""

from __future__ import annotations

import math

# Direct terms of the sum before the closed form takes over; 8 also keeps the closed form's
# arguments >= 9, where its series is exact to about 1e-10.
_DIRECT_TERMS = 8


def expected_wait(place: int, available: int, serving: int, aht_s: float,
                  abandon_rate_per_s: float = 0.0) -> float | None:
    """Seconds until the contact at `place` (1-based, priority-aware) is answered, for a
    caller who stays until then.

    `serving` counts agents with the skill who are logged in and not in not_ready (they will
    take work when free); `available` those who could take it right now;
    `abandon_rate_per_s` is 1 / the callers' mean patience (0: nobody abandons). None when
    nobody serves the skill: the wait is unbounded.
    """
    if serving <= 0:
        return None
    waiting_for = place - available
    if waiting_for <= 0:
        return 0.0
    if abandon_rate_per_s <= 0.0 or aht_s <= 0.0:
        # (an AHT of 0 -- contacts ended as soon as answered -- is service at once: 0 s)
        return waiting_for * aht_s / serving
    # sum_{m=1..k} 1 / (c·mu + m·theta) = (1 / theta) · sum_{m=1..k} 1 / (c·mu / theta + m)
    offset = serving / (aht_s * abandon_rate_per_s)
    return _sum_of_inverses(offset, waiting_for) / abandon_rate_per_s


def _sum_of_inverses(offset: float, count: int) -> float:
    """sum_{m=1..count} 1 / (offset + m), offset >= 0, in constant time: a queue of
    thousands costs what a queue of ten does (the EWT is computed on every queued arrival)."""
    direct = min(count, _DIRECT_TERMS)
    total = 0.0
    for m in range(1, direct + 1):
        total += 1.0 / (offset + m)
    if count > direct:
        # The rest is digamma(offset + count + 1) - digamma(offset + direct + 1), written as
        # a log ratio plus the difference of the series' corrections (no cancellation when
        # the offset is huge, i.e. abandonment is rare).
        low = offset + direct + 1.0
        high = offset + count + 1.0
        total += math.log1p((count - direct) / low) + _digamma_minus_log(high) \
            - _digamma_minus_log(low)
    return total


def _digamma_minus_log(y: float) -> float:
    """digamma(y) - ln(y) by its asymptotic series, for y >= 9."""
    inverse = 1.0 / y
    squared = inverse * inverse
    return -0.5 * inverse - squared * (1.0 / 12 - squared * (1.0 / 120 - squared / 252))


class ServiceEstimates:
    """A skill's handle time and abandonment rate for its EWT, exponentially decayed per
    contact: each new observation weighs 1, an older one `1 - 1/memory` times less per
    later observation, so about the last `memory` contacts count.

    The AHT is the decayed mean of handle times (answer to the end of wrap-up: how long the
    agent was taken). The abandonment rate is the maximum-likelihood rate of exponential
    patience: decayed abandons / decayed time waited by every contact that left the queue
    (answered contacts are patience that outlasted their wait), plus `PRIOR_WAIT_S`.
    """

    HANDLE_MEMORY = 1000        # handled contacts
    QUEUE_MEMORY = 1000         # contacts that left the queue after waiting
    # Waiting time counted as if callers had already waited that long in all without
    # hanging up: the first abandon after a few seconds must not make the rate (and the
    # EWT) collapse. Once the skill has waited hours, it weighs a few percent at most.
    PRIOR_WAIT_S = 600.0

    __slots__ = ("handle_sum_s", "handle_weight", "abandons", "waited_s")

    def __init__(self, handle_sum_s: float = 0.0, handle_weight: float = 0.0,
                 abandons: float = 0.0, waited_s: float = 0.0):
        self.handle_sum_s = handle_sum_s
        self.handle_weight = handle_weight
        self.abandons = abandons
        self.waited_s = waited_s

    def note_handled(self, handle_s: float) -> None:
        keep = 1.0 - 1.0 / self.HANDLE_MEMORY
        self.handle_sum_s = self.handle_sum_s * keep + handle_s
        self.handle_weight = self.handle_weight * keep + 1.0

    def note_left_queue(self, waited_s: float, abandoned: bool) -> None:
        """A contact answered or abandoned after waiting `waited_s` (0: it never waited)."""
        if waited_s <= 0.0 and not abandoned:
            return      # no exposure to patience: it would only dilute the memory
        keep = 1.0 - 1.0 / self.QUEUE_MEMORY
        self.abandons = self.abandons * keep + (1.0 if abandoned else 0.0)
        self.waited_s = self.waited_s * keep + max(waited_s, 0.0)

    def aht(self) -> float | None:
        """None before the first handled contact (the skill's aht_estimate_s then)."""
        return self.handle_sum_s / self.handle_weight if self.handle_weight > 0.0 else None

    def abandon_rate_per_s(self) -> float:
        return self.abandons / (self.waited_s + self.PRIOR_WAIT_S)

    def to_list(self) -> list:
        return [self.handle_sum_s, self.handle_weight, self.abandons, self.waited_s]
