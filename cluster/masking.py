"""Card numbers never reach logs, traces or records in clear (SPEC §9): mask to first 6, last 4.

What counts as card-number-like: a *digit run* of 13 or more digits, where a run is a maximal
sequence of digits in which single spaces or dashes may sit between digits ("4111 1111-1111
1111"). Every such run keeps its first 6 and last 4 digits; every other digit becomes `*`, and
separators stay where they were, so the text keeps its length and shape.

Decisions, and why:
- Runs longer than 19 digits are masked too (first 6 / last 4 of the whole run). A card can sit
  inside a longer run: two cards one space apart form a 32-digit run, a card glued to its expiry
  date a 20-digit one. Over-masking a long id in a log costs readability; under-masking a card
  breaks PCI DSS. The run is always masked as a whole, never a 16-digit slice of it.
- No Luhn check: a mistyped card number (fails Luhn) is still most of a real card number.
- Digits separated by single spaces or dashes join one run whatever the group sizes, so digits
  read out one by one ("4 1 1 1 ...", IVR collected digits) are masked too. Two spaces, a dot,
  a slash or any other character end a run.
- Exception: a run written right after `+` with at most 15 digits is an E.164 phone number (ANI
  in a contact center is everywhere); cards are never written with a leading `+`.
- 12-digit and shorter runs (phone numbers, dates, times, amounts) are left alone.
- Unicode decimal digits count as digits (`re`'s `\\d`), so full-width card numbers are masked.

Masked output contains no run of 13+ digits (apart from the `+` phone numbers), so masking is
idempotent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

# A maximal run with at least 13 digits. Scanning left to right, a match can only start at the
# first digit of a run (an earlier start would have matched first), and the greedy repetition
# always takes the whole run: there is no ambiguity, so no catastrophic backtracking.
_CARD_LIKE_RUN = re.compile(r"\d(?:[ -]?\d){12,}")
_SEPARATORS = " -"
KEEP_FIRST = 6
KEEP_LAST = 4
MAX_PHONE_DIGITS = 15  # E.164


def _mask_run(match: re.Match) -> str:
    run = match.group()
    digits = len(run) - run.count(" ") - run.count("-")
    start = match.start()
    if start and match.string[start - 1] == "+" and digits <= MAX_PHONE_DIGITS:
        return run
    masked = []
    seen = 0
    for char in run:
        if char in _SEPARATORS:
            masked.append(char)
            continue
        masked.append(char if seen < KEEP_FIRST or seen >= digits - KEEP_LAST else "*")
        seen += 1
    return "".join(masked)


def mask_card_numbers(text: str) -> str:
    """`text` with every card-number-like digit run masked to its first 6 and last 4 digits."""
    return _CARD_LIKE_RUN.sub(_mask_run, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        # A card number stored as a number is still a card number: it becomes a masked string.
        text = str(value)
        masked = mask_card_numbers(text)
        return value if masked == text else masked
    if isinstance(value, Mapping):
        return mask_data(value)
    if type(value) in (list, tuple):
        return type(value)(_mask_value(item) for item in value)
    return value


def mask_data(mapping: Mapping) -> dict:
    """A copy of attached data with card-number-like runs masked in keys and values (nested
    mappings, lists and numbers included)."""
    return {_mask_value(key): _mask_value(value) for key, value in mapping.items()}


# Attributes every LogRecord has; anything else came in through `extra=` and may be printed by a
# structured (JSON) formatter, so it is masked too.
_STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class CardNumberFilter(logging.Filter):
    """Masks a record's message (after %-formatting with its args), its traceback and its `extra`
    fields. Put it on handlers (see `install_log_masking`): a filter on a logger does not see
    records propagated from child loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad format args: keep what would have been printed, masked
            message = f"{record.msg!s} args={record.args!r}"
        record.msg, record.args = mask_card_numbers(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed masked.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_card_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_card_numbers(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_RECORD_ATTRIBUTES:
                setattr(record, key, _mask_value(value))
        return True


def install_log_masking(logger: logging.Logger | None = None) -> CardNumberFilter:
    """Adds one CardNumberFilter to every handler of `logger` (the root logger by default).
    Call it after logging is configured; handlers added later need `addFilter` themselves."""
    card_filter = CardNumberFilter()
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(existing, CardNumberFilter) for existing in handler.filters):
            handler.addFilter(card_filter)
    return card_filter
