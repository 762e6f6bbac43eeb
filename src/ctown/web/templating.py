"""Server-rendered pages: one Jinja environment over the templates of every capability."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ctown.access.rules import local_time
from ctown.accounts.roles import ROLE_LABELS, Role
from ctown.i18n import translate
from ctown.web.deps import csrf_token, locale_of

_ROOT = Path(__file__).resolve().parent.parent


@lru_cache(maxsize=1)
def environment() -> Environment:
    dirs = [str(_ROOT / "web" / "templates"), *sorted(
        str(p) for p in _ROOT.glob("*/templates") if p.parent.name != "web")]
    env = Environment(loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
                      autoescape=select_autoescape(["html", "xml"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["money"] = lambda v: "" if v is None else f"{v:,.2f}"
    env.filters["local"] = beijing_time
    env.filters["localdate"] = lambda v: beijing_time(v, "%Y-%m-%d")
    return env


def beijing_time(value: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as the county reads it: Beijing time (北京时间), never UTC on a page."""
    if value is None or value == "":
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # stored times are UTC (ctown.db.UTCDateTime)
        moment = moment.replace(tzinfo=dt.UTC)
    return local_time(moment).strftime(fmt)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    locale = locale_of(request)
    user = context.get("user")

    def tr(msgid: str, **params: Any) -> str:
        return translate(msgid, locale, **params)

    html = environment().get_template(name).render(
        request=request, locale=locale, _=tr,
        csrf_input=lambda: Markup('<input type="hidden" name="csrf_token" value="{}">').format(
            csrf_token(request)),
        csrf_value=lambda: csrf_token(request),
        role_label=lambda r: tr(ROLE_LABELS[Role(r)]),
        current_user=user, **context)
    return HTMLResponse(html, status_code=status_code)
