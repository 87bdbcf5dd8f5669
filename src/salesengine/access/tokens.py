"""Bearer tokens: made at random, shown once, kept only as hashes, never logged.

A token reads ``se_<id>_<secret>``: ``id`` is 12 hex digits, public (listings and
revocation name it), and ``secret`` 32 random bytes in URL-safe base64. The table
``salesengine_tokens``, in the store's own database, keeps the id, whose token it is
(name, role, scope) and the SHA-256 of the whole token text, never the text. A token
is looked up by its id and its hash compared in constant time. One round of SHA-256 is
enough here, unlike for passwords: 256 random bits cannot be guessed from their hash.

Nothing in this module logs, and no error or ``repr`` holds a token's text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Column, DateTime, Engine, MetaData, RowMapping, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from salesengine.access.principal import EVERYTHING, Principal, Scope, scope_for
from salesengine.access.roles import Role
from salesengine.application.names import checked_name
from salesengine.domain.errors import SalesEngineError, StoreUnavailable
from salesengine.store.sql import store_errors
from salesengine.store.table_creation import create_tables

log = logging.getLogger("salesengine.tokens")

PREFIX = "se"
ID_HEX = 12
SECRET_BYTES = 32
TOKEN_FORM = re.compile(rf"{PREFIX}_([0-9a-f]{{{ID_HEX}}})_([A-Za-z0-9_-]{{43}})")
# last_used_at is a write: kept to one per token and minute, not one per request.
LAST_USED_EVERY = timedelta(minutes=1)
# Compared with when the id is unknown, so that an unknown id costs what a known one does.
_NO_HASH = "0" * 64

metadata = MetaData()
tokens_table = Table(
    "salesengine_tokens",
    metadata,
    Column("id", String(ID_HEX), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("owner", String(200), nullable=True),
    Column("teams", Text, nullable=False),  # a JSON array of names, sorted
    Column("policies", Text, nullable=False),  # a JSON array of names, sorted
    Column("sha256", String(64), nullable=False),  # of the whole token text, hex
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
)


class TokenError(SalesEngineError):
    """A token operation that cannot be done (an unknown id to revoke, a bad name)."""

    code = "token"


class UnknownToken(TokenError):
    code = "unknown_token"


class RefusalReason(StrEnum):
    MALFORMED = "malformed"  # not of the form se_<id>_<secret>
    UNKNOWN = "unknown"  # no such token (an unknown id, or a wrong secret)
    REVOKED = "revoked"
    INVALID = "invalid"  # its row is not one this version reads (an unknown role)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a token does not authenticate anyone."""

    reason: RefusalReason
    message: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listings show it: everything but its text and hash."""

    id: str
    name: str
    role: Role
    owner: str | None
    teams: tuple[str, ...]
    policies: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def scope(self) -> Scope:
        if self.role in (Role.AUDITOR, Role.ADMIN):
            return EVERYTHING
        return Scope(
            owner=self.owner, teams=frozenset(self.teams), policies=frozenset(self.policies)
        )

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def principal(self) -> Principal:
        return Principal(name=self.name, role=self.role, scope=self.scope, token_id=self.id)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: its ``text`` exists only here, to be shown once."""

    info: TokenInfo
    text: str = field(repr=False)


def token_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


