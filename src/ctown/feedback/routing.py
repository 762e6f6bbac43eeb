"""Who answers an item of feedback (反馈分派): the routing rules as data (``data/routing.yaml``).

Read and validated by a Pydantic model, cached by the file's stamp (a changed file is read at the
next call). A county replaces it with ``feedback_routing.yaml`` in its configuration folder
(:mod:`ctown.configdir`: two-person change, ``ctown config check`` runs :func:`check`). The
deadline (48 hours of clock time, not working days: §7.4) and the escalation ladder are in the
same file, so there is one rule of each, here.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ctown import configdir
from ctown.accounts.roles import Role
from ctown.catalogue.configfile import ConfigFileError, read_yaml, validate_all
from ctown.errors import Invalid
from ctown.i18n import Message, _

if TYPE_CHECKING:
    from ctown.config.checks import View

PACKAGED = Path(__file__).resolve().parent / "data" / "routing.yaml"
Level = Literal["village", "township", "county"]
LEVELS: tuple[Level, ...] = ("village", "township", "county")
#: The officer roles that may hold an item (they reach it by its region: ctown.access.policy).
OFFICER_ROLES = (Role.village_officer, Role.township_officer, Role.county_admin)


class Step(BaseModel):
    """Where an item sits: the level of the household's region, and the role there."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    level: Level
    role: Role

    @model_validator(mode="after")
    def _officer(self) -> Step:
        if self.role not in OFFICER_ROLES:
            raise ValueError(f"role {self.role} does not answer feedback: one of "
                             f"{', '.join(OFFICER_ROLES)}")
        return self


class Rule(Step):
    kind: Literal["feedback", "complaint"]
    channel: Literal["page", "sms", "voice", "officer"] | None = None


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    deadline_hours: int = Field(gt=0, le=24 * 30)
    escalate_every_hours: int = Field(gt=0, le=24 * 30)
    rules: tuple[Rule, ...] = Field(min_length=1)
    escalation: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> Routing:
        for kind in ("feedback", "complaint"):
            if not any(r.kind == kind and r.channel is None for r in self.rules):
                raise ValueError(f"no rule for every channel of kind {kind!r}")
        levels = [LEVELS.index(s.level) for s in self.escalation]
        if levels != sorted(set(levels)):
            raise ValueError("escalation steps must go up: village, township, county")
        return self

    @property
    def deadline(self) -> dt.timedelta:
        return dt.timedelta(hours=self.deadline_hours)

    @property
    def escalate_every(self) -> dt.timedelta:
        return dt.timedelta(hours=self.escalate_every_hours)

    def route(self, kind: str, channel: str) -> Step:
        """The first rule of the kind for this channel, else for every channel."""
        for rule in self.rules:
            if rule.kind == kind and rule.channel in (channel, None):
                return Step(level=rule.level, role=rule.role)
        raise AssertionError("unreachable: every kind has a rule for every channel")

    def next_step(self, level: str) -> Step | None:
        """The first escalation step above ``level`` (None: the item is at the top)."""
        here = LEVELS.index(level)
        return next((s for s in self.escalation if LEVELS.index(s.level) > here), None)


KIND = "feedback_routing"


def path() -> Path:
    """The routing file in effect: the county's folder's ``feedback_routing.yaml`` if it has one
    (:mod:`ctown.configdir`, checked by ``ctown config check``), else the packaged file."""
    return configdir.file(KIND)


def check(view: View) -> list[ConfigFileError]:
    """``ctown config check``: the routing file of a merged set, with the line of each problem."""
    problems: list[ConfigFileError] = []
    for file in view.of(KIND).values():
        try:
            data, marks, _raw = read_yaml(file)
        except ConfigFileError as exc:
            problems.append(exc)
            continue
        _value, invalid = validate_all(Routing, data, file, marks)
        problems += invalid
    return problems


def load(file: Path | None = None) -> Routing:
    """The routing rules (validated; an unreadable file is refused with its reason)."""
    file = file or path()
    return _load(configdir.stamp([file]), file)


@lru_cache(maxsize=4)
def _load(_stamp: configdir.Stamp, file: Path) -> Routing:
    return parse(file.read_text(encoding="utf-8"), str(file))


def parse(text: str, name: str = "routing.yaml") -> Routing:
    try:
        return Routing.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise Invalid(Message(_("反馈分派规则 {name} 有误：{reason}"),
                              {"name": name, "reason": str(exc)[:500]})) from None
