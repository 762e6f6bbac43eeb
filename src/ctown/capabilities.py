"""The capability contract (能力契约): what a capability package gives the platform.

``CAPABILITIES`` lists the packages in dependency order. Each declares one :class:`Capability`,
``CAPABILITY`` in ``ctown/<package>/capability.py``, and ``app.py``, the root CLI, ``ctown status``,
``ctown demo``, Alembic, the ledger and key rotation compose the platform from these declarations;
nothing probes a package for attributes. Adding a capability is its own package plus one line below
(``docs/adding-a-capability.md``); ``tests/test_capabilities.py`` checks every package against
the contract.

A declaration names where each part lives (``"module:attribute"``) instead of importing it, so
that reading every declaration costs nothing: the CLI does not import the web pages (about a
second), Alembic imports only the tables, the web server never imports the demo (scikit-learn).
The typed accessors import on first use and check what they found.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Required, TypedDict

if TYPE_CHECKING:  # the contract sits below every package: it imports none of them to run
    import sqlalchemy as sa
    import typer
    from fastapi import APIRouter, FastAPI
    from sqlalchemy.orm import Session, sessionmaker

    from ctown.accounts.models import User
    from ctown.accounts.roles import Role
    from ctown.crypto import FieldCipher
    from ctown.settings import Settings

CAPABILITIES: tuple[str, ...] = (
    "registry",    # regions, subjects, identifiers, change events
    "accounts",    # users, roles, sessions, tokens
    "access",      # the one access layer: who reaches what, for which purpose
    "notify",      # notice outbox: in-app, SMS, voice, webhooks; after commit, never twice
    "privacy",     # field encryption, masking, consent, query log
    "catalogue",   # indicator catalogue (信用信息采集规范)
    "ingest",      # department feeds, quarantine, identity resolution, credit file
    "collection",  # village collection points (信用信息采集点), offline signed batches
    "quality",     # data-quality figures (三率)
    "scoring",     # scorecards, learned model, grades, three-party review
    "lending",     # products, applications, four-step approval, loans, 整村授信
    "proxy",       # credit proxies' mandates (信用代理授权): recorded, confirmed, scoped, revoked
    "config",      # the county's configuration folder: check, diff, two-person change, rollback
    "ledger",      # tamper-evident Merkle log (区块链存证)
    "report",      # the credit report, the household's receipts, the audit page (above all these)
    "feedback",    # feedback and complaints: one queue, 48-hour deadline, escalation
    "farmer",      # the farmer's phone-first pages and the summary SMS and voice read out
    "channels",    # SMS commands in and out, one-time-code sign-in
    "voice",       # voice menu by keys, offline text-to-speech, read-aloud
    "noticeboard", # the village notice board (信用公示栏): A3 PDF, public page, editions
    "backup",      # ctown backup / restore: the database and its key files in one encrypted archive
    "synth",       # synthetic county generator
)


class CapabilityError(RuntimeError):
    """A package that does not keep the contract (named, with what is wrong)."""


class NavEntry(TypedDict, total=False):
    """A link of the top menu. Shown when ``access.scope.allowed(user, resource, purpose)``
    (``purpose`` defaults to ``"view"``); an entry without a resource falls back to ``roles``
    (none: every signed-in user)."""

    href: Required[str]
    label: Required[str]
    resource: str
    purpose: str
    roles: Sequence[Role | str]


class SubjectLink(NavEntry, total=False):
    """A button on a subject's page: ``href`` holds ``{id}``; ``kinds`` limits the subject kinds."""

    kinds: Sequence[str]


DemoBuilder = Callable[["Session", "DemoContext"], None]
StatusCounts = Callable[["Session"], Mapping[str, int]]
CliRegistration = Callable[["typer.Typer"], None]
AppInstaller = Callable[["FastAPI", "Settings"], None]


def load(ref: str) -> Any:
    """The object a reference names: ``"package.module:attribute"``, or a module."""
    module, _, attribute = ref.partition(":")
    found: Any = importlib.import_module(module)
    for part in filter(None, attribute.split(".")):
        found = getattr(found, part)
    return found


@dataclass(frozen=True)
class LedgerSource:
    """A table whose rows go on the tamper-evident ledger (区块链存证), append-only.

    ``kind`` names it in leaves, receipts and ``ctown ledger verify``; it must be unique across
    capabilities. ``columns`` are what a leaf commits to: a column that changes after the row is
    written (a "current" flag) must be left out, or verification reports the row altered.
    """

    kind: str
    model: str  # "ctown.registry.models:ChangeEvent"
    columns: tuple[str, ...]
    id_column: str = "id"

    def table(self) -> sa.Table:
        import sqlalchemy as sa

        table = getattr(load(self.model), "__table__", None)
        if not isinstance(table, sa.Table):
            raise CapabilityError(f"ledger source {self.kind}: {self.model} is not a table")
        return table


