"""`vcc staff --verify` and `--iterate`: a staffing plan played through the simulator of
`vcc simulate`, and raised where it falls short.

One simulation of the whole forecast per replication, with time-varying arrivals and
staffing: Poisson callers at each interval's volume, exponential handle times of its AHT
(and patience, when given), and from each interval's start its planned agents ready
(loadtests/simulator.py, `staffing`). A queue left at the end of a busy interval carries into
the next, and agents sent off at an interval's end finish their calls first: the time-varying
load that staffing each interval on its own, in steady state, leaves out. An interval without
calls keeps the agents of the one before (they empty the queue before leaving).

Replications pool their contacts per interval (of arrival). Every run of one Verifier plays
the same callers (common random numbers), so a change between two runs comes from the
staffing, not from luck. Iterative staffing (Feldman, Mandelbaum, Massey & Whitt 2008,
"Staffing of time-varying queues to achieve time-stable performance"): simulate, add an
agent to every interval that misses the target, simulate again, until none does.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass

import yaml

from loadtests.report import Tally
from loadtests.scenario import parse_scenario
from loadtests.simulator import Simulation
from loadtests.staffing import Target
from loadtests.trace import Arrival

SITE, SKILL = "center", "calls"
MAX_ROUNDS = 50
Z_ONE_SIDED_95 = 1.645


@dataclass(frozen=True)
class Outcome:
    """What the simulation gave one interval (its callers, by arrival, over every
    replication): SL of the answered, SL2 with the abandoned, ASA, occupancy of the planned
    agents (answered work inside the interval over agents x length). `margin`: 1.645
    standard errors of the figure the target holds, from the spread of the replications'
    own figures (a one-sided 95 % bound: more replications, less noise)."""
    agents: int
    offered: int
    answered: int
    abandoned: int
    sl_pct: float | None
    sl2_pct: float | None
    asa_s: float | None
    occupancy_pct: float | None
    margin: float               # the noise of the figure held to the target
    met: bool


@dataclass(frozen=True)
class Iteration:
    rounds: int                 # simulations run (the first is the plan's --verify)
    agents: list
    outcomes: list
    met: bool                   # every interval meets the target


class Verifier:
    """Plays `forecast` (loadtests.forecast.Forecast) with one staffing or another."""

    def __init__(self, forecast, target: Target, patience_s: float | None = None,
                 seed: int = 1, replications: int = 20):
        self.forecast = forecast
        self.target = target
        self.patience_s = patience_s
        self.seed = seed
        self.replications = replications

    def arrivals(self, day: int) -> list:
        """The callers of simulated day `day` (0-based), the same every time."""
        rng = random.Random(f"vcc-staff-{self.seed}-{day}")
        arrivals = []
        length = self.forecast.interval_s
        for interval in self.forecast.intervals:
            if interval.volume <= 0:
                continue
            now, end = interval.offset_s, interval.offset_s + length
            while True:
                now += rng.expovariate(interval.volume / length)
                if now >= end:
                    break
                patience = rng.expovariate(1.0 / self.patience_s) if self.patience_s else None
                arrivals.append(Arrival(now, 0, f"c{len(arrivals) + 1}",
                                        rng.expovariate(1.0 / interval.aht_s), patience))
        return arrivals

    def run(self, agents: list, progress=None) -> list:
        """An Outcome per interval with `agents[k]` agents in interval k; `progress()` after
        each replication."""
        scenario = self._scenario(max(agents))
        staffing = [(interval.offset_s, SITE, count)
                    for interval, count in zip(self.forecast.intervals, agents)
                    if interval.volume > 0 or count > 0]
        length = self.forecast.interval_s
        place = {round(interval.offset_s / length): number
                 for number, interval in enumerate(self.forecast.intervals)}
        pooled = [Tally() for _ in self.forecast.intervals]
        daily = [[] for _ in self.forecast.intervals]   # each day's figure the target holds
        work = [0.0] * len(self.forecast.intervals)
        threshold = self.target.threshold_s
        for number in range(self.replications):
            result = Simulation(scenario, seed=self.seed + number, arrivals=self.arrivals(number),
                                staffing=staffing).run()
            day = [Tally() for _ in self.forecast.intervals]
            for record in result.records:
                slot = place[int(record.arrival_time // length)]
                day[slot].add(record, threshold)
                pooled[slot].add(record, threshold)
                if record.answer_time is not None and record.end_time is not None:
                    _add_work(work, place, length, record.answer_time, record.end_time)
            for values, figures in zip(daily, (tally.row() for tally in day)):
                value = self.target.value(figures["sl2_pct"], figures["asa_s"])
                if value is not None:
                    values.append(value)
            if progress is not None:
                progress()
        outcomes = []
        for count, tally, values, busy in zip(agents, pooled, daily, work):
            figures = tally.row()
            # The noise of the pooled figure: the spread of the days' own figures.
            margin = (Z_ONE_SIDED_95 * statistics.stdev(values) / math.sqrt(len(values))
                      if len(values) > 1 else 0.0)
            capacity = count * length * self.replications
            outcomes.append(Outcome(
                count, figures["offered"], figures["answered"], figures["abandoned"],
                figures["sl_pct"], figures["sl2_pct"], figures["asa_s"],
                round(100.0 * busy / capacity, 2) if capacity else None, round(margin, 2),
                self.target.met(figures["sl2_pct"], figures["asa_s"])))
        return outcomes

    def iterate(self, agents: list, max_rounds: int = MAX_ROUNDS, progress=None,
                first: list | None = None) -> Iteration:
        """Raise `agents` where the simulation misses the target until none does; `first`:
        the outcomes of `agents` already run (`run(agents)`)."""
        agents = list(agents)
        for rounds in range(1, max_rounds + 1):
            outcomes = first if rounds == 1 and first is not None else self.run(agents, progress)
            short = [number for number, outcome in enumerate(outcomes) if not outcome.met]
            if not short or rounds == max_rounds:
                return Iteration(rounds, agents, outcomes, not short)
            for number in short:
                agents[number] += 1
        raise ValueError("max_rounds must be >= 1")

    def _scenario(self, agents: int):
        """One site, one skill (FIFO, the target's threshold), `agents` agents; the
        arrivals come with their own handle times and patience."""
        length = self.forecast.interval_s
        peak = max(interval.volume for interval in self.forecast.intervals)
        aht = max([1.0] + [interval.aht_s for interval in self.forecast.intervals])
        stream = {"site": SITE, "skill": SKILL, "rate_per_hour": max(peak, 1.0) * 3600 / length,
                  "handle_time": {"dist": "exponential", "mean_s": aht}}
        if self.patience_s:
            stream["patience"] = {"dist": "exponential", "mean_s": self.patience_s}
        document = {
            "duration_s": self.forecast.duration_s,
            "skills": {SKILL: {"queueing": "fifo", "sl_threshold_s": self.target.threshold_s}},
            "sites": {SITE: {"agents": [{"count": max(1, agents), "skills": {SKILL: 1}}]}},
            "traffic": [stream]}
        return parse_scenario(yaml.safe_dump(document), f"{self.forecast.path} (as a scenario)")


def _add_work(work: list, place: dict, length: float, start: float, end: float) -> None:
    """Spread the talk from `start` to `end` over the intervals it overlaps (time in a gap
    between intervals counts nowhere)."""
    while start < end:
        slot = int(start // length)
        edge = min(end, (slot + 1) * length)
        if slot in place:
            work[place[slot]] += edge - start
        start = edge
