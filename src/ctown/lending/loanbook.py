"""Loan arithmetic without a database: repayment allocation, days past due, five-category
classification (贷款五级分类: 正常 / 关注 / 次级 / 可疑 / 损失).

Classification by days past due follows the regulator's rule for retail loans (《商业银行金融资产
风险分类办法》2023, art. 11): more than 90 days overdue is at least substandard, more than 180
doubtful, more than 360 loss; any overdue is at least special mention.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ctown.i18n import _


class Category(StrEnum):
    """The five categories (贷款五级分类), best first."""

    normal = "normal"                    # 正常
    special_mention = "special_mention"  # 关注
    substandard = "substandard"          # 次级
    doubtful = "doubtful"                # 可疑
    loss = "loss"                        # 损失


CATEGORIES = tuple(Category)
CATEGORY_LABELS = {Category.normal: _("正常"), Category.special_mention: _("关注"),
                   Category.substandard: _("次级"), Category.doubtful: _("可疑"),
                   Category.loss: _("损失")}
#: Catalogue codes of indicator I0506 (贷款五级分类).
CATEGORY_CODES = {c: str(i) for i, c in enumerate(CATEGORIES, start=1)}
#: Non-performing loans (不良贷款): substandard, doubtful and loss — the NPL ratio's numerator.
NON_PERFORMING = frozenset({Category.substandard, Category.doubtful, Category.loss})


def classify(days_past_due: int) -> Category:
    if days_past_due <= 0:
        return Category.normal
    if days_past_due <= 90:
        return Category.special_mention
    if days_past_due <= 180:
        return Category.substandard
    if days_past_due <= 360:
        return Category.doubtful
    return Category.loss


@dataclass
class Due:
    """An instalment as the loan book sees it: what is due, what has been paid."""

    number: int
    due_on: dt.date
    amount: Decimal
    paid: Decimal = Decimal("0.00")
    paid_on: dt.date | None = None

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid


@dataclass(frozen=True)
class Allocation:
    number: int
    amount: Decimal
    settled: bool       # the instalment is now paid in full
    on_time: bool       # …and was paid in full by its due date


def allocate(dues: list[Due], amount: Decimal, paid_on: dt.date) -> tuple[list[Allocation],
                                                                        Decimal]:
    """Apply a repayment to the oldest open instalments first; returns allocations and the rest."""
    left, out = amount, []
    for due in sorted(dues, key=lambda d: d.number):
        if left <= 0:
            break
        if due.outstanding <= 0:
            continue
        part = min(left, due.outstanding)
        due.paid += part
        left -= part
        settled = due.outstanding == 0
        if settled:
            due.paid_on = paid_on
        out.append(Allocation(due.number, part, settled, settled and paid_on <= due.due_on))
    return out, left


def days_past_due(dues: list[Due], today: dt.date) -> int:
    """Days since the oldest instalment that is due and not fully paid (0 when none)."""
    late = [d.due_on for d in dues if d.outstanding > 0 and d.due_on < today]
    return (today - min(late)).days if late else 0


def overdue_amount(dues: list[Due], today: dt.date) -> Decimal:
    return sum((d.outstanding for d in dues if d.outstanding > 0 and d.due_on < today),
               Decimal("0.00"))