@dataclass(frozen=True)
class EncryptedColumns:
    """Columns of a table whose values the field cipher encrypts (动态加密, ``ctown.crypto``).

    ``ctown keys rotate`` re-encrypts every declared column under the new key version and
    ``ctown keys retire`` refuses while one still holds a value under an old one: a column left
    out would become unreadable when its version is retired. ``aad`` names a function
    ``(column, row) -> str`` giving the associated data the value was encrypted with; ``row``
    holds the id column, the encrypted column and ``needs``. Each (table, column) is declared once,
    by the capability that writes it.
    """

    model: str                  # "ctown.ingest.models:HeldValue"
    columns: tuple[str, ...]    # ("value",)
    aad: str                    # "ctown.ingest.encrypted:held_value"
    needs: tuple[str, ...] = ()  # the other columns ``aad`` reads
    id_column: str = "id"

    def table(self) -> sa.Table:
        import sqlalchemy as sa

        table = getattr(load(self.model), "__table__", None)
        if not isinstance(table, sa.Table):
            raise CapabilityError(f"encrypted columns: {self.model} is not a table")
        missing = {self.id_column, *self.columns, *self.needs}.difference(table.c.keys())
        if missing:
            raise CapabilityError(f"encrypted columns: {self.model} has no {sorted(missing)}")
        return table

    def aad_function(self) -> Callable[[str, Mapping[str, Any]], str]:
        fn: object = load(self.aad)  # whatever the string names: callable() narrows it
        if not callable(fn):
            raise CapabilityError(f"encrypted columns of {self.model}: {self.aad} is not callable")
        return fn


#: The schedule words of docs/operations.md ("every 5 minutes", "hourly", "daily 01:00", "daily",
#: "after ingest") and the cron line each becomes; a job that follows an event has none.
DAILY_DEFAULT = "02:30"  # "daily" without a time: after the 01:00 loan assessment, before work


@dataclass(frozen=True)
class Job:
    """A scheduled job, as docs/operations.md lists it: cron runs ``ctown <name> <args>``.

    ``run`` names the function that command calls (the CLI command), so the schedule cannot name a
    command that does not exist (tests/test_capabilities.py resolves each one).
    """

    name: str       # the command after ``ctown``: "ledger checkpoint"
    schedule: str   # in docs/operations.md terms: "every 5 minutes", "daily 01:00", "after ingest"
    run: str        # "ctown.ledger.cli:checkpoint_cmd"
    why: str
    args: str = ""  # "--url http://127.0.0.1:8000"

    @property
    def command(self) -> str:
        return " ".join(filter(None, ("ctown", self.name, self.args)))

    @property
    def cron(self) -> str | None:
        """The crontab schedule, or None for a job run after an event (after ingest, a crash)."""
        text = self.schedule.strip().lower()
        if m := re.fullmatch(r"every (\d+) minutes?", text):
            return f"*/{m[1]} * * * *"
        if text == "hourly":
            return "0 * * * *"
        if m := re.fullmatch(r"daily(?: (\d\d):(\d\d))?", text):
            hour, minute = (m[1], m[2]) if m[1] else DAILY_DEFAULT.split(":")
            return f"{int(minute)} {int(hour)} * * *"
        if text.startswith("after "):
            return None
        raise CapabilityError(f"job {self.name}: schedule {self.schedule!r} is not one of "
                              "'every N minutes', 'hourly', 'daily [HH:MM]', 'after …'")

    def callable(self) -> Callable[..., Any]:
        fn: object = load(self.run)  # whatever the string names: callable() narrows it
        if not callable(fn):
            raise CapabilityError(f"job {self.name}: {self.run} is not callable")
        return fn


