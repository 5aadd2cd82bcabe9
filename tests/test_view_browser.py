"""The viewer in a real headless browser: Debian's chromium driven by selenium through its own chromedriver.

The site is opened from file:// (no server), the index is filtered, a consultation opened and its key elements
checked; screenshots are kept (pytest's tmp dir, or $SYNTH_ARTEFACTS when set) and their paths printed. A
missing browser fails the test: it is part of `make test`, and `make` installs chromium where apt-get exists.
Only SYNTH_NO_BROWSER=1 skips it, for a machine that is told to have none.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from synth.view import build_site
from tests.test_view import make_run

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"


def _browser():  # type: ignore[no-untyped-def]
    if os.environ.get("SYNTH_NO_BROWSER") == "1":
        pytest.skip("SYNTH_NO_BROWSER=1: told there is no browser on this machine")
    binary = next((b for b in CHROMIUM if os.path.exists(b)), shutil.which("chromium"))
    if binary is None or not os.path.exists(DRIVER):
        pytest.fail(
            "chromium and chromium-driver are needed (apt-get install -y chromium chromium-driver, as `make` "
            "does); set SYNTH_NO_BROWSER=1 only where no browser may be installed"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1800", "--no-first-run", "--disable-extensions"):  # fmt: skip
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: selenium-manager never looks for (or downloads) a driver
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)


def _severe(driver) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_index_filter_and_consultation_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _browser()  # first: a missing browser fails (or is skipped) before any work
    site = tmp_path / "site"
    shots = Path(os.environ.get("SYNTH_ARTEFACTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    try:
        build_site(make_run(tmp_path), site)
        driver.get((site / "index.html").as_uri())
        wait = WebDriverWait(driver, 20)
        wait.until(ec.text_to_be_present_in_element_attribute((By.ID, "summary"), "data-ready", "1"))
        assert driver.find_element(By.ID, "summary").text.startswith("14 of 14 rows")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 14
        Select(driver.find_element(By.ID, "f-kind")).select_by_value("consultation")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 3
        Select(driver.find_element(By.ID, "f-correct")).select_by_value("incorrect")
        rows = driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
        assert len(rows) == 1 and "gastroenteritis" in rows[0].text
        assert driver.find_element(By.ID, "summary").text.startswith("1 of 14 rows")
        assert "f-correct=incorrect" in driver.current_url  # the filter survives the way back
        driver.save_screenshot(str(shots / "view-index.png"))
        rows[0].find_element(By.CSS_SELECTOR, "a.open").click()

        wait.until(ec.presence_of_element_located((By.ID, "verdict")))
        assert "/c/" in driver.current_url
        turns = driver.find_elements(By.CSS_SELECTOR, "#turns .turn")
        doctor = driver.find_elements(By.CSS_SELECTOR, "#turns .turn.doctor")
        assert len(turns) >= 5 and len(doctor) >= 3
        reasoning = driver.find_elements(By.CSS_SELECTOR, "#turns .turn.doctor aside.reasoning")
        assert len(reasoning) == len(doctor) and all(r.is_displayed() for r in reasoning)
        assert "thinking before" in reasoning[0].text
        # the reasoning sits beside its turn, not under it
        said = doctor[0].find_element(By.CSS_SELECTOR, ".said")
        assert reasoning[0].location["x"] > said.location["x"] + said.size["width"] / 2
        chart = driver.find_element(By.ID, "ddx-chart")
        assert chart.is_displayed() and chart.size["width"] > 300
        truth = driver.find_elements(By.CSS_SELECTOR, "#ddx-chart g.series.truth polyline")
        assert len(truth) == 1 and truth[0].get_attribute("stroke") == "#d62728"
        verdict = driver.find_element(By.ID, "verdict")
        assert "Verdict: incorrect" in verdict.text and "Acute appendicitis" in verdict.text
        assert "CBC" in driver.find_element(By.ID, "tests").text
        assert "<script>" not in driver.title
        driver.save_screenshot(str(shots / "view-consultation.png"))

        driver.back()
        wait.until(ec.text_to_be_present_in_element_attribute((By.ID, "summary"), "data-ready", "1"))
        assert len(driver.find_elements(By.CSS_SELECTOR, "#rows tbody tr")) == 1  # filters restored
        driver.find_element(By.ID, "f-reset").click()
        Select(driver.find_element(By.ID, "f-kind")).select_by_value("reasoning")
        driver.find_element(By.CSS_SELECTOR, "#rows tbody tr a.open").click()
        wait.until(ec.presence_of_element_located((By.ID, "tree")))
        nodes = driver.find_elements(By.CSS_SELECTOR, "#tree li.node")
        assert len(nodes) == 3 and len(driver.find_elements(By.CSS_SELECTOR, "#tree li.attempt")) == 2
        decisive = driver.find_element(By.CSS_SELECTOR, "#tree li.node.decisive > .step")
        assert decisive.is_displayed() and "metformin" in decisive.text
        assert "Metformin is first line." in driver.find_element(By.ID, "final").text
        driver.save_screenshot(str(shots / "view-trace.png"))
        assert _severe(driver) == []
    finally:
        driver.quit()
    for name in ("view-index.png", "view-consultation.png", "view-trace.png"):
        assert (shots / name).stat().st_size > 10_000
        print(f"screenshot: {shots / name}")
