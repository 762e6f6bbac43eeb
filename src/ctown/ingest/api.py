"""JSON API: departments push batches; the credit file of a subject."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from ctown.access.scope import log_denied
from ctown.accounts.models import User
from ctown.errors import Forbidden
from ctown.ingest.creditfile import credit_file
from ctown.ingest.feeds import KEY_NEEDED, KEY_PREFIX, KeyRefused, authenticate_key
from ctown.ingest.hold import grant_and_release
from ctown.ingest.models import Batch
from ctown.ingest.schemas import CreditFileOut, PushBatchIn, PushBatchOut
from ctown.ingest.service import push_for
from ctown.privacy.service import COLLECT_YEARS
from ctown.web.deps import (
    DB_SESSION,
    LoginRequired,
    allowed,
    client_of,
    current_user,
    locale_of,
    optional_user,
    verify_csrf,
)

router = APIRouter(tags=["ingest"])
CONSENT_DESK = allowed("subject", "collect_consent")


def department_key(request: Request, department: str, db: Session = DB_SESSION) -> User:
    """The department's machine account, from its push key (``Authorization: Bearer ctd_…``).

    Anything else is refused and logged as a denied access: no credentials or an unknown token
    (401), a person's session cookie or API token of any role (403) — pushing needs the
    department's key, whoever the person is. Not a cookie, so no CSRF token is needed."""
    scheme, _sep, credential = request.headers.get("authorization", "").partition(" ")
    key = credential.strip() if scheme.lower() == "bearer" else ""
    client = client_of(request)
    if key.startswith(KEY_PREFIX):
        return authenticate_key(db, key, department, client)
    person = _person(request, db)
    what = "an API token" if key else "a session" if person else "no credentials"
    log_denied(db, person, f"feed push {department}: {what}, not the department's key", client)
    if person is None:
        raise KeyRefused(KEY_NEEDED)
    raise Forbidden(KEY_NEEDED)


def _person(request: Request, db: Session) -> User | None:
    """Who is signed in (cookie or API token), only to name them in the access log."""
    try:
        return optional_user(request, db)
    except LoginRequired:  # a token that is no one's
        return None


def push_result(batch: Batch, resent: bool) -> PushBatchOut:
    rows = (batch.result or {}).get("rows", [])
    return PushBatchOut(batch_id=batch.external_id, department=batch.department, resent=resent,
                        received=batch.received, accepted=batch.accepted,
                        quarantined=batch.quarantined, held=batch.held,
                        duplicates=batch.duplicates, held_values=batch.held_values or 0,
                        rows=rows)


@router.post("/feeds/{department}/batches", response_model=PushBatchOut)
def push(request: Request, department: str, body: PushBatchIn,
         user: User = Depends(department_key),
         db: Session = DB_SESSION) -> PushBatchOut:
    """Push a batch of rows in the department's own column names, with the department's key;
    the answer says what became of every row (accepted / quarantined with reasons /
    duplicate)."""
    batch, resent = push_for(db, request.app.state.cipher, user, department=department,
                             batch_id=body.batch_id, rows=body.rows, client=client_of(request))
    return push_result(batch, resent)


@router.get("/subjects/{subject_id}/credit-file", response_model=CreditFileOut)
def subject_credit_file(request: Request, subject_id: int, as_of: dt.date | None = None,
                        user: User = Depends(current_user), db: Session = DB_SESSION
                        ) -> CreditFileOut:
    """Current value and history of every indicator; ``as_of=YYYY-MM-DD``: what was known then."""
    return credit_file(db, user, subject_id, as_of, locale_of(request))


class CollectionConsentIn(BaseModel):
    """A signed collection consent (信息采集授权书) as typed in from the paper form."""

    signed_on: dt.date
    form_no: str | None = None
    years: int = COLLECT_YEARS


@router.post("/subjects/{subject_id}/collection-consent", dependencies=[Depends(verify_csrf)])
def collection_consent(request: Request, subject_id: int, body: CollectionConsentIn,
                       user: User = Depends(CONSENT_DESK), db: Session = DB_SESSION
                       ) -> dict[str, object]:
    """Record the household's collection consent and release the values held until it."""
    consent, released = grant_and_release(db, request.app.state.cipher, user,
                                          subject_id=subject_id, signed_on=body.signed_on,
                                          form_no=body.form_no, years=body.years)
    return {"consent_id": consent.id, "household_id": consent.subject_id,
            "valid_until": consent.valid_until.isoformat(),
            "released_values": released["values"]}
