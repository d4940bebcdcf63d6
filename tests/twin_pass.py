"""The twin pass (`VCC_PURE_PYTHON=1`, scripts/test) runs every test again on the pure-Python
scheduler. A few slow end-to-end tests whose subject is not the scheduler (the load client,
a replay of the sample day, Ray variants of tests that also run in-process, leadership
drills against etcd, the campaign restart) run in the compiled pass only, so that the whole suite keeps to its time budget (README, Quick start)."""

import os

import pytest


TWIN_PASS = os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0")     # as native/__init__.py


def compiled_pass_only(why: str) -> None:
    """Skip this test in the twin pass, saying why; the compiled pass runs it."""
    if TWIN_PASS:
        pytest.skip(f"VCC_PURE_PYTHON=1: {why}; the compiled pass runs it")


def compiled_pass_test(why: str):
    """`compiled_pass_only` as a decorator, for tests whose fixtures start processes: the
    twin pass skips them before their fixtures run."""
    return pytest.mark.skipif(TWIN_PASS, reason=f"VCC_PURE_PYTHON=1: {why}; the compiled "
                                                "pass runs it")
