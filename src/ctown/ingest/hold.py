"""Held until consent is on file (授权暂存): consent-required values wait for the household's
written collection consent (信息采集授权书, 征信业管理条例 art. 14, PIPL art. 29).

* :func:`split` — the load's hook: of a chunk's long values frame, the values of
  ``consent_required`` indicators about a person or household whose household has no active
  ``collect`` consent are written, encrypted, to ``ingest_held_values`` instead of the credit file.
  One bulk statement per chunk (and only for chunks that carry such values) finds the subjects
  not covered; the row itself still counts as accepted.
* :func:`release` — when the consent lands, the household's held values go into the credit file
  with ``recorded_at`` = the release time (so "what did we know on date D" stays true), their
  original batch, department, observation date and catalogue version, and a fresh digest; the held
  rows are deleted in the same transaction; audited.
* :func:`purge` — held values older than the retention period whose household never consented are
  deleted; audited.

Revoking a collection consent stops future values (they are held again); values already released
stay in the credit file (PIPL art. 15: withdrawal does not affect processing done before it).
Entities and village collectives are never held (the rule protects natural persons).

Privacy comes before ingest in the capability order, so ingest owns the release and
:func:`grant_and_release` (privacy's record of the consent plus the release, one transaction).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.access.scope import get_subject_for, require, scope
from ctown.accounts.models import User
from ctown.catalogue.schemas import Catalogue
from ctown.crypto import FieldCipher
from ctown.db import UTCDateTime, driver_connection
from ctown.ingest.access import HELD_VALUES
from ctown.ingest.digest import digests
from ctown.ingest.models import Batch, HeldValue
from ctown.ingest.store import Store, copy_frame
from ctown.privacy import service as privacy
from ctown.privacy.models import AuditEvent, Consent

if TYPE_CHECKING:
    from ctown.ingest.pipeline import BatchLoad

SEQ = "__seq__"
RETENTION_DAYS = 365
#: ``access.rules.consent_active`` spelled in SQL text for the two measured fast paths below (the
#: chunked look-ups of a load); tests/test_ingest_hold.py checks they agree with the rule.
_IN_FORCE = "c.revoked_at IS NULL AND c.granted_at <= :at AND c.valid_until > :at"
_COVERED = ("c.subject_id = COALESCE(s.household_id, s.id) AND c.scope = 'collect' AND "
            + _IN_FORCE)


def held_aad(batch_id: int, seq: int, code: str, subject_id: int) -> str:
    return f"ingest_held_values.value:{batch_id}:{seq}:{code}:{subject_id}"


_CODES: dict[tuple[int, str], list[str]] = {}


def _consent_codes(catalogue: Catalogue) -> list[str]:
    """The catalogue's ``consent_required`` indicators (remembered per version and content)."""
    key = (catalogue.version, catalogue.sha256)
    if key not in _CODES:
        _CODES[key] = sorted(c for c, i in catalogue.indicators.items() if i.consent_required)
    return _CODES[key]


# -- holding ---------------------------------------------------------------------------------------
def split(load: BatchLoad, values: pl.DataFrame) -> pl.DataFrame:
    """The hook of :meth:`BatchLoad._store`: store the held values, return the others."""
    kept, held = hold(load.session, load.cipher, load.catalogue, values, now=load.now)
    if held:
        load.counts.held_values += held
        load.batch.held_values = (load.batch.held_values or 0) + held
    return kept


def hold(session: Session, cipher: FieldCipher | None, catalogue: Catalogue,
         values: pl.DataFrame, *, now: dt.datetime) -> tuple[pl.DataFrame, int]:
    """(the values to write, how many were held). ``values`` has the load's long columns;
    ``cipher`` None: the configured key ring, loaded only when something is held."""
    if values.is_empty():
        return values, 0
    sensitive = values["indicator_code"].is_in(_consent_codes(catalogue))
    if not sensitive.any():
        return values, 0
    households = uncovered(session, values.filter(sensitive)["subject_id"].unique().to_list(), now)
    if not households:
        return values, 0
    mask = sensitive & values["subject_id"].is_in(list(households))
    held = values.filter(mask)
    if cipher is None:
        from ctown.privacy.keyring import bind
        from ctown.settings import get_settings

        settings = get_settings()
        cipher = bind(session.connection(), settings.keyring_path, settings.cipher_suite)
    _store(session, cipher, held, households, now)
    return values.filter(~mask), held.height


