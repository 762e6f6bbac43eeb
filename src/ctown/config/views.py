"""Pages of the county's configuration (``/admin/config``): the live version, the versions and
proposals, a proposal's diff with approve and reject, a version with its rollback, and the upload
of a proposal (one YAML file or a .zip of a folder)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctown import configdir
from ctown.access.scope import allowed as may
from ctown.accounts.models import User
from ctown.config import service, upload
from ctown.errors import Invalid
from ctown.i18n import Message, _
from ctown.web.deps import DB, Me, allowed, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/admin/config")
Viewer = Annotated[User, Depends(allowed("config", "view"))]
NAV = [{"href": "/admin/config", "label": _("县级配置"), "resource": "config", "purpose": "view"}]


async def small_upload(request: Request) -> None:
    """Refuse an upload larger than the limit before its body is read (and spooled to disk)."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > upload.MAX_UPLOAD + 64 * 1024:
        raise Invalid(Message(_("上传的文件超过 {limit} 字节"), {"limit": upload.MAX_UPLOAD}))


CSRF = [Depends(verify_csrf)]
UPLOAD = [Depends(small_upload), Depends(verify_csrf)]


def _overview(request: Request, db: DB, user: User, status_code: int = 200,
              problems: list[str] | None = None, message: str | None = None) -> HTMLResponse:
    state = service.live_state(db, configdir.live_dir())
    versions = service.versions_for(db, user)
    proposals = service.proposals_for(db, user)
    names = service.usernames(db, [*(v.proposed_by_id for v in versions),
                                   *(v.approved_by_id for v in versions),
                                   *(p.proposed_by_id for p in proposals)])
    return render(request, "config/overview.html", status_code=status_code, user=user,
                  state=state, versions=versions, proposals=proposals, names=names,
                  problems=problems or [], message=message, message_kind="error",
                  can_propose=may(user, "config", "propose"),
                  can_rollback=may(user, "config", "rollback"))


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: Viewer, db: DB) -> HTMLResponse:
    return _overview(request, db, user)


@router.post("/proposals", dependencies=UPLOAD)
def propose(request: Request, user: Me, db: DB, file: UploadFile = File(...),
            note: str = Form("")) -> Response:
    data = file.file.read(upload.MAX_UPLOAD + 1)
    try:
        files = upload.from_upload(file.filename or "", data)
        made = service.propose(db, user, files, note, folder=configdir.live_dir())
    except service.ConfigInvalid as exc:
        return _overview(request, db, user, 422, exc.lines(locale_of(request)),
                         exc.message.render(locale_of(request)))
    return RedirectResponse(f"/admin/config/proposals/{made.id}", status_code=303)


def _proposal(request: Request, db: DB, user: User, proposal_id: int, status_code: int = 200,
              problems: list[str] | None = None, message: str | None = None) -> HTMLResponse:
    page = service.proposal_page(db, user, proposal_id, configdir.live_dir())
    p = page.proposal
    side = request.query_params.get("view") == "side"
    return render(request, "config/proposal.html", status_code=status_code, user=user,
                  proposal=p, changes=page.changes, side=side, can_approve=page.can_approve,
                  can_reject=page.can_reject, problems=problems or [], message=message,
                  message_kind="error",
                  names=service.usernames(db, [p.proposed_by_id, p.decided_by_id]))


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
def proposal(request: Request, proposal_id: int, user: Viewer, db: DB) -> HTMLResponse:
    return _proposal(request, db, user, proposal_id)


@router.post("/proposals/{proposal_id}/approve", dependencies=CSRF)
def approve(request: Request, proposal_id: int, user: Me, db: DB) -> Response:
    try:
        service.approve(db, user, proposal_id, folder=configdir.live_dir())
    except service.ConfigInvalid as exc:
        return _proposal(request, db, user, proposal_id, 422, exc.lines(locale_of(request)),
                         exc.message.render(locale_of(request)))
    return RedirectResponse(f"/admin/config/proposals/{proposal_id}", status_code=303)


@router.post("/proposals/{proposal_id}/reject", dependencies=CSRF)
def reject(proposal_id: int, user: Me, db: DB, reason: str = Form("")) -> Response:
    service.reject(db, user, proposal_id, reason)
    return RedirectResponse(f"/admin/config/proposals/{proposal_id}", status_code=303)


@router.get("/versions/{number}", response_class=HTMLResponse)
def version(request: Request, number: int, user: Viewer, db: DB) -> HTMLResponse:
    v = service.get_version_for(db, user, number)
    return render(request, "config/version.html", user=user, version=v,
                  changes=service.version_changes(db, v), side=request.query_params.get(
                      "view") == "side", can_rollback=may(user, "config", "rollback"),
                  names=service.usernames(db, [v.proposed_by_id, v.approved_by_id]))


@router.post("/versions/{number}/rollback", dependencies=CSRF)
def rollback(request: Request, number: int, user: Me, db: DB, note: str = Form("")
             ) -> Response:
    try:
        made = service.propose_rollback(db, user, number, note, folder=configdir.live_dir())
    except service.ConfigInvalid as exc:
        return _overview(request, db, user, 422, exc.lines(locale_of(request)),
                         exc.message.render(locale_of(request)))
    return RedirectResponse(f"/admin/config/proposals/{made.id}", status_code=303)
