"""The farmer's phone-first pages through the real app, on both databases: the farmer lands on
the home with the grade, every page is their own household's (another farmer sees theirs), every
other role is refused by the one table and the anonymous sent to sign in; Beijing time, yuan with
万, the bank chosen from a list; the objection and consent forms; the web app's files. Persona
tests of the pages' service functions cover every persona of tests.personas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import build_county
from tests.personas import ALL, Personas, attempt, build_personas

from ctown.access import rules
from ctown.accounts.service import issue_token
from ctown.app import create_app
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.farmer import sample, service
from ctown.privacy.models import Consent, Objection
from ctown.settings import Settings

#: The sample's accounts that have no farmer pages (refused by the one table: 403).
OTHERS = ("village", "village2", "township", "township2", "bank", "bank_other", "admin",
          "insurer", "proxy")
PAGES = ("/farmer", "/farmer/file", "/farmer/looks", "/farmer/loans", "/farmer/applications",
         "/farmer/proxies", "/farmer/consents")


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var: Path = tmp_path_factory.mktemp("var")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        world = sample.build(session)
        info = {"tokens": {k: issue_token(session, u, "test") for k, u in world.users.items()},
                "household": world.household}
    engine.dispose()
    with TestClient(create_app(Settings(database_url=url, var_dir=var)),
                    follow_redirects=False) as client:
        yield client, info


def _get(site: tuple[TestClient, dict[str, Any]], who: str | None, path: str) -> Any:
    client, info = site
    headers = ({"Authorization": f"Bearer {info['tokens'][who]}"} if who
               else {"Accept": "text/html"})  # a browser: sent to the sign-in page
    return client.get(path, headers=headers)


def _post(site: tuple[TestClient, dict[str, Any]], who: str, path: str,
          data: dict[str, Any]) -> Any:
    client, info = site
    return client.post(path, data=data, headers={"Authorization": f"Bearer {info['tokens'][who]}"})


def _db(site: tuple[TestClient, dict[str, Any]]) -> Session:
    return session_factory(site[0].app.state.engine)()  # type: ignore[attr-defined]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class TestHome:
    def test_farmer_lands_on_the_home(self, site: Any) -> None:
        response = _get(site, "farmer", "/")
        assert response.status_code == 303 and response.headers["location"] == "/farmer"

    def test_home_shows_the_grade_what_it_brings_why_and_the_next_instalment(
            self, site: Any) -> None:
        response = _get(site, "farmer", "/farmer")
        assert response.status_code == 200
        text = _text(response.text)
        assert '<span class="letter">A2</span>' in response.text
        assert "信用优秀二档（A2级）" in text
        # A2, household: collateral 40万 at 4.35 × 0.80 (the product files).
        assert "最高可贷 40万元" in text
        assert "信用+抵押贷（宅基地使用权、大型农机）：最高 40万元，年利率 3.48%" in text
        assert "当期按时还款：+18 分" in text and "累计欠费金额：-9 分" in text
        assert "缴清水电费欠费（最多可加 9 分）" in text
        # 20,000 at 3.26 %, 12 equal instalments: 1,696.24 a month (schedule.py's formula).
        assert "要还 1696.24元（信用+保险贷（不可抗力代偿））" in text
        assert "北京时间" in text and "UTC" not in text
        assert response.headers["cache-control"] == "private, no-cache"

    def test_english(self, site: Any) -> None:
        text = _text(_get(site, "farmer", "/farmer?lang=en").text)
        assert "Credit: Excellent (tier 2) (grade A2)" in text
        assert "You can borrow up to 400,000 yuan" in text
        site[0].cookies.clear()  # ?lang= is remembered in a cookie: back to Chinese

    def test_another_farmer_sees_their_own(self, site: Any) -> None:
        text = _text(_get(site, "farmer_c", "/farmer").text)
        assert "（C1级）" in text and "A2" not in text

    @pytest.mark.parametrize("who", OTHERS)
    def test_other_roles_are_refused_and_keep_their_home(self, site: Any, who: str) -> None:
        for path in PAGES:
            assert _get(site, who, path).status_code == 403, (who, path)
        assert _get(site, who, "/").status_code == 200

    def test_anonymous_is_sent_to_sign_in(self, site: Any) -> None:
        for path in PAGES:
            response = _get(site, None, path)
            assert response.status_code == 303 and response.headers["location"].startswith(
                "/login"), path


class TestPages:
    def test_credit_file_by_category_with_sources(self, site: Any) -> None:
        text = _text(_get(site, "farmer", "/farmer/file").text)
        for category in ("家庭与资产", "贷款与还款", "水电与通信缴费", "荣誉表彰"):
            assert category in text
        assert "承包地面积 8.50 亩" in text and "来源：农业农村局" in text
        assert "I0201" not in text  # plain words, no indicator codes on the screen

    def test_objection_from_the_file(self, site: Any) -> None:
        household = site[1]["household"]
        response = _post(site, "farmer", "/farmer/objections",
                         {"subject_id": household, "indicator_code": "I1004",
                          "reason": "欠费已经缴清了"})
        assert response.status_code == 303
        assert response.headers["location"] == "/farmer/file?msg=objected"
        with _db(site) as db:
            row = db.scalar(sa.select(Objection).where(Objection.indicator_code == "I1004"))
            assert row is not None and row.subject_id == household and row.status == "open"
        page = _text(_get(site, "farmer", "/farmer/file?msg=objected").text)
        assert "异议已提交" in page and "有异议，核实中" in page

    def test_who_looked(self, site: Any) -> None:
        text = _text(_get(site, "farmer", "/farmer/looks").text)
        assert "贷款审批 · 已查看" in text  # the bank, under the consent
        assert "查阅信用档案" in text        # the proxy's look
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", text)

    def test_loans_with_the_next_instalment(self, site: Any) -> None:
        text = _text(_get(site, "farmer", "/farmer/loans").text)
        assert "信用+保险贷（不可抗力代偿）" in text
        assert "要还 1696.24元" in text and "借了 2万元" in text
        assert "第 1 期" in text and "已还清" in text

    def test_applications_with_step_and_deadline(self, site: Any) -> None:
        text = _text(_get(site, "farmer", "/farmer/applications").text)
        assert "待村级初审" in text and "第 2 步，共 4 步" in text
        assert "这一步最晚" in text and "已放款" in text

    def test_proxies_and_their_acts(self, site: Any) -> None:
        text = _text(_get(site, "farmer", "/farmer/proxies").text)
        assert "t_proxy" in text and "生效中" in text and "查阅信用档案" in text

    def test_consent_bank_chosen_from_a_list(self, site: Any) -> None:
        html = _get(site, "farmer", "/farmer/consents").text
        assert '<select id="bank_code" name="bank_code" required>' in html
        assert '<option value="RCB">县农村商业银行</option>' in html
        ok = _post(site, "farmer", "/farmer/consents",
                   {"bank_code": "RCB", "purpose": "post_loan", "scope": "query", "days": 30})
        assert ok.status_code == 303
        typed = _post(site, "farmer", "/farmer/consents",
                      {"bank_code": "XYZ", "purpose": "post_loan", "scope": "query", "days": 30})
        assert typed.status_code == 422 and "请从列表中选择银行" in typed.text
        with _db(site) as db:
            rows = db.scalars(sa.select(Consent).where(Consent.purpose == "post_loan")).all()
            assert [c.bank_code for c in rows] == ["RCB"]
            consent_id = rows[0].id
        assert _post(site, "farmer", f"/farmer/consents/{consent_id}/revoke", {}
                     ).status_code == 303
        with _db(site) as db:
            assert db.get(Consent, consent_id).revoked_at is not None  # type: ignore[union-attr]
        # Another farmer cannot revoke it: not found, as the access layer says.
        assert _post(site, "farmer_c", f"/farmer/consents/{consent_id}/revoke", {}
                     ).status_code == 404

    def test_the_officers_consent_form_lists_the_banks_too(self, site: Any) -> None:
        household = site[1]["household"]
        html = _get(site, "village", f"/privacy/me?subject={household}").text
        assert '<option value="RCB">县农村商业银行</option>' in html
        assert 'name="bank_code" required maxlength' not in html


class TestWebApp:
    def test_manifest(self, site: Any) -> None:
        response = _get(site, None, "/farmer/manifest.webmanifest")
        assert response.headers["content-type"].startswith("application/manifest+json")
        body = json.loads(response.text)
        assert (body["start_url"], body["scope"], body["display"]) == ("/farmer", "/farmer",
                                                                       "standalone")
        assert {i["sizes"] for i in body["icons"]} == {"192x192", "512x512"}
        for icon in body["icons"]:
            assert _get(site, None, icon["src"]).headers["content-type"] == "image/png"

    def test_service_worker_scope(self, site: Any) -> None:
        response = _get(site, None, "/farmer/sw.js")
        assert response.status_code == 200
        assert response.headers["service-worker-allowed"] == "/farmer"
        assert "network first" in response.text.lower()

    def test_static_files_and_nothing_else(self, site: Any) -> None:
        for name in ("farmer.js", "farmer.css"):
            assert _get(site, None, f"/farmer/static/{name}").status_code == 200
        assert _get(site, None, "/farmer/static/sw.js").status_code == 404
        assert _get(site, None, "/farmer/static/..%2Fviews.py").status_code == 404

    def test_every_page_has_the_read_aloud_button(self, site: Any) -> None:
        for path in PAGES:
            assert "data-say" in _get(site, "farmer", path).text, path


# -- the pages' service functions as every persona -----------------------------------------------
@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    return build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))


READS = {
    "file": lambda s, a: service.credit_file_page(s, a),
    "looks": lambda s, a: service.looks_page(s, a),
    "loans": lambda s, a: service.loans_page(s, a, rules.today()),
    "applications": lambda s, a: service.applications_page(s, a, rules.today()),
    "proxies": lambda s, a: service.proxies_page(s, a),
    "consents": lambda s, a: service.consents_page(s, a),
}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("page", sorted(READS))
def test_pages_are_the_farmers_own(session: Session, people: Personas, name: str,
                                   page: str) -> None:
    """Only a farmer has these pages (each of their own household); anyone else: refused."""
    got = attempt(session, lambda: READS[page](session, people[name]))
    assert got == ("ok" if name in ("farmer", "farmer2") else "403"), (name, page)


def test_a_farmer_without_a_household_is_not_found(session: Session, people: Personas) -> None:
    people["farmer"].subject_id = None
    assert attempt(session, lambda: service.household_of(people["farmer"])) == "404"
