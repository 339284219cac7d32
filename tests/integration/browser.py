"""A real browser for the tests of `faultlab ui`: Debian's chromium, headless, driven by
Selenium through Debian's chromedriver (`make setup` installs both)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = ("chromium", "chromedriver")


def missing() -> list[str]:
    return [name for name in CHROMIUM if shutil.which(name) is None]


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    absent = missing()
    assert not absent, f"{', '.join(absent)} not installed: `make setup` installs them"
    options = Options()
    options.binary_location = str(shutil.which("chromium"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1100")
    driver = webdriver.Chrome(service=Service(str(shutil.which("chromedriver"))), options=options)
    try:
        yield driver
    finally:
        driver.quit()
