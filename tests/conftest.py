"""Scheduler backend selection for the test suite.

- `VCC_EXPECT_BACKEND` (native|python): `tests/unit/test_scheduler.py::
  test_backend_is_the_expected_one` asserts `native.BACKEND` equals it, so a native run can
  never silently fall back to the pure-Python twin.
- `scheduler_class`: every direct scheduler test runs on both backends (ids "native",
  "python"). A compiled module that cannot be imported FAILS the native param, unless
  `VCC_PURE_PYTHON=1` asks for the twin only, in which case the native param is skipped.
- `native_scheduler_class`: the compiled class alone, same fail/skip rule.
- `engine`: a migrated SQLite store in the test's tmp_path (no network; the PostgreSQL
  modules import their own, tests/integration/postgres.py).
"""

import os

import pytest


def pure_python_requested():
    """Same reading of VCC_PURE_PYTHON as native/__init__.py."""
    return os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0")


def load_native_scheduler():
    if pure_python_requested():
        pytest.skip("VCC_PURE_PYTHON=1: the compiled scheduler is not under test")
    try:
        from native._scheduler import Scheduler
    except ImportError as error:
        pytest.fail(f"compiled scheduler not importable ({error}); run `pip install -e .` "
                    "or set VCC_PURE_PYTHON=1", pytrace=False)
    return Scheduler


def pytest_report_header(config):
    import native

    return (f"vcc scheduler backend: {native.BACKEND} "
            f"(VCC_EXPECT_BACKEND={os.environ.get('VCC_EXPECT_BACKEND', '<unset>')}, "
            f"VCC_PURE_PYTHON={os.environ.get('VCC_PURE_PYTHON', '<unset>')})")


@pytest.fixture(params=["native", "python"])
def scheduler_class(request):
    if request.param == "native":
        return load_native_scheduler()
    from native.pyscheduler import Scheduler

    return Scheduler


@pytest.fixture
def native_scheduler_class():
    return load_native_scheduler()


@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite store of the test's own (a module may define its own `engine`)."""
    from cluster.store.db import open_engine
    from cluster.store.migrate import upgrade

    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    yield engine
    engine.dispose()
