"""YAML files read with line numbers, so that a bad file is reported as `file:line: key: problem`.

Shared by scenario files (`loadtests.scenario`) and the cluster configuration
(`cluster.config`): both promise that an invalid file stops before anything runs, with an
error naming the file, the line and the dotted key (SPEC §5, §9). Only PyYAML is imported
here, so the simulator does not pull in the gRPC runtime.

Hostile files stay cheap (issue 15): a file is read only if it is a regular file of at most
`MAX_YAML_BYTES`; anchors and aliases are refused (an 879-byte "billion laughs" file of
nested aliases expands to 10^9 values, and echoing one in an error grew the process by
~50 MB/s); nesting deeper than `MAX_DEPTH` is refused; and a value echoed in an error is cut
to about 80 characters (`brief`).
"""

from __future__ import annotations

import math
import os
import reprlib
import stat

import yaml

MAX_YAML_BYTES = 4 * 1024 * 1024      # a scenario or configuration file (PyYAML reads ~0.5 MB/s)
MAX_DEPTH = 64                         # nested mappings and lists in one file
MAX_ECHO = 80                          # characters of a value shown in an error


class _Brief(reprlib.Repr):
    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxdict, self.maxlist, self.maxtuple, self.maxset = 3, 4, 6, 6, 6
        self.maxstring, self.maxlong, self.maxother = MAX_ECHO, MAX_ECHO, MAX_ECHO

    def repr_LineMapping(self, value, level):      # noqa: N802 (reprlib's naming)
        return self.repr_dict(value, level)


_BRIEF = _Brief()


def cut(text: str, limit: int = MAX_ECHO) -> str:
    """`text` cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def brief(value, limit: int = MAX_ECHO) -> str:
    """repr(value) cut to about `limit` characters, cheap whatever the value's size."""
    return cut(_BRIEF.repr(value), limit)


class ConfigFileError(ValueError):
    """A YAML file that cannot be used: `path:line: key: problem`."""

    def __init__(self, path: str, line: int | None, key: str, problem: str):
        key = cut(str(key))             # a key is text from the file: never echo a page of it
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {key}: {problem}")
        self.path, self.line, self.key, self.problem = path, line, key, problem


class LineMapping(dict):
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""
    line = None
    key_lines: dict = {}


class _LineLoader(yaml.SafeLoader):
    _depth = 0

    def _refuse(self, mark, problem):
        raise ConfigFileError(self.name, mark.line + 1 if mark else None, "(yaml)", problem)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            self._refuse(event.start_mark, "anchors and aliases (&name, *name) are not allowed; "
                                           "write the value out")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                self._refuse(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except ConfigFileError:
            raise
        except (ValueError, OverflowError) as error:
            # `seed: 2020-02-30`, an integer of thousands of digits: YAML reads them as a
            # date or an int and Python refuses.
            kind = node.tag.rsplit(":", 1)[-1]
            reason = "too many digits" if "digits" in str(error) else cut(str(error))
            self._refuse(node.start_mark, f"not a valid {kind}: {reason}")


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
                              cut(str(getattr(error, "problem", error)), 200)) from None
    except RecursionError:          # bounded by MAX_DEPTH; a last guard
        raise ConfigFileError(path, None, "(yaml)", "nested too deeply") from None


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024):,} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"


def read_text(path: str, limit: int = MAX_YAML_BYTES) -> str:
    """The UTF-8 text of the regular file `path`, at most `limit` bytes; ConfigFileError
    `path: (file): problem` otherwise. The problem never quotes the file's content."""
    path = str(path)
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if stat.S_ISDIR(mode):
                raise ConfigFileError(path, None, "(file)", "Is a directory")
            if not stat.S_ISREG(mode):      # /dev/zero, a FIFO: could be read forever
                raise ConfigFileError(path, None, "(file)", "not a regular file")
            data = handle.read(limit + 1)
    except OSError as error:
        raise ConfigFileError(path, None, "(file)", error.strerror or str(error)) from None
    if len(data) > limit:
        raise ConfigFileError(path, None, "(file)", f"larger than {_size(limit)}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigFileError(path, line, "(file)", "not UTF-8 text") from None


def _plain(number) -> str:
    """2678400.0 -> '2,678,400'."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:,}"


def _text_number_hint(value) -> str:
    """YAML 1.1 reads `1e308` (no dot) and `1.0e308` (no sign) as text: say so."""
    if isinstance(value, str) and len(value) < 40 and "e" in value.lower() \
            and value[:1] in "0123456789.+-":
        try:
            float(value)
        except ValueError:
            return ""
        return " (text to YAML: write an exponent with a dot and a sign, e.g. 1.0e+3)"
    return ""


class Reader:
    """Typed access to one mapping, failing with file, line and dotted key.

    `allowed` lists the keys the mapping may have (anything else is an error naming the
    key, SPEC §5); `required` those it must have.
    """

    def __init__(self, path: str, mapping, where: str, line: int | None, allowed, required=()):
        """`allowed` None: any key (a mapping of names, such as `skills`)."""
        self.path = path
        self.where = where
        if not isinstance(mapping, dict):
            raise ConfigFileError(path, line, where or "(top)", "must be a mapping")
        self.mapping = mapping
        self.line = getattr(mapping, "line", line)
        for key in mapping:
            if allowed is not None and key not in allowed:
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

    def number(self, key, default=None, minimum=0.0, exclusive=False, maximum=None):
        value = self.mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, f"must be a number; got {brief(value)}{_text_number_hint(value)}")
        if value < minimum or (exclusive and value == minimum):
            self.fail(key, f"must be {'>' if exclusive else '>='} {minimum}; got {brief(value)}")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be <= {_plain(maximum)}; got {brief(value)}")
        return float(value)

    def integer(self, key, default=None, minimum=0, maximum=None):
        value = self.mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}; got {brief(value)}")
        if maximum is not None and value > maximum:
            self.fail(key, f"must be an integer <= {_plain(maximum)}; got {brief(value)}")
        return value

    def name(self, key, limit: int, what: str = "name"):
        """A required non-empty string of at most `limit` characters."""
        value = self.mapping.get(key)
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty {what}; got {brief(value)}")
        if len(value) > limit:
            self.fail(key, f"at most {limit} characters; got {len(value):,}")
        return value

    def choice(self, key, options, default=None):
        value = self.mapping.get(key, default)
        try:
            known = value in options
        except TypeError:           # an unhashable value (a list or mapping) in a set
            known = False
        if not known:
            self.fail(key, f"must be one of {', '.join(options)}; got {brief(value)}")
        return value

    def child(self, key, allowed, required=()):
        """The mapping at `key`; `allowed` None: any key."""
        return Reader(self.path, self.mapping.get(key), self.key(key), self.line_of(key),
                      allowed, required)
