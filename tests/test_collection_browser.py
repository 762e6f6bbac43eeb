"""The offline collection form in the real Chromium: enrol, go offline, record, come back, synced.

This also checks the browser's WebCrypto Ed25519 signature and HPKE sealing against the Python side:
the server only accepts the batch if both agree byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, running_server
from tests.factories import VILLAGE_A, build_county

from ctown.collection.models import CollectionBatch, Terminal
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.ingest.models import CurrentValue
from ctown.registry.models import Subject

pytestmark = pytest.mark.browser


def test_offline_record_is_synced_when_back_online(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=3,
                     passwords=True)
        household = session.scalar(sa.select(Subject).where(
            Subject.kind == "household", Subject.region_code == VILLAGE_A).order_by(Subject.id))
        assert household is not None
        household_id, household_no = household.id, household.household_no
    with running_server(url, tmp_path) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.goto(base + "/login?next=/collection/form")
        page.fill("#username", "village")
        page.fill("#password", "pw-village-123")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/collection/form")
        page.click("#enrol")
        page.wait_for_selector("#record:not([hidden])")
        # The page's CSP forbids eval, so poll with evaluate() rather than wait_for_function().
        page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
        for _ in range(100):
            if page.evaluate("() => navigator.serviceWorker.controller !== null"):
                break
            page.wait_for_timeout(100)

        context.set_offline(True)
        page.reload()  # the page itself now comes from the service worker's cache
        page.wait_for_selector("#record:not([hidden])")
        page.fill("#subject", str(household_no))
        page.select_option("#indicator", "I1101")
        page.select_option("#value-choice", "2")
        page.click("#save")
        expect(page.locator("#queued")).to_have_text("1")
        expect(page.locator("#sent")).to_have_text("0")

        context.set_offline(False)
        expect(page.locator("#sent")).to_have_text("1", timeout=20_000)
        expect(page.locator("#queued")).to_have_text("0")
        expect(page.locator("#refused")).to_have_text("0")
        page.screenshot(path=str(tmp_path / "collection.png"))
        browser.close()
    with session_factory(engine)() as session:
        terminal = session.scalar(sa.select(Terminal))
        assert terminal is not None and terminal.enrolled_via == "web"
        stored = session.scalar(sa.select(CollectionBatch))
        assert stored is not None and (stored.accepted, stored.rejected) == (1, 0)
        value = session.get(CurrentValue, (household_id, "I1101"))
        assert value is not None and value.value_text == "2" and value.department == "village"
    engine.dispose()
