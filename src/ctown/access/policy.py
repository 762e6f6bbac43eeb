"""Who sees what, for which purpose: the one table (R-7.1 分级授权, R-7.2 最小必要).

``POLICY[resource][purpose][role]`` is the tuple of *reaches* by which that role reaches rows of
the resource for that purpose; several reaches are alternatives (bank officers see the subjects
that consented to their bank *or* applied to it). A role missing from a row reaches nothing: the
rows do not exist for it ("not found"), and a feature with no reach at all is refused (403).

Every capability asks :mod:`ctown.access.scope` (which reads this table); none writes a role
ladder of its own. ``docs/security.md`` prints the table (``ctown access policy``).
"""

from __future__ import annotations

from enum import StrEnum

from ctown.accounts.roles import Role


class Reach(StrEnum):
    """How an actor reaches a row. Each needs the matching column of the resource."""

    all = "all"              # every row (county-wide work that is not about persons)
    region = "region"        # row's region inside the actor's region (county ⊃ township ⊃ village)
    self = "self"            # row about the actor's own household (farmer)
    mandate = "mandate"      # row about a household that gave the proxy a mandate still in force
    bank = "bank"            # row of the actor's own bank
    insured = "insured"      # row the actor's insurer covers
    consent = "consent"      # row about a household whose consent to the actor's bank is in force
    client = "client"        # row about an applicant or borrower of the actor's bank
    insured_client = "insured_client"  # row about a borrower whose loan the actor's insurer covers
    owner = "owner"          # row the actor created (their own complaints)
    department = "department"  # row of the actor's own department (feeds)


R = Role
A, REG, SELF, MAN, BANK = Reach.all, Reach.region, Reach.self, Reach.mandate, Reach.bank
INS, CON, CLI, OWN, DEPT = Reach.insured, Reach.consent, Reach.client, Reach.owner, Reach.department
INS_CLI = Reach.insured_client

#: Officers who work on a region's households (县、乡、村; the evaluation group of the village).
_OFFICERS = {R.county_admin: (REG,), R.township_officer: (REG,), R.village_officer: (REG,)}
_MANAGERS = {R.county_admin: (REG,), R.township_officer: (REG,)}
#: Who looks at data about people for the county's oversight (masked by ctown.masking).
_OVERSIGHT = {R.privacy_officer: (REG,), R.evaluator: (REG,)}
#: The household itself and those acting for it.
_HOUSEHOLD = {R.farmer: (SELF,), R.credit_proxy: (MAN,)}

Table = dict[str, dict[str, dict[Role, tuple[Reach, ...]]]]

