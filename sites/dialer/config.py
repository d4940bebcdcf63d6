"""A campaign's configuration (SPEC §6): what it dials for, how, and within which limit.

Validates itself on creation and raises `InvalidInput` naming the field, like the other
configuration objects of the core (sites/model.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

from sites.calendars import Calendar
from sites.errors import InvalidInput
from sites.model import check_number, parse_enum


class DialMode(Enum):
    PREVIEW = "preview"            # the agent sees the record, then it is dialled for them
    PROGRESSIVE = "progressive"    # one call per free agent
    PREDICTIVE = "predictive"      # dials ahead of agents about to free up


class Pacing(Enum):
    """How a predictive campaign decides how far to dial ahead."""
    MODEL = "model"          # predicted abandon probability of each further call (predict.py)
    ADAPTIVE = "adaptive"    # a dial level moved by the drop rate, VICIdial style (adaptive.py)


class AbandonWindow(Enum):
    """Over what the abandon limit is measured: US FTC TSR (30 days), or UK Ofcom (24 hours,
    estimated answering-machine false positives counted as abandons)."""
    DAYS_30 = "30d"
    HOURS_24 = "24h"

    @property
    def seconds(self) -> float:
        return 30 * 86_400.0 if self is AbandonWindow.DAYS_30 else 86_400.0

    @classmethod
    def parse(cls, value, field_name):
        for member in cls:
            if value == member.value or value is member:
                return member
        raise InvalidInput(field_name, f"must be 30d or 24h; got {value!r}")


# What the PBX can report of an attempt that may be tried again (SPEC §6), and `abandoned`:
# a live answer no agent was connected to.
RETRY_OUTCOMES = ("busy", "no_answer", "machine", "failed", "abandoned")
# An abandoned number is not dialled again within this, except by an agent (preview).
NO_REDIAL_AFTER_ABANDON_S = 72 * 3600.0
MIN_RING_S = 15.0               # ring at least this long before giving up (SPEC §6)
MAX_ATTEMPTS = 100


@dataclass(frozen=True)
class Retry:
    """Try a record again `delay_s` after an outcome, while it has had fewer than
    `max_attempts` attempts in all."""
    delay_s: float
    max_attempts: int


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    skill: str                       # agents of this skill take the campaign's calls
    mode: DialMode = DialMode.PREDICTIVE
    pacing: Pacing = Pacing.MODEL    # predictive only
    abandon_limit_pct: float = 3.0   # of live answers, over `abandon_window`
    abandon_window: AbandonWindow = AbandonWindow.DAYS_30
    ring_timeout_s: float = 15.0     # ring at least this long before giving up (no answer)
    amd_enabled: bool = False        # answering-machine detection: a machine is dropped
    amd_false_positive: float = 0.0  # share of live answers AMD misreads as machines
    # A live answer nobody is connected to within this is abandoned (the recorded message).
    connect_within_s: float = 2.0
    abandon_prompt: str = "abandon_message"   # what an abandoned callee hears (PlayMessage)
    pace_every_s: float = 1.0        # predictive: how often the host asks (a `Pace`)
    handle_estimate_s: float = 180.0  # the talk-time guess before any call was handled
    # outcome (RETRY_OUTCOMES) -> Retry; an outcome without one: the record is done.
    retries: dict = field(default_factory=dict)
    # Records are dialled only while this calendar (SPEC §10) is open in the callee's time
    # zone (windows.py); None: at any time.
    call_window: Calendar | None = None
    # Blending (SPEC §6): the campaign's agents also serve inbound skills; it dials only
    # while each of those keeps its rolling service level at or above this (%) and nobody
    # waits in it (blend.py). None: the agents serve no inbound skill.
    protect_inbound_sl_pct: float | None = None

    def __post_init__(self):
        for name in ("name", "skill", "abandon_prompt"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise InvalidInput(name, f"must be a non-empty string; got {value!r}")
        set_ = object.__setattr__
        set_(self, "mode", parse_enum(DialMode, self.mode, "mode"))
        set_(self, "pacing", parse_enum(Pacing, self.pacing, "pacing"))
        set_(self, "abandon_window", AbandonWindow.parse(self.abandon_window, "abandon_window"))
        limit = check_number(self.abandon_limit_pct, "abandon_limit_pct", 0)
        if limit >= 100:
            raise InvalidInput("abandon_limit_pct", f"must be below 100; got {limit!r}")
        set_(self, "abandon_limit_pct", limit)
        for name in ("ring_timeout_s", "connect_within_s", "pace_every_s", "handle_estimate_s"):
            set_(self, name, check_number(getattr(self, name), name, 0, exclusive=True))
        if self.ring_timeout_s < MIN_RING_S:
            raise InvalidInput("ring_timeout_s", f"must be at least {MIN_RING_S:g} s (a callee "
                                                 f"gets time to answer); got {self.ring_timeout_s!r}")
        set_(self, "retries", self._checked_retries())
        if self.protect_inbound_sl_pct is not None:
            protect = check_number(self.protect_inbound_sl_pct, "protect_inbound_sl_pct", 0)
            if protect > 100:
                raise InvalidInput("protect_inbound_sl_pct", f"must be at most 100; got "
                                                             f"{protect!r}")
            set_(self, "protect_inbound_sl_pct", protect)
            if self.mode is DialMode.PREDICTIVE:
                raise InvalidInput(
                    "protect_inbound_sl_pct",
                    "a blended campaign dials only for agents it holds (inbound may take any "
                    "other, so no call can be dialled ahead of them): mode preview or "
                    "progressive")
        if self.call_window is not None and not isinstance(self.call_window, Calendar):
            raise InvalidInput("call_window", f"must be a calendar; got {self.call_window!r}")
        if not isinstance(self.amd_enabled, bool):
            raise InvalidInput("amd.enabled", f"must be true or false; got {self.amd_enabled!r}")
        false_positive = check_number(self.amd_false_positive, "amd.false_positive", 0)
        if false_positive >= 1:
            raise InvalidInput("amd.false_positive", f"must be below 1; got {false_positive!r}")
        set_(self, "amd_false_positive", false_positive)
        if self.counts_false_positives and false_positive * 100 >= limit:
            raise InvalidInput(
                "amd.false_positive",
                f"with abandon_window 24h the estimated AMD false positives count as "
                f"abandons: {false_positive:g} of live answers alone reaches the "
                f"{limit:g} % limit; lower it or turn AMD off")

    def _checked_retries(self) -> dict:
        if not isinstance(self.retries, dict):
            raise InvalidInput("retries", f"must be a mapping of outcome to retry; got "
                                          f"{self.retries!r}")
        checked = {}
        for outcome, retry in self.retries.items():
            where = f"retries.{outcome}"
            if outcome not in RETRY_OUTCOMES:
                raise InvalidInput(where, f"not an outcome to retry ({', '.join(RETRY_OUTCOMES)})")
            if not isinstance(retry, Retry):
                raise InvalidInput(where, f"must be a Retry; got {retry!r}")
            delay = check_number(retry.delay_s, where + ".delay_s", 0)
            attempts = retry.max_attempts
            if isinstance(attempts, bool) or not isinstance(attempts, int) or not (
                    2 <= attempts <= MAX_ATTEMPTS):
                raise InvalidInput(where + ".max_attempts",
                                   f"must be an integer 2..{MAX_ATTEMPTS} (attempts in all, "
                                   f"the first included); got {attempts!r}")
            if (outcome == "abandoned" and self.mode is not DialMode.PREVIEW
                    and delay < NO_REDIAL_AFTER_ABANDON_S):
                raise InvalidInput(where + ".delay_s",
                                   f"an abandoned number is not dialled again within 72 h "
                                   f"({NO_REDIAL_AFTER_ABANDON_S:g} s) except by an agent in "
                                   f"preview; got {delay:g}")
            checked[outcome] = Retry(delay, attempts)
        return checked

    @property
    def counts_false_positives(self) -> bool:
        """Ofcom's rule: estimated AMD false positives are abandons (24 h window, AMD on)."""
        return (self.abandon_window is AbandonWindow.HOURS_24 and self.amd_enabled
                and self.amd_false_positive > 0)

    @property
    def blended(self) -> bool:
        return self.protect_inbound_sl_pct is not None

    @property
    def holds_agents(self) -> bool:
        """Whether it holds an agent (not ready at its site) for each record it gives it:
        preview (while the agent previews and its call rings) and blending (while its
        call rings)."""
        return self.blended or self.mode is DialMode.PREVIEW

    @property
    def dials_ahead(self) -> bool:
        return self.mode is DialMode.PREDICTIVE

    def limit(self) -> Fraction:
        """The abandon limit as an exact fraction of live answers (3.0 -> 3/100): the hard
        guard compares counts with it, and 0.03 * 100 is not 3 in floating point."""
        return Fraction(str(self.abandon_limit_pct)) / 100

    def false_positive(self) -> Fraction:
        return Fraction(str(self.amd_false_positive))