class TokenStore:
    """The tokens of one store. Creating it creates the table if it is missing (as the
    store's own tables are created: safe against another process doing the same)."""

    def __init__(self, sql: Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.sql = sql
        self.clock = clock
        with store_errors("create the tokens table"):
            create_tables(sql, metadata)

    def create(
        self,
        name: str,
        role: Role,
        *,
        owner: str | None = None,
        teams: Iterable[str] = (),
        policies: Iterable[str] = (),
    ) -> IssuedToken:
        """A new token for ``name`` in ``role`` over the scope the role takes
        (``ScopeError`` if it does not fit; ``TokenError`` for a bad name)."""
        try:
            name = checked_name(name)
        except ValueError as e:
            raise TokenError(f"name {name!r}: {e}") from None
        scope = scope_for(role, owner=owner, teams=teams, policies=policies)
        now = self.clock()
        for _ in range(5):
            token_id = secrets.token_hex(ID_HEX // 2)
            secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=")
            text = f"{PREFIX}_{token_id}_{secret.decode('ascii')}"
            info = TokenInfo(
                id=token_id,
                name=name,
                role=role,
                owner=scope.owner,
                teams=tuple(sorted(scope.teams)),
                policies=tuple(sorted(scope.policies)),
                created_at=now,
                revoked_at=None,
                last_used_at=None,
            )
            with store_errors("record the token"):
                try:
                    with self.sql.begin() as conn:
                        conn.execute(
                            tokens_table.insert().values(
                                id=info.id,
                                name=info.name,
                                role=str(info.role),
                                owner=info.owner,
                                teams=json.dumps(info.teams, ensure_ascii=False),
                                policies=json.dumps(info.policies, ensure_ascii=False),
                                sha256=token_hash(text),
                                created_at=now,
                            )
                        )
                except IntegrityError:
                    continue  # that id is taken (one chance in 2^48): draw another
            return IssuedToken(info=info, text=text)
        raise TokenError("cannot draw an unused token id")  # pragma: no cover

    def tokens(self) -> list[TokenInfo]:
        """Every token, revoked ones included, oldest first."""
        t = tokens_table.c
        query = select(*_INFO_COLUMNS).order_by(t.created_at, t.id)
        with store_errors("read the tokens"), self.sql.connect() as conn:
            return [_info(row._mapping) for row in conn.execute(query)]

    def get(self, token_id: str) -> TokenInfo:
        """One token by its id (``UnknownToken`` if there is none)."""
        query = select(*_INFO_COLUMNS).where(tokens_table.c.id == token_id)
        with store_errors("read the tokens"), self.sql.connect() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            raise UnknownToken(f"no token with id {token_id!r} (see: salesengine token list)")
        return _info(row._mapping)

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token for good: it authenticates no one from now on. Revoking a
        revoked token changes nothing (its first revocation time stays)."""
        t = tokens_table.c
        with store_errors("revoke the token"), self.sql.begin() as conn:
            conn.execute(
                tokens_table.update()
                .where(t.id == token_id, t.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        return self.get(token_id)

    def authenticate(self, text: str) -> Principal | Refusal:
        """The principal a token's text stands for, or why it stands for no one."""
        found = TOKEN_FORM.fullmatch(text) if len(text) < 100 else None
        if found is None:
            return Refusal(
                RefusalReason.MALFORMED,
                f"not a salesengine token (the form is {PREFIX}_<id>_<secret>)",
            )
        token_id = found.group(1)
        t = tokens_table.c
        query = select(*_INFO_COLUMNS, t.sha256).where(t.id == token_id)
        with store_errors("read the tokens"), self.sql.connect() as conn:
            row = conn.execute(query).one_or_none()
        stored = _NO_HASH if row is None else str(row.sha256)
        matches = hmac.compare_digest(stored, token_hash(text))
        if row is None or not matches:
            return Refusal(RefusalReason.UNKNOWN, "unknown token")
        try:
            info = _info(row._mapping)
        except TokenError as e:
            return Refusal(RefusalReason.INVALID, e.message)
        if info.revoked_at is not None:
            return Refusal(
                RefusalReason.REVOKED,
                f"token {info.id} was revoked at {info.revoked_at.isoformat(timespec='seconds')}",
            )
        self._touch(info)
        return info.principal()

    def _touch(self, info: TokenInfo) -> None:
        """Note when a token was last used, at most once a minute."""
        now = self.clock()
        if info.last_used_at is not None and now - info.last_used_at < LAST_USED_EVERY:
            return
        t = tokens_table.c
        try:
            with store_errors("note the token's use"), self.sql.begin() as conn:
                conn.execute(tokens_table.update().where(t.id == info.id).values(last_used_at=now))
        except StoreUnavailable as e:
            # The last use is for people reading `token list`: a request is not refused
            # for want of noting it. The next use, a minute on, notes it again.
            log.warning("%s", e.message)


_INFO_COLUMNS = tuple(
    tokens_table.c[name]
    for name in (
        "id",
        "name",
        "role",
        "owner",
        "teams",
        "policies",
        "created_at",
        "revoked_at",
        "last_used_at",
    )
)


def _info(values: RowMapping) -> TokenInfo:
    try:
        role = Role(values["role"])
    except ValueError:
        raise TokenError(
            f"token {values['id']}: unknown role {values['role']!r} in salesengine_tokens"
        ) from None
    return TokenInfo(
        id=str(values["id"]),
        name=str(values["name"]),
        role=role,
        owner=values["owner"],
        teams=tuple(json.loads(values["teams"])),
        policies=tuple(json.loads(values["policies"])),
        created_at=_aware(values["created_at"]),
        revoked_at=_aware_or_none(values["revoked_at"]),
        last_used_at=_aware_or_none(values["last_used_at"]),
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands back the UTC instants it was given without their offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)