def uncovered(session: Session, subject_ids: Sequence[int], at: dt.datetime) -> dict[int, int]:
    """Subject → household for the persons and households among ``subject_ids`` whose household
    has no active collection consent at ``at`` (one statement per chunk on SQLite, two index
    look-ups on PostgreSQL, however many subjects)."""
    if not subject_ids:
        return {}
    ids = [int(i) for i in subject_ids]
    if session.get_bind().dialect.name == "postgresql":
        return _uncovered_pg(session, ids, at)
    # One JSON array, not a parameter per id (see Store.existing_keys); the CROSS JOIN keeps the
    # array outside, so each id is one primary-key probe, and the consent check one index probe.
    sql = sa.text("SELECT s.id, COALESCE(s.household_id, s.id) FROM json_each(:ids) AS j "
                  "CROSS JOIN subjects AS s ON s.id = j.value "
                  "WHERE s.kind IN ('person', 'household') AND NOT EXISTS "
                  f"(SELECT 1 FROM privacy_consents AS c WHERE {_COVERED})").bindparams(
        sa.bindparam("at", type_=UTCDateTime()))
    return {int(s): int(h) for s, h in session.execute(sql, {"ids": json.dumps(ids), "at": at})}


def _uncovered_pg(session: Session, ids: list[int], at: dt.datetime) -> dict[int, int]:
    """Two statements that each can only be an index probe or a hashed scan: during a load the
    planner's statistics of ``subjects`` and ``privacy_consents`` are stale (rows just written),
    and a single anti-join was planned as a nested loop over every consent (~100 ms a chunk)."""
    conn = session.connection()
    personal = {int(s): int(h) for s, h, kind in conn.execute(sa.text(
        "SELECT id, COALESCE(household_id, id), kind FROM subjects "
        "WHERE id = ANY(CAST(:ids AS integer[]))"), {"ids": ids})
        if kind in privacy.PERSONAL_KINDS}
    if not personal:
        return {}
    covered = set(conn.execute(sa.text(
        "SELECT DISTINCT c.subject_id FROM privacy_consents AS c "
        "WHERE c.subject_id = ANY(CAST(:hh AS integer[])) AND c.scope = 'collect' AND "
        + _IN_FORCE).bindparams(
        sa.bindparam("at", type_=UTCDateTime())),
        {"hh": sorted(set(personal.values())), "at": at}).scalars())
    return {s: h for s, h in personal.items() if h not in covered}


def _store(session: Session, cipher: FieldCipher, held: pl.DataFrame, households: dict[int, int],
           now: dt.datetime) -> None:
    encrypt = cipher.encrypt
    frame = held.select(
        pl.col("subject_id").cast(pl.Int64),
        pl.col("subject_id").replace_strict(households, return_dtype=pl.Int64)
        .alias("household_id"), "indicator_code", "value_num", "value_text", "observed_on",
        pl.col("batch_id").cast(pl.Int64), pl.col(SEQ).cast(pl.Int64).alias("seq"),
        "department", pl.col("catalogue_version").cast(pl.Int64))
    cells = zip(frame["subject_id"], frame["indicator_code"], frame["value_num"],
                frame["value_text"], frame["batch_id"], frame["seq"], strict=True)
    values = [encrypt(json.dumps([num, text], ensure_ascii=False), held_aad(b, q, c, s))
              for s, c, num, text, b, q in cells]
    frame = frame.drop("value_num", "value_text").with_columns(
        pl.Series("value", values, dtype=pl.String),
        pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("held_at"))
    if session.get_bind().dialect.name == "postgresql":
        copy_frame(driver_connection(session.connection()), "ingest_held_values",
                   frame)
        return
    session.execute(sa.insert(HeldValue), frame.to_dicts())


