"""The farmer's phone-first pages (农户端, R-6.1): home (the grade in large type, what it brings,
why, one way to improve, the next instalment), the credit file by category, who looked, loans,
applications, proxies — one column, Beijing time, plain words — and the web app around them: the
manifest, the service worker that keeps the last pages seen for offline reading, the script of
the "read aloud" button."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from ctown import __version__
from ctown.access import rules
from ctown.accounts.models import User
from ctown.db import utcnow
from ctown.errors import NotFound
from ctown.farmer import service
from ctown.farmer.summary import farmer_summary
from ctown.farmer.words import beijing, day, rate, yuan
from ctown.i18n import _, translate
from ctown.privacy.service import PURPOSES
from ctown.proxy.service import SCOPE_LABELS, STATE_LABELS
from ctown.web.deps import DB, allowed, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/farmer")
STATIC = Path(__file__).parent / "static"
Farmer = Annotated[User, Depends(allowed("farmer_page", "view"))]
CSRF = [Depends(verify_csrf)]

NAV = [{"href": "/farmer", "label": _("我的信用"), "resource": "farmer_page", "purpose": "view"}]
#: The pages, in the order of the menu at the foot of each (href, label).
PAGES = (("/farmer", _("我的信用")), ("/farmer/file", _("信用档案")),
         ("/farmer/looks", _("谁查看了我")), ("/farmer/loans", _("我的贷款")),
         ("/farmer/applications", _("贷款申请")), ("/farmer/proxies", _("信用代理")),
         ("/farmer/consents", _("授权银行")), ("/feedback/new", _("我要反馈")))
#: What the script, the style sheet and the icons are served as (nothing else is served here).
FILES = {"farmer.js": "text/javascript", "farmer.css": "text/css", "icon-192.png": "image/png",
         "icon-512.png": "image/png"}
FLASH = {"objected": _("异议已提交，20 天内会给您书面答复"), "granted": _("授权已记录"),
         "revoked": _("授权已撤回")}


def _page(request: Request, name: str, user: User, **context: Any) -> HTMLResponse:
    """A farmer page: Beijing time of rendering (the offline copy's "as of"), the plain-word
    helpers, the menu. Never kept by a shared cache: it is one household's data."""
    locale = locale_of(request)
    msg = FLASH.get(request.query_params.get("msg", ""))
    response = render(
        request, name, user=user, pages=PAGES, here=request.url.path, version=__version__,
        as_of=beijing(utcnow(), locale), yuan=lambda v: yuan(v, locale),
        rate=lambda v: rate(v, locale), day=lambda v: day(v, locale),
        when=lambda v: beijing(v, locale), message=translate(msg, locale) if msg else None,
        message_kind="ok", **context)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@router.get("", response_class=HTMLResponse)
def home(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    summary = farmer_summary(db, user, service.household_of(user), locale=locale_of(request))
    return _page(request, "farmer/home.html", user, s=summary, today=rules.today())


@router.get("/file", response_class=HTMLResponse)
def credit_file(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    return _page(request, "farmer/file.html", user,
                 categories=service.credit_file_page(db, user, locale_of(request)))


@router.post("/objections", dependencies=CSRF)
def objection(user: Farmer, db: DB, subject_id: Annotated[int, Form()],
              reason: Annotated[str, Form()], indicator_code: Annotated[str, Form()] = ""
              ) -> Response:
    service.raise_objection(db, user, subject_id=subject_id, indicator_code=indicator_code,
                            reason=reason)
    return RedirectResponse("/farmer/file?msg=objected", status_code=303)


@router.get("/consents", response_class=HTMLResponse)
def consents(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    return _page(request, "farmer/consents.html", user, banks=service.banks(),
                 purposes=PURPOSES, days=service.CONSENT_DAYS,
                 consents=service.consents_page(db, user, locale_of(request)))


@router.post("/consents", dependencies=CSRF)
def grant(user: Farmer, db: DB, bank_code: Annotated[str, Form()],
          purpose: Annotated[str, Form()], scope: Annotated[str, Form()] = "query",
          days: Annotated[int, Form()] = 90) -> Response:
    service.grant_consent(db, user, bank_code=bank_code, purpose=purpose, scope=scope, days=days)
    return RedirectResponse("/farmer/consents?msg=granted", status_code=303)


@router.post("/consents/{consent_id}/revoke", dependencies=CSRF)
def revoke(consent_id: int, user: Farmer, db: DB) -> Response:
    service.revoke_consent(db, user, consent_id)
    return RedirectResponse("/farmer/consents?msg=revoked", status_code=303)


@router.get("/looks", response_class=HTMLResponse)
def looks(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    return _page(request, "farmer/looks.html", user,
                 looks=service.looks_page(db, user, locale_of(request)))


@router.get("/loans", response_class=HTMLResponse)
def loans(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    return _page(request, "farmer/loans.html", user,
                 loans=service.loans_page(db, user, rules.today(), locale_of(request)))


@router.get("/applications", response_class=HTMLResponse)
def applications(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    return _page(request, "farmer/applications.html", user, steps=service.STEPS,
                 apps=service.applications_page(db, user, rules.today(), locale_of(request)))


@router.get("/proxies", response_class=HTMLResponse)
def proxies(request: Request, user: Farmer, db: DB) -> HTMLResponse:
    page = service.proxies_page(db, user, locale_of(request))
    return _page(request, "farmer/proxies.html", user, mandates=page.mandates, acts=page.acts,
                 scope_labels=SCOPE_LABELS, state_labels=STATE_LABELS)


# -- the web app: manifest, service worker, script and style ---------------------------------------
@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest(request: Request) -> Response:
    """Installable as a web app (添加到主屏幕): opens on the farmer's home, standalone."""
    locale = locale_of(request)
    icons = [{"src": f"/farmer/static/icon-{n}.png?v={__version__}", "sizes": f"{n}x{n}",
              "type": "image/png", "purpose": "any"} for n in (192, 512)]
    body = {"name": translate(_("信用乡 · 我的信用"), locale),
            "short_name": translate(_("我的信用"), locale), "lang": locale.replace("_", "-"),
            "start_url": "/farmer", "scope": "/farmer", "display": "standalone",
            "background_color": "#ffffff", "theme_color": "#b3261e", "icons": icons}
    return JSONResponse(body, media_type="application/manifest+json",
                        headers={"Cache-Control": "no-cache"})


@router.get("/sw.js", include_in_schema=False)
def worker() -> FileResponse:
    # Its scope is the farmer's pages only: "/farmer" itself and below (the header lets the
    # scope leave out the trailing slash, so that the home "/farmer" is in it).
    return FileResponse(STATIC / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/farmer"})


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    if name not in FILES:
        raise NotFound()
    # Addressed with ?v=<version> by the pages: a week in the browser's cache is safe.
    return FileResponse(STATIC / name, media_type=FILES[name],
                        headers={"Cache-Control": "public, max-age=604800"})
