"""docs/security.md's Snowflake grants, read as Snowflake would apply them, against its claims.

No Snowflake can run here, and fakesnow does not emulate roles or grants, so the test models the
one part that decides who may do what: the statements in the document's SQL block (roles held,
privileges granted, objects created and by whom), with Snowflake's role inheritance. Every
statement in the block must be understood: one the model does not know fails the test, so no
grant can slip past the claims below. The claims are the document's own prose, and the code's
SQL (utils/clones.py) is checked to need no privilege beyond those.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from {{ cookiecutter.project_slug }} import settings
from {{ cookiecutter.project_slug }}.utils.clones import (
    DROP_PROCEDURE,
    HAND_OVER_PROCEDURE,
    HAND_OVER_SCHEMA,
    MARKER_PREFIX,
    ClonePlan,
    snowflake_clone_statements,
    snowflake_sweeper_drop_sql,
)
from {{ cookiecutter.project_slug }}.utils.environment import clone_database_name

DOC = Path(__file__).resolve().parents[1] / "docs" / "security.md"
PROD_ROLE = settings.SNOWFLAKE_ROLE.upper()
BRANCH_ROLE = settings.SNOWFLAKE_BRANCH_ROLE.upper()
PROD_DB = settings.PRODUCTION_DATABASE.upper()
SANDBOX_DB = settings.SANDBOX_DATABASE.upper()
WAREHOUSE = settings.SNOWFLAKE_WAREHOUSE.upper()
ADMIN_ROLES = {"SECURITYADMIN", "SYSADMIN", "ACCOUNTADMIN", "USERADMIN", "ORGADMIN"}
# What only reads: everything else granted on production (INSERT, OWNERSHIP, CREATE ...) writes.
READ_ONLY = {"USAGE", "SELECT"}


@dataclass
class Procedure:
    owner: str
    execute_as_owner: bool
    body: str


@dataclass
class Grants:
    """The account after the document's SQL ran: who holds which role and privilege."""

    roles: set[str] = field(default_factory=set)
    held: dict[str, set[str]] = field(default_factory=dict)  # role or user -> roles granted to it
    users: set[str] = field(default_factory=set)
    # (grantee role, privilege, target) with target as written, e.g. "DATABASE PRODUCTION".
    privileges: set[tuple[str, str, str]] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)  # created schema/procedure -> role
    procedures: dict[str, Procedure] = field(default_factory=dict)

    def effective_roles(self, grantee: str) -> set[str]:
        """``grantee`` and every role it holds, directly or through other roles."""
        seen: set[str] = set()
        todo = [grantee]
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo += self.held.get(name, set())
        return seen

    def privileges_of(self, role: str) -> set[tuple[str, str]]:
        roles = self.effective_roles(role)
        granted = {(p, t) for grantee, p, t in self.privileges if grantee in roles}
        owned = {("OWNERSHIP", obj) for obj, owner in self.owners.items() if owner in roles}
        return granted | owned


def sql_block(text: str) -> str:
    (block,) = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return block


def statements(block: str) -> Iterator[str]:
    """The block's statements, comments dropped, whitespace folded ($$ bodies kept whole)."""
    bodies: list[str] = []

    def hide(match: re.Match[str]) -> str:
        bodies.append(match[0])
        return f"$$BODY{len(bodies) - 1}$$"

    text = re.sub(r"\$\$.*?\$\$", hide, block, flags=re.S)
    text = re.sub(r"--[^\n]*", "", text)
    for piece in text.split(";"):
        statement = " ".join(piece.split())
        statement = re.sub(r"\$\$BODY(\d+)\$\$", lambda m: bodies[int(m[1])], statement)
        if statement:
            yield statement


GRANT_ROLE = re.compile(r"GRANT ROLE (\w+) TO (ROLE|USER) (\w+)")
GRANT = re.compile(
    r"GRANT (?P<privileges>.+?) ON (?P<target>.+?) TO ROLE (\w+)(?: COPY CURRENT GRANTS)?"
)
GRANT_DATABASE_ROLE = re.compile(r"GRANT DATABASE ROLE ([\w.]+) TO ROLE (\w+)")
CREATE_ROLE = re.compile(r"CREATE ROLE IF NOT EXISTS (\w+)(?: COMMENT = '[^']*')?")
CREATE_USER = re.compile(r"CREATE USER IF NOT EXISTS (\w+) TYPE = SERVICE .*")
CREATE_SCHEMA = re.compile(r"CREATE SCHEMA IF NOT EXISTS ([\w.]+)")
CREATE_PROCEDURE = re.compile(
    r"CREATE OR REPLACE PROCEDURE ([\w.]+)\((\w+) VARCHAR\) RETURNS VARCHAR LANGUAGE SQL "
    r"(EXECUTE AS OWNER )?AS \$\$(.*)\$\$",
    flags=re.S,
)


