"""Notifications (通知) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, EncryptedColumns, Job

CAPABILITY = Capability(
    name="notify",
    models="ctown.notify.models",
    cli="ctown.notify.cli:register",
    # The notice backends from the app's settings, and the sender of the app's engine.
    install="ctown.notify.setup:install_app",
    status="ctown.notify.status:counts",
    # An SMS's own address (a reply to an unregistered number): key rotation re-encrypts it.
    encrypted=(EncryptedColumns("ctown.notify.models:Notification", ("address_cipher",),
                                "ctown.notify.address:row_aad"),),
    jobs=(
        Job("notify send", "every 5 minutes", "ctown.notify.cli:send",
            "notices waiting for a retry, or left unsent by a crash"),
    ),
)
