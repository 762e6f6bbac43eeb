"""Ledger benchmark: append N leaves, 10,000 inclusion and 10,000 consistency proofs, side by side
with pymerkle (InmemoryTree and SqliteTree), on memory, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/ledger.py                 # 1,000,000 leaves
    .venv/bin/python benchmarks/ledger.py --leaves 100000 # smaller
    CTOWN_BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/ledger.py

Ratios are pymerkle time / ctown time (above 1 = ctown faster). PostgreSQL is compared with
pymerkle's SqliteTree, its only persistent backend. Every ctown proof is checked against the
RFC 9162 verifier and the roots are checked against pymerkle's. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pymerkle import InmemoryTree, SqliteTree
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ctown.db import make_engine
from ctown.ledger import merkle, service
from ctown.migrate import upgrade
from ctown.settings import get_settings


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of ``fn`` with the cyclic GC paused (as ``timeit`` does), for both libraries:
    otherwise a full collection over the other tree's million objects lands in someone's figure."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        result = fn()
        return time.perf_counter() - start, result
    finally:
        gc.enable()


def entries(n: int) -> list[bytes]:
    return [b"ctown-ledger-bench-%d" % i for i in range(n)]


def challenges(n: int, count: int, seed: int = 7) -> tuple[list[int], list[int]]:
    rnd = random.Random(seed)
    return ([rnd.randrange(n) for _ in range(count)], [rnd.randrange(1, n) for _ in range(count)])


# -- ctown ---------------------------------------------------------------------------------------
def ctown_memory(data: list[bytes], incl: list[int], cons: list[int]) -> dict[str, Any]:
    n, tree = len(data), merkle.MemoryTree()
    t_append, _ = timed(lambda: [tree.extend(data[i:i + 50_000]) for i in range(0, n, 50_000)])
    t_incl, proofs = timed(lambda: [tree.inclusion_proof(i, n) for i in incl])
    t_cons, cproofs = timed(lambda: [tree.consistency_proof(m, n) for m in cons])
    check(tree, data, incl, cons, proofs, cproofs)
    return {"append_s": t_append, "inclusion_s": t_incl, "consistency_s": t_cons,
            "root": tree.root().hex()}


def ctown_database(url: str, data: list[bytes], incl: list[int], cons: list[int],
                   batch: int) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    settings = get_settings(var_dir=Path(tempfile.mkdtemp(prefix="ledger-bench-")))
    hasher, n = merkle.SHA256, len(data)
    with Session(engine) as session, session.begin():  # like pymerkle's table creation: untimed
        service.open_log(session, settings)

    def append_all() -> None:
        for start in range(0, n, batch):
            chunk = data[start:start + batch]
            hashes = hasher.leaves(chunk)
            leaves = list(zip(["bench"] * len(chunk), range(start, start + len(chunk)), hashes,
                              strict=True))
            with Session(engine) as session, session.begin():
                service.append(session, settings, leaves)

    t_append, _ = timed(append_all)
    with Session(engine) as session:
        log = service.require_log(session)
        tree = service.tree(session, log)
        t_incl, proofs = timed(lambda: [merkle.inclusion_proof(tree, i, n) for i in incl])
        t_cons, cproofs = timed(lambda: [merkle.consistency_proof(tree, m, n) for m in cons])
        check(tree, data, incl, cons, proofs, cproofs)
        root = merkle.root(tree, n).hex()
    engine.dispose()
    return {"append_s": t_append, "inclusion_s": t_incl, "consistency_s": t_cons, "root": root}


def check(tree: merkle.NodeStore, data: list[bytes], incl: list[int], cons: list[int],
          proofs: list[list[bytes]], cproofs: list[list[bytes]]) -> None:
    """Every 97th proof goes through the RFC 9162 verification algorithms."""
    n, h = len(data), merkle.SHA256
    root = merkle.root(tree, n)
    for i, proof in list(zip(incl, proofs, strict=True))[::97]:
        assert merkle.verify_inclusion(h, i, n, h.leaf(data[i]), proof, root), i
    for m, proof in list(zip(cons, cproofs, strict=True))[::97]:
        assert merkle.verify_consistency(h, m, n, proof, merkle.root(tree, m), root), m


# -- pymerkle ------------------------------------------------------------------------------------
def pymerkle_run(tree: Any, data: list[bytes], incl: list[int], cons: list[int]) -> dict[str, Any]:
    n = len(data)
    t_append, _ = timed(lambda: tree.append_entries(data))
    t_incl, _ = timed(lambda: [tree.prove_inclusion(i + 1, n) for i in incl])
    t_cons, _ = timed(lambda: [tree.prove_consistency(m, n) for m in cons])
    return {"append_s": t_append, "inclusion_s": t_incl, "consistency_s": t_cons,
            "root": tree.get_root(n).hex()}


# -- PostgreSQL scratch database -----------------------------------------------------------------
def pg_admin_url() -> str | None:
    url = os.environ.get("CTOWN_BENCH_PG_URL") or os.environ.get("CTOWN_TEST_DATABASE_URL")
    return None if not url else "postgresql+psycopg://" + url.split("://", 1)[1]


def pg_database(admin: str, name: str, create: bool) -> str:
    eng = make_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        if create:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()
    return str(sa.engine.make_url(admin).set(database=name).render_as_string(False))


# -- report --------------------------------------------------------------------------------------
FIGURES = ("append_s", "inclusion_s", "consistency_s")


def compare(label: str, ours: dict[str, Any], theirs: dict[str, Any], base: str) -> dict[str, Any]:
    if ours["root"] != theirs["root"]:
        raise SystemExit(f"{label}: root differs from pymerkle's ({ours['root']} vs "
                         f"{theirs['root']})")
    out: dict[str, Any] = {"baseline": base}
    for fig in FIGURES:
        ratio = theirs[fig] / ours[fig] if ours[fig] else float("inf")
        out[fig] = round(ours[fig], 3)
        out["pymerkle_" + fig] = round(theirs[fig], 3)
        out["ratio_" + fig.removesuffix("_s")] = round(ratio, 2)
        print(f"  {label:<11} {fig:<14} ctown {ours[fig]:8.3f} s   pymerkle ({base}) "
              f"{theirs[fig]:8.3f} s   ratio {ratio:6.2f}x", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50_000, help="leaves per append transaction")
    args = parser.parse_args()
    data = entries(args.leaves)
    incl, cons = challenges(args.leaves, args.proofs)
    tmp = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    print(f"ledger benchmark: {args.leaves:,} leaves, {args.proofs:,} inclusion and "
          f"{args.proofs:,} consistency proofs", flush=True)

    results: dict[str, Any] = {"leaves": args.leaves, "proofs": args.proofs}
    pm_mem = pymerkle_run(InmemoryTree(), data, incl, cons)
    results["memory"] = compare("memory", ctown_memory(data, incl, cons), pm_mem, "InmemoryTree")
    del pm_mem
    pm_sqlite = SqliteTree(str(tmp / "pymerkle.sqlite3"))
    pm_sql = pymerkle_run(pm_sqlite, data, incl, cons)
    pm_sqlite.close()
    ours_sqlite = ctown_database(f"sqlite:///{tmp / 'ctown.sqlite3'}", data, incl, cons,
                                 args.batch)
    results["sqlite"] = compare("sqlite", ours_sqlite, pm_sql, "SqliteTree")
    admin = pg_admin_url()
    if admin:
        name = f"ctown_ledger_bench_{uuid.uuid4().hex[:8]}"
        url = pg_database(admin, name, create=True)
        try:
            ours_pg = ctown_database(url, data, incl, cons, args.batch)
        finally:
            pg_database(admin, name, create=False)
        results["postgresql"] = compare("postgresql", ours_pg, pm_sql, "SqliteTree")
    else:
        print("  postgresql  skipped (set CTOWN_BENCH_PG_URL or CTOWN_TEST_DATABASE_URL)")
    ratios = [v for part in ("memory", "sqlite", "postgresql") if part in results
              for k, v in results[part].items() if k.startswith("ratio_")]
    results["min_ratio"] = min(ratios)
    results["faster_on_every_figure"] = min(ratios) > 1
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
