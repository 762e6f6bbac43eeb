"""Helpers for page and API tests: an app on a fresh migrated database, logging in with CSRF."""

from __future__ import annotations

import re
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
