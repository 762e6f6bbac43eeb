"""Three-party review (三方复核) of model versions: registration with the training-data
fingerprint and metrics, three sign-offs, go-live, rollback.

A version goes live only with three sign-offs by three different people: a bank officer (credit
data verified), a township officer (behaviour data verified) and a third-party evaluator
(calibration accepted). Each version keeps its personal-information impact assessment
(个人信息保护影响评估, PIPL art. 55–56) for at least three years.

Who may open the review, sign and put a version live is the one table's ``model`` row
(:mod:`ctown.access.policy`); which three parties must sign, and what each attests, is the
review's own rule (:data:`SIGNOFF_ROLES`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import get_for, require, scope
from ctown.accounts.roles import Role
from ctown.db import utcnow
from ctown.errors import Conflict, Forbidden, NotFound
from ctown.i18n import Message, _
from ctown.registry.service import record_change
from ctown.scoring.access import MODELS
from ctown.scoring.models import ModelSignoff, ModelVersion

if TYPE_CHECKING:
    from ctown.accounts.models import User

#: The three parties who must sign a version, and what each attests (R-2.7).
SIGNOFF_ROLES: dict[Role, str] = {
    Role.bank_officer: _("信用数据已核验"),
    Role.township_officer: _("行为数据已核验"),
    Role.evaluator: _("模型校准已认可"),
}
RETENTION = dt.timedelta(days=3 * 366)


def impact_assessment(features: list[str], metrics: dict[str, Any]) -> dict[str, Any]:
    """The PIPL art. 55–56 assessment kept with the version (the county may edit the text)."""
    return {
        "purpose": {"zh": "对农户、经营主体和村集体进行信用评级，用于信贷和公共服务的准入与定价",
                    "en": "Rate households, businesses and village collectives for access to and "
                          "pricing of credit and public services"},
        "data_used": features,
        "legal_basis": {"zh": "个人信息保护法第13条、第55条；征信业管理条例",
                        "en": "PIPL art. 13 and 55; Regulation on Credit Reporting"},
        "effects": {"zh": "评级影响贷款额度、利率和公共服务；老年农户按年龄段单独监测结果",
                    "en": "The grade affects loan limits, rates and services; outcomes for older "
                          "farmers are monitored by age band"},
        "safeguards": {"zh": "三方复核后上线；每个等级附原因说明；农户可查询、异议和申请信用修复；"
                             "敏感字段加密和脱敏；模型可回退",
                       "en": "Live only after three-party review; every grade shows its reasons; "
                             "farmers can see, object and ask for repair; sensitive fields "
                             "encrypted and masked; the model can be rolled back"},
        "metrics_at_registration": {k: metrics.get(k) for k in ("auc", "ks", "gini")},
        "assessed_at": utcnow().isoformat(),
    }


def register_version(session: Session, *, actor: User | None, algorithm: str,
                     fingerprint: str, metrics: dict[str, Any], artifact: dict[str, Any],
                     features: list[str]) -> ModelVersion:
    n = (session.scalar(sa.select(sa.func.count()).select_from(ModelVersion)) or 0) + 1
    now = utcnow()
    version = ModelVersion(
        version=f"m{n:03d}-{fingerprint[:8]}", status="draft", algorithm=algorithm,
        fingerprint=fingerprint, metrics=metrics, artifact=artifact,
        impact_assessment=impact_assessment(features, metrics),
        created_by=actor.id if actor else None, created_at=now, retain_until=now + RETENTION)
    session.add(version)
    session.flush()
    _event(session, actor, "create", version)
    return version


def get_version(session: Session, version_id: int) -> ModelVersion:
    version = session.get(ModelVersion, version_id)
    if version is None:
        raise NotFound()
    return version


def get_version_for(session: Session, actor: User | None, version_id: int,
                    purpose: str = "view") -> ModelVersion:
    """A version the actor reaches for ``purpose``, else "not found" (the denial logged)."""
    version: ModelVersion = get_for(session, actor, MODELS, version_id, purpose)
    return version


def versions_for(session: Session, actor: User | None) -> list[ModelVersion]:
    """Every version, newest first, for those who take part in the review (403 otherwise)."""
    require(actor, "model", "view")
    stmt = scope(sa.select(ModelVersion), actor, MODELS)
    return list(session.scalars(stmt.order_by(ModelVersion.id.desc())))


def signoffs(session: Session, version_id: int) -> list[ModelSignoff]:
    stmt = sa.select(ModelSignoff).where(ModelSignoff.model_version_id == version_id)
    return list(session.scalars(stmt.order_by(ModelSignoff.id)))


def sign_off(session: Session, *, version_id: int, actor: User, statement: str = ""
             ) -> ModelSignoff:
    require(actor, "model", "sign")
    version = get_version_for(session, actor, version_id, "sign")
    attests = SIGNOFF_ROLES.get(Role(actor.role))
    if attests is None:  # the table lets someone sign who is none of the three parties
        raise Forbidden(Message(_("只有银行、乡镇和第三方评估机构可以签核模型")))
    if version.status != "draft":
        raise Conflict(Message(_("该模型版本已不在待复核状态")))
    done = signoffs(session, version_id)
    if any(s.user_id == actor.id for s in done):
        raise Conflict(Message(_("同一人不能重复签核")))
    if any(s.role == actor.role for s in done):
        raise Conflict(Message(_("该角色已签核过此版本")))
    signoff = ModelSignoff(model_version_id=version_id, user_id=actor.id, role=actor.role,
                           statement=statement or attests, signed_at=utcnow())
    session.add(signoff)
    session.flush()
    return signoff


def missing_signoffs(session: Session, version_id: int) -> list[str]:
    done = signoffs(session, version_id)
    roles = {s.role for s in done}
    if len({s.user_id for s in done}) < len(done):
        return sorted(r.value for r in SIGNOFF_ROLES)  # cannot happen; refuse regardless
    return [r.value for r in SIGNOFF_ROLES if r not in roles]


def activate(session: Session, *, version_id: int, actor: User) -> ModelVersion:
    """Put a signed-off version live; the previous live version is retired (kept for rollback)."""
    require(actor, "model", "activate")
    version = get_version_for(session, actor, version_id, "activate")
    if version.status != "draft":
        raise Conflict(Message(_("该模型版本已不在待复核状态")))
    missing = missing_signoffs(session, version_id)
    if missing:
        raise Conflict(Message(_("还缺少签核：{roles}"), {"roles": ", ".join(missing)}))
    current = live_version(session)
    if current is not None:
        current.status = "retired"
    version.status = "live"
    version.activated_at = utcnow()
    session.flush()
    _event(session, actor, "activate", version)
    return version


def rollback(session: Session, *, actor: User) -> ModelVersion:
    """Take the live version down and bring back the one that was live before it."""
    require(actor, "model", "activate")
    current = live_version(session)
    if current is None:
        raise Conflict(Message(_("没有正在使用的模型版本")))
    previous = session.scalars(
        sa.select(ModelVersion).where(ModelVersion.status == "retired",
                                      ModelVersion.activated_at.is_not(None))
        .order_by(ModelVersion.activated_at.desc(), ModelVersion.id.desc()).limit(1)).first()
    current.status = "rolled_back"
    if previous is not None:
        previous.status = "live"
        previous.activated_at = utcnow()
    session.flush()
    _event(session, actor, "rollback", current)
    return previous or current


def live_version(session: Session) -> ModelVersion | None:
    stmt = sa.select(ModelVersion).where(ModelVersion.status == "live")
    return session.scalars(stmt.order_by(ModelVersion.id.desc()).limit(1)).first()


def list_versions(session: Session) -> list[ModelVersion]:
    return list(session.scalars(sa.select(ModelVersion).order_by(ModelVersion.id.desc())))


def _event(session: Session, actor: User | None, action: str, version: ModelVersion) -> None:
    record_change(session, actor=actor, source="scoring", action=action, entity="model_version",
                  subject_id=None, payload={"version": version.version, "status": version.status,
                                            "fingerprint": version.fingerprint})
