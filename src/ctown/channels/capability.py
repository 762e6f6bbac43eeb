"""Farmers' channels (短信与验证码登录) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, EncryptedColumns, Job

CAPABILITY = Capability(
    name="channels",
    models="ctown.channels.models",
    api="ctown.channels.api:router",
    pages="ctown.channels.views:router",
    cli="ctown.channels.cli:register",
    demo="ctown.channels.demo:build",
    status="ctown.channels.status:counts",
    # The replies kept for replayed messages carry grades and amounts.
    encrypted=(EncryptedColumns("ctown.channels.models:InboundSms", ("reply_cipher",),
                                "ctown.channels.service:reply_aad", needs=("message_id",)),),
    jobs=(
        Job("channels remind", "daily 09:00", "ctown.channels.cli:remind",
            "an SMS to each farmer whose instalment is due in 3 days (opt-outs respected)"),
    ),
)
