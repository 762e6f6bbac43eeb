"""Pages of the notice board: the public board of a village (anyone, phone-friendly) with its PDF,
the officers' rebuild button and kept editions, and the household's consent to publication
(公示授权) — given and withdrawn on the farmer's phone, by their proxy, or by the village officer
with the signed paper form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.errors import NotFound
from ctown.farmer.words import yuan
from ctown.i18n import _, translate
from ctown.noticeboard import service
from ctown.web.deps import DB, Me, locale_of, optional_user, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/notice")
CSRF = [Depends(verify_csrf)]
Anyone = Annotated[User | None, Depends(optional_user)]

NAV = [{"href": "/notice", "label": _("信用公示栏"), "resource": "notice", "purpose": "build"},
       {"href": "/notice/consent", "label": _("公示授权"), "roles": [Role.farmer]}]
SUBJECT_LINKS = [{"href": "/notice/consent?subject_id={id}", "label": _("公示授权"),
                  "resource": "publication", "purpose": "give", "kinds": ["household"]}]

FLASH = {"given": _("已同意公示：下一期公示栏将显示您的脱敏姓名和信用等级"),
         "withdrawn": _("已撤回公示授权：公示页面即时不再显示您的姓名，下一期公示栏也不再显示"),
         "built": _("新一期公示栏已生成")}


def _flash(request: Request) -> str | None:
    msgid = FLASH.get(request.query_params.get("msg", ""))
    return translate(msgid, locale_of(request)) if msgid else None


def _pdf(data: bytes, name: str) -> Response:
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@router.get("", response_class=HTMLResponse)
def villages(request: Request, user: Me, db: DB) -> Response:
    """The officer's villages; a farmer goes to their own village's board."""
    if user.role == Role.farmer:
        return RedirectResponse(f"/notice/{user.region_code}", status_code=303)
    return render(request, "notice/villages.html", user=user,
                  villages=service.villages_for(db, user))


# -- the household's consent (before /{village_code}) ------------------------------------------------
@router.get("/consent", response_class=HTMLResponse)
def consent(request: Request, user: Me, db: DB, subject_id: int | None = None) -> HTMLResponse:
    page = service.consent_page(db, user, subject_id)
    return render(request, "notice/consent.html", user=user, page=page,
                  officer=user.role == Role.village_officer, message=_flash(request))


@router.post("/consent/give", dependencies=CSRF)
def give(user: Me, db: DB, subject_id: Annotated[int | None, Form()] = None,
         form_no: Annotated[str, Form()] = "") -> Response:
    household = service.give_consent(db, user, subject_id, form_no=form_no).subject_id
    return RedirectResponse(f"/notice/consent?subject_id={household}&msg=given", status_code=303)


@router.post("/consent/withdraw", dependencies=CSRF)
def withdraw(user: Me, db: DB, subject_id: Annotated[int | None, Form()] = None) -> Response:
    consent = service.withdraw_consent(db, user, subject_id)
    query = f"subject_id={consent.subject_id}&" if consent else ""
    return RedirectResponse(f"/notice/consent?{query}msg=withdrawn", status_code=303)


# -- kept editions (officers) ------------------------------------------------------------------------
@router.get("/editions/{edition_id}.pdf")
def edition_pdf(edition_id: int, user: Me, db: DB) -> Response:
    edition = service.edition_for(db, user, edition_id)
    return _pdf(edition.pdf, f"notice-{edition.village_code}-{edition.id}.pdf")


# -- the public board ------------------------------------------------------------------------------
@router.get("/{village_code}", response_class=HTMLResponse)
def board(village_code: str, request: Request, user: Anyone, db: DB) -> HTMLResponse:
    """A village's board, for anyone: a public notice (aggregates, consenting masked names)."""
    view = service.public_board(db, village_code)
    builds = service.may_build(db, user, village_code)
    editions = service.editions_for(db, user, village_code, 12) if builds else []
    return render(request, "notice/board.html", user=user, view=view, builds=builds, yuan=yuan,
                  editions=editions, content=view.edition.content if view.edition else None,
                  message=_flash(request))


@router.get("/{village_code}/board.pdf")
def board_pdf(village_code: str, db: DB) -> Response:
    """The latest edition's PDF, for anyone — withheld once a household it names withdrew."""
    view = service.public_board(db, village_code)
    if view.edition is None or not view.pdf_available:
        raise NotFound()
    return _pdf(service.edition_for(db, None, view.edition.id).pdf,
                f"notice-{village_code}-{view.edition.id}.pdf")


@router.post("/{village_code}/build", dependencies=CSRF)
def build(village_code: str, request: Request, user: Me, db: DB) -> Response:
    number = request.app.state.settings.sms_number or None
    service.build_edition(db, user, village_code, sms_number=number)
    return RedirectResponse(f"/notice/{village_code}?msg=built", status_code=303)
