"""How the configuration's rows are reached (R-1.3, R-3.1): described once for the access layer.

Who reaches them for which purpose is the one table, :mod:`ctown.access.policy` ("config":
view, propose, approve, rollback; "config_version": view). The county reaches every proposal and
version; a bank reaches those of its own bank's products (``bank_code``) — and proposes only
product files whose ``bank_code`` is its own (:func:`ctown.access.scope.reaches_values`).
"""

from __future__ import annotations

from ctown.access.scope import Resource
from ctown.config.models import ConfigProposal, ConfigVersion

#: Proposals (配置变更提议): the bank whose products they change, if only products of one bank.
PROPOSALS = Resource("config", ConfigProposal, ConfigProposal.id, label="config proposal",
                     bank=ConfigProposal.bank_code)

#: Live versions (生效版本), by number: as the proposal they came from.
VERSIONS = Resource("config_version", ConfigVersion, ConfigVersion.version,
                    label="config version", bank=ConfigVersion.bank_code)
