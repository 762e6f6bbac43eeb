"""API fuzzing (#12 item 2): schemathesis generates requests for every operation of the published
``/openapi.json`` and sends them to the real app (``create_app`` over a migrated database holding
the test county), as the county administrator, a village officer, a farmer (bearer tokens from
``POST /api/v1/auth/token``) and anonymously, on both databases.

Every answer must be no server error and match its documented status codes, content type and body
schema. The budget is small and seeded (``tests/fuzzing.py``): a few valid and a few invalid
requests per operation and persona, no shrinking; a failure is reported with the request that
caused it (a ``curl`` line) and the fuzzing goes on, so one run lists every problem found.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.fuzzing import bounded
from tests.webutil import county_site

from ctown.accounts.models import User
from ctown.accounts.service import issue_token

PERSONAS = ("anonymous", "admin", "village", "farmer")
#: Generated requests per operation and persona: valid by the schema, and not.
BUDGET = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Fuzzed after every other operation: they may revoke the persona's own token, and their failed
#: logins spend the login rate limit (then answered 429, which is documented).
LAST = ("DELETE /api/v1/auth/tokens/{token_id}", "POST /api/v1/auth/token")
#: Ids no row can have: past 32 bits (an ``Integer`` id on PostgreSQL), past 64, negative.
OUT_OF_RANGE = (2**31, 2**63, 2**64, -1)


@dataclass
class Site:
    client: TestClient
    schema: Any  # schemathesis' OpenApiSchema
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    var: Path = tmp_path_factory.mktemp("var")
    with county_site(db_factory.migrated_url(), var) as client:
        # Taken before any fuzzing: the fuzzed failed logins soon spend the login rate limit.
        tokens = {}
        for name in PERSONAS[1:]:
            answer = client.post("/api/v1/auth/token", json={
                "username": name, "password": f"pw-{name}-123", "name": "fuzz"})
            assert answer.status_code == 200, answer.text
            tokens[name] = answer.json()["access_token"]
        # The description as the app publishes it, read by our client; requests go to the app
        # in-process. A wide timeout: a slow answer on a busy machine is not a failure here.
        schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json(),
                                                config=schemathesis.Config.from_dict(
                                                    {"request-timeout": 300}))
        schema.app = client.app
        yield Site(client, schema, tokens)
        asgi.shutdown_lifespans()  # schemathesis' own ASGI client started the app a second time


@dataclass
class Persona:
    """A persona's bearer token; a new one when the fuzzing revoked it (``DELETE
    /api/v1/auth/tokens/{id}`` may guess the token's id), issued by the service, since by then
    the login rate limit may be spent."""

    site: Site
    name: str
    renewed: list[str] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        token = self.site.tokens.get(self.name)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def check_token(self, after: str) -> None:
        if self.name == "anonymous":
            return
        if self.site.client.get("/api/v1/me", headers=self.headers()).status_code != 401:
            return
        self.renewed.append(after)
        app: Any = self.site.client.app
        with app.state.session_factory.begin() as session:
            user = session.scalar(sa.select(User).where(User.username == self.name))
            self.site.tokens[self.name] = issue_token(session, user, "fuzz")


def operations(schema: Any) -> list[APIOperation]:
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted(found, key=lambda op: LAST.index(op.label) + 1 if op.label in LAST else 0)


@dataclass
class Findings:
    """The first request of each kind of problem, per operation; how many requests were sent."""

    problems: dict[tuple[str, str], str] = field(default_factory=dict)
    requests: int = 0

    def add(self, operation: str, kind: str, text: str) -> None:
        self.problems.setdefault((operation, kind), text[:1500])

    def report(self) -> str:
        return f"{len(self.problems)} problem(s):\n" + "\n".join(
            f"== {op} — {kind}\n{text}" for (op, kind), text in sorted(self.problems.items()))


def fuzz(operation: APIOperation, mode: GenerationMode, persona: Persona,
         findings: Findings) -> None:
    headers = persona.headers()

    @bounded(BUDGET[mode], shrink=False)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        findings.requests += 1
        try:
            case.call_and_validate(headers=headers, checks=CHECKS)
        except FailureGroup as group:  # recorded, not raised: the fuzzing goes on
            for failure in group.exceptions:
                findings.add(operation.label, failure.title, f"({mode.value}) {group}")
        except Exception as exc:  # the app raised through the transport
            findings.add(operation.label, type(exc).__name__, f"({mode.value}) {exc!r}")

    with contextlib.suppress(Unsatisfiable):  # nothing to make invalid (no parameters)
        run()


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_operation_answers_as_documented(site: Site, persona: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="ctown.app")
    who, findings = Persona(site, persona), Findings()
    started, cpu = time.perf_counter(), time.process_time()
    ops = operations(site.schema)
    for operation in ops:
        for mode in BUDGET:
            fuzz(operation, mode, who, findings)
        if operation.method.upper() != "GET":
            who.check_token(after=operation.label)
    print(f"\n{persona}: {len(ops)} operations, {findings.requests} requests, "
          f"{time.perf_counter() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU); "
          f"token taken again after: {who.renewed or 'none'}")
    # Not failures (a 422), but an operation that reached the database with a value it refused
    # should check it itself: printed for the reader of a longer campaign.
    for refused in sorted({r.getMessage() for r in caplog.records if r.name == "ctown.app"}):
        print("  ", refused)
    assert len(ops) >= 70  # every operation of the description, not a filtered few
    assert not findings.problems, findings.report()


def integer_path_parameters(description: dict[str, Any], operation: APIOperation) -> list[str]:
    """The operation's path parameters declared as integers in the published description."""
    declared = description["paths"][operation.path][operation.method.lower()]
    return [p["name"] for p in declared.get("parameters", [])
            if p["in"] == "path" and p.get("schema", {}).get("type") == "integer"]


