"""The abandon budget of a campaign, and the hard guard built on it (SPEC §6).

Abandons may be at most `abandon_limit_pct` of live answers over the window. The budget is
what may still be abandoned: floor(limit x live answers) - abandons, in exact arithmetic
(3 % of 100 is 3, not 3.0000000000000004). The guard is worst-case, not a forecast: every
call still ringing could be answered live, and only the agents idle now are sure to take
one, so the calls beyond those (`exposure`: ringing + live answers waiting for an agent -
idle agents) are as many abandons as could still come. A pacer may dial ahead of its idle
agents only while the exposure, new calls included, stays within the budget. At the start of
a shift there are no live answers, hence no budget: nothing is dialled ahead until enough
live answers earn the first abandon (34 at 3 %). It holds if the idle agents take the calls
at once (auto-answer, the outbound agents' normal setting) and take no other work.

With `abandon_window: 24h` and AMD on (Ofcom), the estimated AMD false positives count as
abandons, and as live answers (they were people): with f the share of live answers AMD
misreads, each live answer seen stands for r = f / (1 - f) misread ones, and the rate is
(abandons + r L) / (L + r L) <= limit, i.e. abandons <= L (limit - f) / (1 - f): the same
budget with a smaller limit.

The window slides. Live answers about to leave it cannot pay for an abandon still to come:
only those that stay in it for `horizon_s` more (the longest a call dialled now can take to
be abandoned) count. Older live answers leaving the window can still raise the rate of the
window between abandons (no dialler can prevent that without future calls); the highest
rate any window reached is measured (`max_pct`), at every abandon and every expiry.
"""

from __future__ import annotations

import bisect
import math
from fractions import Fraction


class AbandonLedger:
    """Live answers and abandons by time (non-decreasing), over a sliding window."""

    def __init__(self, limit: Fraction, window_s: float, horizon_s: float,
                 false_positive: Fraction = Fraction(0)):
        self.limit = limit
        self.window_s = window_s
        self.horizon_s = horizon_s
        # abandons <= allowed x live answers: the limit net of estimated false positives.
        self.allowed = (limit - false_positive) / (1 - false_positive)
        self._ratio_extra = float(false_positive / (1 - false_positive))   # r
        # Invariant: _lives[_first_live:] are the times of the live answers in the window,
        # oldest first; likewise the abandons.
        self._lives: list = []
        self._first_live = 0
        self._abandons: list = []
        self._first_abandon = 0
        self.lives_total = 0
        self.abandons_total = 0
        self.max_pct = 0.0

    # ---- what happened ----------------------------------------------------------------------
    def note_live(self, now: float) -> None:
        self.advance(now)
        self._lives.append(now)
        self.lives_total += 1
        self._measure()

    def note_abandon(self, now: float) -> None:
        self.advance(now)
        self._abandons.append(now)
        self.abandons_total += 1
        self._measure()

    def advance(self, now: float) -> None:
        """Drop what left the window by `now`, measuring the rate after each live answer
        that leaves (the only moments it rises without an abandon)."""
        edge = now - self.window_s
        abandons, lives = self._abandons, self._lives
        while True:
            next_abandon = abandons[self._first_abandon] if self._first_abandon < len(
                abandons) else math.inf
            next_live = lives[self._first_live] if self._first_live < len(lives) else math.inf
            if min(next_abandon, next_live) > edge:
                break
            if next_abandon <= next_live:       # at a tie the abandon leaves first
                self._first_abandon += 1
            else:
                self._first_live += 1
                self._measure()
        self._compact()

    def _compact(self) -> None:
        if self._first_live > 4096 and self._first_live * 2 > len(self._lives):
            del self._lives[:self._first_live]
            self._first_live = 0
        if self._first_abandon > 4096 and self._first_abandon * 2 > len(self._abandons):
            del self._abandons[:self._first_abandon]
            self._first_abandon = 0

    def state(self) -> dict:
        """The live answers and abandons in the window and the totals, as JSON-ready data (a
        campaign's snapshot)."""
        return {"lives": self._lives[self._first_live:],
                "abandons": self._abandons[self._first_abandon:],
                "lives_total": self.lives_total, "abandons_total": self.abandons_total,
                "max_pct": self.max_pct}

    def restore(self, state: dict) -> None:
        self._lives, self._first_live = list(state["lives"]), 0
        self._abandons, self._first_abandon = list(state["abandons"]), 0
        self.lives_total, self.abandons_total = state["lives_total"], state["abandons_total"]
        self.max_pct = state["max_pct"]

    # ---- what it allows -----------------------------------------------------------------------
    @property
    def lives(self) -> int:
        return len(self._lives) - self._first_live

    @property
    def abandons(self) -> int:
        return len(self._abandons) - self._first_abandon

    def budget(self, now: float) -> int:
        """Abandons that may still come from calls dialled now without crossing the limit
        (never negative while the guard is kept)."""
        self.advance(now)
        staying = len(self._lives) - bisect.bisect_right(
            self._lives, now - self.window_s + self.horizon_s, self._first_live)
        return math.floor(self.allowed * staying) - self.abandons

    def pct(self) -> float | None:
        """The window's abandon rate now, in % (None: nothing answered or abandoned)."""
        return _rate(self.abandons, self.lives, self._ratio_extra)

    def total_pct(self) -> float | None:
        """The rate over everything so far."""
        return _rate(self.abandons_total, self.lives_total, self._ratio_extra)

    def _measure(self) -> None:
        rate = self.pct()
        if rate is not None and rate > self.max_pct:
            self.max_pct = rate


def _rate(abandons: int, lives: int, extra: float) -> float | None:
    if lives == 0:
        return 100.0 if abandons else None
    return 100.0 * (abandons + extra * lives) / ((1.0 + extra) * lives)
