"""The demo as its audience sees it: a real `streamlit run app.py` server driven by headless Chromium (Selenium).

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing); skipped with the
reason when they are absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium + chromium-driver (.ci/run installs them)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(small_demo, tmp_path_factory):
    """`streamlit run app.py` on a free port against a saved model of the 3k-artist demo catalog."""
    from recsys.recommend import Recommender

    model = tmp_path_factory.mktemp("browser") / "model"
    Recommender.build(small_demo[1]).save(model)
    port = _free_port()
    log = open(tmp_path_factory.mktemp("browser_log") / "streamlit.log", "w")  # noqa: SIM115
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.pop("RECSYS_CATALOG", None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless",
                             "true", "--server.port", str(port), "--server.address", "127.0.0.1",
                             "--server.fileWatcherType", "none", "--", "--model", str(model)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"streamlit did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture()
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1600,1400", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads"),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


class _Wait:
    """WebDriverWait that leaves a screenshot and the page text in the test's tmp dir when it times out."""

    def __init__(self, driver, tmp_path: Path, timeout: float = 60) -> None:
        self.driver, self.tmp_path, self.w = driver, tmp_path, WebDriverWait(driver, timeout)

    def until(self, cond, what: str = "condition"):
        try:
            return self.w.until(cond)
        except TimeoutException:
            self.driver.save_screenshot(str(self.tmp_path / "timeout.png"))
            body = self.driver.find_element(By.TAG_NAME, "body").text
            pytest.fail(f"timed out waiting for {what}; page text: {body[:1500]!r}")


def _top_suggestion(driver) -> tuple[str, int] | None:
    for el in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stText"]'):
        text = el.text
        if text.startswith("Top suggestion: "):
            name, _, pop = text[len("Top suggestion: "):].rpartition(" (popularity ")
            return name, int(pop.rstrip(")"))
    return None


def test_search_pick_and_dial_in_a_real_browser(server, browser, small_demo, tmp_path):
    cat = small_demo[1]
    pop = cat.artists.popularity.astype(float)
    row = int(np.argsort(-pop)[3])
    name, sid = str(cat.artists.names[row]), str(cat.artists.ids[row])
    wait = _Wait(browser, tmp_path)
    browser.get(server)
    browser.save_screenshot(str(tmp_path / "opened.png"))

    box = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label^="Search an artist"]')),
                     "the search box")
    box.send_keys(name[:-1], Keys.ENTER)  # a typo: last letter missing
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stDataFrame"]')), "candidates")

    seeds = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, 'input[aria-label^="Seed artists"]')), "the seed picker")
    seeds.click()
    seeds.send_keys(sid)  # options are "name · popularity · id": the id picks exactly one
    option = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[role="option"]')), "the seed option")
    assert sid in option.text
    option.click()

    wait.until(lambda d: _top_suggestion(d) is not None, "the neighbour list")
    mainstream = _top_suggestion(browser)
    assert name in [e.text for e in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stText"]')]
    browser.save_screenshot(str(tmp_path / "mainstream.png"))

    # Streamlit's slider is a react-aria slider over a visually hidden <input type=range>: focus it and press
    # End, as a keyboard user would, to jump to the deep-cuts end.
    dial_css = 'input[type="range"][aria-label^="Mainstream"]'
    dial = browser.find_element(By.CSS_SELECTOR, dial_css)
    assert float(dial.get_attribute("value")) == 0.0
    browser.execute_script("arguments[0].focus()", dial)
    ActionChains(browser).send_keys(Keys.END).perform()
    wait.until(lambda d: float(d.find_element(By.CSS_SELECTOR, dial_css).get_attribute("value")) == 1.0,
               "the dial at 1")
    # the list the library gives for this seed at the deep end; waiting for it (not for any change) keeps a
    # list still on screen from an earlier run of the script from being read as the answer
    from recsys.recommend import Recommender

    want = Recommender.build(cat).neighbours(sid, 20, dial=1.0)
    wait.until(lambda d: (_top_suggestion(d) or ("", -1))[0] == want["name"].iloc[0], "the deep-cuts list")
    deep = _top_suggestion(browser)
    shot = tmp_path / "deep_cuts.png"
    browser.save_screenshot(str(shot))

    assert deep != mainstream  # the list changed
    assert deep[1] < mainstream[1]  # and its first result is less popular at the deep end
    assert "dial=1" in browser.current_url  # the view is in the URL
    assert shot.stat().st_size > 10_000

    # the downloads hold the list on screen: the same neighbours the library gives for this seed and dial
    downloads = tmp_path / "downloads"
    for label, name in (("CSV", "neighbours.csv"), ("M3U", "neighbours.m3u"), ("Spotify URIs", "neighbours.txt")):
        button = wait.until(EC.element_to_be_clickable(
            (By.XPATH, f'//div[@data-testid="stDownloadButton"]//button[normalize-space()="{label}"]')), label)
        button.click()
        wait.until(lambda d, name=name: (downloads / name).is_file(), f"the {label} download")
    csv_rows = pd.read_csv(downloads / "neighbours.csv")
    assert csv_rows["id"].tolist() == want["id"].tolist()
    assert csv_rows["popularity"].tolist() == want["popularity"].tolist()
    m3u = (downloads / "neighbours.m3u").read_text().splitlines()
    assert m3u[0] == "#EXTM3U" and m3u[2::2] == [f"spotify:artist:{i}" for i in want["id"]]
    assert (downloads / "neighbours.txt").read_text().split() == [f"spotify:artist:{i}" for i in want["id"]]
