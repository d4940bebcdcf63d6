"""Expected wait time (EWT) of a contact at a given place in a skill's queue.

With every serving agent busy, departures come at about `serving / aht` per second, so the
contact at place k (1 = next) waits for the k-th departure: k * aht / serving. Agents already
available take the first places at once. Multi-skilled agents also serve other skills, so
this is optimistic for them; the prediction error is reported (SPEC §8) to keep it honest.
"""

from __future__ import annotations


def expected_wait(place: int, available: int, serving: int, aht_s: float) -> float | None:
    """Seconds until the contact at `place` (1-based, priority-aware) is answered.

    `serving` counts agents with the skill who are logged in and not in not_ready (they will
    take work when free); `available` those who could take it right now. None when nobody
    serves the skill: the wait is unbounded.
    """
    if serving <= 0:
        return None
    waiting_for = place - available
    if waiting_for <= 0:
        return 0.0
    return waiting_for * aht_s / serving
