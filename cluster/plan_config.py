"""The routing-plan keys of a configuration or scenario file (SPEC §10), and its customer
tiers (SPEC §7, which plans test), read with lines.

`calendars`, `entry_points`, `services` and `plans` are checked as a whole by the pure
core (`sites.plans.parse_plan_config`, which Admin uses too); this module only turns a
refusal's key path into the `file:line: key: problem` every file error has (SPEC §9).
Both `cluster.config` (`vcc serve --config`) and `loadtests.scenario` (`vcc simulate`)
call it, so one file means the same plans everywhere.
"""

from __future__ import annotations

from cluster.yaml_reader import ConfigFileError, LineMapping, Reader
from sites.calendars import parse_start
from sites.errors import InvalidInput
from sites.plans import KEYS, PlanConfig, PlanError, parse_plan_config
from sites.tiers import TierConfig, parse_tiers


def line_at(document, path) -> int | None:
    """The line of the deepest key or list item of `path` found in `document` (mappings
    from `cluster.yaml_reader` know their lines; a list item that is not a mapping has its
    list's line)."""
    line = getattr(document, "line", None)
    value = document
    for part in path:
        if isinstance(value, dict):
            # A path names a key that is not text (say an unquoted number) as its text.
            key = part if part in value else next((k for k in value if str(k) == str(part)),
                                                  None)
            if key is None:
                break
            line = getattr(value, "key_lines", {}).get(key, line)
            value = value[key]
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
            line = getattr(value, "line", None) or line
        else:
            break
    return line


def read_plan_config(top: Reader, skills, sites=None, tiers=None) -> PlanConfig:
    """The four keys of the file's top mapping `top` (absent: an empty PlanConfig)."""
    document = {key: top.mapping[key] for key in KEYS if key in top.mapping}
    document = _with_lines(top.mapping, document)
    try:
        return parse_plan_config(document, skills, sites, tiers)
    except PlanError as error:
        raise ConfigFileError(top.path, line_at(document, error.path), error.field,
                              error.problem) from None


def read_tiers(top: Reader) -> TierConfig:
    """The file's `tiers` and `default_tier` (SPEC §7; absent: no tiers)."""
    document = top.mapping.get("tiers")
    try:
        return parse_tiers(document, top.mapping.get("default_tier"))
    except InvalidInput as error:
        path = tuple(error.field.split("."))
        line = (line_at(top.mapping, path) if path[0] == "tiers"
                else top.line_of(path[0]))
        raise ConfigFileError(top.path, line, error.field, error.problem) from None


def read_start(top: Reader, default: float) -> float:
    """POSIX time of the file's `start:` (ISO 8601 with offset), or `default`."""
    if "start" not in top.mapping:
        return default
    try:
        return parse_start(top.mapping["start"])
    except InvalidInput as error:
        top.fail("start", error.problem)


def _with_lines(mapping, document: dict) -> dict:
    """`document` as a mapping that knows the lines of `mapping`'s keys."""
    copy = LineMapping(document)
    copy.line = getattr(mapping, "line", None)
    copy.key_lines = dict(getattr(mapping, "key_lines", {}))
    return copy


__all__ = ["line_at", "read_plan_config", "read_start", "read_tiers"]
