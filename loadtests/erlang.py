"""Erlang C predictions for a single-skill M/M/c queue (no abandons, FIFO within a class).

What planners check a simulation or a live run against: Poisson arrivals at `rate_per_s`,
exponential handle times of mean `aht_s`, `agents` identical servers.
"""

from __future__ import annotations

import math


def _offered_load(agents: int, rate_per_s: float, aht_s: float) -> float:
    if agents < 1:
        raise ValueError(f"agents must be >= 1, got {agents!r}")
    if rate_per_s <= 0 or aht_s <= 0:
        raise ValueError("rate_per_s and aht_s must be > 0")
    load = rate_per_s * aht_s
    if load >= agents:
        raise ValueError(f"offered load {load:.3f} erlangs >= {agents} agents: no steady state")
    return load


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability, by the stable recurrence B(n) = A·B(n-1) / (n + A·B(n-1))."""
    blocking = 1.0
    for servers in range(1, agents + 1):
        blocking = load * blocking / (servers + load * blocking)
    return blocking


def probability_of_wait(agents: int, rate_per_s: float, aht_s: float) -> float:
    """Erlang C: the chance an arriving contact finds every agent busy."""
    load = _offered_load(agents, rate_per_s, aht_s)
    blocking = erlang_b(agents, load)
    occupancy = load / agents
    return blocking / (1.0 - occupancy * (1.0 - blocking))


def average_speed_of_answer(agents: int, rate_per_s: float, aht_s: float) -> float:
    """Mean wait over all contacts: C / (c·mu - lambda)."""
    return probability_of_wait(agents, rate_per_s, aht_s) / (agents / aht_s - rate_per_s)


def service_level(agents: int, rate_per_s: float, aht_s: float, threshold_s: float) -> float:
    """Fraction answered within `threshold_s`: 1 - C·exp(-(c·mu - lambda)·t)."""
    waiting = probability_of_wait(agents, rate_per_s, aht_s)
    return 1.0 - waiting * math.exp(-(agents / aht_s - rate_per_s) * threshold_s)
