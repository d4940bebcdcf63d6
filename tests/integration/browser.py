"""A real headless Chromium for the wallboard's tests (Debian: apt-get install chromium
chromium-driver), driven with Selenium through chromedriver: nothing is downloaded.

`chromium()` fails the test when CI is set (.ci/run installs the browser, so CI must have
it) and skips it elsewhere when the browser, its driver or Selenium is missing."""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREEN = (1920, 1080)           # the kiosk view's screen


def _missing() -> str | None:
    if CHROMIUM is None:
        return "chromium is not installed (Debian: apt-get install -y chromium)"
    if CHROMEDRIVER is None:
        return "chromedriver is not installed (Debian: apt-get install -y chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def require_chromium() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs it, so CI must have it", pytrace=False)
        pytest.skip(reason)


@contextlib.contextmanager
def chromium(screen=SCREEN):
    """A headless Chromium whose page is exactly `screen` CSS pixels; always quit."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--no-first-run", "--disable-extensions",
                     f"--window-size={screen[0]},{screen[1]}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        # The window's own bars take part of --window-size: the page gets the whole screen.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": screen[0], "height": screen[1], "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()
