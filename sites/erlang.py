"""Erlang C and Erlang A predictions for a single-skill queue (FIFO within a class).

What planners staff with (`vcc staff`) and check a simulation or a live run against: Poisson
arrivals at `rate_per_s`, exponential handle times of mean `aht_s`, `agents` identical
servers; Erlang C when nobody abandons (M/M/c), Erlang A when callers hang up after an
exponential patience (M/M/c+M). Pure arithmetic: no imports beyond the standard library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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


# ---- Erlang A (M/M/n+M): callers who hang up after an exponential patience ----------------------
#
# Arrivals at rate lambda, handle times of mean 1/mu, patience of mean 1/theta, n agents (always
# stable). With b = n·mu/theta and c = lambda/theta, the states with k callers queued have
# probability pi_n · w_k, w_k = c^k / ((b+1)(b+2)...(b+k)). A caller who finds k queued ahead
# is answered with probability b / (b+k+1) (the line ahead moves at n·mu + m·theta, and the
# caller's own patience runs at theta), after a wait that is a sum of exponentials of rates
# n·mu + i·theta, i = 1..k+1: its mean is sites/ewt.py's EWT of place k+1, and it is below t
# with probability I_p(k+1, b+1), p = 1 - exp(-theta·t) (regularized incomplete beta). Summed
# over k, the answered-within-t mass has the closed form
#     pi_n · b/(b+1) · [S(c) - exp(c·p - theta·t·(b+1)) · S(c·exp(-theta·t))],
#     S(y) = sum_k y^k / ((b+2)(b+3)...(b+k+1)),
# and S(c)·b/(b+1) = sum_k w_k·b/(b+k+1), S(y)·b/(b+1) = sum_k w_k·b/(b+k+1)·exp(-k·theta·t):
# every figure below is one pass over k, in logarithms (w_k overflows a float for c > 700).

_NEGLIGIBLE = 45.0          # terms below exp(-45) of the largest do not change a float sum


@dataclass(frozen=True)
class ErlangA:
    """Erlang A figures over all arrivals (PASTA): `p_wait` finds every agent busy; `abandon`
    hangs up before an answer; `answered_within` is answered within the threshold; `asa_s` the
    mean wait of the answered; `occupancy` the carried load per agent."""
    p_wait: float
    abandon: float
    answered_within: float
    asa_s: float
    occupancy: float


def erlang_a(agents: int, rate_per_s: float, aht_s: float, patience_s: float,
             threshold_s: float) -> ErlangA:
    """The M/M/n+M queue's steady state (Palm; Garnett, Mandelbaum & Reiman 2002)."""
    if agents < 1:
        raise ValueError(f"agents must be >= 1, got {agents!r}")
    if rate_per_s <= 0 or aht_s <= 0 or patience_s <= 0 or threshold_s < 0:
        raise ValueError("rate_per_s, aht_s and patience_s must be > 0, threshold_s >= 0")
    theta = 1.0 / patience_s
    b = agents * patience_s / aht_s
    c = rate_per_s * patience_s
    load = rate_per_s * aht_s
    decay = theta * threshold_s
    logs, served, slowed, waits = _queue_terms(b, c, decay)
    top = max(logs)
    total = sum(math.exp(value - top) for value in logs)              # sum w_k, scaled
    blocking = erlang_b(agents, load)
    if blocking <= 0.0:             # so many agents that nobody ever waits
        return ErlangA(0.0, 0.0, 1.0, 0.0, load / agents)
    # pi_n = 1 / (1/B - 1 + sum w_k): in the same scale as the sums
    idle_states = (1.0 / blocking - 1.0)
    scale = (math.exp(math.log(idle_states) - top) if idle_states > 0 else 0.0) + total
    p_wait = total / scale
    p_served = served / scale                                           # queued, then answered
    # answered within t among the queued: S(c) - exp(c·p - theta·t·(b+1))·S(y), S(y) ~ slowed
    late = math.exp(math.log(slowed) - math.log(served) + c * -math.expm1(-decay)
                    - decay * (b + 1.0)) if slowed > 0 else 0.0
    within_queued = p_served * max(0.0, 1.0 - late)
    abandon = p_wait - p_served
    answered = 1.0 - abandon
    return ErlangA(p_wait, abandon, (1.0 - p_wait) + within_queued,
                   waits / scale / theta / answered, load * answered / agents)


def _queue_terms(b: float, c: float, decay: float) -> tuple:
    """log w_k for k = 0.. until negligible, and (scaled by exp(-max log w_k)) the sums of
    w_k·b/(b+k+1) (answered), the same times exp(-k·decay) (answered, for the threshold),
    and times H_{k+1} = sum_{i<=k+1} 1/(b+i) (the wait of the answered, in 1/theta)."""
    logs = [0.0]
    log_c = math.log(c)
    top = 0.0
    k = 0
    while True:             # the terms rise while k < c - b, then fall
        k += 1
        value = logs[-1] + log_c - math.log(b + k)
        logs.append(value)
        top = max(top, value)
        if k > c - b and value < top - _NEGLIGIBLE:
            break
    top = max(logs)
    served = slowed = waits = 0.0
    harmonic = 0.0
    for k, value in enumerate(logs):
        weight = math.exp(value - top) * b / (b + k + 1.0)
        harmonic += 1.0 / (b + k + 1.0)
        served += weight
        slowed += weight * math.exp(-k * decay)
        waits += weight * harmonic
    return logs, served, slowed, waits
