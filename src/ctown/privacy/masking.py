"""Masking (脱敏) of identifiers and names for screens and API answers."""

from __future__ import annotations


def mask_resident_id(value: str | None) -> str:
    """``330521199001011234`` → ``3305**********1234``: region prefix and last four stay."""
    if not value:
        return ""
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str:
    """``13812345678`` → ``138****5678``."""
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str | None) -> str:
    """``张三丰`` → ``张*丰``; ``王五`` → ``王*`` (the family name stays, as on village notices)."""
    if not value:
        return ""
    if len(value) <= 2:
        return value[0] + "*" * (len(value) - 1)
    return value[0] + "*" * (len(value) - 2) + value[-1]
