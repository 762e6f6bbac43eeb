"""The catalogue page (/catalogue): every indicator by category, with what marks it carries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.catalogue.service import list_versions, load_catalogue
from ctown.i18n import _
from ctown.web.deps import DB_SESSION, current_user
from ctown.web.templating import render

router = APIRouter()
NAV = [{"href": "/catalogue", "label": _("指标目录")}]
SENSITIVITY = {"public": _("公开"), "internal": _("内部"), "sensitive": _("敏感"),
               "core": _("核心")}
FREQUENCY = {"monthly": _("每月"), "quarterly": _("每季度"), "yearly": _("每年"),
             "event": _("事件触发")}
TYPES = {"integer": _("整数"), "decimal": _("数值"), "boolean": _("是/否"), "date": _("日期"),
         "code": _("代码"), "text": _("文本")}
DEPARTMENTS = {"psb": _("公安局户籍"), "nres": _("自然资源局"), "agri": _("农业农村局"),
               "samr": _("市场监管局"), "tax": _("税务局"), "court": _("法院"), "hrss": _("人社局"),
               "civil": _("民政局"), "util": _("供电供水通信"), "bank": _("农商银行"),
               "insur": _("保险公司"), "village": _("村信用评议小组")}


@router.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(request: Request, user: Annotated[User, Depends(current_user)],
                   db: Annotated[Session, DB_SESSION]) -> HTMLResponse:
    catalogue = load_catalogue()
    groups = [(cat, catalogue.in_category(cat.code)) for cat in catalogue.categories]
    return render(request, "catalogue/catalogue.html", user=user, catalogue=catalogue,
                  groups=groups, versions=list_versions(db), sensitivity=SENSITIVITY,
                  frequency=FREQUENCY, types=TYPES, departments=DEPARTMENTS)
