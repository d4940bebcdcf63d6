"""cluster.masking: card-number-like digit runs keep their first 6 and last 4 digits, everything
else is left alone (SPEC §9); phone numbers keep their last 4 digits in logs, traces and
records. The property tests check the rule against an independent scanner of digit runs, not
against the module's own regular expression, and write card numbers with every separator
(issue 15 item 6: dots, slashes, underscores, tabs, double and no-break spaces came back in
clear)."""

from __future__ import annotations

import io
import logging

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cluster.masking import (
    CardNumberFilter,
    install_log_masking,
    mask_card_numbers,
    mask_data,
    mask_for_logs,
    mask_phone_number,
)


@pytest.mark.parametrize("text, masked", [
    ("4111111111111111", "411111******1111"),                      # Visa 16
    ("4222222222222", "422222***2222"),                            # Visa 13
    ("378282246310005", "378282*****0005"),                        # Amex 15
    ("6011000990139424", "601100******9424"),                      # Discover
    ("6304000000000000000", "630400*********0000"),                # Maestro 19
    ("4111 1111 1111 1111", "4111 11** **** 1111"),                # spaces
    ("4111-1111-1111-1111", "4111-11**-****-1111"),                # dashes
    ("3782 822463 10005", "3782 82**** *0005"),                    # Amex grouping
    ("4111 1111-1111 1111", "4111 11**-**** 1111"),                # mixed separators
    ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "4 1 1 1 1 1 * * * * * * 1 1 1 1"),  # read out digit by digit
    # Issue 15 item 6: every way of writing the groups.
    ("4111.1111.1111.1111", "4111.11**.****.1111"),                # dots
    ("4111/1111/1111/1111", "4111/11**/****/1111"),                # slashes
    ("4111_1111_1111_1111", "4111_11**_****_1111"),                # underscores
    ("4111\t1111\t1111\t1111", "4111\t11**\t****\t1111"),        # tabs
    ("4111  1111  1111  1111", "4111  11**  ****  1111"),          # double spaces
    ("4111\u00a01111\u00a01111\u00a01111", "4111\u00a011**\u00a0****\u00a01111"),  # no-break
    ("4111\u202f1111\u20091111\u30001111", "4111\u202f11**\u2009****\u30001111"),  # other spaces
    ("4111\u200b1111\u200b1111\u200b1111", "4111\u200b11**\u200b****\u200b1111"),  # zero-width
    ("4111\u20131111\u20141111\u22121111", "4111\u201311**\u2014****\u22121111"),  # Unicode dashes
    ("4111 - 1111 - 1111 - 1111", "4111 - 11** - **** - 1111"),    # up to 3 separators
    ("4111\r\n1111\r\n1111\r\n1111", "4111\r\n11**\r\n****\r\n1111"),  # one group a line
    ("card 4111. 1111/ 1111 _1111.", "card 4111. 11**/ **** _1111."),
    # Numbers written with dots or dashes that add up to 13+ digits are masked on purpose.
    ("15/01/2024 - 16/01/2024", "15/01/20** - **/**/2024"),
    ("card=4111111111111111;exp=12/27", "card=411111******1111;exp=12/27"),
    ("pay with 5500 0000 0000 0004 please", "pay with 5500 00** **** 0004 please"),
    ("a 4111111111111111 b 378282246310005 c", "a 411111******1111 b 378282*****0005 c"),
    ("１２３４５６７８９０１２３４５６", "１２３４５６******３４５６"),        # full-width digits
])
def test_card_numbers_keep_first_6_and_last_4(text, masked):
    assert mask_card_numbers(text) == masked


@pytest.mark.parametrize("text", [
    "123456789012",                      # 12 digits: too short for any card
    "+1 555 123 4567",                   # phone numbers
    "+44 20 7946 0958",
    "+8613812345678",                    # E.164 with 13 digits: a `+` phone, not a card
    "+49 1512 3456 7890",                # 15 digits after `+`
    "(555) 123-4567",
    "2024-01-15",                        # dates and times
    "2024-01-15 12:30:59",
    "2024-01-15T12:30:59.123Z",
    "4111    1111    1111    1111",      # four separators end a run: four short runs
    "4111,1111,1111,1111",               # so do commas, colons, letters and `*`
    "12:30:59:12:30:59:12",
    "4111x1111x1111x1111",
    "amount 1234567.89 EUR",
    "contact c-000123 queued at position 7",
    "",
])
def test_non_cards_are_left_alone(text):
    assert mask_card_numbers(text) == text