def answer(operation: APIOperation, path: dict[str, int], headers: dict[str, str]) -> set[int]:
    """The status of one request to the operation with these path parameters (the rest valid)."""
    statuses: set[int] = set()

    @bounded(1, shrink=False)
    @given(case=operation.as_strategy(path_parameters=path))
    def run(case: Case) -> None:
        statuses.add(case.call(headers=headers).status_code)

    run()
    return statuses


@pytest.mark.parametrize("persona", ("admin", "farmer"))
def test_ids_out_of_range_are_not_found_or_refused(site: Site, persona: str) -> None:
    """An id past 64 bits or negative, in every operation with an integer path parameter (with a
    body valid by the schema, so the id is what is judged): 404 or 422, never a server error —
    or 403 where the persona's role may not use the operation at all."""
    who = Persona(site, persona)
    description = site.client.get("/openapi.json").json()
    answers: dict[str, set[int]] = {}
    with_ids = [op for op in operations(site.schema) if integer_path_parameters(description, op)]
    assert len(with_ids) >= 20
    for operation in with_ids:
        for value in OUT_OF_RANGE:
            fixed = {name: value for name in integer_path_parameters(description, operation)}
            answers[f"{operation.label} with {value}"] = answer(operation, fixed, who.headers())
    wrong = {k: v for k, v in answers.items() if not v <= {403, 404, 422}}
    assert not wrong, wrong
    assert any(404 in v for v in answers.values())


#: Bodies for the one operation that reads its body raw (a sealed batch has no schema to fuzz).
HOSTILE_BATCHES = {"nested": b"[" * 1_000_000, "not UTF-8": b"\xff\xfe" * 8, "not JSON": b"{",
                   "empty": b"", "a JSON list": b"[1, 2]"}


def test_a_hostile_batch_upload_is_refused_with_a_reason(site: Site) -> None:
    """``POST /api/v1/collection/batches`` needs no login (the terminal's signature is the
    credential): whatever anyone sends is refused as documented, never a server error."""
    operation = site.schema["/api/v1/collection/batches"]["POST"]
    for name, body in HOSTILE_BATCHES.items():
        reply = site.client.post("/api/v1/collection/batches", content=body,
                                 headers={"content-type": "application/octet-stream"})
        assert reply.status_code == 400, (name, reply.text)
        assert reply.json()["code"] == "malformed" and reply.json()["reason"]["en"], name
        operation.Case().validate_response(reply, checks=CHECKS)
    too_large = site.client.post("/api/v1/collection/batches", content=b"x" * (4 << 20 | 1))
    assert too_large.status_code == 413
    operation.Case().validate_response(too_large, checks=CHECKS)


def test_text_the_database_cannot_store_is_refused_not_failed(site: Site) -> None:
    """A NUL character in text and a subject id past 32 bits, in a body valid by its schema (the
    fuzzing found both a 500 on PostgreSQL): the id is not found; the NUL is kept where the
    database stores it (SQLite), else refused 422 with a reason in both languages."""
    operation = site.schema["/api/v1/privacy/complaints"]["POST"]
    farmer = Persona(site, "farmer").headers()
    big_id = site.client.post("/api/v1/privacy/complaints", headers=farmer,
                              json={"text": "我的记录有误", "subject_id": 2**40})
    assert big_id.status_code == 404 and big_id.json()["detail"]["en"], big_id.text
    nul = site.client.post("/api/v1/privacy/complaints", headers=farmer,
                           json={"text": "我的记录有误\x00"})
    if nul.status_code == 200:
        assert nul.json()["text"] == "我的记录有误\x00"
    else:
        assert nul.status_code == 422 and nul.json()["detail"]["en"], nul.text
    for reply in (big_id, nul):
        operation.Case().validate_response(reply, checks=CHECKS)
