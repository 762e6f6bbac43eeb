"""JSON API of proxy mandates (mounted under /api/v1/proxy): the same steps as the pages.

A wrong one-time code is answered 422 *without* raising, so that the count of wrong codes is
committed with the request (``service.CodeCheck``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ctown.crypto import FieldCipher
from ctown.errors import Invalid
from ctown.i18n import Message, _
from ctown.proxy import acts, service
from ctown.proxy.schemas import ActOut, ChoiceOut, CodeSentOut, ConfirmIn, MandateIn, MandateOut, RevokeIn
from ctown.proxy.service import State
from ctown.web.deps import DB, Me, verify_csrf

router = APIRouter(prefix="/proxy", tags=["proxy"])
CSRF = [Depends(verify_csrf)]


def _cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


@router.get("/mandates")
def mandates(user: Me, db: DB, state: State | None = None, household: int | None = None
             ) -> list[MandateOut]:
    """The mandates the user reaches: their region's (officers), their own household's
    (farmers), those given to them (proxies)."""
    return [MandateOut.of(r) for r in service.mandates_for(db, user, state=state,
                                                           household_id=household)]


@router.post("/mandates", dependencies=CSRF)
def record(body: MandateIn, user: Me, db: DB) -> MandateOut:
    m = service.record(db, user, household_id=body.household_id, proxy_id=body.proxy_id,
                       scopes=body.scopes, until=body.until)
    return MandateOut.of(service.mandate_row(db, user, m.id, "record"))


@router.get("/mandates/{mandate_id}")
def mandate(mandate_id: int, user: Me, db: DB) -> MandateOut:
    return MandateOut.of(service.mandate_row(db, user, mandate_id))


@router.post("/mandates/{mandate_id}/code", dependencies=CSRF)
def send_code(mandate_id: int, request: Request, user: Me, db: DB) -> CodeSentOut:
    """Send the one-time code to the phone on file (the answer never carries it)."""
    expires = service.send_code(db, user, _cipher(request), mandate_id)
    return CodeSentOut(mandate_id=mandate_id, expires_at=expires)


@router.post("/mandates/{mandate_id}/confirm", dependencies=CSRF, response_model=None)
def confirm(mandate_id: int, body: ConfirmIn, request: Request, user: Me, db: DB
            ) -> MandateOut | JSONResponse:
    """Confirm with ``code`` (what the farmer read out) or ``paper_ref`` (the signed form)."""
    if (body.code is None) == (body.paper_ref is None):
        raise Invalid(Message(_("请填写验证码或纸质授权书编号（二选一）")))
    if body.paper_ref is not None:
        service.confirm_paper(db, user, mandate_id, body.paper_ref)
    else:
        check = service.confirm_code(db, user, _cipher(request), mandate_id, body.code or "")
        if not check.confirmed:
            message = check.message or Message(_("输入有误"))
            return JSONResponse({"detail": message.both(), "attempts_left": check.attempts_left},
                                status_code=422)
    return MandateOut.of(service.mandate_row(db, user, mandate_id, "record"))


@router.post("/mandates/{mandate_id}/revoke", dependencies=CSRF)
def revoke(mandate_id: int, body: RevokeIn, user: Me, db: DB) -> MandateOut:
    service.revoke(db, user, mandate_id, body.reason)
    return MandateOut.of(service.mandate_row(db, user, mandate_id))


@router.get("/held")
def held(user: Me, db: DB) -> list[MandateOut]:
    """The proxy's own: the households they were given mandates for, in any state."""
    return [MandateOut.of(r) for r in service.held_mandates(db, user)]


@router.get("/acts")
def acts_list(user: Me, db: DB, household: int | None = None) -> list[ActOut]:
    """Every act of every proxy on the household (default: the user's own), newest first."""
    return [ActOut.of(a) for a in acts.acts_on_household(db, user, household)]


@router.get("/choices/households")
def household_choices(user: Me, db: DB, q: str = "") -> list[ChoiceOut]:
    return [ChoiceOut.of(c) for c in service.households_to_record(db, user, q)]


@router.get("/choices/proxies")
def proxy_choices(user: Me, db: DB) -> list[ChoiceOut]:
    return [ChoiceOut.of(c) for c in service.proxies_to_choose(db, user)]
