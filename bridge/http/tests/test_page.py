#!/usr/bin/env python3
"""The page at / in a real browser: Debian's chromium, headless, driven by
python3-selenium and chromium-driver, against bridge/http's test server (the
real service on the simulated target).  Checks that the ranges drawn are the
ones /v1/maps lists, that a click shows the walk level by level as /v1/pte
gives it, and that a search by PA lists /v1/ptov's addresses.

Usage: test_page.py PATH/TO/http_sim_server.  Exits 77 (skip) without
selenium or chromium, unless RSP_NO_SKIP=1 (then that is a failure)."""

import json
import os
import shutil
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python", "tests"))
from simserver import SimServer  # noqa: E402


def skip(why):
    if os.environ.get("RSP_NO_SKIP") == "1":
        print(f"FAIL (RSP_NO_SKIP=1): {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(77)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    skip("python3-selenium is not installed")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not os.path.exists(CHROMIUM) or not os.path.exists(DRIVER):
    skip("chromium / chromium-driver not installed")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def main():
    srv = SimServer(sys.argv[1])
    profile = tempfile.mkdtemp(prefix="rsp-chromium-")
    driver = None
    try:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--no-first-run",
                     "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}", "--window-size=1400,900"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
        driver.set_page_load_timeout(60)
        wait = WebDriverWait(driver, 60)  # a hang guard, not a timing assertion
        driver.get(srv.url + "/")
        wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        check(driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1",
              "page did not load its data: " + driver.find_element(By.ID, "target").text)

        # The ranges drawn are /v1/maps's runs, coloured by their permissions.
        maps = get(srv.url + "/v1/maps")
        drawn = driver.find_elements(By.CSS_SELECTOR, "#strip .run")
        want = [(r["va"], r["end"], r["pa"], r["flags"]) for r in maps["runs"]]
        got = [(e.get_attribute("data-va"), e.get_attribute("data-end"),
                e.get_attribute("data-pa"), e.get_attribute("data-flags")) for e in drawn]
        check(got == want, f"ranges drawn {got} != /v1/maps {want}")
        for e, r in zip(drawn, maps["runs"]):
            cls = e.get_attribute("class").split()
            check(("user" in cls) == r["user"] and ("kernel" in cls) == (not r["user"]),
                  f"user/kernel colour of {r['va']}: {cls}")
            check(("w" in cls) == r["write"] and ("x" in cls) == r["exec"],
                  f"W/X colour of {r['va']}: {cls}")
            check(e.size["width"] > 0 and e.is_displayed(), f"{r['va']} not visible")

        # Zoom widens the strip.
        def first_width():
            return driver.find_element(By.CSS_SELECTOR, "#strip .run").size["width"]
        w0 = first_width()
        driver.find_element(By.ID, "zin").click()
        check(first_width() > w0, f"zoom +: range width {w0} -> {first_width()}")

        # A click on the first kernel range shows its walk, level by level.
        kernel = [e for e in driver.find_elements(By.CSS_SELECTOR, "#strip .run.kernel")]
        check(kernel, "no kernel range drawn")
        if kernel:
            va = kernel[-2].get_attribute("data-va") if len(kernel) > 1 else kernel[0].get_attribute("data-va")
            el = driver.find_element(By.CSS_SELECTOR, f'#strip .run[data-va="{va}"]')
            driver.execute_script("arguments[0].scrollIntoView({inline:'center'})", el)
            el.click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#walk tr.level"))
            pte = get(srv.url + "/v1/pte?va=" + va)
            rows = driver.find_elements(By.CSS_SELECTOR, "#walk tr.level")
            names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
            check(names == [lv["name"] for lv in pte["levels"]],
                  f"walk levels {names} != /v1/pte {pte['levels']}")
            raws = [r.find_elements(By.TAG_NAME, "td")[4].text for r in rows]
            check(raws == [lv["raw"] for lv in pte["levels"]], f"walk entries {raws}")
            check(driver.find_element(By.ID, "walk-pa").text == pte["pa"],
                  f"walk pa {driver.find_element(By.ID, 'walk-pa').text} != {pte['pa']}")
            sel = driver.find_elements(By.CSS_SELECTOR, "#strip .run.sel")
            check(len(sel) == 1 and sel[0].get_attribute("data-va") == va, "selection not shown")

        # Search by PA: the VAs /v1/ptov lists.
        from selenium.webdriver.support.ui import Select
        Select(driver.find_element(By.ID, "kind")).select_by_value("pa")
        box = driver.find_element(By.ID, "addr")
        box.clear()
        box.send_keys("0x300004\n")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ptov tr.va"))
        ptov = get(srv.url + "/v1/ptov?pa=0x300004")
        shown = [r.find_elements(By.TAG_NAME, "td")[0].text
                 for r in driver.find_elements(By.CSS_SELECTOR, "#ptov tr.va")]
        check(shown == [v["va"] for v in ptov["vas"]] and shown, f"ptov shown {shown}")

        # Search by VA: an unmapped one says so.
        Select(driver.find_element(By.ID, "kind")).select_by_value("va")
        box.clear()
        box.send_keys("0x7f0000000000\n")
        wait.until(lambda d: "not mapped" in d.find_element(By.ID, "detail").text)
        check("PML4E" in driver.find_element(By.ID, "detail").text, "unmapped walk not shown")
    finally:
        if driver:
            driver.quit()
        srv.stop()
        shutil.rmtree(profile, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("page OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
