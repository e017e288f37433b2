#!/usr/bin/env python3
"""The page at / in a real browser: Debian's chromium, headless, driven by
python3-selenium and chromium-driver.  Checks that the target line names the
target, that the ranges drawn are the ones `maps` lists (coloured by their
permissions), that zoom widens them, that a click shows the walk level by
level as `pte` gives it, that a search by PA lists `ptov`'s addresses and a
search by VA of an unmapped address shows its walk and says so.

Usage:
  test_page.py PATH/TO/http_sim_server
      against bridge/http's test server (the real service on the simulated
      target); what the page must show comes from the same server's API.
  test_page.py --url http://127.0.0.1:PORT --expect FILE.json
      against a running endpoint (rspbridge --http, qemu-tests/tests/
      http_page.py); FILE holds what the page must show, taken elsewhere
      (GDB's `monitor ... --json`): {"arch": arch doc, "maps": maps doc,
      "click": VA, "walk": pte doc of VA, "pa": PA, "ptov": ptov doc of PA,
      "unmapped": VA, "unmapped_walk": pte doc of that VA}.

Exits 77 (skip) without selenium or chromium, unless RSP_NO_SKIP=1 (then
that is a failure)."""

import json
import os
import shutil
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "python", "tests"))


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
    from selenium.webdriver.support.ui import Select, WebDriverWait
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


def drawn_of(run):
    """What the page draws for one entry of maps' runs: a fold as its first run.  Its end
    is va + size (the page's BigInt: 0x10000000000000000 at the top of the space); prot
    is "rwxu" (read, write, execute, user or kernel)."""
    first = run["runs"][0] if "fold" in run else run
    prot = first["prot"]
    end = "0x%x" % (int(run["va"], 16) + int(run["size"], 16))
    return (run["va"], end, first["pa"], first["flags"], prot[3] == "u", prot[1] == "w",
            prot[2] == "x")


def sim_expectations(url):
    """The simulated target: what to show, from the server's own API."""
    maps = get(url + "/v1/maps")
    kernel = [r for r in maps["runs"] if not drawn_of(r)[4]]
    click = (kernel[-2] if len(kernel) > 1 else kernel[0])["va"] if kernel else maps["runs"][0]["va"]
    return {
        "arch": {"target": "i386:x86-64", "mode": "x86-64"},
        "maps": maps,
        "click": click,
        "walk": get(url + "/v1/pte?va=" + click),
        "pa": "0x300004",
        "ptov": get(url + "/v1/ptov?pa=0x300004"),
        "unmapped": "0x7f0000000000",
        "unmapped_walk": get(url + "/v1/pte?va=0x7f0000000000"),
    }


def check_page(driver, url, exp):
    wait = WebDriverWait(driver, 60)  # a hang guard, not a timing assertion
    driver.get(url + "/")
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
    check(driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1",
          "page did not load its data: " + driver.find_element(By.ID, "target").text)
    line = driver.find_element(By.ID, "target").text
    check(exp["arch"]["target"] in line and exp["arch"]["mode"] in line,
          f"target line {line!r} does not name {exp['arch']['target']} / {exp['arch']['mode']}")

    # The ranges drawn are maps's runs, coloured by their permissions.
    runs = exp["maps"]["runs"]
    drawn = driver.find_elements(By.CSS_SELECTOR, "#strip .run")
    want = [drawn_of(r)[:4] for r in runs]
    got = [(e.get_attribute("data-va"), e.get_attribute("data-end"),
            e.get_attribute("data-pa"), e.get_attribute("data-flags")) for e in drawn]
    check(got == want and want, f"ranges drawn {got} != maps {want}")
    for e, r in zip(drawn, runs):
        _, _, _, _, user, write, exe = drawn_of(r)
        cls = e.get_attribute("class").split()
        check(("user" in cls) == user and ("kernel" in cls) == (not user),
              f"user/kernel colour of {r['va']}: {cls}")
        check(("w" in cls) == write and ("x" in cls) == exe, f"W/X colour of {r['va']}: {cls}")
        check(e.size["width"] > 0 and e.is_displayed(), f"{r['va']} not visible")

    # Zoom widens the strip.
    def first_width():
        return driver.find_element(By.CSS_SELECTOR, "#strip .run").size["width"]
    w0 = first_width()
    driver.find_element(By.ID, "zin").click()
    check(first_width() > w0, f"zoom +: range width {w0} -> {first_width()}")

    # A click on a range shows its walk, level by level.
    va = exp["click"]
    el = driver.find_element(By.CSS_SELECTOR, f'#strip .run[data-va="{va}"]')
    driver.execute_script("arguments[0].scrollIntoView({inline:'center'})", el)
    el.click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#walk tr.level"))
    pte = exp["walk"]
    rows = driver.find_elements(By.CSS_SELECTOR, "#walk tr.level")
    names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
    check(names == [lv["name"] for lv in pte["levels"]], f"walk levels {names} != pte {pte['levels']}")
    raws = [r.find_elements(By.TAG_NAME, "td")[4].text for r in rows]
    check(raws == [lv["raw"] for lv in pte["levels"]], f"walk entries {raws}")
    check(driver.find_element(By.ID, "walk-pa").text == pte["pa"],
          f"walk pa {driver.find_element(By.ID, 'walk-pa').text} != {pte['pa']}")
    sel = driver.find_elements(By.CSS_SELECTOR, "#strip .run.sel")
    check(len(sel) == 1 and sel[0].get_attribute("data-va") == va, "selection not shown")

    # Search by PA: the VAs ptov lists.
    Select(driver.find_element(By.ID, "kind")).select_by_value("pa")
    box = driver.find_element(By.ID, "addr")
    box.clear()
    box.send_keys(exp["pa"] + "\n")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ptov tr.va"))
    shown = [r.find_elements(By.TAG_NAME, "td")[0].text
             for r in driver.find_elements(By.CSS_SELECTOR, "#ptov tr.va")]
    want = [v["va"] for v in exp["ptov"]["vas"]]
    check(shown == want and shown, f"ptov shown {shown} != {want}")

    # Search by VA: an unmapped one says so, with the walk that found nothing.
    Select(driver.find_element(By.ID, "kind")).select_by_value("va")
    box.clear()
    box.send_keys(exp["unmapped"] + "\n")
    wait.until(lambda d: "not mapped" in d.find_element(By.ID, "detail").text)
    rows = driver.find_elements(By.CSS_SELECTOR, "#walk tr.level")
    names = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows]
    want = [lv["name"] for lv in exp["unmapped_walk"]["levels"]]
    check(names == want and want, f"unmapped walk levels {names} != {want}")


def main(argv):
    srv = None
    if len(argv) == 5 and argv[1] == "--url" and argv[3] == "--expect":
        url = argv[2].rstrip("/")
        with open(argv[4]) as f:
            exp = json.load(f)
    elif len(argv) == 2:
        from simserver import SimServer
        srv = SimServer(argv[1])
        url = srv.url
        exp = None
    else:
        print(__doc__)
        return 2
    profile = tempfile.mkdtemp(prefix="rsp-chromium-")
    driver = None
    try:
        if exp is None:
            exp = sim_expectations(url)
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--no-first-run",
                     "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile}", "--window-size=1400,900"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
        driver.set_page_load_timeout(60)
        check_page(driver, url, exp)
    finally:
        if driver:
            driver.quit()
        if srv:
            srv.stop()
        shutil.rmtree(profile, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("page OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
