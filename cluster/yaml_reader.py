"""YAML files read with line numbers, so that a bad file is reported as `file:line: key: problem`.

Shared by scenario files (`loadtests.scenario`) and the cluster configuration
(`cluster.config`): both promise that an invalid file stops before anything runs, with an
error naming the file, the line and the dotted key (SPEC §5, §9). Only PyYAML is imported
here, so the simulator does not pull in the gRPC runtime.
"""

from __future__ import annotations

import math

import yaml


class ConfigFileError(ValueError):
    """A YAML file that cannot be used: `path:line: key: problem`."""

    def __init__(self, path: str, line: int | None, key: str, problem: str):
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}")
        self.path, self.line, self.key, self.problem = path, line, key, problem


class LineMapping(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""
    line = None
    key_lines: dict = {}


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node):
    mapping = LineMapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in mapping
        except TypeError:     # an unhashable key such as `[a]: 1`
            raise ConfigFileError(loader.name, key_node.start_mark.line + 1, str(key),
                                  "a key must be a plain value") from None
        if duplicate:
            raise ConfigFileError(loader.name, key_node.start_mark.line + 1, str(key),
                                  "duplicate key")
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, path: str):
    """The one document in `text`, its mappings as `LineMapping`s; ConfigFileError if not YAML."""
    try:
        loader = _LineLoader(text)
        loader.name = path
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigFileError(path, mark.line + 1 if mark else None, "(yaml)",
                              str(getattr(error, "problem", error))) from None


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        problem = getattr(error, "strerror", None) or str(error)
        raise ConfigFileError(path, None, "(file)", problem) from None


class Reader:
    """Typed access to one mapping, failing with file, line and dotted key.

    `allowed` lists the keys the mapping may have (anything else is an error naming the
    key, SPEC §5); `required` those it must have.
    """

    def __init__(self, path: str, mapping, where: str, line: int | None, allowed, required=()):
        self.path = path
        self.where = where
        if not isinstance(mapping, dict):
            raise ConfigFileError(path, line, where or "(top)", "must be a mapping")
        self.mapping = mapping
        self.line = getattr(mapping, "line", line)
        for key in mapping:
            if key not in allowed:
                raise ConfigFileError(path, self.line_of(key), self.key(key),
                                      f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for key in required:
            if key not in mapping:
                raise ConfigFileError(path, self.line, self.key(key), "required key is missing")

    def key(self, key) -> str:
        return f"{self.where}.{key}" if self.where else str(key)

    def line_of(self, key) -> int | None:
        return getattr(self.mapping, "key_lines", {}).get(key, self.line)

    def fail(self, key, problem):
        raise ConfigFileError(self.path, self.line_of(key), self.key(key), problem)

    def number(self, key, default=None, minimum=0.0, exclusive=False):
        value = self.mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, f"must be a number; got {value!r}")
        if value < minimum or (exclusive and value == minimum):
            self.fail(key, f"must be {'>' if exclusive else '>='} {minimum}; got {value!r}")
        return float(value)

    def integer(self, key, default=None, minimum=0):
        value = self.mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}; got {value!r}")
        return value

    def choice(self, key, options, default=None):
        value = self.mapping.get(key, default)
        if value not in options:
            self.fail(key, f"must be one of {', '.join(options)}; got {value!r}")
        return value

    def child(self, key, allowed, required=()):
        return Reader(self.path, self.mapping.get(key), self.key(key), self.line_of(key),
                      allowed, required)
