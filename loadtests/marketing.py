"""Inbound marketing in `vcc simulate` (SPEC §7 `marketing:`): offers that pop up on the
agent's screen when a contact is answered, and what the agent and the caller do with them.

This is caller and agent behaviour of the simulated world, not a routing decision: the
core never sees it. Each offer of `marketing: {offers: {NAME: {...}}}` targets a share
`eligible_pct` of the customers (its target list), is presented by the agent with
probability `present_pct` and accepted by the caller with probability `accept_pct`; each
presented offer lengthens the contact's handle time by its `extra_handle_s`, so that a
planner sees the revenue against the service level it costs.

Eligibility is a property of the customer, not of the call: customer N of a run with seed S
is on offer O's target list when blake2b("S/O/N") read as a fraction of 2**64 is below
`eligible_pct`, so the same customer is eligible every time they call, whatever else the
run draws. Presentation and acceptance are drawn per answered contact from the run's own
`marketing-SEED` generator, so a scenario without marketing draws exactly what it did
before marketing existed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from cluster.api_limits import MAX_NAME
from cluster.yaml_reader import Reader, brief

POPPED = 3                      # the screen pop shows at most 3 offers (SPEC §7)
MAX_OFFERS = 100                # offers of one scenario
MAX_MONEY = 1e12                # an offer's value or commission
MAX_EXTRA_S = 86_400.0          # an offer's extra handle time
MAX_PRIORITY = 2 ** 31 - 1      # the API's int32 (protos/vcc/v1/crm.proto)

_OFFER_KEYS = {"product", "value", "commission", "priority", "eligible_pct", "accept_pct",
               "present_pct", "extra_handle_s"}


@dataclass(frozen=True)
class Offer:
    name: str
    product: str
    value: float                # revenue of one sale
    commission: float           # the agent's commission on one sale
    priority: int               # higher pops first
    eligible_pct: float         # share of the customers on its target list
    accept_pct: float           # share of the callers it is presented to who buy
    present_pct: float          # share of the pops the agent presents
    extra_handle_s: float       # added to the handle time when presented


@dataclass(frozen=True)
class Marketing:
    """The offers, highest priority first (ties: by name, as the customer store orders)."""
    offers: tuple

    def popped(self, seed: int, customer: int) -> tuple:
        """The offers that pop up when customer number `customer` is answered: those whose
        target list holds the customer, highest priority first, at most 3."""
        found = []
        for offer in self.offers:
            if _fraction(f"{seed}/{offer.name}/{customer}") < offer.eligible_pct:
                found.append(offer)
                if len(found) == POPPED:
                    break
        return tuple(found)


def _fraction(text: str) -> float:
    """A fraction in [0, 1) that depends on `text` only (not on the process's hash seed)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


class Pitches:
    """One run's marketing: what happens to the offers that pop up, and the tallies."""

    def __init__(self, marketing: Marketing, seed: int):
        self.marketing = marketing
        self.seed = seed
        self.rng = random.Random(f"marketing-{seed}")
        self.counts = {offer.name: [0, 0, 0] for offer in marketing.offers}

    def answered(self, customer: int) -> float:
        """An agent answered customer number `customer`: the offers pop up, the agent
        presents some and the caller accepts some; the seconds the presentations add."""
        rng = self.rng
        extra = 0.0
        for offer in self.marketing.popped(self.seed, customer):
            counts = self.counts[offer.name]
            counts[0] += 1
            if rng.random() < offer.present_pct:
                counts[1] += 1
                extra += offer.extra_handle_s
                if rng.random() < offer.accept_pct:
                    counts[2] += 1
        return extra

    def report(self) -> dict:
        """`marketing` of the report: NAME -> eligible, presented, accepted, revenue
        (value x accepted) and commission (commission x accepted)."""
        report = {}
        for offer in self.marketing.offers:
            eligible, presented, accepted = self.counts[offer.name]
            report[offer.name] = {"eligible": eligible, "presented": presented,
                                  "accepted": accepted,
                                  "revenue": round(offer.value * accepted, 2),
                                  "commission": round(offer.commission * accepted, 2)}
        return report


def read_marketing(top: Reader, customers) -> Marketing:
    """`marketing: {offers: {NAME: {...}}}` of a scenario, every key checked."""
    reader = top.child("marketing", {"offers"}, required=("offers",))
    if customers is None:
        top.fail("marketing", "give `customers` first: offers target customers, and each "
                              "arrival is one (SPEC §7)")
    offers_reader = reader.child("offers", None)
    if not offers_reader.mapping:
        reader.fail("offers", "must define at least one offer")
    if len(offers_reader.mapping) > MAX_OFFERS:
        reader.fail("offers", f"at most {MAX_OFFERS} offers; got {len(offers_reader.mapping):,}")
    offers = []
    for name in offers_reader.mapping:
        if not isinstance(name, str) or not name or len(name) > MAX_NAME:
            offers_reader.fail(name, f"an offer name is a non-empty string of at most "
                                     f"{MAX_NAME} characters")
        offer = offers_reader.child(name, _OFFER_KEYS, required=sorted(_OFFER_KEYS -
                                                                      {"present_pct"}))
        offers.append(Offer(
            name, offer.name("product", MAX_NAME, "product name"),
            offer.number("value", maximum=MAX_MONEY),
            offer.number("commission", maximum=MAX_MONEY),
            offer.integer("priority", minimum=-MAX_PRIORITY - 1, maximum=MAX_PRIORITY),
            _share(offer, "eligible_pct"), _share(offer, "accept_pct"),
            _share(offer, "present_pct", default=1.0),
            offer.number("extra_handle_s", maximum=MAX_EXTRA_S)))
    offers.sort(key=lambda offer: (-offer.priority, offer.name))
    return Marketing(tuple(offers))


def _share(reader: Reader, key: str, default=None) -> float:
    """A probability: a number from 0 to 1."""
    value = reader.number(key, default, minimum=-float("inf"))
    if not 0.0 <= value <= 1.0:
        reader.fail(key, f"must be between 0 and 1; got {brief(reader.mapping.get(key))}")
    return value
