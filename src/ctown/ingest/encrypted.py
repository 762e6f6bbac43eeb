"""The associated data of the ingest's encrypted columns, from a stored row: how key rotation
(``ctown keys rotate``, through ``Capability.encrypted``) re-encrypts quarantined rows, values
held until consent and consent-register rejects without knowing the ingest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctown.ingest.consents import reject_aad
from ctown.ingest.hold import held_aad
from ctown.ingest.pipeline import quarantine_aad


def quarantined_row(_column: str, row: Mapping[str, Any]) -> str:
    return quarantine_aad(row["batch_id"], row["seq"])


def held_value(_column: str, row: Mapping[str, Any]) -> str:
    return held_aad(row["batch_id"], row["seq"], row["indicator_code"], row["subject_id"])


def consent_reject(_column: str, row: Mapping[str, Any]) -> str:
    return reject_aad(row["file_sha256"], row["row_no"])