POLICY: Table = {
    # Subjects (主体): the register entry — names, members, masked identifiers.
    "subject": {
        "view": {**_OFFICERS, R.evaluation_member: (REG,), **_OVERSIGHT, **_HOUSEHOLD,
                 R.bank_officer: (CON, CLI), R.insurer: (INS_CLI,)},
        # The credit file (信用档案): every value and its history. Banks read a subject's data only
        # through the consented credit report (征信业管理条例 art. 18), never the raw file.
        "credit_file": {**_OFFICERS, R.evaluation_member: (REG,), **_OVERSIGHT, **_HOUSEHOLD},
        "credit_report": {R.bank_officer: (CON,)},
        # Ask for the credit report: the asking is logged on the farmer's page, allowed or refused.
        "request_report": {R.bank_officer: (REG,)},
        # File loan applications for the household (申请): the household itself, its proxy, the
        # village officer taking a paper form.
        "act_for": {**_HOUSEHOLD, R.village_officer: (REG,)},
        # … for another household than one's own (the "apply on behalf" link of a subject page).
        "act_for_other": {R.credit_proxy: (MAN,), R.village_officer: (REG,)},
        # Give or revoke a consent to a bank for the household (授权): the same people as
        # "act_for", apart because a proxy's mandate covers the two separately (BY_MANDATE).
        "consent_for": {**_HOUSEHOLD, R.village_officer: (REG,)},
        # Record or revoke the written collection consent (信息采集授权书).
        "collect_consent": {**_HOUSEHOLD, **_OFFICERS},
        # Raise an objection (异议) about a record.
        "object": {**_HOUSEHOLD, **_OFFICERS, R.privacy_officer: (REG,)},
    },
    # Grades and scores (信用等级): as the subject, plus banks for their clients' decisions.
    "grade": {
        "view": {**_OFFICERS, R.evaluation_member: (REG,), **_OVERSIGHT, **_HOUSEHOLD,
                 R.bank_officer: (CON, CLI)},
        # Score the county again (评分批次): the county centre's job.
        "run": {R.county_admin: (A,)},
    },
    # Scoring models and their three-party review (模型评审). The signers are exactly the three
    # parties of scoring.review.SIGNOFF_ROLES (tests/test_access_scoring.py keeps them equal);
    # the county admin opens the review and puts a signed version live or rolls it back.
    "model": {
        "view": {R.county_admin: (A,), R.township_officer: (A,), R.bank_officer: (A,),
                 R.evaluator: (A,)},
        "sign": {R.township_officer: (A,), R.bank_officer: (A,), R.evaluator: (A,)},
        "activate": {R.county_admin: (A,)},
    },
    # Loan applications (贷款申请) and their four-step approval. Which officer takes which step
    # is the approval's own rule (lending.approval: the officer of the applicant's village, its
    # township, the product's bank); this says whose applications a person reaches at all.
    "application": {
        "view": {**_OFFICERS, **_OVERSIGHT, **_HOUSEHOLD, R.bank_officer: (BANK,)},
        "act": {**_OFFICERS, **_HOUSEHOLD, R.bank_officer: (BANK,)},
        # Sign the contract and pay out (签约放款).
        "disburse": {R.bank_officer: (BANK,)},
        # Counted in the lending figures (aggregates only).
        "figures": {**_OFFICERS, **_OVERSIGHT, R.bank_officer: (BANK,)},
    },
    # Loans (贷款) after disbursement.
    "loan": {
        "view": {**_OFFICERS, **_HOUSEHOLD, R.bank_officer: (BANK,), R.insurer: (INS,)},
        "repay": {R.bank_officer: (BANK,)},
        "compensate": {R.insurer: (INS,)},
        "figures": {**_OFFICERS, **_OVERSIGHT, R.bank_officer: (BANK,)},
    },
    # Pre-approved credit lines (授信额度) of a whole-village grant.
    "credit_line": {
        "view": {**_OFFICERS, **_HOUSEHOLD, R.bank_officer: (BANK,)},
    },
    # Whole-village credit (整村授信): the grants made, with their printable lists.
    "grant": {
        "view": {**_OFFICERS, R.bank_officer: (BANK,)},
    },
    # The village of a grant to be made (整村授信): its preview (every household's grade and
    # limit) and the grant. Its officers reach it by region and see its people: each name, and
    # why a household is left out. A bank may offer in any village, but only a product of its own
    # bank ("grant_product"), and sees an offer, not the people: masked names, "not eligible"
    # without the reason, and every household listed goes on that household's query log
    # (lending.grants).
    "grant_village": {
        "preview": {**_OFFICERS, R.bank_officer: (A,)},
        "grant": {R.bank_officer: (A,)},
    },
    # The product of a grant to be made (a product file, not a row): any product for the officers
    # of the place; a bank's own products for a bank (another bank's: "not found", logged).
    "grant_product": {
        "preview": {R.county_admin: (A,), R.township_officer: (A,), R.village_officer: (A,),
                    R.bank_officer: (BANK,)},
        "grant": {R.bank_officer: (BANK,)},
    },
    # Lending figures (放贷统计): the feature; its rows are loans and applications "figures".
    "lending_figures": {
        "view": {**_OFFICERS, **_OVERSIGHT, R.bank_officer: (BANK,)},
    },
    # Consents (授权) to banks and for collection. Giving or revoking one is the subject's
    # "act_for" (to a bank) or "collect_consent" (collection) purpose.
    "consent": {
        "view": {**_OFFICERS, **_OVERSIGHT, **_HOUSEHOLD, R.bank_officer: (BANK,)},
    },
    # The query log (查询记录) of a household: who looked, which institution, why (条例 art. 22).
    # Not the banks: one bank does not learn which others asked about a household.
    "query": {
        "view": {**_OFFICERS, **_OVERSIGHT, **_HOUSEHOLD},
    },
    # Objections (异议) and privacy complaints (投诉).
    "objection": {
        "view": {**_MANAGERS, R.village_officer: (REG,), R.privacy_officer: (REG,),
                 **_HOUSEHOLD},
        "answer": {**_MANAGERS, R.privacy_officer: (REG,)},
    },
    "complaint": {
        "view": {R.privacy_officer: (A,), **{role: (OWN,) for role in Role
                                            if role != R.privacy_officer}},
        "answer": {R.privacy_officer: (A,)},
    },
    # The audit trail (审计日志).
    "audit": {
        "view": {R.county_admin: (A,), R.evaluator: (A,), R.privacy_officer: (A,)},
    },
    # Department feeds (ingest/access.py): batches (a file's counts, no personal data),
    # quarantined rows (raw and decrypted: resident IDs), matches awaiting a decision (region of
    # the matched subject), values held until consent (counts only; region of the household).
    # A quarantined row is placed by the region its own row names; a row that names none (and
    # every row quarantined before rows kept their region) is the county's alone, hence ``all``.
    "batch": {
        "view": {R.county_admin: (A,), R.township_officer: (A,), R.department_feed: (DEPT,)},
        "push": {R.department_feed: (DEPT,)},
    },
    "quarantine": {
        "view": {R.county_admin: (A,), R.township_officer: (REG,), R.department_feed: (DEPT,)},
        "resolve": {R.county_admin: (A,), R.township_officer: (REG,),
                    R.department_feed: (DEPT,)},
    },
    "match": {
        "view": {**_MANAGERS},
        "decide": {**_MANAGERS},
    },
    "held_value": {
        # A household's own counts (its consent page).
        "view": {**_OFFICERS, **_HOUSEHOLD},
        # The overview of what waits, per indicator (the clerks' page and ``ctown consent held``).
        "overview": {**_MANAGERS, R.department_feed: (DEPT,)},
    },
    # User accounts (用户管理, accounts/access.py) by the region they work in. The county centre
    # adds, changes, disables and resets them and ends their sessions and tokens ("manage");
    # a township officer sees who works in their township (its village officers, proxies,
    # farmers' accounts) but changes nobody: managing includes choosing roles, and a township
    # must not be able to make a county administrator. One's own account is one's own (/account).
    "user": {
        "view": {R.county_admin: (REG,), R.township_officer: (REG,)},
        "manage": {R.county_admin: (REG,)},
    },
    # The register of department feeds (部门登记) and their push keys (报送密钥): the county's.
    # A department itself reaches only its batches and quarantine (above), never the register.
    "department": {
        "view": {R.county_admin: (A,)},
        "manage": {R.county_admin: (A,)},
    },
    # Proxy mandates (信用代理授权, ctown.proxy): recorded and confirmed at the service point by
    # the officers of the household's place, revoked there or by the household itself; the
    # household sees its own, the proxy those given to them, the privacy officer those complaints
    # are about. "own" is the household's page, "held" the proxy's; "acts" every act of every
    # proxy on a household.
    "mandate": {
        "view": {**_OFFICERS, R.privacy_officer: (REG,), R.farmer: (SELF,),
                 R.credit_proxy: (OWN,)},
        "own": {R.farmer: (SELF,)},
        "held": {R.credit_proxy: (OWN,)},
        "record": {**_OFFICERS},
        "revoke": {**_OFFICERS, R.farmer: (SELF,)},
        "acts": {**_OFFICERS, R.privacy_officer: (REG,), R.farmer: (SELF,)},
    },
    # Village collection points (采集终端) and their uploads.
    "terminal": {
        "view": {**_OFFICERS},
        "manage": {**_MANAGERS},
        "enrol": {**_MANAGERS, R.village_officer: (REG,)},
    },
    # The county sees every upload attempt, also those of unknown terminals (no village).
    "upload": {
        "view": {R.county_admin: (A,), R.township_officer: (REG,), R.village_officer: (REG,)},
        "collect": {R.village_officer: (REG,)},
    },
    # Data-quality figures (三率).
    "quality": {
        "view": {**_OFFICERS, R.evaluator: (REG,)},
    },
    # The tamper-evident ledger's audit (checkpoints, proofs).
    "ledger": {
        "view": {R.county_admin: (A,), R.evaluator: (A,), R.privacy_officer: (A,)},
    },
    # The county's configuration (县级配置, config/access.py): proposals of a change of the
    # configuration folder. Two people: one proposes, another approves (never the proposer, the
    # service refuses that). A bank proposes only its own bank's product files (the file's
    # ``bank_code``, before and after) and sees those proposals; the county approves, rejects and
    # rolls back (a rollback is a proposal of an earlier version's content).
    "config": {
        "view": {R.county_admin: (A,), R.bank_officer: (BANK,)},
        "propose": {R.county_admin: (A,), R.bank_officer: (BANK,)},
        "approve": {R.county_admin: (A,)},
        "rollback": {R.county_admin: (A,)},
    },
    # The live versions the proposals became (append-only, on the ledger).
    "config_version": {
        "view": {R.county_admin: (A,), R.bank_officer: (BANK,)},
    },
    # -- feedback (#13 item 6) --
    # Feedback and complaints (反馈与投诉, ctown.feedback): the officers of the region an item is
    # routed to now (village, then township, then county as it escalates) answer it; the household
    # sees its own, its proxy those of the households that gave a mandate. "submit" is checked
    # on the household too (the subject's "view"). The on-time figure counts items where they
    # come from ("feedback_figures").
    "feedback": {
        "view": {**_OFFICERS, **_HOUSEHOLD},
        "submit": {**_OFFICERS, **_HOUSEHOLD},
        "answer": {**_OFFICERS},
    },
    "feedback_figures": {
        "view": {**_OFFICERS, R.evaluator: (REG,)},
    },
    # -- the farmer's pages, proxies at work (#13 items 1, 5) --
    # The farmer's phone-first pages (农户端, ctown.farmer): a feature gate, the household's own.
    # Each page reads its rows through their own resources (grade, credit_file, loan, query…).
    "farmer_page": {
        "view": {R.farmer: (SELF,)},
    },
    # -- SMS and one-time codes (#13 items 2, 3) --
    # -- voice (#13 item 4) --
    # -- the village notice board (#13 item 7) --
    # The village notice board (信用公示栏, ctown.noticeboard): anyone reads a board (a public
    # notice of aggregates and consenting households' masked names, no actor at all); the officers
    # of the place build an edition and read the kept ones.
    "notice": {
        "build": {**_OFFICERS},
    },
    "notice_edition": {
        "view": {**_OFFICERS},
    },
    # The household's separate consent to be named on the board (PIPL art. 25): given or withdrawn
    # by the household, its proxy (scope "consent") or the village officer with the signed form.
    "publication": {
        "view": {**_OFFICERS, **_HOUSEHOLD},
        "give": {**_HOUSEHOLD, R.village_officer: (REG,)},
    },
}


