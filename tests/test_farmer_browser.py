"""The farmer's pages in real Chromium at 360×780 on a slow network (400 kbit/s, 400 ms): sign
in (by password, and by code), the grade, an application, an objection, feedback, read aloud;
the first page within the byte budget; nothing wider than the screen, 18 px type and no serious
or critical axe-core violation on every farmer page; the last pages readable offline with their
banner; signing out forgets them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, running_server

from ctown.db import make_engine, session_factory
from ctown.farmer import sample

pytestmark = pytest.mark.browser

PASSWORD = "pw-farmer-123"
PAGES = ("/farmer", "/farmer/file", "/farmer/looks", "/farmer/loans", "/farmer/applications",
         "/farmer/proxies", "/farmer/consents")
WIDTH, HEIGHT = 360, 780
#: The slow profile (a weak 3G signal in the hills): 400 kbit/s both ways, 400 ms latency.
SLOW = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8,
        "uploadThroughput": 400_000 / 8}
BUDGET = 100 * 1024  # bytes of the first farmer page: HTML, CSS, JS, manifest (and its icon)


@pytest.fixture
def world(db_factory: Any) -> str:
    """A migrated database holding the farmer sample (passwords set), by its URL."""
    require_chromium()
    url: str = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        sample.build(session, password=PASSWORD)
    engine.dispose()
    return url


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Transfer:
    """Bytes the page received (encoded, with headers), counted from Chromium's own events."""

    def __init__(self, cdp: Any) -> None:
        self.bytes = 0
        self.urls: list[str] = []
        self._urls: dict[str, str] = {}
        cdp.on("Network.responseReceived",
               lambda e: self._urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.loadingFinished", self._finished)

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event["encodedDataLength"])
        self.urls.append(self._urls.get(event["requestId"], "?"))


