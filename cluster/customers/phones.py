"""Phone numbers to E.164 ("+" country code and number, digits only), the one form the store
keeps and looks up: an ANI arrives however the PBX or the carrier writes it ("+1 (415)
555-2671", "0044 20 7946 0958", "tel:+14155552671", "020 7946 0958" in the UK), and a
customer's number must be found whatever form it was imported in.

Parsing is libphonenumber's (the `phonenumbers` package): international prefixes ("00",
"011"), national trunk prefixes ("0" in most of Europe, kept in Italy), "(0)" and per-country
lengths differ by country, and a hand-written parser gets them wrong. A number written without
a country code needs a `region` (ISO 3166 code of the country it was dialled in, e.g. "US",
"GB"); without one it is refused.

`normalise_phone` is strict (imports: a bad number stops them). `ani_key` is for lookups: an
ANI that cannot be a number (withheld, "anonymous", garbage) is simply found by nobody.
"""

from __future__ import annotations

import re

import phonenumbers

# The form PBXs usually send, already E.164: a lookup takes it as is (libphonenumber formats
# such a number back to the very same string).
_E164 = re.compile(r"\+[1-9]\d{6,14}\Z")
# Spaces, dashes, dots, slashes and brackets: "+1 (415) 555-2671" is "+14155552671" once
# they are gone ("+44 (0)20 ..." too: its national "0" sends it to the full parser below).
_SEPARATORS = re.compile(r"[\s().\-/]+")
MAX_INPUT = 64          # longer is no phone number; libphonenumber refuses more than 250 anyway


class PhoneNumberError(ValueError):
    """Not a phone number; the message says why (it never repeats the number in clear)."""


def normalise_phone(text: str, region: str | None = None) -> str:
    """`text` as E.164 ("+14155552671"), or PhoneNumberError. `region`: the country a number
    without a country code belongs to (None: such a number is refused)."""
    if not isinstance(text, str):
        raise PhoneNumberError("not text")
    text = text.strip()
    quick = _quick_e164(text)
    if quick is not None:
        return quick
    if _E164.match(text):
        number = phonenumbers.parse(text, None)
    else:
        if not text:
            raise PhoneNumberError("empty")
        if len(text) > MAX_INPUT:
            raise PhoneNumberError(f"longer than {MAX_INPUT} characters")
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as error:
            if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
                raise PhoneNumberError(
                    "no valid country code (write it +CC...)" if region is None
                    else f"no valid country code, and not a number of region {region}"
                ) from None
            raise PhoneNumberError(_PARSE_PROBLEMS.get(error.error_type, "not a phone number")
                                   ) from None
    if not phonenumbers.is_possible_number(number):
        raise PhoneNumberError("not a possible number of its country (wrong length)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _quick_e164(text: str) -> str | None:
    """The E.164 form of a number written with its country code and nothing libphonenumber
    would change but separators, checked as `is_possible_number` checks it; None when the
    full parser must decide. An import of 100,000 customers parses each number once: the
    full parser (~20-50 µs a number) would take most of its time budget.

    Conservative: a country code libphonenumber does not know, a national number that starts
    like the country's national (trunk) prefix, or a length it might accept otherwise, go
    to the full parser (tests check both agree)."""
    compact = _SEPARATORS.sub("", text) if len(text) <= MAX_INPUT else text
    if not _E164.match(compact):
        return None
    for size in (1, 2, 3):
        code = int(compact[1:1 + size])
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
        if regions:
            break
    else:
        return None
    metadata = (phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
                if regions[0] == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
                else phonenumbers.PhoneMetadata.metadata_for_region(regions[0]))
    if metadata is None or metadata.general_desc is None:
        return None
    national = compact[1 + size:]
    if metadata.national_prefix_for_parsing:
        prefix = re.match(metadata.national_prefix_for_parsing, national)
        if prefix is not None and (prefix.end() > 0 or any(prefix.groups())):
            return None
    lengths = metadata.general_desc.possible_length
    if len(national) in lengths or len(national) in (
            metadata.general_desc.possible_length_local_only or ()):
        return compact
    return None


_PARSE_PROBLEMS = {
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international "
                                                           "prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def ani_key(ani: str, region: str | None = None) -> str | None:
    """The E.164 form of a caller's ANI, or None when it cannot be a number (nobody has it)."""
    if _E164.match(ani):
        return ani          # the fast path: already what the store keys on
    try:
        return normalise_phone(ani, region)
    except PhoneNumberError:
        return None


def valid_region(region: str) -> bool:
    """Whether `region` is a country libphonenumber knows ("US", "GB", ...)."""
    return region in phonenumbers.SUPPORTED_REGIONS
