"""Backups (备份与恢复): commands only — no tables, no pages."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="backup",
    cli="ctown.backup.cli:register",
)
