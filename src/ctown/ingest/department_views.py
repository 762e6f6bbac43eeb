"""Pages of the county's register of department feeds (部门登记, ``/admin/departments``): add a
department; issue, rotate and revoke its push keys. A new key is shown once, on the page that
answers the request that made it (never in a URL or a redirect), and that page is not cached."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.i18n import _
from ctown.ingest import feeds
from ctown.ingest.mapping import load_mappings
from ctown.web.deps import DB_SESSION, allowed, verify_csrf
from ctown.web.templating import render

router = APIRouter()
VIEW, MANAGE = allowed("department"), allowed("department", "manage")
DONE = {"added": _("部门已登记：请签发报送密钥"), "revoked": _("该部门的全部密钥已撤销"),
        "enabled": _("部门已启用"), "disabled": _("部门已停用：其密钥暂不能报送")}


@router.get("/admin/departments", response_class=HTMLResponse)
def departments(request: Request, user: User = Depends(VIEW),
                db: Session = DB_SESSION) -> HTMLResponse:
    rows = feeds.list_departments(db, user)
    mappings = {c: (m.name_zh, m.name_en) for c, m in load_mappings().items()}
    return render(request, "ingest/departments.html", user=user, rows=rows, mappings=mappings,
                  can_manage=True)


@router.post("/admin/departments", dependencies=[Depends(verify_csrf)])
def department_add(code: str = Form(...), name: str = Form(...), contact: str = Form(""),
                   mapping: str = Form(""), user: User = Depends(MANAGE),
                   db: Session = DB_SESSION) -> RedirectResponse:
    made = feeds.add_department(db, user, code=code, name=name, contact=contact,
                                mapping=mapping or None)
    return RedirectResponse(f"/admin/departments/{made.code}?done=added", status_code=303)


def _page(request: Request, db: Session, user: User, code: str,
          issued: feeds.IssuedKey | None = None) -> HTMLResponse:
    department = feeds.get_department(db, user, code)
    keys = feeds.list_keys(db, user, code)
    page = render(request, "ingest/department.html", user=user, d=department, keys=keys,
                  issued=issued, message=DONE.get(request.query_params.get("done", "")))
    if issued is not None:  # the key is on this page only: no copy in a cache
        page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/admin/departments/{code}", response_class=HTMLResponse)
def department(request: Request, code: str, user: User = Depends(VIEW),
               db: Session = DB_SESSION) -> HTMLResponse:
    return _page(request, db, user, code)


@router.post("/admin/departments/{code}/keys", response_class=HTMLResponse,
             dependencies=[Depends(verify_csrf)])
def key_issue(request: Request, code: str, user: User = Depends(MANAGE),
              db: Session = DB_SESSION) -> HTMLResponse:
    return _page(request, db, user, code, feeds.issue_key(db, user, code))


@router.post("/admin/departments/{code}/keys/rotate", response_class=HTMLResponse,
             dependencies=[Depends(verify_csrf)])
def key_rotate(request: Request, code: str, grace_hours: int = Form(feeds.GRACE_HOURS),
               user: User = Depends(MANAGE), db: Session = DB_SESSION) -> HTMLResponse:
    return _page(request, db, user, code, feeds.rotate_key(db, user, code, grace_hours))


@router.post("/admin/departments/{code}/keys/revoke", dependencies=[Depends(verify_csrf)])
def key_revoke(code: str, user: User = Depends(MANAGE),
               db: Session = DB_SESSION) -> RedirectResponse:
    feeds.revoke_keys(db, user, code)
    return RedirectResponse(f"/admin/departments/{code}?done=revoked", status_code=303)


@router.post("/admin/departments/{code}/active", dependencies=[Depends(verify_csrf)])
def department_active(code: str, active: bool = Form(...), user: User = Depends(MANAGE),
                      db: Session = DB_SESSION) -> RedirectResponse:
    feeds.set_active(db, user, code, active)
    return RedirectResponse(f"/admin/departments/{code}?done={'enabled' if active else 'disabled'}",
                            status_code=303)
