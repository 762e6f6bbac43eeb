"""One browser test: a village officer logs in and opens a household, identifiers shown in clear."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.browser import chromium_page, require_chromium, running_server
from tests.factories import VILLAGE_A, build_county, people_frame

from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.registry.models import Subject

pytestmark = pytest.mark.browser


def test_login_and_open_a_household(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_chromium()
    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=5,
                     passwords=True)
        head = session.scalar(sa.select(Subject).where(Subject.kind == "household",
                                                       Subject.region_code == VILLAGE_A)
                              .order_by(Subject.id))
        assert head is not None
        name = head.name
    engine.dispose()
    rid = people_frame(1, VILLAGE_A)["resident_id"][0]
    with running_server(url, tmp_path) as base, chromium_page() as page:
        page.goto(base + "/households")
        assert "/login" in page.url
        page.fill("#username", "village")
        page.fill("#password", "pw-village-123")
        page.click("button[type=submit]")
        page.wait_for_url(base + "/households")  # back where the login interrupted
        page.click(f"text={name}")
        page.wait_for_selector("td.id")
        assert rid in page.inner_text("main")
        assert "家庭成员" in page.content()
        page.screenshot(path=str(tmp_path / "household.png"))
