"""Department feeds and the credit file (部门数据归集, 信用档案) in the capability contract
(:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, EncryptedColumns, LedgerSource

CAPABILITY = Capability(
    name="ingest",
    models="ctown.ingest.models",
    api="ctown.ingest.api:router",
    pages="ctown.ingest.views:router",
    nav="ctown.ingest.views:NAV",
    subject_links="ctown.ingest.views:SUBJECT_LINKS",
    cli="ctown.ingest.cli:register",
    demo="ctown.ingest.demo:build",
    demo_first=True,  # the feeds create the households the demo accounts belong to
    status="ctown.ingest.status:counts",
    ledger=(
        # Every value that entered a credit file, from any department or collection point.
        LedgerSource("credit_value", "ctown.ingest.models:IndicatorValue",
                     ("id", "subject_id", "indicator_code", "value_num", "value_text",
                      "observed_on", "batch_id", "department", "catalogue_version",
                      "recorded_at", "digest")),
    ),
    encrypted=(
        # Rows that could not be loaded, kept whole (they hold resident IDs) until fixed.
        EncryptedColumns("ctown.ingest.models:QuarantinedRow", ("payload",),
                         "ctown.ingest.encrypted:quarantined_row", ("batch_id", "seq")),
        # Values waiting for the household's collection consent (授权暂存).
        EncryptedColumns("ctown.ingest.models:HeldValue", ("value",),
                         "ctown.ingest.encrypted:held_value",
                         ("batch_id", "seq", "indicator_code", "subject_id")),
        # Rows of a consent register that could not be used.
        EncryptedColumns("ctown.ingest.models:ConsentReject", ("payload",),
                         "ctown.ingest.encrypted:consent_reject", ("file_sha256", "row_no")),
    ),
)
