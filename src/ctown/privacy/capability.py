"""Privacy (个人信息保护) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, Job, LedgerSource

CAPABILITY = Capability(
    name="privacy",
    models="ctown.privacy.models",
    api="ctown.privacy.api:router",
    pages="ctown.privacy.views:router",
    nav="ctown.privacy.views:NAV",
    cli="ctown.privacy.cli:register",
    install="ctown.privacy.hardening:install",  # security headers, rate limits, log redaction
    demo="ctown.privacy.demo:build",
    status="ctown.privacy.status:counts",
    ledger=(
        # The audit trail: sensitive actions, consents granted and revoked, objections, complaints.
        LedgerSource("audit", "ctown.privacy.models:AuditEvent",
                     ("id", "at", "actor_id", "actor_role", "action", "target", "detail")),
        # Every credit-report query, allowed or refused (征信业管理条例 art. 18).
        LedgerSource("credit_query", "ctown.privacy.models:CreditQuery",
                     ("id", "at", "subject_id", "actor_id", "actor_name", "institution",
                      "purpose", "outcome", "consent_id")),
    ),
    jobs=(
        Job("privacy notify-negatives", "hourly", "ctown.privacy.cli:notify_cmd",
            "farmers are told before a negative record goes live (条例 art. 15)"),
        Job("privacy purge", "daily", "ctown.privacy.cli:purge_cmd",
            "delete negative records 5 years after the behaviour ended (art. 16)"),
        Job("privacy overdue", "daily", "ctown.privacy.cli:overdue_cmd",
            "objections not answered within 20 days (exit 1 when any)"),
    ),
)
