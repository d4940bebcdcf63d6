"""Model-based pacing: how many calls to dial now so that a live answer rarely waits.

A new call answered live at time t after the dial is connected if, by t + connect_within_s,
more agents have freed up than live answers have come before it. Both are sums of
independent chances, read from the snapshot and the model (estimates.py):
- supply: each idle agent (certain); each talking agent, by the chance its talk (which has
  lasted e) ends in time, after-call work included; each agent in after-call work, if it
  ends in time;
- demand: each live answer waiting now (certain); each call ringing (for r so far), by the
  chance it is answered live by then; and each other new call of the same batch, by the
  chance it is answered live before t.
With X = supply - demand - 1 roughly normal, P(abandon | live at t) = P(X < 0), averaged
over equally likely answer times t (`CallModel.answer_points`). `risks` gives it for a
batch of 1, 2, ... new calls; the pacer dials the largest batch whose risk stays under its
threshold (campaign.py), and the hard guard (ledger.py) caps it.
"""

from __future__ import annotations

import math
from operator import mul

from sites.dialer.estimates import CallModel
from sites.dialer.events import CallOutcome
from sites.dialer.snapshot import Activity, AgentsSnapshot

_IDLE, _TALKING = Activity.IDLE, Activity.TALKING
_SQRT2 = math.sqrt(2.0)
_LIVE = CallOutcome.LIVE


class Outlook:
    """Supply and demand (mean, variance) at each answer point, for one decision."""
    __slots__ = ("supply_mean", "supply_var", "demand_mean", "demand_var", "new_live")

    def __init__(self, model: CallModel, now: float, agents: AgentsSnapshot, ringing,
                 waiting: int):
        horizons = model.horizons
        count = len(horizons)
        # Agents and calls alike share a row of chances: sum each row once, times its count.
        talking: dict = {}
        ringing_rows: dict = {}
        idle = 0
        wrap_ends = []
        for view in agents.agents:
            activity = view.activity
            if activity is _IDLE:
                idle += 1
            elif activity is _TALKING:
                row = model.talking_row(max(0.0, now - view.since), view.wrap_s)
                talking[row] = talking.get(row, 0) + 1
            else:
                wrap_ends.append(view.until - now)
        for dialled_at in ringing:
            row = model.ringing_row(max(0.0, now - dialled_at))
            ringing_rows[row] = ringing_rows.get(row, 0) + 1
        self.supply_mean, self.supply_var = _sums(talking, count, float(idle))
        for left in wrap_ends:
            for m in range(count):
                if left <= horizons[m]:
                    self.supply_mean[m] += 1.0
        self.demand_mean, self.demand_var = _sums(ringing_rows, count, float(waiting))
        self.new_live = model.new_live

    def risk(self, batch: int) -> float:
        """P(a call of a batch of `batch` new calls, answered live, finds no agent in time)."""
        total = 0.0
        others = batch - 1
        for m in range(len(self.new_live)):
            chance = self.new_live[m]
            mean = (self.supply_mean[m] - self.demand_mean[m] - others * chance - 1.0)
            var = self.supply_var[m] + self.demand_var[m] + others * chance * (1.0 - chance)
            if var <= 1e-12:
                total += 1.0 if mean < -0.5 + 1e-9 else 0.0
            else:
                # P(X <= -1) for integer X, with a continuity correction.
                total += 0.5 * math.erfc((mean + 0.5) / (_SQRT2 * math.sqrt(var)))
        return total / len(self.new_live)

    def largest_batch(self, threshold: float, most: int) -> int:
        """The most new calls (up to `most`) whose risk is at most `threshold` (the risk
        grows with the batch: a binary search)."""
        low, high = 0, most          # Invariant: risk(low) <= threshold (or low = 0)
        while low < high:
            middle = (low + high + 1) // 2
            if self.risk(middle) <= threshold:
                low = middle
            else:
                high = middle - 1
        return low


def _sums(rows: dict, count: int, certain: float) -> tuple:
    """(means, variances) per point of independent chances: `rows` maps a row (chances,
    then variances) to how many share it; `certain` adds to every mean."""
    if not rows:
        return [certain] * count, [0.0] * count
    numbers = list(rows.values())
    totals = [sum(map(mul, column, numbers)) for column in zip(*rows)]
    return [certain + total for total in totals[:count]], totals[count:]
