"""Card numbers never reach logs, traces or records in clear (SPEC §9): mask to first 6, last 4.
Phone numbers keep only their last 4 digits in records, logs and traces.

What counts as card-number-like: a *digit run* of 13 or more digits, where a run is a maximal
sequence of digits in which up to 3 separator characters in a row may sit between two digits.
Separators are the ways people and systems write card numbers: whitespace of every kind
(spaces, tabs, non-breaking and other Unicode spaces, line breaks), zero-width characters,
dashes (ASCII and Unicode), dots, slashes and underscores ("4111 1111-1111 1111",
"4111.1111.1111.1111", "4111 / 1111 / ...", "4111\\u00a01111..."). Every such run keeps its
first 6 and last 4 digits; every other digit becomes `*`, and separators stay where they
were, so the text keeps its length and shape.

Decisions, and why:
- Runs longer than 19 digits are masked too (first 6 / last 4 of the whole run). A card can sit
  inside a longer run: two cards one space apart form a 32-digit run, a card glued to its expiry
  date a 20-digit one. Over-masking a long id in a log costs readability; under-masking a card
  breaks PCI DSS. The run is always masked as a whole, never a 16-digit slice of it.
- No Luhn check: a mistyped card number (fails Luhn) is still most of a real card number.
- Up to 3 separators between two digits ("4111 - 1111 - ..."); 4 or more, or any other
  character (a letter, a comma, a colon, `*`), end a run. The price: numbers written with
  dots or dashes that add up to 13+ digits are masked too (a date range "15/01/2024 -
  16/01/2024", a float printed with 17 digits): in a log that costs readability only.
- Exception: a run written right after `+` with at most 15 digits is an E.164 phone number (ANI
  in a contact center is everywhere); cards are never written with a leading `+`. Attached data
  keeps it (the agent's screen pop needs the caller's number); logs and traces do not
  (`mask_for_logs`: it keeps its last 4 digits), nor do records (`mask_phone_number`).
- 12-digit and shorter runs (phone numbers, dates, times, amounts) are left alone.
- Unicode decimal digits count as digits (`re`'s `\\d`), so full-width card numbers are masked.

Masked output contains no run of 13+ digits (apart from the `+` phone numbers), so masking is
idempotent.

Where vcc masks: attached data and not-ready reason codes as they enter
(cluster/servicers/convert.py), so the core, the journal and every reply hold them masked;
every log line (`CardNumberFilter`) and span attribute (cluster/tracing.py), with
`mask_for_logs`; ANI and customer ids in contact records (cluster/store/records.py).
Contact and agent ids are not changed where they are keys (the core, the journal, replies,
the records' contact id): the PBX and the CRM correlate on them, and common id formats are
digit runs that masking would merge (Asterisk's `1700000000.1234`, an epoch-millisecond or
date-and-counter id; all contacts of one second would share one masked id). Logs and spans
mask them like any text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

# What may sit between two digits of one run (at most 3 in a row): whitespace of every kind
# (`\\s`: spaces, tabs, no-break and other Unicode spaces, line breaks), zero-width characters,
# dashes and minus signs, dots, slashes and underscores (ASCII, Unicode and full-width forms).
_SEPARATOR = ("[\\s\u200b-\u200d\u2060\ufeff"              # whitespace, zero-width
              "\\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d"   # dashes, minus signs
              "./\u2044\u2215\uff0e\uff0f_\uff3f]")           # dots, slashes, underscores
MAX_SEPARATORS = 3
# A maximal run with at least 13 digits. Scanning left to right, a match can only start at the
# first digit of a run (an earlier start would have matched first), and the greedy repetition
# always takes the whole run: separators are never digits, so a run parses one way only and
# there is no catastrophic backtracking.
_CARD_LIKE_RUN = re.compile(rf"\d(?:{_SEPARATOR}{{0,{MAX_SEPARATORS}}}\d){{12,}}")
# A whole digit run right after `+` (what is left of one after card masking: a phone number).
_PLUS_RUN = re.compile(rf"(?<=\+)\d(?:{_SEPARATOR}{{0,{MAX_SEPARATORS}}}\d)*")
KEEP_FIRST = 6
KEEP_LAST = 4
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164


def _digits(text: str) -> int:
    return sum(1 for char in text if char.isdecimal())


def _keep(text: str, digits: int, first: int, last: int) -> str:
    """`text` with its digits but the first `first` and the last `last` replaced by `*`."""
    masked = []
    seen = 0
    for char in text:
        if char.isdecimal():
            masked.append(char if seen < first or seen >= digits - last else "*")
            seen += 1
        else:
            masked.append(char)
    return "".join(masked)


def _mask_run(match: re.Match) -> str:
    run = match.group()
    digits = _digits(run)
    start = match.start()
    if start and match.string[start - 1] == "+" and digits <= MAX_PHONE_DIGITS:
        return run
    return _keep(run, digits, KEEP_FIRST, KEEP_LAST)


def mask_card_numbers(text: str) -> str:
    """`text` with every card-number-like digit run masked to its first 6 and last 4 digits."""
    return _CARD_LIKE_RUN.sub(_mask_run, text)


def _mask_phone_run(match: re.Match) -> str:
    run = match.group()
    digits = _digits(run)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS:
        return run
    return _keep(run, digits, 0, KEEP_LAST)


def mask_for_logs(text: str) -> str:
    """What a log line or a span may show: card numbers masked (first 6, last 4) and phone
    numbers written after `+` (7 to 15 digits) down to their last 4 digits."""
    return _PLUS_RUN.sub(_mask_phone_run, mask_card_numbers(text))


def mask_phone_number(text: str) -> str:
    """A phone number field (ANI) as records keep it: every digit but the last 4 masked,
    whatever its format ("+1 555 123 4567" -> "+* *** *** 4567")."""
    digits = _digits(text)
    return text if digits <= KEEP_LAST else _keep(text, digits, 0, KEEP_LAST)


def _mask_value(value: Any, mask=mask_card_numbers) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        # A card number stored as a number is still a card number: it becomes a masked string.
        text = str(value)
        masked = mask(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return {_mask_value(key, mask): _mask_value(item, mask) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_mask_value(item, mask) for item in value)
    return value


def mask_data(mapping: Mapping) -> dict:
    """A copy of attached data with card-number-like runs masked in keys and values (nested
    mappings, lists and numbers included). Phone numbers stay: the screen pop needs them."""
    return {_mask_value(key): _mask_value(value) for key, value in mapping.items()}


# Attributes every LogRecord has; anything else came in through `extra=` and may be printed by a
# structured (JSON) formatter, so it is masked too.
_STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class CardNumberFilter(logging.Filter):
    """Masks a record's message (after %-formatting with its args), its traceback and its
    `extra` fields with `mask_for_logs` (card numbers, and phone numbers written after `+`).
    Put it on handlers (see `install_log_masking`): a filter on a logger does not see
    records propagated from child loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad format args: keep what would have been printed, masked
            message = f"{record.msg!s} args={record.args!r}"
        record.msg, record.args = mask_for_logs(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed masked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_for_logs(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_for_logs(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_RECORD_ATTRIBUTES:
                setattr(record, key, _mask_value(value, mask_for_logs))
        return True


def install_log_masking(logger: logging.Logger | None = None) -> CardNumberFilter:
    """Adds one CardNumberFilter to every handler of `logger` (the root logger by default).
    Call it after logging is configured; handlers added later need `addFilter` themselves."""
    card_filter = CardNumberFilter()
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, CardNumberFilter) for existing in handler.filters):
            handler.addFilter(card_filter)
    return card_filter
