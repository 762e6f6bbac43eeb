"""The notice board's pages and command on SQLite and PostgreSQL: the public page as anyone reads
it (aggregates and consenting masked names only; another village's page tells nothing more), the
PDF download, the farmer giving and withdrawing consent on the phone page, the officer's rebuild
button, and ``ctown notice build`` writing the file or refusing a bad village code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import VILLAGE_A, VILLAGE_B
from tests.webutil import county_site, csrf_from, login

from ctown.db import make_engine, session_factory
from ctown.noticeboard.font import FONT_PATH
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

pytestmark = pytest.mark.skipif(
    not FONT_PATH.is_file(), reason=f"Noto CJK font {FONT_PATH} not installed: `make browser` "
    "installs fonts-noto-cjk")


def _prepare(url: str) -> None:
    """Village A's households renamed and graded; the first (the farmer's) will consent."""
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        homes = session.scalars(sa.select(Subject).where(
            Subject.kind == "household", Subject.region_code == VILLAGE_A).order_by(Subject.id))
        for subject, name, grade in zip(homes, ("张建华", "王小明", "赵大海"), ("A1", "B2", "C1"),
                                        strict=True):
            subject.name = name
            session.add(GradeRecord(subject_id=subject.id, score=700, grade=grade, pd=0.01,
                                    model_version="test", is_current=True))
    engine.dispose()


@pytest.fixture(scope="module")
def site(db_factory: Any, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[TestClient, str, Path]]:
    var = tmp_path_factory.mktemp("notice")
    url = db_factory.migrated_url()
    with county_site(url, var) as client:
        _prepare(url)
        yield client, url, var


def _post(client: TestClient, page: str, action: str, data: dict[str, str] | None = None
          ) -> Any:
    token = csrf_from(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **(data or {})})


def test_farmer_consents_officer_builds_anyone_reads(site: tuple[TestClient, str, Path]) -> None:
    client, _url, _var = site
    client.cookies.clear()
    assert "尚未" in client.get(f"/notice/{VILLAGE_A}").text or client.get(
        f"/notice/{VILLAGE_A}").status_code == 200
    login(client, "farmer", "pw-farmer-123")
    page = client.get("/notice/consent")
    assert page.status_code == 200 and "目前不公示您家的名字" in page.text
    assert _post(client, "/notice/consent", "/notice/consent/give").status_code == 303
    assert "您已同意公示" in client.get("/notice/consent").text
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/notice/consent").text)})
    client.cookies.clear()

    login(client, "village2", "pw-village2-123")  # another village's officer: not found
    assert _post(client, f"/notice/{VILLAGE_B}", f"/notice/{VILLAGE_A}/build").status_code == 404
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    assert _post(client, f"/notice/{VILLAGE_A}", f"/notice/{VILLAGE_A}/build").status_code == 303
    assert "/notice/editions/" in client.get(f"/notice/{VILLAGE_A}").text
    client.cookies.clear()

    # Anonymous: aggregates and the consenting household's masked name, nobody else's.
    public = client.get(f"/notice/{VILLAGE_A}")
    assert public.status_code == 200
    assert "张*华" in public.text and "五四村" in public.text
    for hidden in ("张建华", "王*明", "王小明", "赵*海", "赵大海", "生成新一期公示栏"):
        assert hidden not in public.text
    pdf = client.get(f"/notice/{VILLAGE_A}/board.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    # Another village's page says nothing of village A's people; a kept edition is the officers'.
    other = client.get(f"/notice/{VILLAGE_B}")
    assert other.status_code == 200 and "张*华" not in other.text
    assert client.get("/notice/editions/1.pdf").status_code in (303, 401)  # sign in first
    assert client.get("/notice/999999999999").status_code == 404

    # Signed in, nobody outside the place's officers sees more than anyone: no clear names, no
    # button, no kept editions (the other village's officer, a bank, the farmer next door).
    for name in ("village2", "bank", "proxy"):
        login(client, name, f"pw-{name}-123")
        seen = client.get(f"/notice/{VILLAGE_A}").text
        assert "张*华" in seen and "张建华" not in seen and "王*明" not in seen
        assert "生成新一期公示栏" not in seen and "/notice/editions/" not in seen
        client.cookies.clear()

    # The farmer withdraws: the page stops naming them at once, the old PDF is withheld.
    login(client, "farmer", "pw-farmer-123")
    assert _post(client, "/notice/consent", "/notice/consent/withdraw").status_code == 303
    client.cookies.clear()
    assert "张*华" not in client.get(f"/notice/{VILLAGE_A}").text
    assert client.get(f"/notice/{VILLAGE_A}/board.pdf").status_code == 404


def test_cli_builds_the_file_and_refuses_a_bad_village(site: tuple[TestClient, str, Path],
                                                      tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from ctown.noticeboard import cli

    _client, url, var = site
    root = typer.Typer()
    cli.register(root)
    env = {"CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var)}
    out = tmp_path / "board.pdf"
    result = CliRunner().invoke(root, ["notice", "build", VILLAGE_A, "--out", str(out)],
                                env={**env, "CTOWN_SMS_NUMBER": "10690123"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert out.read_bytes().startswith(b"%PDF") and report["bytes"] == out.stat().st_size
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "10690123" in text  # the county's SMS number, for objections
    import hashlib

    assert hashlib.sha256(out.read_bytes()).hexdigest() == report["pdf_sha256"]
    # The edition goes on the ledger, and the ledger still verifies.
    from ctown.ledger import cli as ledger_cli

    ledger_cli.register(root)
    assert CliRunner().invoke(root, ["ledger", "checkpoint"], env=env).exit_code == 0
    verified = CliRunner().invoke(root, ["ledger", "verify", "--json"], env=env)
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True
    engine = make_engine(url)
    with session_factory(engine)() as session:
        from ctown.ledger.service import find_leaf

        assert find_leaf(session, "notice_edition", report["edition"]) >= 0
    engine.dispose()
    bad = CliRunner().invoke(root, ["notice", "build", "123", "--out", str(tmp_path / "x.pdf")],
                             env=env)
    assert bad.exit_code == 2
    assert "没有代码为 123 的村" in bad.stderr and "There is no village with code 123" in bad.stderr
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.browser
def test_the_public_page_fits_a_phone(site: tuple[TestClient, str, Path], tmp_path: Path) -> None:
    """Read as a villager reads it, on a 360-px phone: nothing wider than the screen (the edition's
    64-character digest once pushed the page to 644 px), the masked names and the grades shown."""
    from playwright.sync_api import sync_playwright
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium, running_server

    from ctown.noticeboard import service

    require_chromium()
    _client, url, var = site
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        service.give_consent(session, None, session.scalar(sa.select(Subject.id).where(
            Subject.name == "张建华")), form_no="test-form-1")
        service.build_edition(session, None, VILLAGE_A)
    engine.dispose()
    with running_server(url, var) as base, sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 360, "height": 780})
        page.goto(f"{base}/notice/{VILLAGE_A}")
        text = page.locator("main").inner_text() if page.locator("main").count() else ""
        width = page.evaluate("document.documentElement.scrollWidth")
        chromium.close()
    assert width <= 360, f"the notice page is {width} px wide"
    assert "张*华" in text and "张建华" not in text