# -- release -----------------------------------------------------------------------------------------
def _consented(at: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.exists().where(Consent.subject_id == HeldValue.household_id,
                             Consent.scope == privacy.COLLECT, rules.consent_active(at))


_RELEASE_COLUMNS = (HeldValue.id, HeldValue.subject_id, HeldValue.household_id,
                    HeldValue.indicator_code, HeldValue.value, HeldValue.observed_on,
                    HeldValue.batch_id, HeldValue.seq, HeldValue.department,
                    HeldValue.catalogue_version)


def release(session: Session, cipher: FieldCipher, *, now: dt.datetime,
            household_ids: Sequence[int] | None = None, actor: User | None = None
            ) -> dict[str, int]:
    """Move the held values of every household (or of ``household_ids``) that now has an active
    collection consent into the credit file; returns counts."""
    stmt = sa.select(*_RELEASE_COLUMNS).where(_consented(now)).order_by(HeldValue.id)
    if household_ids is not None:
        stmt = stmt.where(HeldValue.household_id.in_([int(h) for h in household_ids]))
    rows = session.execute(stmt).all()
    if not rows:
        return {"households": 0, "values": 0}
    decrypt = cipher.decrypt
    decoded = [json.loads(decrypt(r.value, held_aad(r.batch_id, r.seq, r.indicator_code,
                                                    r.subject_id))) for r in rows]
    frame = pl.DataFrame({
        "subject_id": [r.subject_id for r in rows],
        "indicator_code": [r.indicator_code for r in rows],
        "value_num": [d[0] for d in decoded], "value_text": [d[1] for d in decoded],
        "observed_on": [r.observed_on for r in rows], "batch_id": [r.batch_id for r in rows],
        "department": [r.department for r in rows],
        "catalogue_version": [r.catalogue_version for r in rows],
        "__held_id__": [r.id for r in rows]}, schema_overrides={
        "subject_id": pl.Int64, "value_num": pl.Float64, "value_text": pl.String,
        "observed_on": pl.Date, "batch_id": pl.Int64, "catalogue_version": pl.Int64})
    frame = frame.with_columns(pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("recorded_at"))
    store = Store(session)
    for (department,), part in frame.partition_by("department", as_dict=True,
                                                  maintain_order=True).items():
        batch = _release_batch(session, str(department), part, now, actor)
        part = part.rename({"batch_id": "__held_batch__"}).with_columns(
            pl.lit(batch.id, pl.Int64).alias("batch_id"))
        part = part.sort("subject_id", "indicator_code", "observed_on", "__held_id__")
        store.store_values(part.with_columns(digests(part)))
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 5000):
        session.execute(sa.delete(HeldValue).where(HeldValue.id.in_(ids[start:start + 5000])))
    per_household = _per_household(rows)
    _audit(session, actor, "held.release", per_household, now)
    return {"households": len(per_household), "values": len(rows)}


def _release_batch(session: Session, department: str, part: pl.DataFrame, now: dt.datetime,
                   actor: User | None) -> Batch:
    """Released values enter the credit file as a batch of their own (channel ``release``):
    they are new to the file now, so what looks for values that arrived after a batch
    (incremental rescoring) finds them; the batches they were received in stay in ``detail``."""
    # Polars types min() and max() as any Python value: of these Int64 columns, an int.
    first = int(cast(int, part["__held_id__"].min()))
    batch = Batch(department=department, external_id=f"release:{first}",
                  source_name="授权后释放 / released on consent", channel="release",
                  status="done", catalogue_version=int(cast(int, part["catalogue_version"].max())),
                  actor_id=actor.id if actor else None, created_at=now, finished_at=now,
                  values_written=part.height,
                  detail={"released_from_batches": sorted(set(part["batch_id"].to_list())),
                          "subjects": part["subject_id"].n_unique()})
    session.add(batch)
    session.flush()
    return batch


