"""Every route of the composed application, enumerated: each is authenticated or on a short,
named public list, and each state-changing route checks CSRF (cookie sessions; bearer tokens are
exempt inside ``verify_csrf``) or a signed key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from ctown.app import create_app
from ctown.db import make_engine
from ctown.migrate import upgrade
from ctown.settings import Settings

#: Routes anyone may call, and why.
PUBLIC = {
    ("GET", "/healthz"): "monitoring probe, says nothing but ok",
    ("GET", "/login"): "the login form",
    ("POST", "/login"): "signing in (CSRF-checked, rate-limited)",
    ("POST", "/logout"): "signing out (CSRF-checked)",
    ("POST", "/api/v1/auth/token"): "exchanging a password for a token (rate-limited, JSON body)",
    ("GET", "/api/v1/collection/county-key"): "the county's public key, for terminals to encrypt to",
    ("GET", "/collection/collect.js"): "the offline form's script",
    ("GET", "/collection/sw.js"): "the offline form's service worker",
    ("GET", "/api/v1/ledger/checkpoint"): "the signed checkpoint anyone may verify receipts with",
    ("GET", "/api/v1/ledger/key"): "the ledger's public signing key",
}
#: Authenticated inside the handler (the instant decision skips the dependency graph for speed,
#: docs/lending.md); the anonymous call below proves it refuses.
AUTHENTICATED_INSIDE = {
    ("POST", "/api/v1/lending/decisions"): "bearer token or session, checked in the handler",
}
#: State-changing routes that no cookie authenticates, so no CSRF applies: a signature or
#: credentials travel in the request itself.
SIGNED = {
    ("POST", "/api/v1/collection/batches"): "a batch signed by an enrolled terminal (Ed25519)",
    ("POST", "/api/v1/auth/token"): "username and password in a JSON body; sets no cookie",
}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # FastAPI's included router
            yield from _routes(route.original_router.routes, prefix + route.include_context.prefix)


def _dependencies(route: APIRoute) -> set[str]:
    names: set[str] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        names.add(getattr(dep.call, "__qualname__", repr(dep.call)))
        stack.extend(dep.dependencies)
    return names


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    var: Path = tmp_path_factory.mktemp("routes")
    url = f"sqlite:///{var}/routes.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return create_app(Settings(database_url=url, var_dir=var))


def _table(app: FastAPI) -> list[tuple[str, str, set[str]]]:
    return [(method, path, _dependencies(route)) for path, route in _routes(app.router.routes)
            for method in sorted(route.methods or ())]


def test_routes_are_enumerated(app: FastAPI) -> None:
    paths = {path for _m, path, _d in _table(app)}
    assert "/api/v1/me" in paths and "/subjects/{subject_id}/credit-file" in paths
    assert len(paths) > 60


def test_every_route_is_authenticated_or_named_public(app: FastAPI) -> None:
    open_routes = sorted(
        (method, path) for method, path, deps in _table(app)
        if "current_user" not in deps and (method, path) not in PUBLIC
        and (method, path) not in SIGNED and (method, path) not in AUTHENTICATED_INSIDE)
    assert open_routes == []


def test_every_state_changing_route_checks_csrf_or_a_signature(app: FastAPI) -> None:
    unchecked = sorted(
        (method, path) for method, path, deps in _table(app)
        if method in STATE_CHANGING and "verify_csrf" not in deps and (method, path) not in SIGNED)
    assert unchecked == []


def test_the_public_lists_name_real_routes(app: FastAPI) -> None:
    real = {(method, path) for method, path, _d in _table(app)}
    assert set(PUBLIC) <= real and set(SIGNED) <= real and set(AUTHENTICATED_INSIDE) <= real


def test_anonymous_calls_are_refused(app: FastAPI) -> None:
    """Called for real without a session or token, every non-public route refuses: 401 (API),
    a redirect to the login page, or 403 (CSRF) — never an answer."""
    answered = []
    with TestClient(app, follow_redirects=False) as client:
        for method, path, _deps in _table(app):
            if (method, path) in PUBLIC or (method, path) in SIGNED:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            response = client.request(method, url, json={} if method in STATE_CHANGING else None)
            refused = response.status_code in (401, 403) or (
                response.status_code == 303 and "/login" in response.headers["location"])
            if not refused:
                answered.append((method, path, response.status_code))
    assert answered == []
