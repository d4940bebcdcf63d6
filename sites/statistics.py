"""Real-time statistics of a skill over a rolling window (SPEC §2: ASA, SL, SL2, AHT)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SkillStatistics:
    skill: str
    staffed: int                  # logged-in agents with the skill
    serving: int                  # of those, not in not_ready
    ready: int                    # could take a contact of the skill now
    queued: tuple                 # per priority, top first
    oldest_wait_s: float | None
    ewt_s: tuple                  # per priority, for a contact entering now; None = unbounded
    answered: int                 # in the window
    abandoned: int
    asa_s: float | None
    sl_pct: float | None          # answered within threshold / answered
    sl2_pct: float | None         # answered within threshold / (answered + abandoned)
    aht_s: float | None


@dataclass(frozen=True, slots=True)
class SkillStatus:
    """What a site publishes to the virtual center for one skill and channel (BSR)."""
    site: str
    skill: str
    channel: object               # sites.model.Channel
    time: float                   # when it was true
    staffed: int
    available: int                # agents who could take a contact now
    ewt_s: tuple                  # per priority for a contact entering now; None = unbounded
    queued: int
    oldest_arrival: float | None


class RollingSkillCounters:
    """Answers, abandons and handle times of the last `window_s` seconds, O(1) amortized."""

    def __init__(self, window_s: float, sl_threshold_s: float):
        self.window_s = window_s
        self.sl_threshold_s = sl_threshold_s
        self._answers = deque()        # (time, wait, within threshold)
        self._wait_sum = 0.0
        self._within = 0
        self._abandons = deque()       # time
        self._handles = deque()        # (time, handle seconds)
        self._handle_sum = 0.0

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        answers = self._answers
        while answers and answers[0][0] <= horizon:
            _, wait, within = answers.popleft()
            self._wait_sum -= wait
            self._within -= within
        abandons = self._abandons
        while abandons and abandons[0] <= horizon:
            abandons.popleft()
        handles = self._handles
        while handles and handles[0][0] <= horizon:
            self._handle_sum -= handles.popleft()[1]
        if not answers:
            self._wait_sum = 0.0       # drop accumulated rounding once the window empties
        if not handles:
            self._handle_sum = 0.0

    def note_answer(self, now: float, wait_s: float) -> None:
        self._expire(now)
        within = 1 if wait_s <= self.sl_threshold_s else 0
        self._answers.append((now, wait_s, within))
        self._wait_sum += wait_s
        self._within += within

    def note_abandon(self, now: float) -> None:
        self._expire(now)
        self._abandons.append(now)

    def note_handled(self, now: float, handle_s: float) -> None:
        self._expire(now)
        self._handles.append((now, handle_s))
        self._handle_sum += handle_s

    def aht(self, now: float) -> float | None:
        self._expire(now)
        return self._handle_sum / len(self._handles) if self._handles else None

    def snapshot(self, now: float):
        """(answered, abandoned, asa_s, sl_pct, sl2_pct, aht_s) over the window."""
        self._expire(now)
        answered = len(self._answers)
        abandoned = len(self._abandons)
        asa = self._wait_sum / answered if answered else None
        sl = 100.0 * self._within / answered if answered else None
        sl2 = 100.0 * self._within / (answered + abandoned) if answered + abandoned else None
        aht = self._handle_sum / len(self._handles) if self._handles else None
        return answered, abandoned, asa, sl, sl2, aht
