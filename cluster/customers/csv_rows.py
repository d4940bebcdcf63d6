"""Reading an import CSV strictly: every problem is `file:line: column: problem` (the line of
the row's first physical line, 1 for the header), and the file is read as bytes so that a
line that is not UTF-8 is named too. The checks of single fields live here; the importers
(cluster/customers/importer.py) check rows against each other and against the store.

Phone and account numbers are never repeated in clear in a problem (it goes to a terminal,
a CI log or a ticket): phone numbers keep their last 4 digits.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

from cluster.masking import mask_for_logs, mask_phone_number

MAX_PROBLEMS = 20           # reported before giving up: enough to fix a file in one go
LIST_SEPARATOR = ";"        # between the phone numbers or account numbers in one field
ITEM_NAMES = {"phones": "number", "accounts": "account"}     # what a problem calls an item


@dataclasses.dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: str
    problem: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.column}: {mask_for_logs(self.problem)}"


class ImportRefused(Exception):
    """The file has problems (up to MAX_PROBLEMS of them); nothing was imported."""

    def __init__(self, problems: list[Problem], more: bool = False) -> None:
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems
        self.more = more

    def report(self, command: str, path: str, out) -> None:
        """Print every problem, then `command: path: N problem(s); nothing imported`."""
        for found in self.problems:
            print(found, file=out)
        print(f"{command}: {path}: {len(self.problems)}{' or more' if self.more else ''} "
              f"problem(s); nothing imported", file=out)


class Problems:
    """Collects problems; stops the import once MAX_PROBLEMS are known."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.found: list[Problem] = []

    def add(self, line: int, column: str, problem: str, item: int | str | None = None) -> None:
        """A problem of `column` on `line`. `item`: the list item at fault in a column that
        holds a list (phones, accounts): its position in the field (0-based: the problem
        then names it, "number 2: ..."), or its value (a problem names it already)."""
        if isinstance(item, int):
            problem = f"{ITEM_NAMES.get(column, 'item')} {item + 1}: {problem}"
        self.found.append(Problem(self.path, line, column, problem))
        if len(self.found) >= MAX_PROBLEMS:
            raise ImportRefused(self.found, more=True)

    def raise_any(self) -> None:
        if self.found:
            raise ImportRefused(self.found)

    @staticmethod
    def where(line: int) -> str:
        """How a problem names another row."""
        return f"line {line}"


@dataclasses.dataclass
class Row:
    line: int
    fields: dict[str, str]


def read_rows(path: str, known: tuple[str, ...], required: tuple[str, ...],
              problems: Problems, on_bytes: Callable[[int], None] | None = None
              ) -> Iterator[Row]:
    """The rows of `path` as {column: stripped text}, after checking the header: every
    `required` column present, none unknown or twice. Empty lines are skipped."""
    with open(path, "rb") as raw:
        lines = _decoded(raw, problems, on_bytes)
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as error:
            problems.add(1, "(header)", f"not CSV: {error}")
            problems.raise_any()
        if header is None:
            problems.add(1, "(header)", f"empty file; the first line names the columns: "
                                        f"{', '.join(known)}")
            problems.raise_any()
        columns = [name.strip() for name in header]
        for index, name in enumerate(columns):
            if name not in known:
                problems.add(1, name or f"column {index + 1}",
                             f"unknown column (known: {', '.join(known)})")
            elif columns.index(name) != index:
                problems.add(1, name, "column given twice")
        for name in required:
            if name not in columns:
                problems.add(1, name, "missing column (required)")
        problems.raise_any()
        line = reader.line_num + 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                problems.add(line, "(row)", f"not CSV: {error}")
                problems.raise_any()
            if fields and len(fields) != len(columns):
                problems.add(line, "(row)", f"{len(fields)} fields; the header has "
                                            f"{len(columns)}")
            elif fields:
                yield Row(line, {name: value.strip() for name, value in zip(columns, fields)})
            line = reader.line_num + 1


def _decoded(raw, problems: Problems, on_bytes) -> Iterator[str]:
    for number, data in enumerate(raw, start=1):
        if on_bytes is not None:
            on_bytes(len(data))
        if number == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]             # the BOM spreadsheets write
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError as error:
            problems.add(number, "(line)", f"not UTF-8 (byte {error.start + 1})")
            problems.raise_any()


# ---- fields ----------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+\Z")
_TIER = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}\Z")


def text(value: str, limit: int, *, required: bool = False, lines: bool = False) -> str:
    """Checked free text; raises ValueError saying what is wrong."""
    if not value and required:
        raise ValueError("empty (required)")
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters")
    if _CONTROL.search(value.replace("\n", "") if lines else value):
        raise ValueError("contains control characters")
    return value


def email(value: str) -> str | None:
    if not value:
        return None
    text(value, 254)
    if not _EMAIL.match(value):
        raise ValueError("not an e-mail address (name@domain.tld)")
    return value


def tier(value: str) -> str | None:
    if not value:
        return None
    if not _TIER.match(value):
        raise ValueError("a tier is a lowercase name (a-z, 0-9, _; at most 32), e.g. gold")
    return value


def attributes(value: str | Mapping) -> dict:
    """A JSON object (a CSV field), or a mapping already (the API's)."""
    if isinstance(value, Mapping):
        return dict(value)
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ValueError('not a JSON object ({"key": value, ...})')
    return parsed


def phone(value: str, region: str | None) -> str:
    from cluster.customers.phones import PhoneNumberError, normalise_phone

    try:
        return normalise_phone(value, region)
    except PhoneNumberError as error:
        raise ValueError(f"{mask_phone_number(value)!r}: {error}") from None


class ItemError(ValueError):
    """A problem with one item of a list field: `index` is its position (0-based) in the
    field as written, `problem` what is wrong with it."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(f"item {index + 1}: {problem}")
        self.index = index
        self.problem = problem


def _items(value: str | Sequence[str]) -> Iterator[tuple[int, str]]:
    """(position, item) of a list field: `;`-separated text (a CSV field: empty items are
    skipped) or a list (the API's repeated field: every item counts)."""
    if isinstance(value, str):
        for index, part in enumerate(value.split(LIST_SEPARATOR)):
            if part.strip():
                yield index, part.strip()
    else:
        for index, part in enumerate(value):
            if not part.strip():
                raise ItemError(index, "empty")
            yield index, part.strip()


def phones(value: str | Sequence[str], region: str | None) -> tuple[str, ...]:
    """The numbers of a field (`;`-separated, or a list), E.164, sorted, each once; ItemError
    names the first bad one."""
    numbers = set()
    for index, part in _items(value):
        try:
            numbers.add(phone(part, region))
        except ValueError as error:
            raise ItemError(index, str(error)) from None
    return tuple(sorted(numbers))


def accounts(value: str | Sequence[str]) -> tuple[str, ...]:
    """The account numbers of a field (`;`-separated, or a list), sorted, each once."""
    found = set()
    for index, part in _items(value):
        if not _ACCOUNT.match(part):
            raise ItemError(index, f"{mask_phone_number(part)!r}: letters, digits and "
                                   f". _ / - only, at most 64")
        found.add(part)
    return tuple(sorted(found))
