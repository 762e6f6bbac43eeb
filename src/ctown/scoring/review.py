"""Three-party review (三方复核) of model versions: registration with the training-data
fingerprint and metrics, three sign-offs, go-live, rollback.

A version goes live only with three sign-offs by three different people: a bank officer (credit
data verified), a township officer (behaviour data verified) and a third-party evaluator
(calibration accepted). Each version keeps its personal-information impact assessment
(个人信息保护影响评估, PIPL art. 55–56) for at least three years.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.db import utcnow
from ctown.errors import Conflict, Forbidden, NotFound
from ctown.i18n import Message, _
from ctown.registry.service import record_change
from ctown.scoring.models import ModelSignoff, ModelVersion

if TYPE_CHECKING:
    from ctown.accounts.models import User

#: Who signs what (R-2.7).
SIGNOFF_ROLES: dict[str, str] = {
    Role.bank_officer.value: _("信用数据已核验"),
    Role.township_officer.value: _("行为数据已核验"),
    Role.evaluator.value: _("模型校准已认可"),
}
ACTIVATE_ROLES = frozenset({Role.county_admin.value})
#: Who may open the review pages: the signers and the county admin who activates.
REVIEWERS = (Role.county_admin, Role.township_officer, Role.bank_officer, Role.evaluator)
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


def signoffs(session: Session, version_id: int) -> list[ModelSignoff]:
    stmt = sa.select(ModelSignoff).where(ModelSignoff.model_version_id == version_id)
    return list(session.scalars(stmt.order_by(ModelSignoff.id)))


def sign_off(session: Session, *, version_id: int, actor: User, statement: str = ""
             ) -> ModelSignoff:
    version = get_version(session, version_id)
    if actor.role not in SIGNOFF_ROLES:
        raise Forbidden(Message(_("只有银行、乡镇和第三方评估机构可以签核模型")))
    if version.status != "draft":
        raise Conflict(Message(_("该模型版本已不在待复核状态")))
    done = signoffs(session, version_id)
    if any(s.user_id == actor.id for s in done):
        raise Conflict(Message(_("同一人不能重复签核")))
    if any(s.role == actor.role for s in done):
        raise Conflict(Message(_("该角色已签核过此版本")))
    signoff = ModelSignoff(model_version_id=version_id, user_id=actor.id, role=actor.role,
                           statement=statement or SIGNOFF_ROLES[actor.role], signed_at=utcnow())
    session.add(signoff)
    session.flush()
    return signoff


def missing_signoffs(session: Session, version_id: int) -> list[str]:
    done = signoffs(session, version_id)
    roles = {s.role for s in done}
    if len({s.user_id for s in done}) < len(done):
        return sorted(SIGNOFF_ROLES)  # cannot happen with the constraints; refuse regardless
    return [r for r in SIGNOFF_ROLES if r not in roles]


def activate(session: Session, *, version_id: int, actor: User) -> ModelVersion:
    """Put a signed-off version live; the previous live version is retired (kept for rollback)."""
    if actor.role not in ACTIVATE_ROLES:
        raise Forbidden()
    version = get_version(session, version_id)
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
    if actor.role not in ACTIVATE_ROLES:
        raise Forbidden()
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
