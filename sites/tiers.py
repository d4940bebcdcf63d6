"""Customer service tiers (SPEC §7, Business Advocate service classes): what each tier of
caller is promised, as a priority and a service objective, applied to a contact that
arrives without its own (a plan's `queue` step without `priority`, an arrival addressed to
a skill without one). A caller the customer store does not know, or a store that is down,
gets the default tier: no caller is ever refused for want of a profile.

Pure: the gateway looks the caller up and hands the core only the tier's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sites.errors import InvalidInput
from sites.model import Priority

MAX_TIERS = 64
_KEYS = {"priority", "service_objective_s"}


@dataclass(frozen=True)
class Tier:
    name: str
    priority: Priority
    service_objective_s: float | None = None      # None: the skill's SL threshold


@dataclass(frozen=True)
class TierConfig:
    """`tiers` of the configuration, and the one a caller nobody knows gets."""
    tiers: dict = field(default_factory=dict)      # name -> Tier, in the file's order
    default: str | None = None

    def __bool__(self) -> bool:
        return bool(self.tiers)

    def of(self, name: str | None) -> Tier | None:
        """The tier `name` (the default one for None or a name no longer configured);
        None when no tiers are configured."""
        tier = self.tiers.get(name) if name is not None else None
        if tier is None and self.default is not None:
            tier = self.tiers[self.default]
        return tier

    def priority_of(self, name: str | None) -> Priority:
        """The priority of a contact of tier `name` that gives none (medium without tiers):
        the core's, and Best Service Routing's when it balances such an arrival."""
        tier = self.of(name)
        return Priority.MEDIUM if tier is None else tier.priority

    def name_of(self, name: str | None) -> str | None:
        """The tier a caller of tier `name` is treated as (see `of`)."""
        tier = self.of(name)
        return None if tier is None else tier.name

    def to_dict(self) -> dict:
        document = {name: {"priority": tier.priority.name.lower(),
                           **({} if tier.service_objective_s is None
                              else {"service_objective_s": tier.service_objective_s})}
                    for name, tier in self.tiers.items()}
        return {"tiers": document, "default_tier": self.default}


def parse_tiers(document, default=None, where: str = "tiers") -> TierConfig:
    """The tiers of `document` ({name: {priority, service_objective_s?}}); `default`: the
    default tier's name (None: the last one listed, the least promised by convention).
    InvalidInput naming the key (`tiers.gold.priority`) otherwise."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise InvalidInput(where, "must map tier names to {priority, service_objective_s}")
    if len(document) > MAX_TIERS:
        raise InvalidInput(where, f"at most {MAX_TIERS} tiers; got {len(document)}")
    tiers = {}
    for name, spec in document.items():
        here = f"{where}.{name}"
        if not isinstance(name, str) or not name or len(name) > 64:
            raise InvalidInput(where, f"a tier name is a string of 1..64 characters; got "
                                      f"{name!r}")
        if not isinstance(spec, dict):
            raise InvalidInput(here, "must be {priority, service_objective_s?}")
        unknown = set(spec) - _KEYS
        if unknown:
            raise InvalidInput(f"{here}.{sorted(unknown)[0]}",
                               f"unknown key (allowed: {', '.join(sorted(_KEYS))})")
        if "priority" not in spec:
            raise InvalidInput(f"{here}.priority", "required key is missing")
        names = [priority.name.lower() for priority in Priority]
        priority = spec["priority"]
        if priority not in names:
            raise InvalidInput(f"{here}.priority", f"must be one of {', '.join(names)}; "
                                                   f"got {priority!r}")
        objective = spec.get("service_objective_s")
        if objective is not None and (isinstance(objective, bool)
                                      or not isinstance(objective, (int, float))
                                      or not math.isfinite(objective) or objective <= 0):
            raise InvalidInput(f"{here}.service_objective_s",
                               f"must be a number of seconds > 0; got {objective!r}")
        tiers[name] = Tier(name, Priority[priority.upper()],
                           None if objective is None else float(objective))
    if default is not None:
        if not tiers:
            raise InvalidInput("default_tier", "there are no tiers")
        if default not in tiers:
            raise InvalidInput("default_tier", f"unknown tier {default!r} (defined: "
                                               f"{', '.join(tiers)})")
    elif tiers:
        default = list(tiers)[-1]
    return TierConfig(tiers, default)
