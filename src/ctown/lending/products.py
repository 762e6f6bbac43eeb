"""Loan products (信贷产品) defined by banks as data files, validated on load.

Each file in ``data/products/*.yaml`` is one product of one bank: what kind it is (pure credit
信用贷, credit + collateral 信用+抵押, supply chain 供应链, credit + insurance 信用+保险), its base
rate, terms, eligibility rules and a table of price and limit per grade (五级十档). A county
engineer or bank edits these files; a typo is reported with the file, line and field
(``ctown.catalogue.configfile``), never as a traceback.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ctown import configdir
from ctown.catalogue.configfile import ConfigFileError, read_yaml, validate_all
from ctown.i18n import Message, _

#: The packaged products (a county's folder may replace or add some: :mod:`ctown.configdir`).
PRODUCTS_DIR = Path(__file__).parent / "data" / "products"
GRADES = ("A1", "A2", "B1", "B2", "C1", "C2", "D1", "D2", "E1", "E2")
MAX_TERM_MONTHS = 36
Kind = Literal["pure_credit", "collateral", "supply_chain", "insurance"]
Method = Literal["equal_instalment", "interest_first"]
SubjectKind = Literal["household", "entity"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GradeTerms(_Strict):
    """Price and limit for one grade: rate = base rate × (1 + rate_adjust_pct / 100)."""

    rate_adjust_pct: Decimal = Field(ge=-50, le=100)
    limit_household: Decimal = Field(ge=0, le=500_000)
    limit_entity: Decimal = Field(ge=0, le=500_000)
    guarantor_required: bool = False
    #: Share of the collateral value lent (0.40 → 0.60 for good credit).
    collateral_rate: Decimal | None = Field(default=None, gt=0, le=1)


class Eligibility(_Strict):
    subject_kinds: list[SubjectKind] = ["household", "entity"]
    #: A subject on the joint punishment list (失信被执行人) is refused.
    exclude_punished: bool = True
    age_min: int = Field(default=18, ge=16, le=100)
    age_max: int = Field(default=65, ge=16, le=100)
    #: Division-code prefixes where the product is offered; empty = everywhere.
    regions: list[str] = []


class SimpleCase(_Strict):
    """Applications the system pre-approves at once (still walked through the four steps)."""

    grades: list[str]
    max_amount: Decimal = Field(gt=0)


class CollateralType(_Strict):
    name_zh: str
    name_en: str


class Collateral(_Strict):
    types: dict[str, CollateralType]


class CoreEnterprise(_Strict):
    credit_code: str = Field(min_length=18, max_length=18)
    name: str
    #: Share of the upstream farmer's purchase contract that may be lent.
    advance_rate: Decimal = Field(gt=0, le=1)


class Insurance(_Strict):
    insurer_code: str
    insurer_name: str
    premium_rate_pct: Decimal = Field(ge=0, le=10)
    covers: list[str] = ["force_majeure"]


class Product(_Strict):
    code: str = Field(pattern=r"^[a-z0-9_]{2,40}$")
    version: int = Field(ge=1)
    bank_code: str
    bank_name: str
    name_zh: str
    name_en: str
    kind: Kind
    base_rate_pct: Decimal = Field(gt=0, le=24)
    terms_months: list[int]
    methods: list[Method]
    eligibility: Eligibility = Eligibility()
    simple_case: SimpleCase | None = None
    grades: dict[str, GradeTerms]
    collateral: Collateral | None = None
    core_enterprise: CoreEnterprise | None = None
    insurance: Insurance | None = None

    @field_validator("grades")
    @classmethod
    def _known_grades(cls, value: dict[str, GradeTerms]) -> dict[str, GradeTerms]:
        bad = [g for g in value if g not in GRADES]
        if bad:
            raise ValueError(f"unknown grade(s) {bad}; use {', '.join(GRADES)}")
        return value

    @field_validator("terms_months")
    @classmethod
    def _terms(cls, value: list[int]) -> list[int]:
        if not value or any(t < 1 or t > MAX_TERM_MONTHS for t in value):
            raise ValueError(f"terms_months must be 1..{MAX_TERM_MONTHS}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        needed = {"collateral": self.collateral, "supply_chain": self.core_enterprise,
                  "insurance": self.insurance}
        if self.kind in needed and needed[self.kind] is None:
            raise ValueError(f"a {self.kind} product needs its '{_SECTION[self.kind]}' section")
        if self.kind == "collateral" and any(t.collateral_rate is None
                                             for t in self.grades.values()):
            raise ValueError("every grade of a collateral product needs collateral_rate")
        if self.simple_case and any(g not in self.grades for g in self.simple_case.grades):
            raise ValueError("simple_case.grades must be grades the product lends to")
        return self

    def terms_for(self, grade: str | None) -> GradeTerms | None:
        return self.grades.get(grade) if grade else None

    def rate_for(self, terms: GradeTerms) -> Decimal:
        """Annual rate in percent, to the basis point (0.01%)."""
        rate = self.base_rate_pct * (1 + terms.rate_adjust_pct / Decimal(100))
        return rate.quantize(Decimal("0.01"))


_SECTION = {"collateral": "collateral", "supply_chain": "core_enterprise",
            "insurance": "insurance"}


def load_product(path: Path) -> Product:
    product, problems = check_product(path)
    if product is None:
        raise problems[0]
    return product


def check_product(path: Path) -> tuple[Product | None, list[ConfigFileError]]:
    """The product of a file, or None and every problem Pydantic found (``ctown config check``)."""
    try:
        data, marks, _raw = read_yaml(path)
    except ConfigFileError as exc:
        return None, [exc]
    return validate_all(Product, data, path, marks)


def load_products(directory: Path | None = None) -> dict[str, Product]:
    """Every product by code: of ``directory``, or by default the products in effect
    (:mod:`ctown.configdir`: the packaged files, replaced or added to by the county's folder).
    Cached by the files' stamps: each instant decision reads it, and a newly approved product
    is read at the next call."""
    if directory is not None:
        paths = tuple(sorted(Path(directory).glob("*.yaml")))
        return _load_paths(configdir.stamp(paths), paths)
    paths = tuple(configdir.files("products").values())
    return _load_paths(configdir.stamp(paths), paths)


@lru_cache(maxsize=4)
def _load_paths(_key: configdir.Stamp, paths: tuple[Path, ...]
                ) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for path in paths:
        product = load_product(path)
        if product.code in products:
            raise ConfigFileError(path, 1, "code", Message(_("产品代码重复：{code}"),
                                                          {"code": product.code}))
        products[product.code] = product
    return products


def get_product(code: str, directory: Path | None = None) -> Product | None:
    return load_products(directory).get(code)
