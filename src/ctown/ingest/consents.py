"""The collection-consent register (信息采集授权书登记): ``ctown consent import FILE``.

Written consents are signed on paper during the 整村授信 household visits and typed in by the
village officers as a CSV or XLSX sheet (columns 身份证号 or 户主身份证号, 签署日期, 授权书编号,
optionally 有效期（年）). Each usable row becomes a ``collect`` consent of the signer's household
(:mod:`ctown.privacy.service`); a row that cannot be used is kept encrypted in
``ingest_consent_rejects`` with a reason in Chinese and English; the form number makes a re-import
a no-op (duplicates). Values held while the consent was missing are released at the end, in the
same transaction (:func:`ctown.ingest.hold.release`).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.crypto import FieldCipher
from ctown.db import bulk_insert, keys_in, utcnow
from ctown.i18n import _
from ctown.ingest import hold
from ctown.ingest import messages as msg
from ctown.ingest.messages import Reason
from ctown.ingest.models import ConsentReject
from ctown.ingest.normalise import clean_text, parse_date, parse_identifiers, parse_number
from ctown.ingest.readers import ROW, _norm_name, describe, iter_chunks
from ctown.privacy import service as privacy
from ctown.privacy.models import AuditEvent, Consent
from ctown.registry.tasks import resolve

ID, SIGNED, FORM, YEARS = "身份证号", "签署日期", "授权书编号", "有效期（年）"
ALIASES: dict[str, tuple[str, ...]] = {
    ID: ("身份证号", "户主身份证号", "身份证号码", "公民身份号码", "签署人身份证号", "证件号码"),
    SIGNED: ("签署日期", "授权日期", "签字日期"),
    FORM: ("授权书编号", "授权编号", "编号"),
    YEARS: ("有效期（年）", "有效期(年)", "有效年限", "有效期年"),
}
REQUIRED = (ID, SIGNED, FORM)
_LOOKUP = {_norm_name(a): target for target, names in ALIASES.items() for a in names}


def reject_aad(sha256: str, row_no: int | None) -> str:
    return f"ingest_consent_rejects.payload:{sha256}:{row_no}"


def _reason(code: str, column: str | None, msgid: str, **params: Any) -> Reason:
    return msg._r(code, column, msgid, **params)


def _rename(frame: pl.DataFrame) -> pl.DataFrame:
    names = {c: _LOOKUP[_norm_name(c)] for c in frame.columns if _norm_name(c) in _LOOKUP}
    seen: set[str] = set()
    keep = {}
    for c, target in names.items():  # the first column of each kind wins
        if target not in seen:
            keep[c], seen = target, seen | {target}
    return frame.rename(keep)


class _Import:
    def __init__(self, session: Session, cipher: FieldCipher, path: Path, actor: Any,
                 now: dt.datetime) -> None:
        self.session, self.cipher, self.path, self.actor, self.now = (
            session, cipher, path, actor, now)
        self.today = rules.today(now)
        self.info = describe(path)
        self.known = set(session.scalars(sa.select(Consent.form_no).where(
            Consent.scope == privacy.COLLECT, Consent.form_no.is_not(None))))
        self.counts = {"received": 0, "granted": 0, "duplicates": 0, "quarantined": 0}
        self.rejects: list[dict[str, Any]] = []
        self.id_messages: dict[str, Any] = {}

    def run(self) -> dict[str, Any]:
        # A re-import replaces the reasons recorded for this very file.
        self.session.execute(sa.delete(ConsentReject).where(
            ConsentReject.file_sha256 == self.info.sha256))
        for chunk in iter_chunks(self.info, set(_LOOKUP)):
            self._chunk(_rename(chunk.frame))
        released = hold.release(self.session, self.cipher, now=self.now, actor=self.actor)
        return {"file": str(self.path), **self.counts,
                "released_households": released["households"],
                "released_values": released["values"], "rejects": self.rejects[:200]}

    def _chunk(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        self.counts["received"] += frame.height
        if ROW not in frame.columns:
            frame = frame.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            found = [c for c in frame.columns if c != ROW]
            reasons = [msg.missing_column(c, found) for c in missing]
            self._reject(frame, {i: reasons for i in range(frame.height)})
            return
        parsed = self._parse(frame)
        failed = self._check(parsed)
        self._reject(frame, failed)
        good = parsed.with_row_index("__i__").filter(~pl.col("__i__").is_in(list(failed)))
        self._grant(good)

    def _parse(self, frame: pl.DataFrame) -> pl.DataFrame:
        ids = parse_identifiers(frame[ID].cast(pl.String), "resident_id")
        self.id_messages = ids.messages
        signed = parse_date(frame[SIGNED].cast(pl.String))
        years = (parse_number(frame[YEARS].cast(pl.String), integer=True) if YEARS in frame.columns
                 else None)
        valid = ids.values.drop_nulls().unique().to_list()
        households = resolve(self.session, self.cipher, "resident_id", valid, "household")
        return pl.DataFrame({
            ROW: frame[ROW], "raw_id": frame[ID].cast(pl.String), "id": ids.values,
            "household": ids.values.replace_strict(households, default=None,
                                                   return_dtype=pl.Int64),
            "raw_signed": frame[SIGNED].cast(pl.String), "signed": signed.values,
            "form": clean_text(frame[FORM].cast(pl.String)),
            "years": years.values if years else pl.Series([None] * frame.height,
                                                          dtype=pl.Float64),
            "bad_years": years.bad if years else pl.Series([False] * frame.height)})

    def _check(self, p: pl.DataFrame) -> dict[int, list[Reason]]:
        failed: dict[int, list[Reason]] = {}
        seen: set[str] = set()
        for i, r in enumerate(p.iter_rows(named=True)):
            reasons = self._reasons(r)
            if reasons:
                failed[i] = reasons
            elif r["form"] in self.known or r["form"] in seen:
                failed[i] = []  # a duplicate: no reason, not granted again
                self.counts["duplicates"] += 1
            else:
                seen.add(r["form"])
        return failed

    def _reasons(self, r: dict[str, Any]) -> list[Reason]:
        out: list[Reason] = []
        if r["raw_id"] is None or not r["raw_id"].strip():
            out.append(msg.required(ID))
        elif r["id"] is None:
            message = self.id_messages.get(r["raw_id"].strip())
            out.append(msg.bad_identifier(ID, message) if message else msg.required(ID))
        elif r["household"] is None:
            out.append(_reason("not_registered", ID, _(
                "该身份证号的人员不属于任何已登记的农户：请先报送公安户籍数据，或核对号码")))
        if r["form"] is None:
            out.append(msg.required(FORM))
        years = int(r["years"]) if r["years"] is not None else privacy.COLLECT_YEARS
        if r["bad_years"] or not 1 <= years <= 5:
            out.append(_reason("bad_years", YEARS, _("有效期应为 1 至 5 年")))
        if r["signed"] is None:
            out.append(msg.not_date(SIGNED, r["raw_signed"] or "") if r["raw_signed"]
                       else msg.required(SIGNED))
        elif r["signed"] > self.today:
            out.append(_reason("future_date", SIGNED, _("签署日期 {value} 晚于今天"),
                               value=r["signed"].isoformat()))
        elif not out and (until := privacy.collection_valid_until(r["signed"], years)) <= self.now:
            out.append(_reason("consent_expired", SIGNED, _(
                "按签署日期计算，该授权已于 {until} 到期：请农户重新签署"),
                until=rules.today(until).isoformat()))
        return out

    def _grant(self, good: pl.DataFrame) -> None:
        if good.is_empty():
            return
        actor_id = getattr(self.actor, "id", None)
        records = [{"subject_id": r["household"], "bank_code": "", "purpose": privacy.COLLECTION,
                    "scope": privacy.COLLECT, "granted_by_id": actor_id, "granted_at": self.now,
                    "valid_until": privacy.collection_valid_until(
                        r["signed"], int(r["years"] or privacy.COLLECT_YEARS)),
                    "form_no": r["form"][:40], "signed_on": r["signed"]}
                   for r in good.iter_rows(named=True)]
        # Plain bulk inserts, the ids read back by form number (unique among collection
        # consents: a known number is a duplicate): INSERT … RETURNING in parameter order is
        # one statement per row on SQLite.
        bulk_insert(self.session, Consent.__table__, records)
        forms = [r["form_no"] for r in records]
        by_form = dict(self.session.execute(sa.select(Consent.form_no, Consent.id).where(
            Consent.scope == privacy.COLLECT, keys_in(self.session, Consent.form_no, forms))).all())
        ids = [by_form[f] for f in forms]
        bulk_insert(self.session, AuditEvent.__table__, [
            {"at": self.now, "actor_id": actor_id, "actor_role": getattr(self.actor, "role", None),
             "action": "consent.grant", "target": f"consent {cid}",
             "detail": {"subject_id": rec["subject_id"], "scope": privacy.COLLECT,
                        "form_no": rec["form_no"], "source": self.path.name[:100],
                        "valid_until": rec["valid_until"].isoformat()}}
            for cid, rec in zip(ids, records, strict=True)])
        self.known.update(r["form_no"] for r in records)
        self.counts["granted"] += len(records)

    def _reject(self, frame: pl.DataFrame, failed: dict[int, list[Reason]]) -> None:
        bad = {i: r for i, r in failed.items() if r}
        if not bad:
            return
        self.counts["quarantined"] += len(bad)
        rows = frame.with_row_index("__i__").filter(pl.col("__i__").is_in(list(bad)))
        records = []
        for row in rows.iter_rows(named=True):
            i, row_no = row.pop("__i__"), row.pop(ROW, None)
            reasons = bad[i]
            payload = json.dumps({"row": {k: v for k, v in row.items() if v is not None},
                                  "reasons": [r.to_json() for r in reasons]}, ensure_ascii=False)
            records.append({"file_sha256": self.info.sha256, "source_name": self.path.name[:300],
                            "row_no": row_no, "reason_code": reasons[0].code,
                            "created_at": self.now, "payload": self.cipher.encrypt(
                                payload, reject_aad(self.info.sha256, row_no))})
            self.rejects.append({"row_no": row_no, "reasons": [
                {"column": r.column, "code": r.code, **r.both()} for r in reasons]})
        self.session.execute(sa.insert(ConsentReject), records)


def import_consents(session: Session, cipher: FieldCipher, path: Path, *, actor: Any = None,
                    now: dt.datetime | None = None) -> dict[str, Any]:
    """Import one consent register in the caller's transaction; returns the counts
    (``received`` = ``granted`` + ``duplicates`` + ``quarantined``) and the reasons."""
    return _Import(session, cipher, path, actor, now or utcnow()).run()
