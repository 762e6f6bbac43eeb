"""How lending's rows are reached (R-7.1, R-7.2): each table described once for the access layer.

Who reaches which of them for which purpose is the one table, :mod:`ctown.access.policy`
("application", "loan", "credit_line", "grant", "grant_village", "lending_figures"); lending asks
:mod:`ctown.access.scope` and writes no role ladder of its own. Applications and loans link a
subject to a bank (``client_link``): the bank's applicants and borrowers are its clients.
"""

from __future__ import annotations

import sqlalchemy as sa

from ctown.access.scope import Resource
from ctown.lending.models import CreditLine, Loan, LoanApplication, VillageGrant
from ctown.registry.models import Region

#: Loan applications (贷款申请): the applicant's village, the applicant, the product's bank.
APPLICATIONS = Resource("application", LoanApplication, LoanApplication.id,
                        label="loan application", region=LoanApplication.village_code,
                        subject=LoanApplication.subject_id, bank=LoanApplication.bank_code,
                        client_link=True)

#: Loans (贷款): as their application; an insurer reaches the loans it covers (信用+保险).
LOANS = Resource("loan", Loan, Loan.id, label="loan", region=Loan.village_code,
                 subject=Loan.subject_id, bank=Loan.bank_code,
                 insured=Loan.product_kind == "insurance", client_link=True)

#: Whole-village grants (整村授信): the village and the granting bank.
GRANTS = Resource("grant", VillageGrant, VillageGrant.id, label="village grant",
                  region=VillageGrant.village_code, bank=VillageGrant.bank_code)

_grant_of_line = sa.select(VillageGrant).where(VillageGrant.id == CreditLine.grant_id)

#: Pre-approved credit lines (授信额度) of a grant: the household, the grant's village and bank.
#: Not a client link: a line is the bank's offer to every eligible household of a village, made
#: without the household asking; the household becomes the bank's client when it applies.
CREDIT_LINES = Resource(
    "credit_line", CreditLine, CreditLine.id, label="credit line",
    region=_grant_of_line.with_only_columns(VillageGrant.village_code).scalar_subquery(),
    subject=CreditLine.subject_id,
    bank=_grant_of_line.with_only_columns(VillageGrant.bank_code).scalar_subquery())

#: The village a whole-village grant is previewed and made for (a grant that does not exist yet).
GRANT_VILLAGES = Resource("grant_village", Region, Region.code, label="village",
                          region=Region.code)
