"""What a host tells the core about a phone number without telling it the number.

- `phone_key`: a keyed hash (HMAC-SHA256, truncated to 16 bytes) of the number's E.164 form,
  with a secret of the center. The dialler's do-not-call lists and its records are compared
  by these keys only (sites/dialer/do_not_call.py): the core, its journal and its snapshots
  hold no number in clear, and without the secret a key cannot be turned back into a number
  by trying every number (E.164 numbers are few enough for that against a plain hash).
- `time_zones`: the IANA time zones a number's prefix may be in (libphonenumber's prefix
  table, the `phonenumbers` package): one for most numbers, several when a prefix spans
  zones (a US area code on a zone border, a mobile range of a large country), none when it
  cannot tell (toll-free and non-geographic numbers). The dialler calls a number with
  several zones only when its window is open in all of them (sites/dialer/windows.py).
"""

from __future__ import annotations

import hashlib
import hmac
import zoneinfo
from functools import lru_cache

import phonenumbers
from phonenumbers import timezone as number_zones

KEY_BYTES = 16
_UNKNOWN = "Etc/Unknown"


def phone_key(secret: bytes, e164: str) -> bytes:
    """The key of a number already in E.164 form (cluster.customers.phones.normalise_phone)."""
    return hmac.new(secret, e164.encode("ascii"), hashlib.sha256).digest()[:KEY_BYTES]


def time_zones(e164: str) -> tuple:
    """The zones the number's prefix may be in, sorted (empty: not known)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return _known(number_zones.time_zones_for_number(number))


@lru_cache(maxsize=4096)
def _known(names: tuple) -> tuple:
    """The names this system's zone database knows (an IANA name libphonenumber has and the
    tz database lacks would be a zone nobody can compute a window in)."""
    available = _available()
    return tuple(sorted(name for name in names if name != _UNKNOWN and name in available))


@lru_cache(maxsize=1)
def _available() -> frozenset:
    return frozenset(zoneinfo.available_timezones())