@pytest.mark.parametrize("text, masked", [
    # 20+ digits: masked as a whole (a card can hide inside: glued to an expiry, two in a row).
    ("41111111111111111227", "411111**********1227"),
    ("4111 1111 1111 1111 5500 0000 0000 0004", "4111 11** **** **** **** **** **** 0004"),
    ("12345678901234567890123456789012", "123456**********************9012"),
    # `+` exempts 15 digits at most (E.164); a longer run after `+` is masked.
    ("+4111111111111111", "+411111******1111"),
    # A `+` phone number joined to a card by one space is one run, and too long for a phone.
    ("+1 555 123 4567 4111111111111111", "+1 555 12* **** ************1111"),
])
def test_long_runs_are_masked_whole(text, masked):
    assert mask_card_numbers(text) == masked


def test_mask_data_masks_keys_and_values_recursively():
    data = {
        "card": "4111 1111 1111 1111",
        "4111111111111111": "a key that is a card",
        "as_number": 4111111111111111,
        "nested": {"cards": ["5500000000000004", "ok"], "count": 3},
        "flag": True,
        "none": None,
        "phone": "+1 555 123 4567",
    }
    assert mask_data(data) == {
        "card": "4111 11** **** 1111",
        "411111******1111": "a key that is a card",
        "as_number": "411111******1111",
        "nested": {"cards": ["550000******0004", "ok"], "count": 3},
        "flag": True,
        "none": None,
        "phone": "+1 555 123 4567",
    }
    assert data["card"] == "4111 1111 1111 1111"  # a copy: the caller's data is untouched


def _logger_with_masking(name):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(card)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    install_log_masking(logger)
    install_log_masking(logger)  # twice: one filter, not two
    assert sum(isinstance(f, CardNumberFilter) for f in handler.filters) == 1
    return logger, stream


def test_log_filter_masks_message_args_extra_and_traceback():
    logger, stream = _logger_with_masking("vcc.test.masking")
    logger.info("routing %s with %r", "c-1", {"card": "4111111111111111"},
                extra={"card": "5500 0000 0000 0004"})
    try:
        raise ValueError("bad card 378282246310005")
    except ValueError:
        logger.exception("failed for %s", "4111-1111-1111-1111", extra={"card": None})
    logged = stream.getvalue()
    assert "routing c-1 with {'card': '411111******1111'}|5500 00** **** 0004" in logged
    assert "failed for 4111-11**-****-1111|None" in logged
    assert "ValueError: bad card 378282*****0005" in logged
    for clear in ("4111111111111111", "5500 0000 0000 0004", "378282246310005", "4111-1111-1111-1111"):
        assert clear not in logged


def test_log_filter_survives_bad_format_arguments():
    logger, stream = _logger_with_masking("vcc.test.masking.bad")
    logger.info("two %s %s but one", "4111111111111111", extra={"card": "-"})
    assert "411111******1111" in stream.getvalue()
    assert "4111111111111111" not in stream.getvalue()


# --- properties, checked against an independent scanner ----------------------------------------

SEPARATORS = ("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"   # dashes
              "./\u2044\u2215\uff0e\uff0f_\uff3f"                       # dots, slashes, _
              "\u200b\u200c\u200d\u2060\ufeff")                          # zero-width


def is_separator(char):
    return char.isspace() or char in SEPARATORS


def digit_runs(text):
    """(start, end) of each maximal run of decimal digits where up to 3 separators (any
    whitespace, dashes, dots, slashes, underscores, zero-width characters) may sit between two
    digits. Written as a plain scan, independently of cluster.masking."""
    runs, i, n = [], 0, len(text)
    while i < n:
        if not text[i].isdecimal():
            i += 1
            continue
        start = i
        while True:
            while i < n and text[i].isdecimal():
                i += 1
            gap = 0
            while i + gap < n and gap < 4 and is_separator(text[i + gap]):
                gap += 1
            if 1 <= gap <= 3 and i + gap < n and text[i + gap].isdecimal():
                i += gap
                continue
            break
        runs.append((start, i))
    return runs


def is_phone(text, start, digits):
    return start > 0 and text[start - 1] == "+" and digits <= 15


# Text dense in digits and separators, so that runs of every length and shape appear.
card_like_text = st.text(alphabet=st.sampled_from("0123456789 -+x*٣./_\t\u00a0"), max_size=120)
card_number = st.integers(min_value=13, max_value=19).flatmap(
    lambda length: st.text(alphabet="0123456789", min_size=length, max_size=length))
