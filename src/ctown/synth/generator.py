"""``ctown synth``: a deterministic synthetic county (模拟县) with the feeds of its 12 departments.

Same seed, same arguments → byte-identical files. Every random draw comes from a stream keyed by
(seed, purpose), so adding a department or a column does not shift the others.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ctown.catalogue.service import load_catalogue
from ctown.ingest.mapping import DepartmentMapping, load_mappings
from ctown.synth import depts_money, depts_people
from ctown.synth.consents import write_consents
from ctown.synth.context import World
from ctown.synth.county import build_county
from ctown.synth.defects import ACCEPTED, DUPLICATE, HELD, REJECTED, Plan, inject
from ctown.synth.economy import build_economy
from ctown.synth.entities import build_entities
from ctown.synth.population import build_people
from ctown.synth.risk import build_loans
from ctown.synth.writers import EXTENSIONS, write

DEFAULT_SNAPSHOT = dt.date(2026, 6, 30)  # fixed, so that a seed means the same county every day
Builder = Callable[[World], pl.DataFrame]
# Department → (builder, the department's own spelling of its record date).
DEPARTMENTS: dict[str, tuple[Builder, str]] = {
    "psb": (depts_people.psb, "iso"), "samr": (depts_money.samr, "iso"),
    "nres": (depts_people.nres, "iso"), "agri": (depts_people.agri, "slash"),
    "tax": (depts_money.tax, "iso"), "court": (depts_money.court, "zh"),
    "hrss": (depts_people.hrss, "ymd"), "civil": (depts_people.civil, "iso"),
    "util": (depts_people.util, "iso"), "bank": (depts_money.bank, "ymd"),
    "insur": (depts_money.insur, "iso"), "village": (depts_people.village, "zh"),
}
STEPS = 5 + len(DEPARTMENTS)
Progress = Callable[[str], None]


def build_world(households: int, seed: int, snapshot: dt.date) -> World:
    county = build_county(households, np.random.default_rng([seed, 100]))
    hh, people = build_people(np.random.default_rng([seed, 101]), county, households, snapshot)
    eco = build_economy(np.random.default_rng([seed, 102]), hh, people)
    eco = build_loans(np.random.default_rng([seed, 103]), eco)
    towns = {c: n for c, n, _e in county.townships}
    entities = build_entities(np.random.default_rng([seed, 104]), eco, county.name, towns,
                              county.region_part)
    return World(county, snapshot, eco, people, entities, seed)


def generate(households: int, seed: int, out: Path, snapshot: dt.date | None = None,
             defect_rate: float = 0.02, progress: Progress | None = None) -> dict[str, Any]:
    """Write the county to ``out``; returns the manifest (also written as manifest.json)."""
    if households < 10:
        raise ValueError("at least 10 households")
    if not 0 <= defect_rate <= 0.5:
        raise ValueError("defect rate must be between 0 and 0.5")
    snapshot = snapshot or DEFAULT_SNAPSHOT
    tick = progress or (lambda _step: None)
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(households, seed, snapshot)
    tick("county")
    _write_regions(world, out / "regions.csv")
    tick("regions")
    mappings = load_mappings()
    departments = {}
    spoiled: dict[str, set[str]] = {"resident_id": set(), "uscc": set(), "division_code": set()}
    for i, code in enumerate(DEPARTMENTS):  # psb and samr first: they create the subjects
        departments[code] = _department(world, mappings[code], i, out, defect_rate, spoiled)
        tick(code)
    consents = write_consents(world, out)
    tick("consents")
    _write_hidden(world, out / "_hidden")
    tick("_hidden")
    manifest = _manifest(world, households, seed, defect_rate, departments)
    manifest["consents"] = consents
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n",
                                       encoding="utf-8")
    tick("manifest")
    return manifest


def _department(world: World, mapping: DepartmentMapping, index: int, out: Path,
                defect_rate: float, spoiled: dict[str, set[str]]) -> dict[str, Any]:
    builder, date_style = DEPARTMENTS[mapping.code]
    frame = builder(world)
    missing = set(mapping.file_columns()) - set(frame.columns)
    if missing:
        raise RuntimeError(f"{mapping.code}: columns of the mapping not generated: {missing}")
    plan = Plan(mapping, load_catalogue(), date_style, frame)
    clean_ids = frame[plan.id_col]
    frame, defects, placed = inject(frame, plan, defect_rate,
                                    np.random.default_rng([world.seed, 200, index]))
    unresolved = _unresolved(clean_ids, placed, spoiled[mapping.identity.kind])
    if mapping.creates_subjects:
        # Rows refused here create no subject: other departments' rows about them cannot resolve.
        refused = np.concatenate([placed.get(k, np.array([], dtype=np.int64))
                                  for k in (*REJECTED, *HELD)])
        spoiled[mapping.identity.kind].update(clean_ids.gather(np.sort(refused)).to_list())
    folder = out / mapping.code
    folder.mkdir(parents=True, exist_ok=True)
    for stale in sorted(folder.glob(f"{mapping.code}_*")):
        stale.unlink()  # a rerun with other sizes must not leave files of the previous county
    towns = [t[0] for t in world.county.townships]
    files = []
    numeric = {c for c, m in mapping.columns.items() if m.parser in ("int", "decimal")}
    for part in frame.partition_by("_town", maintain_order=True):
        town = part["_town"][0]
        fmt = mapping.formats[towns.index(town) % len(mapping.formats)]
        name = f"{mapping.code}_{town[:9]}_{world.snapshot:%Y%m%d}.{EXTENSIONS[fmt]}"
        write(part, folder / name, fmt, numeric=numeric, id_col=plan.id_col,
              date_col=mapping.observed_on, batch_id=f"{mapping.code}-{town[:9]}-"
              f"{world.snapshot:%Y%m%d}", sheet=mapping.name_zh,
              created=dt.datetime.combine(world.snapshot, dt.time(8, 0)))
        files.append({"path": f"{mapping.code}/{name}", "format": fmt, "rows": part.height})
    return {"name_zh": mapping.name_zh, "rows": frame.height,
            "records": frame.height - defects.get("duplicate", 0), "files": files,
            "defects": defects,
            "expected": expected_outcome(defects, mapping.fallback is not None
                                         and not mapping.creates_subjects, frame.height,
                                         unresolved)}


def _unresolved(clean_ids: pl.Series, placed: dict[str, np.ndarray], spoiled: set[str]) -> int:
    """Rows whose subject another feed failed to create and that are not refused for a defect of
    their own (a re-sent copy counts as a duplicate; a merely reformatted ID still points there)."""
    if not spoiled:
        return 0
    refused = np.zeros(clean_ids.len(), dtype=bool)
    for kind in (*REJECTED, *HELD):
        refused[placed.get(kind, np.array([], dtype=np.int64))] = True
    hits = clean_ids.is_in(list(spoiled)).fill_null(False).to_numpy()
    return int((hits & ~refused).sum())


def expected_outcome(defects: dict[str, int], can_hold: bool, rows: int,
                     unresolved: int = 0) -> dict[str, int]:
    """What a correct loader reports for these rows.

    An unusable identifier is held for a person to confirm when the department also sends name,
    birth date and village (its ``fallback``) and the person can exist already (not in the feed
    that creates them); otherwise the row is quarantined. ``unresolved`` rows are well-formed but
    name a subject whose row in psb/samr was refused: quarantined or held, never accepted.
    """
    bad_id = sum(defects.get(k, 0) for k in ("bad_check_char", "excel_scientific",
                                             "excel_truncated", "no_id_fallback"))
    other = sum(defects.get(k, 0) for k in ("missing_required", "out_of_range", "unknown_code"))
    held = bad_id if can_hold else 0
    rejected = other + (0 if can_hold else bad_id)
    dup = defects.get("duplicate", 0)
    return {"accepted": rows - dup - rejected - held - unresolved, "rejected": rejected,
            "held": held, "duplicates": dup, "unresolved": unresolved}


def _write_regions(world: World, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, ["code", "name", "name_en", "level", "parent_code"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(world.county.rows())


def _write_hidden(world: World, folder: Path) -> None:
    """The generator's truth: never a department, skipped by ``ctown ingest DIR``."""
    folder.mkdir(parents=True, exist_ok=True)
    h = world.households
    h.select(household_no="household_no", resident_id="head_id",
             pd=pl.col("pd").round(6)).write_csv(folder / "risk.csv")
    h.filter(pl.col("borrower")).select(
        household_no="household_no", resident_id="head_id",
        defaulted=pl.col("defaulted").cast(pl.Int8)).write_csv(folder / "outcomes.csv")
    depts_money.hidden_loans(world).write_csv(folder / "loans.csv")


def _manifest(world: World, households: int, seed: int, defect_rate: float,
              departments: dict[str, Any]) -> dict[str, Any]:
    h = world.households
    return {
        "generator": "ctown.synth", "format_version": 1, "seed": seed,
        "snapshot": world.snapshot.isoformat(), "defect_rate": defect_rate,
        "county": {"code": world.county.code, "name": world.county.name},
        "sizes": {"households": households, "persons": world.people.height,
                  "entities": world.entities.height, "townships": len(world.county.townships),
                  "villages": len(world.county.villages),
                  "borrowers": int(h["borrower"].sum()),
                  "defaults_after_snapshot": int(h["defaulted"].sum())},
        "catalogue_version": load_catalogue().version,
        "defect_kinds": {"accepted": list(ACCEPTED), "rejected": list(REJECTED),
                         "held": list(HELD), "duplicate": list(DUPLICATE)},
        "departments": departments,
    }