def _per_household(rows: Sequence[Any]) -> dict[int, int]:
    out: dict[int, int] = {}
    for r in rows:
        out[r.household_id] = out.get(r.household_id, 0) + 1
    return out


def _audit(session: Session, actor: User | None, action: str, per_household: dict[int, int],
           now: dt.datetime) -> None:
    """One audit event per household (bulk insert: a register import may release thousands)."""
    session.execute(sa.insert(AuditEvent), [
        {"at": now, "actor_id": actor.id if actor else None,
         "actor_role": actor.role if actor else None, "action": action,
         "target": f"subject {hh}", "detail": {"subject_id": hh, "values": n}}
        for hh, n in sorted(per_household.items())])


def grant_and_release(session: Session, cipher: FieldCipher, actor: User | None, *,
                      subject_id: int, signed_on: dt.date, form_no: str | None = None,
                      years: int = privacy.COLLECT_YEARS, now: dt.datetime | None = None
                      ) -> tuple[Consent, dict[str, int]]:
    """Record a signed collection consent and release what was held for the household."""
    consent = privacy.grant_collection_consent(session, actor, subject_id=subject_id,
                                               signed_on=signed_on, form_no=form_no, years=years,
                                               now=now)
    moment = consent.granted_at
    return consent, release(session, cipher, now=moment, household_ids=[consent.subject_id],
                            actor=actor)


# -- purge ---------------------------------------------------------------------------------------------
def purge(session: Session, *, now: dt.datetime, days: int = RETENTION_DAYS,
          actor: User | None = None) -> dict[str, int]:
    """Delete held values older than ``days`` whose household still has no collection consent."""
    cutoff = now - dt.timedelta(days=days)
    where = (HeldValue.held_at < cutoff, ~_consented(now))
    rows = session.execute(sa.select(HeldValue.household_id, sa.func.count())
                           .where(*where).group_by(HeldValue.household_id)).all()
    if not rows:
        return {"households": 0, "values": 0}
    session.execute(sa.delete(HeldValue).where(*where))
    per_household = {int(h): int(n) for h, n in rows}
    _audit(session, actor, "held.purge", per_household, now)
    return {"households": len(per_household), "values": sum(per_household.values())}


# -- what a household has waiting -------------------------------------------------------------------
def held_summary(session: Session, actor: User, subject_id: int,
                 now: dt.datetime) -> dict[str, Any]:
    """Counts per indicator of a household's held values (never the values) and its collection
    consents, for the household's consent page (those who record its collection consent)."""
    subject = get_subject_for(session, actor, subject_id, "collect_consent")
    household = rules.household_id_of(subject)
    by_code = session.execute(scope(
        sa.select(HeldValue.indicator_code, sa.func.count(), sa.func.min(HeldValue.held_at))
        .where(HeldValue.household_id == household).group_by(HeldValue.indicator_code)
        .order_by(HeldValue.indicator_code), actor, HELD_VALUES)).all()
    consents = session.scalars(sa.select(Consent).where(
        Consent.subject_id == household, Consent.scope == privacy.COLLECT)
        .order_by(Consent.id.desc())).all()
    active = rules.active_consent(session, household, "", privacy.COLLECTION, privacy.COLLECT,
                                  at=now)
    return {"subject": subject, "household_id": household, "consents": consents,
            "active": active, "total": sum(n for _c, n, _t in by_code),
            "by_indicator": [{"code": c, "count": n, "since": t} for c, n, t in by_code]}


def held_overview(session: Session, actor: User | None) -> list[dict[str, Any]]:
    """Per indicator, how many values wait for a collection consent and for how many
    households, over what the actor reaches (never the values)."""
    require(actor, "held_value", "overview")
    rows = session.execute(scope(
        sa.select(HeldValue.indicator_code, sa.func.count(),
                  sa.func.count(sa.distinct(HeldValue.household_id)))
        .group_by(HeldValue.indicator_code).order_by(HeldValue.indicator_code),
        actor, HELD_VALUES, "overview"))
    return [{"indicator": code, "values": n, "households": h} for code, n, h in rows]
