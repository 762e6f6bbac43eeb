"""Loading, checking and versioning the indicator catalogue (农村信用信息采集规范).

``load_catalogue`` validates the county's YAML file (errors name file, line and field) and refuses
indicators that the law forbids; ``register_version`` records each version's content hash so that
the same number can never mean two different catalogues, and values keep the version they were
collected under.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import configdir
from ctown.catalogue.configfile import ConfigFileError, line_of, read_yaml, validate_all
from ctown.catalogue.models import CatalogueVersion
from ctown.catalogue.rules import forbidden_hit, forbidden_message
from ctown.catalogue.schemas import Catalogue, CatalogueFile
from ctown.db import utcnow
from ctown.errors import Conflict
from ctown.i18n import Message, _

#: The packaged catalogue (a county's folder may replace it: :mod:`ctown.configdir`).
DEFAULT_PATH = Path(__file__).parent / "data" / "catalogue.yaml"


class CatalogueVersionConflict(Conflict):
    """The same version number was already loaded with different content."""


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue in ``path`` (default: the one in effect, :mod:`ctown.configdir`: the county's
    folder, else the packaged file), validated; cached per path and the file's stamp, so a newly
    approved version is read at the next call."""
    chosen = Path(path) if path else configdir.file("catalogue")
    return _load_cached(configdir.stamp([chosen]), chosen)


@lru_cache(maxsize=8)
def _load_cached(_key: configdir.Stamp, path: Path) -> Catalogue:
    return parse_catalogue(path)


def parse_catalogue(path: Path) -> Catalogue:
    """Validate a catalogue file without caching (``ctown indicators check``)."""
    catalogue, problems = check_catalogue(path)
    if catalogue is None:
        raise problems[0]
    return catalogue


def check_catalogue(path: Path) -> tuple[Catalogue | None, list[ConfigFileError]]:
    """The catalogue of a file, or None and every problem found (``ctown config check``)."""
    try:
        data, marks, raw = read_yaml(path)
    except ConfigFileError as exc:
        return None, [exc]
    spec, problems = validate_all(CatalogueFile, data, path, marks)
    if spec is None:
        return None, problems
    problems = semantic_problems(spec, path, marks)
    if problems:
        return None, problems
    return Catalogue(
        version=spec.version, title_zh=spec.title_zh, title_en=spec.title_en,
        categories=spec.categories, indicators={i.code: i for i in spec.indicators},
        forbidden=spec.forbidden, sha256=hashlib.sha256(raw).hexdigest(), source=str(path)), []


def semantic_problems(spec: CatalogueFile, path: Path, marks: dict[tuple[str, ...], int]
                      ) -> list[ConfigFileError]:
    """Duplicate codes, forbidden indicators (条例 art. 14), unknown categories: every one."""
    out: list[ConfigFileError] = []
    categories = [c.code for c in spec.categories]
    for i, cat in enumerate(spec.categories):
        if categories.index(cat.code) != i:
            out.append(ConfigFileError(path, line_of(marks, ("categories", i, "code")),
                                       f"categories.{i}.code",
                                       Message(_("类别代码 {code} 重复"), {"code": cat.code})))
    seen: set[str] = set()
    for i, ind in enumerate(spec.indicators):
        loc = ("indicators", i)
        term = forbidden_hit([ind.code, ind.name_zh, ind.name_en, ind.description or ""],
                             spec.forbidden)
        if term:
            out.append(ConfigFileError(path, line_of(marks, (*loc, "name_zh")),
                                       f"indicators.{i}.name_zh",
                                       forbidden_message(ind.code, term)))
        if ind.code in seen:
            out.append(ConfigFileError(path, line_of(marks, (*loc, "code")),
                                       f"indicators.{i}.code",
                                       Message(_("指标代码 {code} 重复"), {"code": ind.code})))
        seen.add(ind.code)
        if ind.category not in categories:
            out.append(ConfigFileError(path, line_of(marks, (*loc, "category")),
                                       f"indicators.{i}.category",
                                       Message(_("指标 {code} 的类别 {category} 不在类别列表中"),
                                               {"code": ind.code, "category": ind.category})))
    return out


def register_version(session: Session, catalogue: Catalogue) -> int:
    """Record this catalogue's version (idempotent); refuse a changed file under a known number.

    Returns the version number that values loaded now must be tagged with.
    """
    row = session.scalar(sa.select(CatalogueVersion).where(
        CatalogueVersion.version == catalogue.version))
    if row is None:
        session.add(CatalogueVersion(version=catalogue.version, sha256=catalogue.sha256,
                                     indicator_count=len(catalogue.indicators),
                                     loaded_at=utcnow()))
        session.flush()
        return catalogue.version
    if row.sha256 != catalogue.sha256:
        raise CatalogueVersionConflict(Message(_(
            "目录版本 {version} 已以不同内容登记过：修改目录后请提高版本号"),
            {"version": catalogue.version}))
    return row.version


def list_versions(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(sa.select(CatalogueVersion.version, CatalogueVersion.sha256)
                           .order_by(CatalogueVersion.version)).all()
    return [(int(v), str(h)) for v, h in rows]
