"""The DQP scheduler: compiled (Cython) by default, the pure-Python twin on request.

`VCC_PURE_PYTHON=1` forces the twin. `BACKEND` says which one this process uses; the test
suite asserts it against `VCC_EXPECT_BACKEND` so a native run can never silently fall back.
"""

import os
import warnings

from native.constants import *  # noqa: F401,F403  (the codes are part of this package's API)

if os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
    from native.pyscheduler import BACKEND, Scheduler
else:
    try:
        from native._scheduler import BACKEND, Scheduler
    except ImportError as error:  # not built: a source checkout without `pip install -e .`
        warnings.warn(
            f"vcc: compiled scheduler unavailable ({error}); using the pure-Python twin. "
            "Run `pip install -e .` to build it.",
            RuntimeWarning,
            stacklevel=2,
        )
        from native.pyscheduler import BACKEND, Scheduler

__all__ = ["BACKEND", "Scheduler"]
