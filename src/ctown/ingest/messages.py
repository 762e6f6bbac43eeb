"""Reasons for quarantine (隔离原因), in words a clerk can act on: which column, what value, what
was expected. Stored untranslated (msgid + params) and rendered in Chinese or English when shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ctown.i18n import Message, _, translate


@dataclass(frozen=True)
class Reason:
    """Why a row was not accepted; ``code`` groups reasons on the quarantine page."""

    code: str
    message: Message
    column: str | None = None

    def render(self, locale: str | None = None) -> str:
        text = self.message.render(locale)
        if self.column:
            return translate(_("“{column}”列：{text}"), locale, column=self.column, text=text)
        return text

    def both(self) -> dict[str, str]:
        return {"zh": self.render("zh_Hans"), "en": self.render("en")}

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "column": self.column, "msgid": self.message.msgid,
                "params": self.message.params}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reason:
        return cls(data["code"], Message(data["msgid"], data.get("params") or {}),
                   data.get("column"))


def _r(code: str, column: str | None, msgid: str, **params: Any) -> Reason:
    return Reason(code, Message(msgid, params), column)


DATE_FORMATS = "2023-05-01、2023年5月1日、2023/5/1、20230501"


def not_number(column: str, value: str) -> Reason:
    return _r("not_number", column, _("值“{value}”不是数字（应写作 1234.5 或 1,234.5）"),
              value=value)


def not_integer(column: str, value: str) -> Reason:
    return _r("not_integer", column, _("值“{value}”不是整数"), value=value)


def not_date(column: str, value: str) -> Reason:
    return _r("not_date", column, _("值“{value}”不是可识别的日期（应为 {formats}）"), value=value,
              formats=DATE_FORMATS)


def not_bool(column: str, value: str, allowed: list[str]) -> Reason:
    return _r("not_bool", column, _("值“{value}”不是“是/否”类取值（可用：{allowed}）"),
              value=value, allowed="、".join(allowed))


def not_code(column: str, value: str, allowed: list[str]) -> Reason:
    return _r("not_code", column, _("值“{value}”不在代码表中（可用：{allowed}）"), value=value,
              allowed="、".join(allowed[:30]))


def out_of_range(column: str, value: float, low: float | None, high: float | None,
                 unit: str | None) -> Reason:
    return _r("out_of_range", column, _("值 {value}{unit} 超出允许范围 {low} 至 {high}{unit}"),
              value=_num(value), unit=unit or "", low="-∞" if low is None else _num(low),
              high="+∞" if high is None else _num(high))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def not_phone(column: str, value: str) -> Reason:
    return _r("not_phone", column, _("值“{value}”不是有效的电话号码（应为11位手机号或带区号的固定电话）"),
              value=value)


def not_village(column: str, value: str) -> Reason:
    return _r("not_village", column,
              _("值“{value}”不是已登记的村级区划代码（12位统计用区划代码，须先导入区划）"), value=value)


def required(column: str) -> Reason:
    return _r("required", column, _("必填项为空"))


def missing_column(column: str, found: list[str]) -> Reason:
    return _r("missing_column", column,
              _("文件中没有这一必需的列（文件的列为：{found}）；请按部门映射的列名导出后重新报送"),
              found="、".join(found[:40]))


def bad_identifier(column: str, message: Message) -> Reason:
    return Reason("bad_identifier", message, column)


def not_registered(column: str, kind: str, subject_kind: str) -> Reason:
    if kind == "uscc":
        return _r("not_registered", column,
                  _("该统一社会信用代码的主体尚未登记：请先报送市场监管局主体登记数据，或核对代码"))
    if kind == "division_code":
        return _r("not_registered", column, _("该区划代码没有对应的村集体：请核对村代码"))
    if subject_kind == "household":
        return _r("not_registered", column,
                  _("该身份证号的人员不属于任何已登记的农户：请先报送公安户籍数据，或核对号码"))
    return _r("not_registered", column,
              _("该身份证号的人员尚未登记：请先报送公安户籍数据，或核对号码"))


def held_for_match(column: str) -> Reason:
    return _r("held_for_match", column,
              _("证件号无效，但姓名、出生日期和所在村与一名已登记人员一致：等待工作人员确认是否为同一人"))


def ragged(fields: str, width: int, text: str) -> Reason:
    return _r("ragged_row", None,
              _("此行有 {fields} 个字段而表头有 {width} 列，无法对应到列（可能含未加引号的逗号）：{text}"),
              fields=fields, width=width, text=text[:300])


def not_object(text: str) -> Reason:
    return _r("not_object", None, _("此记录不是 JSON 对象：{text}"), text=text[:300])


def match_rejected() -> Reason:
    return _r("match_rejected", None, _("工作人员确认这不是同一人：请核对证件号后更正并重新导入"))
