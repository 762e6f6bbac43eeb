"""Persona tests of the 三率 figures: which region's figures each persona reads, and who reads
none (403), as every persona of :mod:`tests.personas`, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests.factories import (
    COUNTY,
    TOWNSHIP,
    TOWNSHIP2,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
    build_county,
)
from tests.personas import ALL, Personas, build_personas

from ctown.catalogue.service import load_catalogue
from ctown.crypto import FieldCipher
from ctown.errors import Forbidden
from ctown.quality import service
from ctown.registry.identifiers import division_prefix

#: The villages whose figures each persona reads: officers and the assessor, by their region.
EVERY = {VILLAGE_A, VILLAGE_B, VILLAGE_C}
VILLAGES = {"admin": EVERY, "evaluator": EVERY, "township": {VILLAGE_A, VILLAGE_B},
            "township2": {VILLAGE_C}, "village": {VILLAGE_A}, "village2": {VILLAGE_B}}
REGION = {"admin": COUNTY, "evaluator": COUNTY, "township": TOWNSHIP, "township2": TOWNSHIP2,
          "village": VILLAGE_A, "village2": VILLAGE_B}


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    return build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))


class TestQuality:
    @pytest.mark.parametrize("name", ALL)
    def test_figures(self, session: Session, people: Personas, name: str) -> None:
        actor = people[name]
        if name not in VILLAGES:
            for read in (lambda: service.figures_prefix(actor),
                         lambda: service.kpi_for(session, actor, load_catalogue())):
                with pytest.raises(Forbidden):
                    read()
            return
        assert service.figures_prefix(actor) == division_prefix(REGION[name])
        report = service.kpi_for(session, actor, load_catalogue(), months=99)
        assert {v.code for v in report.villages} == VILLAGES[name]
        assert report.months == service.MAX_MONTHS

    def test_the_county_job_reads_every_region(self, session: Session,
                                               people: Personas) -> None:
        assert service.figures_prefix(None) == ""
        report = service.kpi_for(session, None, load_catalogue(), months=0)
        assert {v.code for v in report.villages} == VILLAGES["admin"] and report.months == 1