def sign_in(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("#username", "t_farmer")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/farmer")


def check_page(page: Any, path: str) -> None:
    """One column, no horizontal scroll, 18 px type, the read-aloud button, axe-core clean."""
    from axe_playwright_python.sync_playwright import Axe

    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{path} is {width} px wide"
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5).map(e => e.tagName)""")
    assert not wide, f"{path}: {wide} reach past the screen"
    assert page.evaluate("getComputedStyle(document.body).fontSize") == "18px"
    assert page.is_visible("[data-say]"), path
    results = Axe().run(page)
    bad = [f"{v['id']} ({v['impact']})" for v in results.response["violations"]
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"{path}: {bad}\n{results.generate_report()}"


def test_walk_on_a_slow_phone(world: str, tmp_path: Path) -> None:
    with browser() as chromium:
        with running_server(world, tmp_path / "var") as base:
            context, page = walk(chromium, base, tmp_path)
        # The server has stopped: the phone is offline. The last pages seen are still there.
        page.goto(base + "/farmer/loans")
        assert page.locator(".offline").is_visible()
        assert "离线保存的副本" in page.locator(".offline").inner_text()
        assert page.locator("h1", has_text="我的贷款").count() == 1
        page.goto(base + "/farmer/nowhere-seen")  # never seen: the home's copy
        assert page.locator(".grade-big").count() == 1
        context.close()


def walk(chromium: Any, base: str, tmp_path: Path) -> tuple[Any, Any]:
    """Sign in on the slow profile, every page checked, an application, an objection, read
    aloud; the context and page are handed back with the pages kept by the service worker."""
    context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT},
                                   locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # a first visit
    cdp.send("Network.emulateNetworkConditions", SLOW)
    page.goto(base + "/login")
    page.fill("#username", "t_farmer")
    page.fill("#password", PASSWORD)
    transfer = Transfer(cdp)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/farmer")
    page.wait_for_load_state("load")
    # The manifest is fetched when the browser considers installing: count it as well.
    page.evaluate("fetch('/farmer/manifest.webmanifest').then(r => r.text())")
    page.wait_for_timeout(1500)
    assert transfer.bytes < BUDGET, (transfer.bytes, transfer.urls)
    # The grade in large type on the first screen, with what it brings and why.
    grade = page.locator(".grade-big .letter")
    assert grade.inner_text() == "A2"
    assert float(grade.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 48
    assert grade.bounding_box()["y"] < HEIGHT
    assert page.locator("text=为什么是这个等级").bounding_box()["y"] < HEIGHT
    page.evaluate("navigator.serviceWorker.ready")  # the pages are kept from now on
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
    for path in PAGES:
        page.goto(base + path)
        check_page(page, path)

    # An application: the short form, then it is on the applications page at step 2.
    page.goto(base + "/lending/apply")
    page.select_option("#product_code", "rcb_credit")
    page.fill("#amount", "30000")
    page.select_option("#term_months", "6")
    page.click("text=提交，马上出结果")
    page.wait_for_selector("text=申请结果")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    page.goto(base + "/farmer/applications")
    assert page.locator("section", has_text="申请 3万元").locator("text=第 2 步，共 4 步"
                                                                  ).count() == 1

    # An objection to a record of the file, in plain words (no indicator code to type).
    page.goto(base + "/farmer/file")
    item = page.locator("ul.items > li", has_text="累计欠费金额")
    item.locator("summary").click()
    item.locator("textarea").fill("欠费上个月已经缴清")
    item.locator("button").click()
    page.wait_for_url(base + "/farmer/file?msg=objected")
    assert page.locator("text=异议已提交").count() == 1
    assert item.locator(".flag").count() == 1

    # Feedback (ctown.feedback) from the menu at the foot of every farmer page.
    page.goto(base + "/farmer")
    page.click("nav.pages >> text=我要反馈")
    page.wait_for_url(base + "/feedback/new")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    page.fill("#text", "村里的信用服务点周末也能开门吗？")
    page.click("form:has(#text) button")
    page.wait_for_url("**/feedback/mine?msg=sent*")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH

    # Read aloud: the page's text goes to the voice endpoint, whose WAV is played; when the
    # endpoint cannot speak, the button says so quietly and the page works on.
    page.goto(base + "/farmer")
    with page.expect_response("**/api/v1/channels/voice/say") as said:
        page.click("[data-say]")
    response = said.value
    sent = response.request.post_data_json
    assert "A2" in sent["text"] and len(sent["text"]) <= 500
    if response.status == 200:
        assert response.json()["audio_url"]
    else:
        page.wait_for_selector("[data-say-status]:has-text('朗读暂时不可用')")
    page.screenshot(path=str(tmp_path / "farmer-home.png"), full_page=True)
    page.goto(base + "/farmer/loans")
    return context, page

def test_signing_out_forgets_the_offline_copies(world: str, tmp_path: Path) -> None:
    with browser() as chromium, running_server(world, tmp_path / "var") as base:
        context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = context.new_page()
        sign_in(page, base)
        page.evaluate("navigator.serviceWorker.ready")
        for path in ("/farmer", "/farmer/loans"):
            page.goto(base + path)
        kept = page.evaluate("""async () => {
            const c = await caches.open('ctown-farmer-pages-v1');
            return (await c.keys()).map(r => new URL(r.url).pathname); }""")
        assert "/farmer/loans" in kept
        page.click("form[data-logout] button")
        page.wait_for_url("**/login")
        names = page.evaluate("caches.keys()")
        assert not [n for n in names if n.startswith("ctown-farmer-")]
        # Signed out, the farmer's address leads to the sign-in page, not to a kept copy.
        page.goto(base + "/farmer")
        assert "/login" in page.url
        context.close()


def test_sign_in_by_code_lands_on_the_home(db_factory: Any, tmp_path: Path) -> None:
    """The farmer signs in with the resident ID and the code sent to the phone on file
    (``/login/code``, ctown.channels) and lands on the phone-first home."""
    import json
    import re

    from tests.factories import build_county, people_frame
    from typer.testing import CliRunner

    from ctown.cli import app as root
    from ctown.crypto import FieldCipher

    require_chromium()
    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=2)
    engine.dispose()
    resident_id = str(people_frame(1, "330521100201")["resident_id"][0])  # the farmer's head
    env = {"CTOWN_SMS_BACKEND": "null"}
    with browser() as chromium, running_server(url, tmp_path, **env) as base:
        context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT})
        page = context.new_page()
        page.goto(base + "/login/code")
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        page.fill("#resident_id", resident_id)
        page.click("form button")
        page.wait_for_selector("#code")
        out = CliRunner().invoke(root, ["notify", "outbox", "--json", "--limit", "50"],
                                 env={"CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(tmp_path),
                                      **env})
        assert out.exit_code == 0, out.output
        texts = [json.loads(line)["text"] for line in out.output.splitlines()]
        code = next(m[1] for t in reversed(texts) if (m := re.search(r"验证码 (\d{6})", t)))
        page.fill("#code", code)
        page.click("form:has(#code) button")
        page.wait_for_url(base + "/farmer")
        assert page.locator(".grade-big").inner_text() == "还没有信用等级"
        check_page(page, "/farmer (signed in by code)")
        context.close()
