"""The notice board's build time (信用公示栏, #13 item 7): one village's edition — font load
measured apart from layout — against a baseline in the same run, the same edition without the list
of named households (the part that grows with consents).

    .venv/bin/python benchmarks/noticeboard.py [--households 600] [--consenting 200] [--runs 5]

Steps: ``font`` loads Noto Sans CJK SC's face (once per process in ctown); ``figures`` the
village's numbers from the database (SQLite in a temporary folder); ``pdf`` lays out and draws
the A3 edition (subset font built from the characters used, fpdf2 output); ``baseline`` the same
without names. Medians of ``--runs``; last line: one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.factories import REGIONS, VILLAGE_A, people_frame  # noqa: E402

from ctown.crypto import FieldCipher  # noqa: E402
from ctown.db import make_engine, session_factory  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402
from ctown.noticeboard import font, pdf, service  # noqa: E402
from ctown.noticeboard.models import PublicationConsent  # noqa: E402
from ctown.registry.models import Subject  # noqa: E402
from ctown.registry.tasks import load_regions, upsert_people  # noqa: E402
from ctown.scoring.grades import GRADES  # noqa: E402
from ctown.scoring.models import GradeRecord  # noqa: E402

SURNAMES, GIVEN = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "建国华明丽芳军强伟敏静秀英海燕红霞平刚桂"


def county(session: sa.orm.Session, tmp: Path, households: int, consenting: int) -> None:
    load_regions(session, REGIONS, source="bench")
    upsert_people(session, FieldCipher.load(tmp / "keys.json"), people_frame(households, VILLAGE_A),
                  actor=None, source="bench")
    ids = list(session.scalars(sa.select(Subject.id).where(
        Subject.kind == "household", Subject.region_code == VILLAGE_A).order_by(Subject.id)))
    for i, sid in enumerate(ids):
        session.execute(sa.update(Subject).where(Subject.id == sid).values(
            name=SURNAMES[i % 20] + GIVEN[(i // 20) % 20] + GIVEN[(i * 7) % 20]))
    session.add_all(GradeRecord(subject_id=sid, score=600, grade=GRADES[i % 10], pd=0.05,
                                model_version="bench", is_current=True)
                    for i, sid in enumerate(ids))
    session.add_all(PublicationConsent(subject_id=sid) for sid in ids[:consenting])
    session.flush()


def median_ms(fn: object, runs: int) -> float:
    assert callable(fn)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=600)
    parser.add_argument("--consenting", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
        upgrade(engine)
        with session_factory(engine).begin() as session:
            county(session, tmp, args.households, args.consenting)

            def load() -> None:
                font.source_font.cache_clear()
                font.source_font()

            font_ms = median_ms(load, max(args.runs // 2, 1))
            source = font.source_font()
            region = service.village(session, VILLAGE_A)
            at = dt.datetime.now(dt.UTC)
            figures = service.CountyFigures.compute(session, VILLAGE_A)
            figures_ms = median_ms(lambda: service.content(session, region, at, figures), args.runs)
            body, named = service.content(session, region, at, figures)
            bare = {**body, "named": []}
            sha = service.digest(service.canonical(body))
            full = pdf.render(body, built_at=at, content_sha256=sha, source=source)
            base = pdf.render(bare, built_at=at, content_sha256=sha, source=source)
            pdf_ms = median_ms(lambda: pdf.render(body, built_at=at, content_sha256=sha,
                                                  source=source), args.runs)
            base_ms = median_ms(lambda: pdf.render(bare, built_at=at, content_sha256=sha,
                                                   source=source), args.runs)
        engine.dispose()
    result = {"households": args.households, "named": len(named), "runs": args.runs,
              "font_load_ms": font_ms, "figures_ms": figures_ms, "pdf_ms": pdf_ms,
              "baseline_pdf_ms": base_ms, "ratio_pdf_vs_baseline": round(pdf_ms / base_ms, 2),
              "pdf_bytes": len(full), "baseline_bytes": len(base),
              "pages": full.count(b"/Type /Page\n") or None}
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
