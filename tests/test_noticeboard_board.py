"""The village notice board (信用公示栏, #13 item 7) on SQLite and PostgreSQL: the A3 PDF read back
(Chinese text, masking, nobody named without consent, no ID or score, embedded font subsets),
consent given and withdrawn changing the next edition and the public board, editions on the
ledger, and who may build and consent (personas)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_C, build_county
from tests.personas import Personas, attempt, build_personas, expect

from ctown.crypto import FieldCipher
from ctown.errors import NotFound
from ctown.noticeboard import service
from ctown.noticeboard.font import FONT_PATH
from ctown.noticeboard.models import NoticeEdition, PublicationConsent
from ctown.privacy.models import AuditEvent
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

pypdf = pytest.importorskip("pypdf")
needs_font = pytest.mark.skipif(
    not FONT_PATH.is_file(), reason=f"Noto CJK font {FONT_PATH} not installed: `make browser` "
    "installs fonts-noto-cjk")

#: Scores no board may show (distinct numbers, looked for as whole words in the text).
SCORES = {"A1": 781, "B2": 633, "C1": 607}


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    return build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))


def households(session: Session, village: str) -> list[Subject]:
    return list(session.scalars(sa.select(Subject).where(
        Subject.kind == "household", Subject.region_code == village).order_by(Subject.id)))


@pytest.fixture
def village_a(session: Session, people: Personas) -> dict[str, Subject]:
    """Village A's three households, renamed, graded; home and neighbour consent, the third not."""
    home, neighbour, third = households(session, VILLAGE_A)
    for subject, name, grade in ((home, "张建华", "A1"), (neighbour, "王小明", "B2"),
                                 (third, "赵大海", "C1")):
        subject.name = name
        session.add(GradeRecord(subject_id=subject.id, score=SCORES[grade], grade=grade,
                                pd=0.0123, model_version="test", is_current=True))
    session.flush()
    service.give_consent(session, people["farmer"])
    service.give_consent(session, people["village"], neighbour.id, form_no="GS-0002")
    return {"home": home, "neighbour": neighbour, "third": third}


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


@needs_font
def test_the_pdf_reads_back_masked_and_consented_only(session: Session, people: Personas,
                                                       village_a: dict[str, Subject],
                                                       tmp_path: Path) -> None:
    edition = service.build_edition(session, people["village"], VILLAGE_A)
    text = text_of(edition.pdf)
    assert "信用公示栏" in text and "五四村" in text and "武康镇" in text
    assert "张*华" in text and "王*明" in text          # consented, masked
    assert "赵*海" not in text and "赵大海" not in text  # no consent: not named at all
    assert "张建华" not in text and "王小明" not in text  # never a clear name
    assert re.search(r"张\*华\s*A1", text) and re.search(r"王\*明\s*B2", text)
    assert "异议期" in text and edition.objection_until.isoformat() in text
    for score in SCORES.values():  # no score anywhere
        assert not re.search(rf"\b{score}\b", text)
    assert "0.0123" not in text
    household_nos = [s.household_no for s in village_a.values()]
    assert not any(n and n in text for n in household_nos)
    assert not re.search(r"\d{17}[\dX]", text)  # no resident ID
    assert edition.content_sha256 in text  # the footer's digest, on the ledger
    assert edition.named == 2 and edition.households == 3