def apply(block: str) -> Grants:
    grants = Grants()
    current = ""
    for statement in statements(block):
        if match := re.fullmatch(r"USE ROLE (\w+)", statement):
            current = match[1]
        elif match := CREATE_ROLE.fullmatch(statement):
            grants.roles.add(match[1])
        elif match := CREATE_USER.fullmatch(statement):
            grants.users.add(match[1])
        elif match := GRANT_ROLE.fullmatch(statement):
            grants.held.setdefault(match[3], set()).add(match[1])
        elif match := GRANT_DATABASE_ROLE.fullmatch(statement):
            grants.privileges.add((match[2], "DATABASE ROLE", match[1]))
        elif match := GRANT.fullmatch(statement):
            for privilege in match["privileges"].split(","):
                grants.privileges.add((match[3], privilege.strip(), match["target"]))
        elif match := CREATE_SCHEMA.fullmatch(statement):
            grants.owners[f"SCHEMA {match[1]}"] = current
        elif match := CREATE_PROCEDURE.fullmatch(statement):
            name = f"PROCEDURE {match[1]}(VARCHAR)"
            grants.owners[name] = current
            grants.procedures[name] = Procedure(current, bool(match[3]), match[4])
        else:
            raise AssertionError(
                f"docs/security.md: a statement the grant model does not know: {statement}"
            )
    return grants


@pytest.fixture(scope="module")
def grants() -> Grants:
    return apply(sql_block(DOC.read_text()))


def procedure(name: str) -> str:
    return f"PROCEDURE {PROD_DB}.{HAND_OVER_SCHEMA}.{name}(VARCHAR)"


def on_production(target: str) -> bool:
    return bool(re.search(rf"\b(DATABASE|IN DATABASE|SCHEMA|PROCEDURE) {PROD_DB}\b", target))


def test_every_statement_is_understood_and_makes_the_two_roles(grants: Grants) -> None:
    assert grants.roles == {PROD_ROLE, BRANCH_ROLE}
    assert grants.users == {f"{PROD_ROLE}_USER", f"{BRANCH_ROLE}_USER"}


def test_each_service_user_holds_only_its_own_role(grants: Grants) -> None:
    """'The branch user gets the branch role and nothing else: it cannot switch to production's.'"""
    assert grants.effective_roles(f"{BRANCH_ROLE}_USER") == {f"{BRANCH_ROLE}_USER", BRANCH_ROLE}
    assert grants.effective_roles(f"{PROD_ROLE}_USER") == {f"{PROD_ROLE}_USER", PROD_ROLE}


def test_neither_role_holds_the_other_or_an_administrator(grants: Grants) -> None:
    assert grants.effective_roles(BRANCH_ROLE) == {BRANCH_ROLE}
    assert grants.effective_roles(PROD_ROLE) == {PROD_ROLE}


def test_the_branch_role_only_reads_production(grants: Grants) -> None:
    """'It holds USAGE and SELECT there, nothing more': no write, create, ownership."""
    on_prod = {(p, t) for p, t in grants.privileges_of(BRANCH_ROLE) if on_production(t)}
    assert on_prod, "the branch role must read production to clone it"
    assert {p for p, t in on_prod if not t.startswith("PROCEDURE")} <= READ_ONLY, on_prod
    # The one procedure it may call is the hand-over (USAGE on a procedure runs it).
    assert {t for p, t in on_prod if t.startswith("PROCEDURE")} == {procedure(HAND_OVER_PROCEDURE)}


def test_the_branch_role_has_what_clone_prod_needs(grants: Grants) -> None:
    held = grants.privileges_of(BRANCH_ROLE)
    assert ("CREATE DATABASE", "ACCOUNT") in held
    assert ("USAGE", f"WAREHOUSE {WAREHOUSE}") in held
    assert ("USAGE", f"DATABASE {PROD_DB}") in held
    assert ("SELECT", f"ALL TABLES IN DATABASE {PROD_DB}") in held
    assert ("USAGE", procedure(HAND_OVER_PROCEDURE)) in held


