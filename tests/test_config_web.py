"""The configuration pages and API (``/admin/config``, ``/api/v1/config``): a bank officer uploads
its product, the county approves it on the diff page, rejects another, rolls back; uploads are
guarded; a broken file is answered with its problem lines."""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import COUNTY, build_county
from tests.webutil import csrf_from, login

from ctown import configdir
from ctown.accounts.service import create_user
from ctown.app import create_app
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.settings import Settings

CREDIT = configdir.defaults()["products/rcb_credit.yaml"].read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, Path]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("var")
    folder = var / "config"
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(var / "keys.json"), households=1, passwords=True)
        for name, role, bank in (("admin2", "county_admin", None), ("rcb", "bank_officer", "RCB")):
            create_user(session, username=name, password=f"pw-{name}-123", role=role,
                        region_code=COUNTY, bank_code=bank)
    engine.dispose()
    app = create_app(Settings(database_url=url, var_dir=var, config_dir=folder))
    with TestClient(app, follow_redirects=False) as client:
        yield client, folder
    configdir.reset()


def _as(client: TestClient, name: str) -> str:
    client.cookies.clear()
    login(client, name, f"pw-{name}-123")
    return csrf_from(client.get("/admin/config").text) if name != "village" else ""


def _upload(client: TestClient, token: str, filename: str, data: bytes, note: str = ""
            ) -> object:
    return client.post("/admin/config/proposals", data={"csrf_token": token, "note": note},
                       files={"file": (filename, data, "application/octet-stream")})


def test_the_whole_two_person_change_through_the_pages(site) -> None:  # type: ignore[no-untyped-def]
    client, folder = site
    token = _as(client, "rcb")
    assert "县级配置" in client.get("/").text  # in the menu
    cheaper = CREDIT.replace("version: 1\n", "version: 2\n").replace(
        'base_rate_pct: "4.35"', 'base_rate_pct: "4.20"')
    made = _upload(client, token, "rcb_credit.yaml", cheaper.encode(), "cheaper")
    assert made.status_code == 303  # type: ignore[attr-defined]
    page_url = made.headers["location"]  # type: ignore[attr-defined]
    page = client.get(page_url)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert '+base_rate_pct: "4.20"' in text and '-base_rate_pct: "4.35"' in text
    assert "批准并生效" not in page.text  # a bank does not approve
    side = client.get(page_url + "?view=side").text
    assert 'class="replace"' in side and "4.20" in side
    proposal_id = int(page_url.rsplit("/", 1)[1])
    refused = client.post(f"{page_url}/approve", data={"csrf_token": token})
    assert refused.status_code == 403
    token = _as(client, "admin")
    assert "批准并生效" in client.get(page_url).text
    assert client.post(f"{page_url}/approve", data={}).status_code == 403  # no CSRF
    done = client.post(f"{page_url}/approve", data={"csrf_token": token})
    assert done.status_code == 303
    assert (folder / "products/rcb_credit.yaml").read_text(encoding="utf-8") == cheaper
    overview = client.get("/admin/config").text
    assert "/admin/config/versions/1" in overview
    version = client.get("/admin/config/versions/1")
    assert version.status_code == 200 and "products/rcb_credit.yaml" in version.text
    api = client.get("/api/v1/config/versions").json()
    assert [(v["version"], v["proposed_by"], v["approved_by"]) for v in api] == [
        (1, "rcb", "admin")]
    got = client.get(f"/api/v1/config/proposals/{proposal_id}").json()
    assert got["status"] == "approved" and got["changes"] == []  # it is what is live now

    # A rollback (to the packaged defaults) from the page, approved by another admin.
    back = client.post("/admin/config/versions/0/rollback", data={"csrf_token": token})
    assert back.status_code == 303
    back_url = back.headers["location"]
    assert "提议人不能批准自己的提议" in client.get(back_url).text
    token = _as(client, "admin2")
    assert client.post(f"{back_url}/approve", data={"csrf_token": token}).status_code == 303
    assert configdir.folder_files(folder) == {}
    assert [v["rollback_of"] for v in client.get("/api/v1/config/versions").json()] == [0, None]


def test_a_broken_upload_is_answered_with_its_lines(site) -> None:  # type: ignore[no-untyped-def]
    client, _folder = site
    token = _as(client, "admin")
    broken = CREDIT.replace("version: 1\n", "version: 9\n").replace(
        'base_rate_pct: "4.35"', 'base_rate_pct: "lots"')
    n = next(i for i, t in enumerate(broken.splitlines(), 1) if '"lots"' in t)
    answer = _upload(client, token, "rcb_credit.yaml", broken.encode())
    assert answer.status_code == 422  # type: ignore[attr-defined]
    assert (f"products/rcb_credit.yaml:{n}: base_rate_pct: 取值无效：Input should be a valid "
            "decimal") in html.unescape(answer.text)  # type: ignore[attr-defined]
    api = client.post("/api/v1/config/proposals", headers={"X-CSRF-Token": token},
                      json={"files": {"products/rcb_credit.yaml": broken}})
    assert api.status_code == 422
    assert api.json()["problems"][0].startswith(f"products/rcb_credit.yaml:{n}: base_rate_pct:")


def test_zip_uploads_are_guarded(site) -> None:  # type: ignore[no-untyped-def]
    client, _folder = site
    token = _as(client, "admin")

    def zipped(entries: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)
        return buf.getvalue()

    grades = configdir.defaults()["grades.yaml"].read_text(encoding="utf-8").replace(
        "version: 1\n", "version: 2\n").replace("model_weight: 0.5", "model_weight: 0.4")
    ok = _upload(client, token, "cfg.zip", zipped({"cfg/grades.yaml": grades.encode()}))
    assert ok.status_code == 303  # type: ignore[attr-defined]
    page = client.get(ok.headers["location"]).text  # type: ignore[attr-defined]
    assert "grades.yaml" in page and "+model_weight: 0.4" in page
    for evil in ("../grades.yaml", "/etc/grades.yaml"):
        answer = _upload(client, token, "evil.zip", zipped({evil: b"version: 1\n"}))
        assert answer.status_code == 422 and "不安全" in answer.text  # type: ignore[attr-defined]
    typo = _upload(client, token, "typo.zip", zipped({"grade.yaml": grades.encode()}))
    assert typo.status_code == 422 and "未知的配置文件 grade.yaml" in typo.text  # type: ignore[attr-defined]
    big = client.post("/admin/config/proposals", data={"csrf_token": token},
                      files={"file": ("big.yaml", b"x" * (3 * 1024 * 1024), "text/yaml")})
    assert big.status_code == 422 and "超过" in big.text


def test_reject_with_a_reason_and_who_sees_the_pages(site) -> None:  # type: ignore[no-untyped-def]
    client, _folder = site
    token = _as(client, "rcb")
    new = CREDIT.replace("version: 1\n", "version: 3\n").replace(
        "terms_months: [6, 12, 24, 36]", "terms_months: [6, 12]")
    url = _upload(client, token, "rcb_credit.yaml", new.encode()).headers["location"]  # type: ignore[attr-defined]
    token = _as(client, "admin")
    done = client.post(f"{url}/reject", data={"csrf_token": token, "reason": "期限不宜缩短"})
    assert done.status_code == 303 and "期限不宜缩短" in client.get(url).text
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    assert client.get("/admin/config").status_code == 403
    assert "县级配置" not in client.get("/").text
    assert client.get(url).status_code == 403
    assert client.get("/api/v1/config/proposals").status_code == 403
