"""Screenshots of the web app for the README: docs/images/app_form.png (a two-arm scenario
being built) and docs/images/app_results.png (its figures and endpoints).

    .venv/bin/python tools/screenshots.py

Starts ``cordsim serve`` on a free port, drives Debian's Chromium (``chromium`` on PATH)
with Playwright, and writes palette PNGs (each well under 300 KB).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from PIL import Image
from playwright.sync_api import sync_playwright

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"
SERVE = "import sys; from cordsim.cli import main; sys.exit(main(sys.argv[1:]))"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shrink(path: Path, colors: int = 128) -> int:
    """Rewrite ``path`` as a palette PNG; its size in bytes."""
    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path.stat().st_size


def build_two_arms(page) -> None:  # type: ignore[no-untyped-def]
    page.click("#new-scenario")
    page.fill("#name", "sEV-vs-vehicle")
    page.fill("#description", "Moderate contusion: vehicle against 100 ug naive sEVs IV "
              "3 h after injury")
    page.select_option("#injury", "moderate")
    page.click("#add-arm")
    arm = page.locator("#arms .arm").nth(1)
    arm.locator(".arm-name").fill("sEV 100 ug IV at 3 h")
    arm.locator(".add-dose").click()
    dose = arm.locator(".dose")
    dose.locator(".dose-product").select_option("sev_naive")
    dose.locator(".dose-amount").fill("100")
    dose.locator(".dose-unit").select_option("ug")
    dose.locator(".dose-route").select_option("iv")
    dose.locator(".dose-schedule").select_option("bolus")
    dose.locator(".dose-start").fill("3")
    dose.locator(".dose-start-unit").select_option("h")


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("no 'chromium' on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", SERVE, "serve", "--port", str(port)])
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            build_two_arms(page)
            form = OUT / "app_form.png"
            page.screenshot(path=form)
            page.click("#run")
            page.wait_for_function("() => { const i = document.querySelector('#fig-comparison');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            page.click("#check-validation")
            page.wait_for_selector("#validation-table")
            results = OUT / "app_results.png"
            page.set_viewport_size({"width": 1200, "height": 1500})
            page.locator("#results").scroll_into_view_if_needed()
            page.evaluate("document.querySelector('#results').scrollIntoView()")
            page.screenshot(path=results)
            browser.close()
        for path in (form, results):
            print(f"wrote {path} ({_shrink(path) / 1024:.0f} KB)")
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
