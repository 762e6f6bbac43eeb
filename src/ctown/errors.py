"""Domain errors raised by services and turned into HTTP answers or CLI messages by the adapters."""

from __future__ import annotations

from ctown.i18n import Message, _


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: Message | str | None = None) -> None:
        if message is None:
            message = Message(self.default)
        elif isinstance(message, str):
            message = Message(message)
        super().__init__(str(message))
        self.message = message

    default = _("请求无效")


class NotFound(DomainError):
    """Also answered for what exists but the actor may not see, so existence does not leak."""

    status_code = 404
    default = _("未找到")


class Forbidden(DomainError):
    status_code = 403
    default = _("无权执行此操作")


class Conflict(DomainError):
    status_code = 409
    default = _("与现有数据冲突")


class Invalid(DomainError):
    status_code = 422
    default = _("输入有误")
