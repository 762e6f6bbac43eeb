"""Notifications (通知): one outbox for every capability, delivered after commit, never twice.

A capability writes a notice with :func:`ctown.notify.service.queue` in the transaction of the
change that causes it; after that transaction commits a sender delivers it through the backend
of its channel (in-app, SMS, later voice and department webhooks), chosen from the settings when
the app or the CLI starts. See ``docs/notify.md``.
"""
