"""Agents needed per forecast interval (`vcc staff`, SPEC §11): Erlang C, or Erlang A when
callers have a patience, against a service-level or ASA target and an occupancy ceiling.

Each interval is staffed on its own, in steady state (the planners' usual method; `vcc staff
--verify` shows where a time-varying day makes it fall short). The service level targeted is
SL2 of SPEC §2: answered within the threshold over answered + abandoned. Without abandons
(Erlang C) it is the SL; with them it is the stricter of the two, so a caller who hangs up
counts as missed (the SL of the answered alone rises as more callers give up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sites import erlang


@dataclass(frozen=True)
class Target:
    """`sl_pct` % answered within `threshold_s` (--sl 80/20), or a mean wait of at most
    `asa_s` (--asa S: sl_pct None); the SL is reported at `threshold_s` either way."""
    sl_pct: float | None = 80.0
    threshold_s: float = 20.0
    asa_s: float | None = None

    def value(self, sl2_pct: float | None, asa_s: float | None) -> float | None:
        """The figure the target holds."""
        return asa_s if self.asa_s is not None else sl2_pct

    def met(self, sl2_pct: float | None, asa_s: float | None) -> bool:
        if self.asa_s is not None:
            return asa_s is None or asa_s <= self.asa_s + 1e-9
        return sl2_pct is None or sl2_pct >= self.sl_pct - 1e-9

    def text(self) -> str:
        if self.asa_s is not None:
            return f"ASA <= {self.asa_s:g} s"
        return f"SL {self.sl_pct:g}/{self.threshold_s:g}"


@dataclass(frozen=True)
class Prediction:
    """Steady-state figures of one interval with `agents` agents (percentages, seconds)."""
    agents: int
    sl_pct: float | None          # of the answered (SPEC §2 SL)
    sl2_pct: float | None         # of answered + abandoned: the one the target is held to
    abandon_pct: float
    asa_s: float | None
    occupancy_pct: float


def predict(agents: int, volume: float, aht_s: float, interval_s: float, threshold_s: float,
            patience_s: float | None = None) -> Prediction:
    """Erlang C (patience None) or Erlang A figures; an interval without calls has none."""
    if volume <= 0:
        return Prediction(agents, None, None, 0.0, None, 0.0)
    rate = volume / interval_s
    if patience_s is None:
        if agents <= rate * aht_s:      # no steady state: the queue grows without bound
            return Prediction(agents, 0.0, 0.0, 0.0, math.inf, 100.0)
        sl = 100.0 * erlang.service_level(agents, rate, aht_s, threshold_s)
        return Prediction(agents, sl, sl, 0.0,
                          erlang.average_speed_of_answer(agents, rate, aht_s),
                          100.0 * rate * aht_s / agents)
    if agents < 1:
        return Prediction(agents, None, 0.0, 100.0, None, 0.0)
    figures = erlang.erlang_a(agents, rate, aht_s, patience_s, threshold_s)
    answered = 1.0 - figures.abandon
    return Prediction(agents, 100.0 * min(1.0, figures.answered_within / answered),
                      100.0 * figures.answered_within, 100.0 * figures.abandon,
                      figures.asa_s, 100.0 * figures.occupancy)


def agents_needed(volume: float, aht_s: float, interval_s: float, target: Target,
                  max_occupancy: float, patience_s: float | None = None) -> Prediction:
    """The fewest agents that meet `target` with an occupancy of at most `max_occupancy`
    (0..1), and their figures. SL, ASA and occupancy only improve with each agent added,
    so the search doubles up from the offered load and then halves back."""
    if volume <= 0:
        return predict(0, volume, aht_s, interval_s, target.threshold_s, patience_s)

    def enough(agents: int) -> Prediction | None:
        figures = predict(agents, volume, aht_s, interval_s, target.threshold_s, patience_s)
        fits = figures.occupancy_pct <= 100.0 * max_occupancy + 1e-9 \
            and target.met(figures.sl2_pct, figures.asa_s)
        return figures if fits else None

    low = max(0, math.floor(volume / interval_s * aht_s * (0.5 if patience_s else 1.0)))
    while low > 0 and enough(low) is not None:
        low //= 2
    high = max(1, 2 * low)
    while enough(high) is None:
        low, high = high, 2 * high
    while high - low > 1:                       # enough(high), not enough(low)
        middle = (low + high) // 2
        if enough(middle) is None:
            low = middle
        else:
            high = middle
    return enough(high)


def scheduled(agents: int, shrinkage: float) -> int:
    """Agents to schedule so that `agents` remain after shrinkage (breaks, training,
    absence: the share of paid time not on the phones)."""
    # 14 / (1 - 0.3) is 20.000000000000004 in floating point: 20, not 21.
    return math.ceil(agents / (1.0 - shrinkage) - 1e-9)


@dataclass(frozen=True)
class IntervalPlan:
    interval: object            # loadtests.forecast.Interval
    prediction: Prediction
    scheduled: int

    @property
    def agents(self) -> int:
        return self.prediction.agents


def plan(forecast, target: Target, max_occupancy: float, shrinkage: float,
         patience_s: float | None = None) -> list:
    """An IntervalPlan per interval of `forecast` (loadtests.forecast.Forecast)."""
    plans = []
    for interval in forecast.intervals:
        figures = agents_needed(interval.volume, interval.aht_s, forecast.interval_s, target,
                                max_occupancy, patience_s)
        plans.append(IntervalPlan(interval, figures, scheduled(figures.agents, shrinkage)))
    return plans
