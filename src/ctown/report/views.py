"""Pages of the report capability: the household's own page (authorisations, who looked, ledger
receipts), the bank's credit report under consent, the audit trail. Paths stay under /privacy."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ctown.i18n import _
from ctown.lending.products import load_products
from ctown.privacy import service as privacy
from ctown.privacy.views import flash_message
from ctown.report import service
from ctown.web.deps import DB, Me, locale_of
from ctown.web.templating import render

router = APIRouter(prefix="/privacy")

# The household's page is where consents are given for it (also by the village officer entering
# a paper form, who opens it with ?subject=).
NAV = [{"href": "/privacy/me", "label": _("我的授权与查询记录"), "resource": "subject",
        "purpose": "act_for"},
       {"href": "/privacy/audit", "label": _("审计日志"), "resource": "audit", "purpose": "view"}]
SUBJECT_LINKS = [{"href": "/privacy/report/{id}", "label": _("查询信用报告（需授权）"),
                  "resource": "subject", "purpose": "request_report",
                  "kinds": ("household", "entity")}]


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, user: Me, db: DB, subject: int | None = None) -> HTMLResponse:
    page = privacy.household_page(db, user, subject)
    receipts = ([] if page.subject_id is None
                else service.household_receipts(db, user, page.subject_id))
    # The bank is chosen from a list — those whose products the county offers — not typed.
    banks = {p.bank_code: p.bank_name for p in load_products().values()}
    return render(request, "privacy/me.html", user=user, purposes=privacy.PURPOSES, banks=banks,
                  subject_id=page.subject_id, consents=page.consents, queries=page.queries,
                  objections=page.objections, complaints=page.complaints, receipts=receipts,
                  message=flash_message(request))


@router.get("/report/{subject_id}", response_class=HTMLResponse)
def credit_report(subject_id: int, request: Request, user: Me, db: DB,
                  purpose: str = "loan_application") -> HTMLResponse:
    access, body = service.credit_report(db, user, subject_id, purpose, locale_of(request))
    return render(request, "privacy/report.html", user=user, access=access, report=body,
                  purposes=privacy.PURPOSES, purpose=purpose,
                  status_code=200 if access.allowed else 403)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: Me, db: DB, action: str = "") -> HTMLResponse:
    page = service.audit_page(db, user, action or None)
    return render(request, "privacy/audit.html", user=user, action=action, **page)
