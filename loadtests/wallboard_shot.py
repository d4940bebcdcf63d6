"""The README's wallboard screenshot: `python -m loadtests.wallboard_shot docs/wallboard.png`.

Plays `vcc demo`'s dialled center (loadtests/demo.py: the same configuration, trace and
server flags) against `vcc serve --runtime inprocess --http-port 0`, opens the kiosk view
in a headless Chromium at 1920x1080 (Debian's chromium and chromedriver, through Selenium:
the `test` extra) and saves a screenshot `--at` seconds into the traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import threading
import time

SCREEN = (1920, 1080)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        raise SystemExit("wallboard_shot: needs chromium and chromedriver (Debian: apt-get "
                         "install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={SCREEN[0]},{SCREEN[1]}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": SCREEN[0], "height": SCREEN[1], "deviceScaleFactor": 1, "mobile": False})
    return driver


def main(argv=None) -> int:
    from loadtests.demo import dialled_center
    from loadtests.grpc_bench import ServerProcess
    from loadtests.live import run_loadtest

    parser = argparse.ArgumentParser(prog="python -m loadtests.wallboard_shot")
    parser.add_argument("png", help="where to save the screenshot")
    parser.add_argument("--seconds", type=float, default=40.0, help="traffic played (40)")
    parser.add_argument("--at", type=float, default=30.0,
                        help="seconds into the traffic to take the screenshot (30)")
    args = parser.parse_args(argv)
    show = dialled_center(args.seconds, None)
    with tempfile.TemporaryDirectory(prefix="vcc-shot-") as workdir, \
            ServerProcess(show.config_text, runtime="inprocess", via_cli=True, cwd=workdir,
                          server_args=["--db", f"sqlite:///{workdir}/shot.db",
                                       "--max-link-delay-ms", "1000", "--http-port", "0",
                                       *show.server_args]) as server:
        driver = _browser()
        try:
            driver.get(server.wallboard_url + "kiosk")
            failure = []

            def play():
                try:
                    asyncio.run(run_loadtest(f"127.0.0.1:{server.port}", show.trace,
                                             speed=show.speed))
                except Exception as error:      # noqa: BLE001 - reported below
                    failure.append(error)
            player = threading.Thread(target=play, daemon=True)
            began = time.monotonic()
            player.start()
            while time.monotonic() - began < args.at and player.is_alive():
                time.sleep(0.25)
            driver.save_screenshot(args.png)
            print(f"wallboard_shot: saved {args.png} {time.monotonic() - began:.0f} s into "
                  f"the traffic")
            player.join(args.seconds + 120.0)
            if failure:
                print(f"wallboard_shot: the traffic failed: {failure[0]}", file=sys.stderr)
                return 1
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
