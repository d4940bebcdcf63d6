"""Durations drawn per contact or call in a scenario (SPEC §5 `handle_time`, `patience`,
SPEC §6 `answer_delay_s`): the distribution and its reader, with file/line/key errors.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass

from cluster.yaml_reader import ConfigFileError, Reader, brief, read_text

DAY_S = 86_400.0
MAX_SECONDS = 31 * DAY_S                # a distribution's mean_s, an empirical value
MAX_SIGMA = 10.0                        # lognormal shape (sigma ** 2 overflows past ~1e154)
MAX_EMPIRICAL_BYTES = 16 * 1024 * 1024  # an empirical distribution's file
_DIST_KEYS = {"dist", "mean_s", "sigma", "file"}


@dataclass(frozen=True)
class Distribution:
    """Seconds drawn per contact: exponential(mean_s), constant(mean_s), lognormal(mean_s,
    sigma), or empirical (uniformly one of `values`, read from a file; mean_s is their mean)."""
    dist: str
    mean_s: float
    sigma: float = 0.0
    values: tuple = ()

    def sample(self, rng: random.Random) -> float:
        if self.dist == "exponential":
            return rng.expovariate(1.0 / self.mean_s)
        if self.dist == "constant":
            return self.mean_s
        if self.dist == "empirical":
            return self.values[int(rng.random() * len(self.values))]
        # lognormal parameterised by its mean: mu chosen so that E[X] = mean_s.
        mu = math.log(self.mean_s) - self.sigma ** 2 / 2.0
        return rng.lognormvariate(mu, self.sigma)


def _empirical_values(dist: Reader) -> tuple:
    """Seconds from the file named by `file` (relative to the scenario): one number per
    line; blank lines and `#` comments skipped. A bad line is reported with its own line
    number, never its content (the file may be anything: `file: /etc/passwd`)."""
    name = dist.mapping["file"]
    if not isinstance(name, str) or not name:
        dist.fail("file", f"must name a file of seconds, one per line; got {brief(name)}")
    path = os.path.join(os.path.dirname(dist.path), name)
    try:
        text = read_text(path, limit=MAX_EMPIRICAL_BYTES)
    except ConfigFileError as error:
        dist.fail("file", f"{path}: {error.problem}")
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not 0 <= value <= MAX_SECONDS:
            raise ConfigFileError(path, number, dist.key("file"),
                                f"not a number of seconds 0..{MAX_SECONDS:,.0f} (the file "
                                "must hold one per line; its content is not shown)")
        values.append(value)
    if not values or not any(values):
        dist.fail("file", f"{path} holds no positive number of seconds")
    return tuple(values)


def read_distribution(reader: Reader, key) -> Distribution:
    dist = reader.child(key, _DIST_KEYS, required=("dist",))
    kind = dist.choice("dist", ("exponential", "constant", "lognormal", "empirical"))
    if kind == "empirical":
        for other in ("mean_s", "sigma"):
            if other in dist.mapping:
                dist.fail(other, "empirical takes its values from `file`, not " + other)
        if "file" not in dist.mapping:
            dist.fail("file", "required key is missing (empirical)")
        values = _empirical_values(dist)
        return Distribution(kind, sum(values) / len(values), 0.0, values)
    if "file" in dist.mapping:
        dist.fail("file", f"only empirical takes a file, not {kind}")
    if "mean_s" not in dist.mapping:
        dist.fail("mean_s", "required key is missing")
    mean = dist.number("mean_s", exclusive=True, maximum=MAX_SECONDS)
    sigma = dist.number("sigma", default=1.0 if kind == "lognormal" else 0.0, maximum=MAX_SIGMA)
    if kind != "lognormal" and "sigma" in dist.mapping:
        dist.fail("sigma", f"only lognormal takes sigma, not {kind}")
    return Distribution(kind, mean, sigma)
