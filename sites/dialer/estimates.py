"""What a campaign learns of its calls, online: how attempts end and when, and talk times.

- `OutcomeShares`: the share of attempts that end live, machine, busy, no answer or failed
  (the answer probability and the live/machine split), with a memory of the last few
  thousand attempts so that it follows the time of day;
- `TimeHistogram`: when after the dial each kind of outcome comes (the time to answer of
  live answers above all), and how long connected calls talk; whole-campaign memory (these
  change slowly);
- `CallModel`: a frozen view of the three, rebuilt every `REFRESH_EVERY` observations, with
  the lookups the prediction needs (predict.py) precomputed.

Each starts from a weak prior (a few pseudo-observations) so that the first decisions have
something to stand on; the prior's weight fades as real observations come.
"""

from __future__ import annotations

import math

from sites.dialer.events import CallOutcome

OUTCOMES = tuple(CallOutcome)
_LIVE = CallOutcome.LIVE
ATTEMPT_MEMORY = 2_000          # attempts: the weight of an attempt halves after ~1,400 more
# Before any attempt: typical shares (answer probability ~1 in 4); worth this many attempts.
PRIOR_SHARES = {CallOutcome.LIVE: 0.25, CallOutcome.MACHINE: 0.15, CallOutcome.BUSY: 0.10,
                CallOutcome.NO_ANSWER: 0.45, CallOutcome.FAILED: 0.05}
PRIOR_ATTEMPTS = 10.0
PRIOR_SAMPLES = 3.0             # pseudo-observations of each time histogram's prior
TALK_BIN_S = 5.0
TALK_HORIZON_S = 3_600.0        # talk times past this share one tail
REFRESH_EVERY = 100             # observations between two CallModels
QUANTILE_POINTS = 8             # answer times a new call is judged at (predict.py)
RING_STEP_S = 0.25              # ringing times are taken down to this in the prediction


class OutcomeShares:
    """Exponentially forgetting counts of how attempts ended."""
    __slots__ = ("weights", "_decay")

    def __init__(self):
        self.weights = {outcome: PRIOR_SHARES[outcome] * PRIOR_ATTEMPTS for outcome in OUTCOMES}
        self._decay = 1.0 - 1.0 / ATTEMPT_MEMORY

    def note(self, outcome: CallOutcome) -> None:
        decay = self._decay
        weights = self.weights
        for key in weights:
            weights[key] *= decay
        weights[outcome] += 1.0

    def share(self, outcome: CallOutcome) -> float:
        return self.weights[outcome] / sum(self.weights.values())

    def state(self) -> list:
        return [self.weights[outcome] for outcome in OUTCOMES]

    def restore(self, state: list) -> None:
        self.weights = dict(zip(OUTCOMES, state, strict=True))


