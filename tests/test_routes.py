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
    ("GET", "/farmer/sw.js"): "the farmer pages' service worker (keeps no page before sign-in)",
    ("GET", "/farmer/manifest.webmanifest"): "the farmer pages' web-app manifest (no data)",
    ("GET", "/farmer/static/{name}"): "the farmer pages' script, style sheet and icons (a list)",
    ("GET", "/api/v1/ledger/checkpoint"): "the signed checkpoint anyone may verify receipts with",
    ("GET", "/api/v1/ledger/key"): "the ledger's public signing key",
    ("GET", "/notice/{village_code}"):
        "the village notice board, a public notice: aggregates, consenting masked names (R-4.5)",
    ("GET", "/notice/{village_code}/board.pdf"): "the same board's latest printed edition",
    ("GET", "/login/code"): "sign-in by a one-time code: the resident-ID form",
    ("POST", "/login/code"): "asking for a code (CSRF-checked, rate-limited per ID and address)",
    ("POST", "/login/code/verify"): "entering the code (CSRF-checked, 5 tries, 5 minutes)",
    ("GET", "/api/v1/channels/voice/audio/{name}"):
        "a WAV the voice cache wrote, by its keyed content hash (the telephony platform fetches "
        "it without a session)",
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
    ("POST", "/api/v1/feeds/{department}/batches"):
        "a department's push key (Bearer ctd_…), checked by ingest.api.department_key; a cookie "
        "or a person's token is refused (tests/test_departments.py)",
    ("POST", "/api/v1/auth/token"): "username and password in a JSON body; sets no cookie",
    ("POST", "/api/v1/channels/sms/inbound"):
        "the SMS gateway's X-Ctown-Signature (HMAC-SHA256 of the raw body, CTOWN_SMS_SECRET)",
    ("POST", "/api/v1/channels/voice/calls"):
        "the telephony platform's X-Ctown-Signature (HMAC-SHA256 of the body, CTOWN_VOICE_SECRET)",
    ("POST", "/api/v1/channels/voice/calls/{call_id}/keys"):
        "the telephony platform's X-Ctown-Signature (HMAC-SHA256 of the body, CTOWN_VOICE_SECRET)",
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


# -- ids no database column holds --------------------------------------------------------------------
#: Past the signed 64-bit range of every id column: SQLite raised OverflowError (a 500 that reset
#: the connection), PostgreSQL "integer out of range". 2⁶³ is the first such id.
HUGE = ("99999999999999999999", str(2**63))
#: Values for required query parameters that are not numbers.
QUERY_TEXT = {"purpose": "loan_application"}


@pytest.fixture(scope="module")
def admin_site(db_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A signed-in county admin over a migrated database holding the test county."""
    from tests.webutil import county_site, login

    with county_site(db_factory.migrated_url(), tmp_path_factory.mktemp("huge")) as client:
        login(client, "admin", "pw-admin-123")
        yield client
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


def _int_params(params: list[Any]) -> list[str]:
    return [p.name for p in params if p.field_info.annotation in (int, int | None)]


def _get(client: TestClient, url: str, params: dict[str, str]) -> int:
    try:
        return client.get(url, params=params).status_code
    except Exception:  # the server's own exception, raised into the test client: a 500
        return 500


def _with(path: str, names: list[str], value: str) -> str:
    """``path`` with ``value`` for the parameters ``names`` (others: a placeholder)."""
    return re.sub(r"\{([^}]+)\}", lambda found: value if found[1] in names else "x", path)


@pytest.mark.parametrize("huge", HUGE)
def test_ids_past_64_bits_are_not_found(admin_site: TestClient, huge: str) -> None:
    """Every GET route with an integer path parameter (an id, a leaf index) answers 404 or 422
    for an id past 64 bits (403 where the role may not use the feature at all), never 500; an
    integer query parameter (a subject, a page, a month count) never gives 500 either — a page
    past the end is an empty page."""
    failed = []
    for path, route in _routes(admin_site.app.router.routes):
        if "GET" not in (route.methods or ()):
            continue
        dependant = route.dependant
        required = {p.name: QUERY_TEXT.get(p.name, "x") for p in dependant.query_params
                    if p.field_info.is_required() and p.name not in _int_params([p])}
        ints = _int_params(dependant.path_params)
        if ints:
            status = _get(admin_site, _with(path, ints, huge), required)
            # 403: a feature the admin's role has no reach to at all (the bank's credit report),
            # refused before any id is looked at — as it is for an id that exists.
            gated = status == 403 and _get(admin_site, _with(path, ints, "1"), required) == 403
            if status not in (404, 422) and not gated:
                failed.append((path, status))
        for name in _int_params(dependant.query_params):
            status = _get(admin_site, _with(path, ints, "1"), {**required, name: huge})
            if status >= 500:
                failed.append((f"{path}?{name}=", status))
    assert not failed, "\n".join(f"GET {p} → {s}" for p, s in failed)


def test_posted_ids_past_64_bits_are_not_found(admin_site: TestClient) -> None:
    """Ids posted in a form or a body that are looked up without ``get_for`` (several quarantine
    rows at once; the applicant of the instant decision, on its own fast query)."""
    from tests.webutil import csrf_from

    huge = HUGE[0]
    csrf = {"X-CSRF-Token": csrf_from(admin_site.get("/").text)}
    for action in ("replay", "discard"):
        response = admin_site.post(f"/ingest/quarantine/{action}", data={"ids": huge},
                                   headers=csrf)
        assert response.status_code == 404, action
    token = admin_site.post("/api/v1/auth/token", json={
        "username": "village", "password": "pw-village-123"}).json()["access_token"]
    response = admin_site.post("/api/v1/lending/decisions", headers={
        "Authorization": f"Bearer {token}"}, json={
        "subject_id": int(huge), "product_code": "rcb_credit", "amount": "1000",
        "term_months": 12})
    assert response.status_code == 404
