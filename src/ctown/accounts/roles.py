"""Roles of the platform (see REQUIREMENTS.md "Who uses it")."""

from __future__ import annotations

from enum import StrEnum

from ctown.i18n import _


class Role(StrEnum):
    county_admin = "county_admin"            # 县信用服务中心
    township_officer = "township_officer"    # 乡镇信用服务站
    village_officer = "village_officer"      # 村信息员
    evaluation_member = "evaluation_member"  # 村信用评议小组
    credit_proxy = "credit_proxy"            # 信用代理员
    bank_officer = "bank_officer"            # 银行客户经理
    department_feed = "department_feed"      # 部门数据接口 (machine client)
    farmer = "farmer"                        # 农户 / 经营主体
    evaluator = "evaluator"                  # 第三方评估机构
    insurer = "insurer"                      # 保险公司
    merchant = "merchant"                    # 农资商户
    privacy_officer = "privacy_officer"      # 个人信息保护负责人


ROLE_LABELS: dict[Role, str] = {
    Role.county_admin: _("县信用服务中心管理员"),
    Role.township_officer: _("乡镇信用服务站工作人员"),
    Role.village_officer: _("村信息员"),
    Role.evaluation_member: _("村信用评议小组成员"),
    Role.credit_proxy: _("信用代理员"),
    Role.bank_officer: _("银行客户经理"),
    Role.department_feed: _("部门数据接口"),
    Role.farmer: _("农户"),
    Role.evaluator: _("第三方评估机构"),
    Role.insurer: _("保险公司"),
    Role.merchant: _("农资商户"),
    Role.privacy_officer: _("个人信息保护负责人"),
}

#: Who reaches which subjects is the access table (ctown.access.policy); who sees names and
#: identifiers in clear is the masking table (ctown.masking).