text_with_cards = st.lists(st.one_of(card_number, st.text(max_size=10)), max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(card_like_text, text_with_cards, st.text()))
@example("4111 1111 1111 1111 5500 0000 0000 0004")
@example("+8613812345678 4111111111111111")
@example("4111 1111    1111 1111 1111")
def test_no_run_of_13_or_more_digits_keeps_more_than_its_first_6_and_last_4(text):
    masked = mask_card_numbers(text)
    assert len(masked) == len(text)
    # Only digits ever change, and only into '*'.
    assert all(out == original or (original.isdecimal() and out == "*")
               for original, out in zip(text, masked))
    for start, end in digit_runs(text):
        positions = [i for i in range(start, end) if text[i].isdecimal()]
        clear = [i for i in positions if masked[i] == text[i]]
        if len(positions) < 13 or is_phone(text, start, len(positions)):
            assert clear == positions
        else:
            assert clear == positions[:6] + positions[-4:]
    # So nothing card-like is left in clear.
    for start, end in digit_runs(masked):
        digits = sum(char.isdecimal() for char in masked[start:end])
        assert digits < 13 or is_phone(masked, start, digits)


@settings(max_examples=300, deadline=None)
@given(st.one_of(card_like_text, text_with_cards, st.text()))
def test_masking_is_idempotent(text):
    once = mask_card_numbers(text)
    assert mask_card_numbers(once) == once


# --- separators (issue 15 item 6) ---------------------------------------------------------------

separator = st.text(alphabet=st.sampled_from(
    " \t\u00a0\u2007\u202f\u3000\n-\u2013\u2014./_\u200b\uff0d\uff0f"), min_size=1, max_size=3)


@st.composite
def written_card(draw):
    """(text, digits, groups, separators): a 13-19 digit card number cut into groups of 1 to 6
    digits joined by 1 to 3 separators, between words."""
    digits = draw(st.text(alphabet="0123456789", min_size=13, max_size=19))
    groups, rest = [], digits
    while rest:
        size = draw(st.integers(1, 6))
        groups.append(rest[:size])
        rest = rest[size:]
    separators = [draw(separator) for _ in groups[1:]]
    text = groups[0] + "".join(sep + group for sep, group in zip(separators, groups[1:]))
    before = draw(st.sampled_from(["", "card ", "pay with: ", "x", "#"]))
    after = draw(st.sampled_from(["", " exp", ";", "x", " please"]))
    return before + text + after, digits, len(before)


@settings(max_examples=500, deadline=None)
@given(written_card())
@example(("4111.1111.1111.1111", "4111111111111111", 0))
@example(("4111\t1111\u00a01111  1111", "4111111111111111", 0))
def test_a_card_number_written_with_any_separators_keeps_only_its_first_6_and_last_4(case):
    text, digits, offset = case
    masked = mask_card_numbers(text)
    assert len(masked) == len(text)
    shown = [char for char in masked if char.isdecimal()]
    assert "".join(shown) == digits[:6] + digits[-4:]
    assert masked.count("*") == len(digits) - 10
    # Separators and the words around stay as they were.
    assert [char for char in masked if not char.isdecimal() and char != "*"] == [
        char for char in text if not char.isdecimal()]
    assert mask_card_numbers(masked) == masked
    assert mask_for_logs(text) == masked


@pytest.mark.parametrize("text, masked", [
    ("+15551234567", "+*******4567"),
    ("call from +1 555 123 4567 at 12:30", "call from +* *** *** 4567 at 12:30"),
    ("+44 20 7946 0958", "+** ** **** 0958"),
    ("+8613812345678; 4111111111111111", "+*********5678; 411111******1111"),
    ("+8613812345678 4111111111111111", "+861381******* ************1111"),   # one 29-digit run
    ("+4111111111111111", "+411111******1111"),          # too long for a phone: a card
    ("+12345", "+12345"),                                # too short for a phone
    ("12:30:59 +0100", "12:30:59 +0100"),
])
def test_logs_keep_the_last_4_digits_of_a_phone_number(text, masked):
    assert mask_for_logs(text) == masked
    assert mask_for_logs(masked) == masked


@pytest.mark.parametrize("ani, masked", [
    ("+15551234567", "+*******4567"),
    ("+1 (555) 123-4567", "+* (***) ***-4567"),
    ("5551234567", "******4567"),
    ("sip:+15551234567@pbx", "sip:+*******4567@pbx"),
    ("4111111111111111", "************1111"),
    ("1234", "1234"),
    ("anonymous", "anonymous"),
    ("", ""),
])
def test_a_phone_number_field_keeps_only_its_last_4_digits(ani, masked):
    assert mask_phone_number(ani) == masked


def test_log_filter_masks_phone_numbers_but_attached_data_keeps_them():
    logger, stream = _logger_with_masking("vcc.test.masking.phone")
    logger.info("caller %s", "+15551234567", extra={"card": "+44 20 7946 0958"})
    assert stream.getvalue().strip() == "caller +*******4567|+** ** **** 0958"
    # The screen pop needs the caller's number: attached data masks cards only.
    assert mask_data({"ani": "+15551234567"}) == {"ani": "+15551234567"}
