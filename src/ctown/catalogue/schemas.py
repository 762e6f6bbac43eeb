"""The indicator catalogue (农村信用信息采集规范) as Pydantic models.

A county edits ``data/catalogue.yaml``; :func:`ctown.catalogue.service.load_catalogue` validates it
with these models. ``CatalogueFile`` is the file's shape (indicators as a list, in reading order);
``Catalogue`` is what the rest of ctown uses (indicators keyed by code).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IndicatorType = Literal["integer", "decimal", "boolean", "date", "code", "text"]
Sensitivity = Literal["public", "internal", "sensitive", "core"]
Frequency = Literal["monthly", "quarterly", "yearly", "event"]
SubjectKind = Literal["household", "person", "entity", "collective"]
DEPARTMENTS = ("psb", "nres", "agri", "samr", "tax", "court", "hrss", "civil", "util", "bank",
               "insur", "village")
Department = Literal["psb", "nres", "agri", "samr", "tax", "court", "hrss", "civil", "util",
                     "bank", "insur", "village"]
_CODE = re.compile(r"^I\d{4}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeLabel(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Category(_Strict):
    code: str = Field(pattern=r"^C\d{2}$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)


class Indicator(_Strict):
    code: str
    category: str = Field(pattern=r"^C\d{2}$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    type: IndicatorType
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    codes: dict[str, CodeLabel] = Field(default_factory=dict)
    source: Department
    sensitivity: Sensitivity
    frequency: Frequency
    consent_required: bool = False
    applies_to: list[SubjectKind] = Field(min_length=1)
    required: bool = False
    negative: bool = False
    description: str | None = None

    @field_validator("code")
    @classmethod
    def _code_shape(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError("indicator code must look like I0301 (I, category, 2 digits)")
        return value

    @field_validator("codes", mode="before")
    @classmethod
    def _code_keys_as_text(cls, value: object) -> object:
        # YAML reads an unquoted 01 or 1 as a number; code tables are keyed by text.
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _consistent(self) -> Indicator:
        if self.code[1:3] != self.category[1:3]:
            raise ValueError(f"code {self.code} does not belong to category {self.category}")
        if self.type == "code" and not self.codes:
            raise ValueError("an indicator of type code needs a code table (codes)")
        if self.type != "code" and self.codes:
            raise ValueError("only indicators of type code have a code table")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is larger than max")
        if (self.min is not None or self.max is not None) and self.type not in ("integer",
                                                                                "decimal"):
            raise ValueError("min/max apply only to integer and decimal indicators")
        return self


class CatalogueFile(_Strict):
    """The file as a county writes it."""

    version: int = Field(ge=1)
    title_zh: str = "农村信用信息采集规范"
    title_en: str = "Rural credit information collection standard"
    forbidden: list[str] = Field(default_factory=list)
    categories: list[Category] = Field(min_length=1)
    indicators: list[Indicator] = Field(min_length=1)


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: int
    title_zh: str = "农村信用信息采集规范"
    title_en: str = "Rural credit information collection standard"
    categories: list[Category]
    indicators: dict[str, Indicator]
    forbidden: list[str]
    #: SHA-256 of the file's bytes: the same version number must always mean the same content.
    sha256: str = ""
    source: str = ""

    def get(self, code: str) -> Indicator:
        try:
            return self.indicators[code]
        except KeyError:
            raise KeyError(f"unknown indicator {code!r} (catalogue v{self.version})") from None

    def for_kind(self, kind: str) -> list[Indicator]:
        return [ind for ind in self.indicators.values() if kind in ind.applies_to]

    def in_category(self, category: str) -> list[Indicator]:
        return [ind for ind in self.indicators.values() if ind.category == category]

    def category(self, code: str) -> Category:
        return next(c for c in self.categories if c.code == code)