def test_production_cannot_create_databases_or_manage_grants(grants: Grants) -> None:
    """'Create databases (CREATE DATABASE ON ACCOUNT is the branch role's alone), manage users,
    roles or grants': not directly, not through any role it holds."""
    held = grants.privileges_of(PROD_ROLE)
    account_wide = {p for p, t in held if t == "ACCOUNT"}
    assert account_wide == set(), account_wide
    assert not any(p in {"MANAGE GRANTS", "CREATE ROLE", "CREATE USER"} for p, _ in held)
    # It drops a clone only through DROP_CLONE, and owns no database but production.
    assert {t for p, t in held if p == "OWNERSHIP" and t.startswith("DATABASE")} == {
        f"DATABASE {PROD_DB}"
    }
    assert ("USAGE", procedure(DROP_PROCEDURE)) in held


def test_neither_role_has_any_privilege_on_the_sandbox(grants: Grants) -> None:
    for role in (PROD_ROLE, BRANCH_ROLE):
        assert not [t for _, t in grants.privileges_of(role) if SANDBOX_DB in t.split()], role


def test_only_the_intended_role_may_call_each_procedure(grants: Grants) -> None:
    callers = {
        name: {g for g, p, t in grants.privileges if p == "USAGE" and t == procedure(name)}
        for name in (HAND_OVER_PROCEDURE, DROP_PROCEDURE)
    }
    assert callers == {HAND_OVER_PROCEDURE: {BRANCH_ROLE}, DROP_PROCEDURE: {PROD_ROLE}}
    hand_over = grants.procedures[procedure(HAND_OVER_PROCEDURE)]
    drop = grants.procedures[procedure(DROP_PROCEDURE)]
    assert hand_over.execute_as_owner and hand_over.owner == PROD_ROLE
    # DROP_CLONE runs as an owner that owns every clone: one that holds the branch role.
    assert drop.execute_as_owner and drop.owner in ADMIN_ROLES
    assert BRANCH_ROLE in grants.effective_roles(drop.owner)
    for body in (hand_over.body, drop.body):
        assert f"clone_owner <> '{BRANCH_ROLE}'" in body
    assert f"STARTSWITH(clone_comment, '{MARKER_PREFIX}; ')" in drop.body


CLONE_NAMES = [clone_database_name(n) for n in ("1", "42", "999999999999999999")]
NOT_CLONES = [
    PROD_DB,
    SANDBOX_DB,
    f"{PROD_DB}_CLONE_0042",
    f"{PROD_DB}_CLONE_",
    f"{PROD_DB.lower()}_clone_1",
    f"X{PROD_DB}_CLONE_1",
    f"{PROD_DB}_CLONE_1; DROP DATABASE {PROD_DB}",
]


@pytest.mark.parametrize("name", [HAND_OVER_PROCEDURE, DROP_PROCEDURE])
def test_procedures_accept_exactly_the_code_clone_names(grants: Grants, name: str) -> None:
    """Snowflake's REGEXP_LIKE matches the whole string, as re.fullmatch does."""
    body = grants.procedures[procedure(name)].body
    (pattern,) = re.findall(r"REGEXP_LIKE\(CLONE_NAME, '([^']+)'\)", body)
    assert [n for n in CLONE_NAMES if not re.fullmatch(pattern, n)] == []
    assert [n for n in NOT_CLONES if re.fullmatch(pattern, n)] == []


def test_the_code_sends_only_what_its_role_may_run(grants: Grants) -> None:
    """clone_prod (branch role) hands the clone over and shares it with production's role; the
    sweeper (production) drops through the procedure it may call."""
    plan = ClonePlan(production=PROD_DB, clone=CLONE_NAMES[1], pull_request="42")
    create, hand_over, share, mark = snowflake_clone_statements(plan)
    assert create.startswith(f'CREATE OR REPLACE DATABASE "{CLONE_NAMES[1]}" CLONE "{PROD_DB}"')
    called = re.fullmatch(r'CALL "(\w+)"\."(\w+)"\."(\w+)"\(\'\w+\'\)', hand_over)
    assert called and ("USAGE", f"PROCEDURE {'.'.join(called.groups())}(VARCHAR)") in (
        grants.privileges_of(BRANCH_ROLE)
    )
    assert share == f'GRANT USAGE ON DATABASE "{CLONE_NAMES[1]}" TO ROLE "{PROD_ROLE}"'
    assert mark.startswith(f'ALTER DATABASE "{CLONE_NAMES[1]}" SET COMMENT = ')
    swept = re.fullmatch(
        r'CALL "(\w+)"\."(\w+)"\."(\w+)"\(\'\w+\'\)', snowflake_sweeper_drop_sql(CLONE_NAMES[1])
    )
    assert swept and ("USAGE", f"PROCEDURE {'.'.join(swept.groups())}(VARCHAR)") in (
        grants.privileges_of(PROD_ROLE)
    )