@needs_font
def test_the_pdf_is_a3_with_embedded_font_subsets(session: Session, people: Personas,
                                                  village_a: dict[str, Subject]) -> None:
    data = service.build_edition(session, None, VILLAGE_A).pdf
    reader = pypdf.PdfReader(io.BytesIO(data))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 1191)
    fonts = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    assert fonts
    for f in fonts:
        assert re.fullmatch(r"/[A-Z]{6}\+\w+", f["/BaseFont"]), f["/BaseFont"]  # a subset
        descriptor = f["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor  # embedded
    assert len(data) < 200_000


@needs_font
def test_consent_withdrawn_and_given_changes_the_next_edition(
        session: Session, people: Personas, village_a: dict[str, Subject]) -> None:
    first = service.build_edition(session, None, VILLAGE_A)
    assert "张*华" in text_of(first.pdf)
    service.withdraw_consent(session, people["farmer"])
    board = service.public_board(session, VILLAGE_A)
    assert [p["name"] for p in board.named] == ["王*明"]  # the page stops at once
    assert board.pdf_available is False  # the old PDF names someone who withdrew
    assert service.villages_due(session, codes=[VILLAGE_A]) == [VILLAGE_A]
    second = service.build_edition(session, None, VILLAGE_A)
    assert "张*华" not in text_of(second.pdf) and "王*明" in text_of(second.pdf)
    assert service.public_board(session, VILLAGE_A).pdf_available is True
    service.give_consent(session, people["proxy"], village_a["home"].id)  # proxy: scope consent
    third = service.build_edition(session, None, VILLAGE_A)
    assert "张*华" in text_of(third.pdf)
    actions = list(session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.action.startswith("publication_consent")).order_by(AuditEvent.id)))
    assert actions == ["publication_consent.grant", "publication_consent.grant",
                       "publication_consent.revoke", "publication_consent.grant"]
    history = session.scalars(sa.select(PublicationConsent).where(
        PublicationConsent.subject_id == village_a["home"].id)).all()
    assert len(history) == 2 and history[0].revoked_at is not None


@needs_font
def test_editions_go_on_the_ledger(session: Session, people: Personas,
                                   village_a: dict[str, Subject], tmp_path: Path) -> None:
    from ctown.ledger import integrity, tasks
    from ctown.ledger import service as ledger
    from ctown.settings import get_settings

    edition = service.build_edition(session, people["township"], VILLAGE_A)
    tasks.append_all(session, get_settings(var_dir=tmp_path))
    assert ledger.find_leaf(session, "notice_edition", edition.id) >= 0
    assert integrity.verify_log(session).ok
    # The kept bytes are what the ledger's digest names: a board on a wall can be checked.
    assert service.digest(edition.pdf) == edition.pdf_sha256


def test_a_village_officer_needs_the_signed_form(session: Session, people: Personas,
                                                 village_a: dict[str, Subject]) -> None:
    from ctown.errors import Invalid

    with pytest.raises(Invalid):
        service.give_consent(session, people["village"], village_a["third"].id)


def test_an_unknown_village_is_named_in_both_languages(session: Session,
                                                       people: Personas) -> None:
    with pytest.raises(NotFound) as caught:
        service.public_board(session, "999999999999")
    assert "999999999999" in str(caught.value) and "没有" in str(caught.value)
    assert "There is no village" in str(caught.value)
    with pytest.raises(NotFound):
        service.build_edition(session, None, "330521100000")  # a township, not a village


# -- personas --------------------------------------------------------------------------------------
BUILDERS_A = {"admin", "township", "village"}
NOT_BUILDERS = {"group", "bank", "other_bank", "insurer", "merchant", "proxy", "proxy_expired",
                "proxy_revoked", "proxy_unconfirmed", "farmer", "farmer2", "feed", "evaluator",
                "privacy"}


class TestBuildPersonas:
    def test_build(self, session: Session, people: Personas) -> None:
        # The PDF itself is not the point here: stop before drawing (the village check comes
        # first), so the persona table runs without the font.
        def try_(name: str) -> str:
            return attempt(session, lambda: service.village_to_build(session, people[name],
                                                                     VILLAGE_A))

        got = {n: try_(n) for n in expect(set())}
        assert got == expect(BUILDERS_A, NOT_BUILDERS)

    def test_edition_list_and_file(self, session: Session, people: Personas) -> None:
        edition = NoticeEdition(village_code=VILLAGE_A, period="2026-12", households=3, named=0,
                                objection_until=sa.func.current_date(), content_sha256="0" * 64,
                                pdf_sha256="0" * 64, pdf_bytes=4, content={}, named_ids=[],
                                pdf=b"%PDF")
        session.add(edition)
        session.flush()
        got = {n: attempt(session, lambda n=n: service.edition_for(session, people[n], edition.id))
               for n in expect(set())}
        assert got == expect(BUILDERS_A)


