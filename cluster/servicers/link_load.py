"""When a PBX link is overloaded: which new contacts of its messages the router refuses at
once (RESOURCE_EXHAUSTED: the PBX applies its own overflow) so that those it accepts keep
their route latency (issue 16). One `LinkLoad` per Connect stream
(cluster/servicers/call_control.py reads the messages and applies them in batches).

A message is late when its answer would come more than the limit after it was read: it
waited on the link, and applying a batch takes `batch_s` more. Its new contacts are refused
only when the link is overloaded, not merely slow:
- the link is in overload: it has not gone idle for `ENTER_BATCHES` batches in a row (a
  message was waiting at the end of each). A stall of the machine (a collector pause, a
  neighbour's burst) leaves a backlog that a few batches drain: that is no overload, and
  refusing its callers would turn a 100 ms hiccup into lost calls (measured before this
  rule: 0 to 23 of 126,000 arrivals refused per run at the nominal 2,100/s). Once in
  overload, a late message is refused whenever the link has not gone idle for
  `BUSY_BATCHES` batches, and the link leaves overload after `CALM_BATCHES` batches in a
  row without a late message: an overload drains the link now and then (shedding makes it
  quick), and waiting `ENTER_BATCHES` again each time would let late messages through;
- the limit is at least `PATIENCE_BATCHES` of the link's quickest recent batches: where
  every batch is slow (a store's commits on the Ray runtime), that alone is no overload.
  The quickest, not the average: the average grows with the overload itself, and a
  patience that grows with it refuses nothing (measured: accepted p99 77 ms instead of
  46 ms at 1.5 x capacity);
- not among a stream's first `WARM_UP_MESSAGES`: a PBX reconnecting after a failover
  re-sends its backlog to a router that just took over;
- not within `ROUTER_WARM_UP_S` of the router starting to serve (`calm_until`): a router
  that just took over is cold (on the Ray runtime its site actors' first batches are slow)
  while every link's backlog arrives at once. That is the takeover, not an overload, and
  the contacts it delays are a few hundred milliseconds late; refused, they would be a
  second outage on top of the first. Measured (Ray failover drill, 200 contacts/s): every
  message the other rules would have refused after a takeover came 0.3 to 2.5 s after the
  new leader began serving (53 of 8,330 contacts refused in 3 kills before this rule).
"""

from __future__ import annotations

import math

WARM_UP_MESSAGES = 32
ROUTER_WARM_UP_S = 5.0
ENTER_BATCHES = 8
BUSY_BATCHES = 3
CALM_BATCHES = 100
PATIENCE_BATCHES = 3
# The quickest batch is the least of the last one or two windows of this many batches, so
# that it follows the router when its batches become slower for good (a store attached).
WINDOW_BATCHES = 64


class LinkLoad:
    def __init__(self, limit_s: float | None, calm_until: float = -math.inf):
        self.limit_s = limit_s              # None: never refuse
        self.calm_until = calm_until        # nothing refused before this time (seconds)
        self.batch_s = 0.0                  # smoothed time to apply a batch
        self.busy = 0                       # batches in a row that ended with a message waiting
        self.overloaded = False             # in overload (ENTER_BATCHES .. CALM_BATCHES)
        self._calm = 0                      # batches in a row without a late message
        self.messages = 0                   # applied on this stream
        self._quickest = math.inf           # of the current window
        self._quickest_before = math.inf    # of the window before it
        self._in_window = 0

    def batch_ends(self, waiting: int) -> None:
        """Before taking the next message: `waiting` messages are already there."""
        self.busy = self.busy + 1 if waiting else 0
        if self.busy >= ENTER_BATCHES:
            self.overloaded = True

    def late(self, waited: list, now: float) -> list:
        """For each message of a batch (seconds each waited), read by `now` (the clock of
        `calm_until`): are its new contacts refused?"""
        limit = self.limit_s
        if limit is None or not self.overloaded or now < self.calm_until:
            return [False] * len(waited)
        patience = max(limit, PATIENCE_BATCHES * min(self._quickest, self._quickest_before))
        first = self.messages
        late = [first + number >= WARM_UP_MESSAGES and seconds + self.batch_s > patience
                for number, seconds in enumerate(waited)]
        if True in late:
            self._calm = 0
        else:
            self._calm += 1
            if self._calm >= CALM_BATCHES:
                self.overloaded, self._calm = False, 0
        if self.busy < BUSY_BATCHES:
            return [False] * len(waited)
        return late

    def applied(self, seconds: float, messages: int) -> None:
        """A batch of `messages` took `seconds` to apply."""
        self.batch_s += 0.2 * (seconds - self.batch_s)
        self.messages += messages
        if seconds < self._quickest:
            self._quickest = seconds
        self._in_window += 1
        if self._in_window >= WINDOW_BATCHES:
            self._quickest_before, self._quickest = self._quickest, math.inf
            self._in_window = 0
