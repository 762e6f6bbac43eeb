"""Helpers for page and API tests: an app on a fresh migrated database, logging in with CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from ctown.app import create_app
from ctown.settings import Settings


def make_app_client(url: str, var_dir: Path) -> TestClient:
    settings = Settings(database_url=url, var_dir=var_dir)
    return TestClient(create_app(settings), follow_redirects=False)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str) -> None:
    token = csrf_from(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": token, "next": "/"})
    assert response.status_code == 303, response.text


@contextmanager
def county_site(url: str, var: Path, households: int = 3) -> Iterator[TestClient]:
    """An app client over a migrated database holding the test county (users with passwords)."""
    from tests.factories import build_county

    from ctown.crypto import FieldCipher
    from ctown.db import make_engine, session_factory

    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(var / "keys.json"), households=households,
                     passwords=True)
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client
