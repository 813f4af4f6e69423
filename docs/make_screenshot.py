"""Refresh the README's screenshot of the app: serve app.py, open a shared view in headless Chromium, save a PNG.

Run (after ``make demo APP=0``)::

    .venv/bin/python docs/make_screenshot.py --model demo/model --out docs/app.png \
        --query "seed=<artist id>&dial=0.6"

Needs Debian's chromium + chromium-driver (as the browser test does).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="demo/model")
    p.add_argument("--out", default="docs/app.png")
    p.add_argument("--query", default="", help="URL query of the view, e.g. 'seed=ID&dial=0.6'")
    p.add_argument("--width", type=int, default=1500)
    p.add_argument("--height", type=int, default=1500)
    p.add_argument("--settle", type=float, default=20.0, help="seconds to let the page finish (default 20)")
    a = p.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                               "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                               "--server.fileWatcherType", "none", "--", "--model", a.model],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--window-size={a.width},{a.height}"):
        opts.add_argument(flag)
    driver = None
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        driver.get(f"http://127.0.0.1:{port}/?{a.query}")
        time.sleep(a.settle)
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp.png")
        driver.save_screenshot(str(tmp))
        tmp.replace(out)
        print(out)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
