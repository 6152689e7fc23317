"""Headless Chromium for the search page's tests: Debian's `chromium` package, driven by
Playwright for Python (whose own browser downloads are never used: this machine's network is
loopback only).

`launch()` starts the system browser with the flags a closed network needs (no background
connections, no component updates); `wait_until(page, script)` waits, bounded, for a condition
evaluated in the page.
"""

import os
import time
from contextlib import contextmanager

from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("HYDRANT_CHROMIUM", "/usr/bin/chromium")
# Each wait is bounded: a page that never shows what a test waits for fails it in this time.
WAIT_SECONDS = 30


@contextmanager
def launch(width=1280, height=800):
    """Yields a new page in a fresh headless Chromium; closes it all on exit."""
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/test does)")
    # Playwright gives the browser a new empty profile of its own.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
            timeout=WAIT_SECONDS * 1000,
        )
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(WAIT_SECONDS * 1000)
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.script_errors = errors
            yield page
        finally:
            browser.close()


def wait_until(page, script, what):
    """Waits until `script` (a JavaScript expression) is truthy in the page; returns its value."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = page.evaluate(script)
        if value:
            return value
        if page.script_errors:
            raise AssertionError(f"script errors in the page while waiting for {what}: {page.script_errors}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {WAIT_SECONDS} s waiting for {what}")
        time.sleep(0.1)
