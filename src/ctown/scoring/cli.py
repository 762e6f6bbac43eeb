"""``ctown model train|score|export-sql`` and ``ctown score`` (scoring runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

model_app = typer.Typer(help="信用评价模型 / credit model", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def register(root: typer.Typer) -> None:
    root.add_typer(model_app, name="model")
    root.command("score")(score_command)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(t) for t in text.split(",") if t.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


@model_app.command("train")
def train(data: Annotated[Path, typer.Option("--data", exists=True, help="CSV 或 Parquet")],
          target: Annotated[str, typer.Option("--target", help="目标列，1 = 坏 / 1 = bad")],
          holdout: Annotated[Path | None, typer.Option("--holdout", exists=True)] = None,
          as_json: Annotated[bool, typer.Option("--json")] = False,
          out_dir: Annotated[Path | None, typer.Option("--out", help="导出目录")] = None,
          exclude: Annotated[str, typer.Option(help="不参与建模的列，逗号分隔")] = "",
          categorical: Annotated[str, typer.Option(help="按类别处理的数值列")] = "",
          special: Annotated[str, typer.Option(help="特殊值，如 -1,-2")] = "",
          no_challenger: Annotated[bool, typer.Option("--no-challenger")] = False,
          folds: Annotated[int, typer.Option(help="交叉验证折数 / CV folds")] = 5,
          repeats: Annotated[int, typer.Option(help="0 = 自动 / auto")] = 0) -> None:
    """Train the WoE scorecard and the GBM challenger; report holdout AUC, KS, Gini."""
    from ctown.errors import DomainError
    from ctown.scoring.model.io import write_result
    from ctown.scoring.model.table import read_table
    from ctown.scoring.model.train import Options, train_model

    opts = Options(exclude=_names(exclude), categorical=_names(categorical),
                   special_codes=_floats(special), challenger=not no_challenger,
                   folds=folds, repeats=repeats)
    try:
        result = train_model(read_table(data), target,
                             read_table(holdout) if holdout else None, opts)
    except DomainError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    report = result.report
    if out_dir is not None:
        report["files"] = write_result(result, out_dir)
    if as_json:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        return
    _print_report(report)


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for key in rows[0] if rows else []:
        table.add_column(key)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    return table


def _print_report(report: dict[str, Any]) -> None:
    out.print(f"模型 / model: [bold]{report['model']}[/bold]   AUC {report['auc']}   "
              f"KS {report['ks']}   Gini {report['gini']}   "
              f"(holdout n={report['n_holdout']}, {report['holdout_source']})")
    out.print(_table("候选模型 / candidates (holdout)",
                     [{"model": k, **v} for k, v in report["candidates"].items()]))
    out.print(_table("校准 / calibration (holdout)", report["calibration"]))
    out.print(_table(f"评分卡 / scorecard (base {report['base_points']})", report["scorecard"]))
    if report["dropped"]:
        out.print(f"未使用的列 / dropped: {report['dropped']}")


@model_app.command("score")
def score(model: Annotated[Path, typer.Option("--model", exists=True)],
          data: Annotated[Path, typer.Option("--data", exists=True)],
          output: Annotated[Path | None, typer.Option("--output", help="CSV; 默认标准输出")] = None
          ) -> None:
    """Score every row of a file with an exported model (JSON)."""
    from ctown import exports
    from ctown.scoring.model.io import load_model, score_with
    from ctown.scoring.model.table import read_table

    frame = read_table(data)
    result = score_with(load_model(model), frame)
    text = exports.write_csv(result, output)
    if text is not None:
        sys.stdout.write(text)


@model_app.command("export-sql")
def export_sql(model: Annotated[Path, typer.Option("--model", exists=True)]) -> None:
    """Print a scorecard as one SQL expression (SQLite and PostgreSQL)."""
    from ctown.scoring.model.export import load, to_sql

    sys.stdout.write(to_sql(load(model)) + "\n")


@model_app.command("county")
def county_model(outcomes: Annotated[Path, typer.Option("--outcomes", exists=True,
                                                        help="household_no,defaulted")],
                 risk: Annotated[Path | None, typer.Option("--risk", help="隐藏风险 risk.csv")] = None,
                 as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Train the county model from the credit files and loan outcomes; register a draft."""
    from ctown.cli_support import open_database
    from ctown.db import transaction
    from ctown.scoring import county

    _settings, engine, factory = open_database()
    try:
        with transaction(factory) as session:
            version, report = county.train_county(session, outcomes, risk_path=risk)
            name, status = version.version, version.status
    finally:
        engine.dispose()
    keys = ("auc", "ks", "gini", "auc_true_pd", "n_train", "n_holdout", "candidates", "tuning")
    summary = {"version": name, "status": status, "model": "scorecard",
               "features": report.get("features", []), **{k: report.get(k) for k in keys}}
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
        return
    out.print(f"模型版本 / version {name} ({status}): AUC {summary['auc']}  KS {summary['ks']}  "
              f"真实风险 AUC / AUC of the hidden true PD {summary['auc_true_pd']}")
    out.print("上线需三方签核 / goes live after three sign-offs: bank, township, evaluator")


@model_app.command("versions")
def versions() -> None:
    """List model versions, their status and missing sign-offs."""
    from ctown.cli_support import open_database
    from ctown.scoring import review

    _settings, engine, factory = open_database()
    with factory() as session:
        rows = [{"id": v.id, "version": v.version, "status": v.status,
                 "auc": v.metrics.get("auc"), "ks": v.metrics.get("ks"),
                 "missing": ", ".join(review.missing_signoffs(session, v.id))}
                for v in review.versions_for(session, None)]  # the county's own CLI
    engine.dispose()
    out.print(_table("模型版本 / model versions", [{k: str(v) for k, v in r.items()}
                                                  for r in rows]))


def score_command(all_: Annotated[bool, typer.Option("--all", help="全县重新评分")] = False,
                  since_batch: Annotated[int | None, typer.Option("--since-batch")] = None,
                  from_id: Annotated[int | None, typer.Option("--from-id", help="分区起始主体 id")
                                     ] = None,
                  to_id: Annotated[int | None, typer.Option("--to-id", help="分区结束主体 id")
                                   ] = None,
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Score the county: every subject (--all), one id range (--from-id/--to-id, a partition for
    parallel runs) or only the subjects changed since an ingest batch (--since-batch)."""
    from ctown.cli_support import open_database
    from ctown.db import transaction
    from ctown.scoring import tasks

    _settings, engine, factory = open_database()
    try:
        with transaction(factory) as session:
            if all_ or since_batch is None:
                summary = tasks.score_all(session, id_from=from_id, id_to=to_id)
            else:
                summary = tasks.rescore_changed(session, since_batch)
    finally:
        engine.dispose()  # no pooled connection left behind when the command returns
    if as_json:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    else:
        out.print(f"已评分 / scored {summary['scored']:,}，等级变化 / changed "
                  f"{summary['changed']:,}，用时 / {summary['seconds']} s")