@dataclass(frozen=True)
class Capability:
    """One capability package, as the platform composes it. Every part is optional.

    References are ``"module:attribute"`` strings, imported on first use by the accessors below.
    """

    name: str
    models: str | None = None         # module of tables, for Alembic: "ctown.lending.models"
    api: str | None = None            # APIRouter mounted under /api/v1: "ctown.lending.api:router"
    pages: str | None = None          # APIRouter of HTML pages: "ctown.lending.views:router"
    nav: str | None = None            # list[NavEntry], the top menu: "ctown.lending.views:NAV"
    subject_links: str | None = None  # list[SubjectLink] on a subject's page
    cli: str | None = None            # register(root: typer.Typer): "ctown.lending.cli:register"
    install: str | None = None        # install(app, settings): middleware (privacy's hardening)
    demo: str | None = None           # build(session, ctx: DemoContext): "ctown.lending.demo:build"
    #: The demo builds this one before the demo accounts exist: the feeds create the households
    #: the accounts belong to (ingest).
    demo_first: bool = False
    status: str | None = None         # counts(session) -> {"<name>.<what>": int}, counts only
    ledger: tuple[LedgerSource, ...] = ()
    encrypted: tuple[EncryptedColumns, ...] = ()  # what key rotation re-encrypts
    jobs: tuple[Job, ...] = ()

    # -- typed accessors -------------------------------------------------------------------------
    def _get(self, part: str) -> Any:
        ref = getattr(self, part)
        if ref is None:
            return None
        try:
            return load(ref)
        except (ImportError, AttributeError) as exc:
            raise CapabilityError(f"{self.name}.{part}: cannot load {ref}: {exc}") from exc

    def _callable(self, part: str) -> Any:
        fn = self._get(part)
        if fn is not None and not callable(fn):
            raise CapabilityError(f"{self.name}.{part}: {getattr(self, part)} is not callable")
        return fn

    def _router(self, part: str) -> APIRouter | None:
        from fastapi import APIRouter

        router = self._get(part)
        if router is not None and not isinstance(router, APIRouter):
            raise CapabilityError(f"{self.name}.{part}: {getattr(self, part)} is not an APIRouter")
        return router

    def api_router(self) -> APIRouter | None:
        return self._router("api")

    def page_router(self) -> APIRouter | None:
        return self._router("pages")

    def navigation(self) -> list[NavEntry]:
        return list(self._get("nav") or ())

    def links(self) -> list[SubjectLink]:
        return list(self._get("subject_links") or ())

    def models_module(self) -> ModuleType | None:
        module = self._get("models")
        if module is not None and not isinstance(module, ModuleType):
            raise CapabilityError(f"{self.name}.models: {self.models} is not a module")
        return module

    def cli_registration(self) -> CliRegistration | None:
        fn: CliRegistration | None = self._callable("cli")
        return fn

    def installer(self) -> AppInstaller | None:
        fn: AppInstaller | None = self._callable("install")
        return fn

    def demo_builder(self) -> DemoBuilder | None:
        fn: DemoBuilder | None = self._callable("demo")
        return fn

    def status_counts(self) -> StatusCounts | None:
        fn: StatusCounts | None = self._callable("status")
        return fn


def capability(name: str) -> Capability:
    """The declaration of ``ctown.<name>`` (its ``capability`` module's ``CAPABILITY``)."""
    try:
        module = importlib.import_module(f"ctown.{name}.capability")
    except ModuleNotFoundError as exc:
        raise CapabilityError(f"ctown.{name}: no capability.py declaring CAPABILITY "
                              "(see docs/adding-a-capability.md)") from exc
    declared = getattr(module, "CAPABILITY", None)
    if not isinstance(declared, Capability):
        raise CapabilityError(f"ctown.{name}.capability: CAPABILITY is not a Capability")
    if declared.name != name:
        raise CapabilityError(f"ctown.{name}.capability: CAPABILITY is named {declared.name!r}")
    return declared


def capabilities() -> list[Capability]:
    """Every capability of ``CAPABILITIES``, in its order (read when called, so a test can add
    one for a while)."""
    return [capability(name) for name in CAPABILITIES]


def load_all_models() -> None:
    """Import every capability's tables (Alembic compares them with the migrations)."""
    for cap in capabilities():
        cap.models_module()


def jobs() -> list[tuple[Capability, Job]]:
    return [(cap, job) for cap in capabilities() for job in cap.jobs]


def optional_module(capability: str, name: str) -> ModuleType | None:
    """Import ``ctown.<capability>.<name>`` if the package has it (a missing one is not an error).

    For modules the contract does not name (``access``: where a capability describes its
    resources); what the platform composes is read from :class:`Capability`.
    """
    full = f"ctown.{capability}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name in (full, f"ctown.{capability}"):
            return None
        raise


# -- the demo ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DemoContext:
    """What ``ctown demo`` hands each capability's demo builder (with a session of its own).

    ``users`` are the demo accounts by role, in the demo's order: the first village officer is
    the first village's. A builder asks for a role (:meth:`user`, :meth:`users_of`), never for a
    username. ``factory`` is for a builder that loads as the CLI does, in the CLI's own
    transactions (the feeds, through ``ctown ingest``'s path); None when a test hands a session.
    """

    settings: Settings
    workdir: Path
    cipher: FieldCipher
    users: Mapping[Role, tuple[int, ...]] = field(default_factory=dict)
    factory: sessionmaker[Session] | None = None

    @classmethod
    def of(cls, settings: Settings, workdir: Path, users: Iterable[User] = (), *,
           cipher: FieldCipher | None = None, factory: sessionmaker[Session] | None = None
           ) -> DemoContext:
        """A context for these users (flushed, so they have ids), in the order given."""
        from ctown.accounts.roles import Role
        from ctown.crypto import FieldCipher

        by_role: dict[Role, list[int]] = {}
        for user in users:
            by_role.setdefault(Role(user.role), []).append(user.id)
        return cls(settings=settings, workdir=workdir,
                   cipher=cipher or FieldCipher.load(settings.keyring_path,
                                                     settings.cipher_suite),
                   users={role: tuple(ids) for role, ids in by_role.items()}, factory=factory)

    def users_of(self, session: Session, role: Role) -> list[User]:
        from ctown.accounts.models import User

        found = (session.get(User, i) for i in self.users.get(role, ()))
        return [u for u in found if u is not None]

    def user(self, session: Session, role: Role, index: int = 0) -> User | None:
        found = self.users_of(session, role)
        return found[index] if index < len(found) else None
