"""Phone numbers to E.164 (cluster/customers/phones.py): every common way of writing a number
gives the one form the store keys on; the quick path agrees with libphonenumber's parser;
problems never repeat the number."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cluster.customers.phones import (PhoneNumberError, _quick_e164, ani_key, normalise_phone,
                                      valid_region)


@pytest.mark.parametrize("text, region, e164", [
    ("+14155552671", None, "+14155552671"),
    ("+1 (415) 555-2671", None, "+14155552671"),
    ("+1.415.555.2671", None, "+14155552671"),
    ("tel:+1-415-555-2671", None, "+14155552671"),
    ("(415) 555-2671", "US", "+14155552671"),
    ("1 415 555 2671", "US", "+14155552671"),          # NANP trunk prefix
    ("011 44 20 7946 0958", "US", "+442079460958"),    # dialled from the US
    ("020 7946 0958", "GB", "+442079460958"),
    ("+44 (0)20 7946 0958", None, "+442079460958"),    # the "(0)" is not dialled
    ("0044 20 7946 0958", "DE", "+442079460958"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("+39 06 1234 5678", None, "+390612345678"),       # Italy keeps its leading 0
    ("  +49 30 123456  ", None, "+4930123456"),
])
def test_common_forms_give_e164(text, region, e164):
    assert normalise_phone(text, region) == e164
    assert normalise_phone(e164) == e164                # a fixed point: stored keys stay
    assert ani_key(text, region) == e164


@pytest.mark.parametrize("text, region, problem", [
    ("020 7946 0958", None, "no valid country code"),
    ("555-2671", None, "no valid country code"),
    ("+1 555", None, "wrong length"),
    ("+999 1234567", None, "no valid country code"),
    ("anonymous", "US", "not a phone number"),
    ("", "US", "empty"),
    ("+1" + "2" * 80, None, "longer than 64"),
])
def test_bad_numbers_say_why_without_the_number(text, region, problem):
    with pytest.raises(PhoneNumberError, match=problem) as raised:
        normalise_phone(text, region)
    digits = "".join(char for char in text if char.isdigit())
    if len(digits) >= 5:
        assert digits not in str(raised.value)
    assert ani_key(text, region) is None


def test_not_text_is_refused():
    with pytest.raises(PhoneNumberError):
        normalise_phone(14155552671)


def test_regions():
    assert valid_region("US") and valid_region("GB")
    assert not valid_region("us") and not valid_region("XX")


def _example_numbers():
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
                     phonenumbers.PhoneNumberType.TOLL_FREE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                numbers.append((region, number))
    return numbers


EXAMPLES = _example_numbers()
FORMATS = (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
           phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.RFC3966)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(EXAMPLES), st.sampled_from(FORMATS))
def test_every_format_of_a_number_gives_its_e164(example, form):
    region, number = example
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, form)
    assert normalise_phone(written, region) == e164
    assert normalise_phone(e164) == e164
    assert ani_key(e164) == e164


def _full_parser(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=800, deadline=None)
@given(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
       st.sampled_from(["", " ", "-", "."]))
def test_the_quick_path_agrees_with_the_full_parser(digits, separator):
    """Whatever the quick path answers, libphonenumber answers too (it may pass a number
    on to the full parser, never answer differently)."""
    written = digits[:3] + separator + digits[3:6] + separator + digits[6:]
    quick = _quick_e164(written)
    if quick is not None:
        assert quick == _full_parser(digits)
        assert normalise_phone(written) == quick