class TestConsentPersonas:
    def test_give(self, session: Session, people: Personas) -> None:
        # Village officers give it with the signed form; the household, its proxy with a mandate
        # of scope "consent" in force.
        def try_(name: str) -> str:
            return attempt(session, lambda: service.give_consent(
                session, people[name], people.home, form_no="GS-1"))

        got = {n: try_(n) for n in expect(set())}
        assert got == expect({"village", "farmer", "proxy"},
                             {"admin", "township", "township2", "group", "bank", "other_bank",
                              "insurer", "merchant", "feed", "evaluator", "privacy"})

    def test_view(self, session: Session, people: Personas) -> None:
        got = {n: attempt(session, lambda n=n: service.consent_page(session, people[n],
                                                                      people.home))
               for n in expect(set())}
        assert got == expect({"admin", "township", "village", "farmer", "proxy"},
                             {"group", "bank", "other_bank", "insurer", "merchant", "feed",
                              "evaluator", "privacy"})

    def test_far_household_is_not_found_for_the_village_officer(
            self, session: Session, people: Personas) -> None:
        assert attempt(session, lambda: service.give_consent(
            session, people["village"], people.far, form_no="GS-9")) == "404"
        _ = VILLAGE_C


@needs_font
def test_demo_builder_on_the_test_county(session: Session, people: Personas,
                                         village_a: dict[str, Subject], tmp_path: Path) -> None:
    from ctown.capabilities import DemoContext
    from ctown.noticeboard import demo, status
    from ctown.settings import get_settings

    users = [people[n] for n in ("admin", "village", "village2", "farmer")]
    ctx = DemoContext.of(get_settings(var_dir=tmp_path), tmp_path, users,
                         cipher=FieldCipher.load(tmp_path / "k.json"))
    demo.build(session, ctx)
    counts = status.counts(session)
    assert counts["noticeboard.editions"] == counts["noticeboard.villages"] == 3
    assert counts["noticeboard.consents.withdrawn"] == 1  # the demo's withdrawn consent
    demo.build(session, ctx)  # idempotent
    assert status.counts(session) == counts
    board = service.public_board(session, VILLAGE_A)
    assert board.edition is not None and board.named and board.pdf_available


def test_a_missing_font_is_one_clear_bilingual_error(tmp_path: Path) -> None:
    from ctown.noticeboard import font

    with pytest.raises(font.FontMissing) as caught:
        font.source_font(tmp_path / "NotoSansCJK-Regular.ttc")
    assert "fonts-noto-cjk" in str(caught.value) and "install" in str(caught.value)


@needs_font
def test_the_public_board_and_the_due_list_take_fixed_queries(
        session: Session, people: Personas, village_a: dict[str, Subject]) -> None:
    from sqlalchemy import event

    def statements(fn: object) -> int:
        assert callable(fn)
        seen: list[str] = []
        bind = session.get_bind()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            fn()
        finally:
            event.remove(bind, "before_cursor_execute", listener)
        return len(seen)

    assert service.villages_due(session) == sorted(service.all_villages(session))
    service.build_edition(session, None, VILLAGE_A)
    assert VILLAGE_A not in service.villages_due(session)
    few = statements(lambda: service.public_board(session, VILLAGE_A))
    due = statements(lambda: service.villages_due(session))
    service.give_consent(session, people["village"], village_a["third"].id, form_no="GS-3")
    service.build_edition(session, None, VILLAGE_A)
    assert statements(lambda: service.public_board(session, VILLAGE_A)) == few
    assert statements(lambda: service.villages_due(session)) == due == 3