class TimeHistogram:
    """Durations in bins of `bin_s` up to `horizon_s` (longer ones in a tail bin), starting
    from `prior(bin_start, bin_end) -> probability` worth PRIOR_SAMPLES observations."""
    __slots__ = ("bin_s", "counts", "tail", "tail_excess", "total", "observed")

    def __init__(self, bin_s: float, horizon_s: float, prior):
        self.bin_s = bin_s
        bins = max(1, math.ceil(horizon_s / bin_s))
        edge = bins * bin_s
        self.counts = [PRIOR_SAMPLES * prior(k * bin_s, (k + 1) * bin_s) for k in range(bins)]
        inside = sum(self.counts)
        self.tail = max(0.0, PRIOR_SAMPLES - inside)
        self.tail_excess = self.tail * max(bin_s, edge / 4)   # sum of (d - edge) in the tail
        self.total = inside + self.tail
        self.observed = 0

    def note(self, duration: float) -> None:
        index = int(max(0.0, duration) // self.bin_s)
        if index < len(self.counts):
            self.counts[index] += 1.0
        else:
            self.tail += 1.0
            self.tail_excess += duration - len(self.counts) * self.bin_s
        self.total += 1.0
        self.observed += 1

    def state(self) -> list:
        return [list(self.counts), self.tail, self.tail_excess, self.total, self.observed]

    def restore(self, state: list) -> None:
        counts, self.tail, self.tail_excess, self.total, self.observed = state
        if len(counts) != len(self.counts):
            raise ValueError(f"a histogram of {len(self.counts)} bins; got {len(counts)}")
        self.counts = list(counts)

    def survival(self) -> list:
        """P(duration > k * bin_s) for k = 0 .. bins (the last edge included)."""
        remaining = self.total
        values = [1.0]
        for count in self.counts:
            remaining -= count
            values.append(max(0.0, remaining) / self.total)
        return values

    def mean_tail_excess(self) -> float:
        """Mean of (duration - last edge) over the tail: the tail is taken as exponential."""
        return self.tail_excess / self.tail if self.tail > 0 else self.bin_s


def exponential_prior(mean_s: float):
    return lambda start, end: math.exp(-start / mean_s) - math.exp(-end / mean_s)


def uniform_prior(length_s: float):
    return lambda start, end: max(0.0, min(end, length_s) - min(start, length_s)) / length_s


class CallModel:
    """The estimates frozen for decisions, with their lookups precomputed.

    `shares[o]` per attempt; `resolved_by(o, t)` = P(an attempt ending `o` has ended by t);
    `live_in(r, u)` = P(a call still ringing after r is answered live by r + u);
    `free_in(e, x)` = P(a talk that lasted e has ended by e + x). A new call is judged at
    `answer_points`, live answer times at equally likely quantiles; it needs an agent by
    the point's `horizon` (the point + the connect limit). The rows the prediction sums
    (predict.py) are per point: `new_live`, `ringing_row(r)`, `talking_row(e, wrap_s)`,
    cached with r taken down to RING_STEP_S and e to the talk bin; the last two hold the
    chances, then their variances c (1 - c).
    """

    def __init__(self, shares: dict, times: dict, talk: TimeHistogram, ring_timeout_s: float,
                 connect_within_s: float):
        self._build(shares, {outcome: (_cdf_table(histogram), histogram.bin_s)
                             for outcome, histogram in times.items()},
                    (talk.survival(), talk.bin_s, talk.mean_tail_excess()),
                    ring_timeout_s, connect_within_s)

    def state(self) -> dict:
        """The tables it was built from (a campaign's snapshot: the model is frozen between
        rebuilds, so a restored pacer must decide with the very model it had)."""
        return {"shares": [self.shares[outcome] for outcome in OUTCOMES],
                "times": [[self._cdf[outcome], self._time_bin[outcome]] for outcome in OUTCOMES],
                "talk": [self._talk_survival, self._talk_bin, self._talk_tail]}

    @classmethod
    def from_state(cls, state: dict, ring_timeout_s: float,
                   connect_within_s: float) -> "CallModel":
        model = cls.__new__(cls)
        model._build(dict(zip(OUTCOMES, state["shares"], strict=True)),
                     {outcome: (list(cdf), width)
                      for outcome, (cdf, width) in zip(OUTCOMES, state["times"], strict=True)},
                     (list(state["talk"][0]), *state["talk"][1:]), ring_timeout_s,
                     connect_within_s)
        return model

    def _build(self, shares: dict, times: dict, talk: tuple, ring_timeout_s: float,
               connect_within_s: float) -> None:
        """`times`: outcome -> (its CDF table, bin width); `talk`: (survival table, bin
        width, mean excess of the tail)."""
        self.shares = shares
        self.ring_timeout_s = ring_timeout_s
        self._cdf = {outcome: table for outcome, (table, _) in times.items()}
        self._time_bin = {outcome: width for outcome, (_, width) in times.items()}
        self._talk_survival, self._talk_bin, self._talk_tail = talk
        self.answer_points = tuple(
            _quantile(self._cdf[_LIVE], self._time_bin[_LIVE], (m + 0.5) / QUANTILE_POINTS)
            for m in range(QUANTILE_POINTS))
        self.horizons = tuple(point + connect_within_s for point in self.answer_points)
        self.new_live = tuple(shares[_LIVE] * self.resolved_by(_LIVE, point)
                              for point in self.answer_points)
        self._ringing_rows: dict = {}
        self._talking_rows: dict = {}

    def resolved_by(self, outcome: CallOutcome, t: float) -> float:
        return _interpolate(self._cdf[outcome], self._time_bin[outcome], t)

    def unresolved(self, r: float) -> float:
        """P(an attempt is still ringing after r)."""
        return sum(share * (1.0 - self.resolved_by(outcome, r))
                   for outcome, share in self.shares.items())

    def live_in(self, r: float, u: float) -> float:
        left = self.unresolved(r)
        if left <= 1e-12:
            return 0.0
        gained = self.resolved_by(_LIVE, r + u) - self.resolved_by(_LIVE, r)
        return min(1.0, self.shares[_LIVE] * gained / left)

    def talk_survival(self, t: float) -> float:
        table, width = self._talk_survival, self._talk_bin
        edge = (len(table) - 1) * width
        if t >= edge:
            return table[-1] * math.exp(-(t - edge) / self._talk_tail)
        return _interpolate(table, width, t)

    def free_in(self, elapsed: float, within: float) -> float:
        """P(a talk that has lasted `elapsed` ends within `within` more seconds)."""
        if within <= 0:
            return 0.0
        alive = self.talk_survival(elapsed)
        if alive <= 1e-12:
            return 1.0
        return max(0.0, 1.0 - self.talk_survival(elapsed + within) / alive)

    def ringing_row(self, ringing_s: float) -> tuple:
        key = int(ringing_s / RING_STEP_S)
        row = self._ringing_rows.get(key)
        if row is None:
            start = key * RING_STEP_S
            row = self._ringing_rows[key] = _with_variances(
                [self.live_in(start, point) for point in self.answer_points])
        return row

    def talking_row(self, elapsed: float, wrap_s: float) -> tuple:
        key = (int(elapsed // self._talk_bin), wrap_s)
        row = self._talking_rows.get(key)
        if row is None:
            start = key[0] * self._talk_bin
            row = self._talking_rows[key] = _with_variances(
                [self.free_in(start, horizon - wrap_s) for horizon in self.horizons])
        return row


def _with_variances(chances: list) -> tuple:
    return tuple(chances + [chance * (1.0 - chance) for chance in chances])


def _cdf_table(histogram: TimeHistogram) -> list:
    """P(duration <= k * bin) for k = 0 .. bins."""
    return [1.0 - value for value in histogram.survival()]


def _interpolate(table: list, width: float, t: float) -> float:
    if t <= 0:
        return table[0]
    position = t / width
    index = int(position)
    if index >= len(table) - 1:
        return table[-1]
    low = table[index]
    return low + (table[index + 1] - low) * (position - index)


def _quantile(cdf: list, width: float, level: float) -> float:
    """The time at which the interpolated `cdf` reaches `level` of its value at the horizon."""
    top = cdf[-1]
    if top <= 0:
        return 0.0
    wanted = level * top
    for index in range(1, len(cdf)):
        if cdf[index] >= wanted:
            low, high = cdf[index - 1], cdf[index]
            part = (wanted - low) / (high - low) if high > low else 0.0
            return (index - 1 + part) * width
    return (len(cdf) - 1) * width


class Estimates:
    """All a campaign learns; `model()` is the current CallModel."""

    def __init__(self, ring_timeout_s: float, handle_estimate_s: float,
                 connect_within_s: float):
        self.ring_timeout_s = ring_timeout_s
        self.connect_within_s = connect_within_s
        self.outcomes = OutcomeShares()
        horizon = ring_timeout_s + 1.0
        quick = uniform_prior(min(5.0, ring_timeout_s))
        priors = {CallOutcome.LIVE: uniform_prior(ring_timeout_s),
                  CallOutcome.MACHINE: uniform_prior(ring_timeout_s),
                  CallOutcome.BUSY: quick, CallOutcome.FAILED: quick,
                  CallOutcome.NO_ANSWER: uniform_prior(horizon)}
        self.times = {outcome: TimeHistogram(1.0, horizon, priors[outcome])
                      for outcome in OUTCOMES}
        self.talk = TimeHistogram(TALK_BIN_S, TALK_HORIZON_S,
                                  exponential_prior(handle_estimate_s))
        self._model = None
        self._since_model = 0

    def note_outcome(self, outcome: CallOutcome, after_s: float) -> None:
        self.outcomes.note(outcome)
        self.times[outcome].note(after_s)
        self._since_model += 1

    def note_talk(self, talk_s: float) -> None:
        self.talk.note(talk_s)
        self._since_model += 1

    def model(self) -> CallModel:
        if self._model is None or self._since_model >= REFRESH_EVERY:
            shares = {outcome: self.outcomes.share(outcome) for outcome in OUTCOMES}
            self._model = CallModel(shares, self.times, self.talk, self.ring_timeout_s,
                                    self.connect_within_s)
            self._since_model = 0
        return self._model

    def state(self) -> dict:
        """What it learnt, as JSON-ready data (a campaign's snapshot), with the model it
        decides with now."""
        return {"outcomes": self.outcomes.state(),
                "times": [self.times[outcome].state() for outcome in OUTCOMES],
                "talk": self.talk.state(),
                "model": None if self._model is None else self._model.state(),
                "since_model": self._since_model}

    def restore(self, state: dict) -> None:
        """Put back `state()` of Estimates made with the same settings."""
        self.outcomes.restore(state["outcomes"])
        for outcome, histogram in zip(OUTCOMES, state["times"], strict=True):
            self.times[outcome].restore(histogram)
        self.talk.restore(state["talk"])
        model = state["model"]
        self._model = None if model is None else CallModel.from_state(
            model, self.ring_timeout_s, self.connect_within_s)
        self._since_model = state["since_model"]

    def mean_talk_s(self) -> float:
        histogram = self.talk
        survival = histogram.survival()
        inside = sum((a + b) / 2 for a, b in zip(survival, survival[1:])) * histogram.bin_s
        return inside + survival[-1] * histogram.mean_tail_excess()
