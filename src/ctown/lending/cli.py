"""``ctown lending …``: figures, product check, daily overdue assessment, sending notices."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

app = typer.Typer(help="金融服务 / financial services", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="lending")


def _open() -> Any:
    from ctown.cli_support import open_database

    return open_database()


def _print(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, sort_keys=True, default=str, indent=1))


@app.command()
def figures(as_json: Annotated[bool, typer.Option("--json", help="JSON 输出")] = False) -> None:
    """Credit-loan share, approval time (working days), NPL ratio, loans by grade."""
    from ctown.lending.figures import figures as compute

    _settings, _engine, factory = _open()
    with factory() as session:
        data = compute(session, None)
    if as_json:
        _print(data)
        return
    c = data["county"]
    share = "-" if c["credit_loan_share"] is None else f"{c['credit_loan_share']:.1%}"
    npl = "-" if c["npl_ratio"] is None else f"{c['npl_ratio']:.2%}"
    typer.echo(f"信用贷款占比 credit-loan share: {share} (目标 ≥35%)")
    typer.echo(f"不良贷款率 NPL ratio: {npl} (目标 <2%)")
    typer.echo(f"审批用时 approval (working days): median {c['approval_days_median']}, "
               f"p95 {c['approval_days_p95']} (目标 3)")
    typer.echo(f"在贷 loans: {c['loans']}, 余额 outstanding: {c['outstanding']:,.2f} 元")


@app.command()
def products() -> None:
    """Validate and list the product files (an error names file, line and field)."""
    from ctown.catalogue.configfile import ConfigFileError
    from ctown.lending.products import load_products

    try:
        loaded = load_products()
    except ConfigFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    _print([{"code": p.code, "bank": p.bank_code, "kind": p.kind, "name": p.name_zh,
             "grades": sorted(p.grades)} for p in loaded.values()])


@app.command()
def assess() -> None:
    """Daily run: days past due and the five-category classification of every active loan."""
    from ctown.lending.loans import assess_all
    from ctown.lending.notices import wait_sent

    _settings, engine, factory = _open()
    with factory.begin() as session:
        count = assess_all(session, None)
    wait_sent(engine)
    _print({"assessed": count})


@app.command()
def remind() -> None:
    """Daily: warn officers of applications whose 3-working-day limit is (nearly) over."""
    from ctown.lending.notices import wait_sent
    from ctown.lending.service import deadline_reminders

    _settings, engine, factory = _open()
    with factory.begin() as session:
        count = deadline_reminders(session)
    wait_sent(engine)
    _print({"reminded": count})


@app.command("send-notices")
def send_notices() -> None:
    """Send committed notices that were not sent yet (alias of ``ctown notify send``)."""
    from ctown.notify.cli import send_waiting

    _print({"sent": send_waiting()["sent"]})