# -- what a proxy mandate covers (信用代理授权范围) -------------------------------------------------
#: The scopes of a mandate: 查询 (look at the household's file), 代为申请贷款 (file and follow its
#: loan applications), 代为授权银行查询 (give and revoke its consents).
QUERY, APPLY, CONSENT = "query", "apply", "consent"
MANDATE_SCOPES = (QUERY, APPLY, CONSENT)
_ANY = frozenset(MANDATE_SCOPES)

#: For every (resource, purpose) that a role reaches by ``mandate``: the scopes of which one is
#: enough. The one place that maps purposes to scopes (tests/test_proxy_access.py fails on a
#: mandate reach missing here). The register entry (names, members, masked identifiers) is
#: reached under every scope: one must name the household to act for it at all; what the file,
#: the grade and the query log say is "query"; applications, their loans and pre-approved lines
#: are what one follows after applying; consents are what one gives.
BY_MANDATE: dict[tuple[str, str], frozenset[str]] = {
    ("subject", "view"): _ANY,
    ("subject", "credit_file"): frozenset({QUERY}),
    ("subject", "act_for"): frozenset({APPLY}),
    ("subject", "act_for_other"): frozenset({APPLY}),
    ("subject", "consent_for"): frozenset({CONSENT}),
    ("subject", "collect_consent"): frozenset({CONSENT}),
    ("subject", "object"): frozenset({QUERY}),
    ("grade", "view"): frozenset({QUERY}),
    ("application", "view"): frozenset({APPLY}),
    ("application", "act"): frozenset({APPLY}),
    ("loan", "view"): frozenset({APPLY}),
    ("credit_line", "view"): frozenset({APPLY}),
    ("consent", "view"): frozenset({CONSENT}),
    ("query", "view"): frozenset({QUERY}),
    ("objection", "view"): frozenset({QUERY}),
    ("held_value", "view"): frozenset({QUERY}),
    # -- feedback (#13 item 6) --
    # A proxy passes on and follows the household's feedback under any scope of its mandate.
    ("feedback", "view"): _ANY,
    ("feedback", "submit"): _ANY,
    # -- the farmer's pages, proxies at work (#13 items 1, 5) --
    # -- the village notice board (#13 item 7) --
    ("publication", "view"): frozenset({CONSENT}),
    ("publication", "give"): frozenset({CONSENT}),
}


def mandate_scopes(resource: str, purpose: str) -> frozenset[str]:
    """The mandate scopes that reach ``resource`` for ``purpose`` (KeyError: none was written
    down, a programming error — as :func:`reaches`, so a forgotten row cannot open a door)."""
    return BY_MANDATE[(resource, purpose)]


def reaches(resource: str, purpose: str, role: Role | str) -> tuple[Reach, ...]:
    """The reaches of ``role`` for ``purpose`` on ``resource`` (empty: none).

    An unknown resource or purpose is a programming error, not a denial: it raises KeyError so a
    typo cannot silently shut (or open) a door.
    """
    return POLICY[resource][purpose].get(Role(role), ())


def roles_with(resource: str, purpose: str) -> frozenset[Role]:
    """Roles that reach at least some rows (for navigation links and feature gates)."""
    return frozenset(POLICY[resource][purpose])


def rows() -> list[dict[str, str]]:
    """The table as rows (resource, purpose, role, reaches), for docs and the CLI."""
    return [{"resource": res, "purpose": purpose, "role": str(role),
             "reaches": " | ".join(str(r) for r in reach)}
            for res, purposes in POLICY.items() for purpose, by_role in purposes.items()
            for role, reach in by_role.items()]
