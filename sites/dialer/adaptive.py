"""The baseline predictive pacing: an adaptive dial level in the style of VICIdial's
AST_VDadapt (its ADAPT_HARD_LIMIT method), to measure the model-based pacer against.

The dial level is lines per active agent: the campaign keeps floor(level x (idle + talking
agents)) lines up (calls ringing, live answers waiting, calls talking). Every
`interval_s` the level moves by the differential, the average over the interval of agents
waiting minus live answers waiting, per agent (times `intensity`): agents waiting raise it,
calls waiting lower it. Whenever the drop (abandon) rate of the window reaches the target it
falls back to 1.0, one line per agent, and climbs again from there ("backs off hard").
Bounded to [1, max_level]. The campaign's hard guard (ledger.py) caps it like any pacing.
"""

from __future__ import annotations

import math

ADAPT_EVERY_S = 15.0
MAX_LEVEL = 3.0            # VICIdial's adaptive_maximum_level default
INTENSITY = 1.0


class AdaptiveDialLevel:
    def __init__(self, target_pct: float, interval_s: float = ADAPT_EVERY_S,
                 max_level: float = MAX_LEVEL, intensity: float = INTENSITY):
        self.target_pct = target_pct
        self.interval_s = interval_s
        self.max_level = max_level
        self.intensity = intensity
        self.level = 1.0
        self._next_update = None
        self._differential_sum = 0.0
        self._agents_sum = 0.0
        self._samples = 0

    def lines(self, now: float, idle: int, talking: int, waiting: int,
              drop_pct: float | None) -> int:
        """Lines to keep up now; call at every pace with what is waiting (agents idle, live
        answers waiting for one) and the window's drop rate so far."""
        if self._next_update is None:
            self._next_update = now + self.interval_s
        self._differential_sum += idle - waiting
        self._agents_sum += idle + talking
        self._samples += 1
        if now >= self._next_update:
            self._adapt(drop_pct)
            self._next_update = now + self.interval_s
        return math.floor(self.level * (idle + talking) + 1e-9)

    def state(self) -> list:
        return [self.level, self._next_update, self._differential_sum, self._agents_sum,
                self._samples]

    def restore(self, state: list) -> None:
        (self.level, self._next_update, self._differential_sum, self._agents_sum,
         self._samples) = state

    def _adapt(self, drop_pct: float | None) -> None:
        if drop_pct is not None and drop_pct >= self.target_pct:
            self.level = 1.0
        elif self._samples:
            agents = max(1.0, self._agents_sum / self._samples)
            differential = self._differential_sum / self._samples
            self.level += self.intensity * differential / agents
        self.level = min(self.max_level, max(1.0, self.level))
        self._differential_sum = self._agents_sum = 0.0
        self._samples = 0
