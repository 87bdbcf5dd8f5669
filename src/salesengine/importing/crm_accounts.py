"""The accounts of a CRM export: a lookup file whose rows are the accounts the deals name
(Maven's accounts.csv), recorded as account events beside the deals (docs/importing.md,
"Accounts").

The file is read and every value checked before the import writes anything, so a bad
value (a revenue that is no number) stops the import naming the file, the line and the
column. Once the deals are imported, each account named by a deal of the file is
opened, owned by its earliest deal's owner (as ``account adopt`` chooses, from the file
rather than the store), with its industry, region and buying power; its command ids
derive from its key, so importing again writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.domain.account import Account, AccountAlreadyExists
from salesengine.domain.errors import CommandIdReused, SalesEngineError
from salesengine.importing.common.csv_files import read_header, read_records, require_columns
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.items import SourceCommand, SourceItem
from salesengine.importing.common.validation import describe_validation
from salesengine.importing.crm_csv import find_file
from salesengine.importing.crm_csv_mapping import AccountsFrom, CsvMapping, load_csv_mapping
from salesengine.importing.sources import CHANGED, AccountsReport, Problem, command_id

ID_FORMAT = "csv-account"  # command ids: csv-account-<digest of the key and the command's place>
# What stands in for the owner while a row is checked: the owner comes from the deals.
_SOME_OWNER = "owner"


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    key: str
    fields: dict[str, Any]  # of the opening: industry, region
    buying_power: dict[str, Any] | None  # amount, currency, note


@dataclass(frozen=True, slots=True)
class _Opening:
    at: datetime
    deal: str
    owner: str | None
    team: str | None


class CsvAccounts:
    """One import's accounts: read and checked up front, recorded after the deals."""

    def __init__(self, path: Path, rows: list[_Row]) -> None:
        self.path, self.rows = path, rows
        self.first: dict[str, _Opening] = {}  # account -> its earliest deal's opening

    @classmethod
    def read(cls, data_path: Path, mapping: str | None) -> CsvAccounts | None:
        """The accounts the mapping names (None if it names none); a ``SourceError`` names
        the file, line and column of the first bad value."""
        if mapping is None:
            return None
        mapping_path, spec = load_csv_mapping(mapping)
        if spec.accounts is None:
            return None
        lookup = next(lk for lk in spec.lookups if lk.file == spec.accounts.file)
        path = find_file(lookup.file, mapping_path, data_path)
        return cls(path, _rows(path, spec, spec.accounts, lookup.key_column))

    def watch(self, items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        """The items, unchanged; each deal's opening is noted on the way."""
        first = self.first
        for item in items:
            if isinstance(item, SourceCommand) and item.refusal is None:
                command = item.command
                account = command.get("account")
                if command.get("cmd") == "open" and account:
                    opening = _Opening(
                        datetime.fromisoformat(command["at"]),
                        command["deal"],
                        command.get("owner"),
                        command.get("team"),
                    )
                    known = first.get(account)
                    if known is None or (opening.at, opening.deal) < (known.at, known.deal):
                        first[account] = opening
            yield item

    def apply(self, engine: SalesEngine) -> AccountsReport:
        """Record each account a deal named, saved in one transaction."""
        report = AccountsReport(str(self.path))
        accounts = Accounts(engine)
        changed: list[Account] = []
        source = str(self.path.resolve())
        for row in self.rows:
            where = f"line {row.line}"
            opening = self.first.get(row.key)
            if opening is None or not opening.owner:
                why = "no deal of the file with an owner names this account: it would have no owner"
                report.skipped.append(Problem(where, why, row.line))
                continue
            provenance = {"source": source, "format": "csv", "source_id": row.key}
            provenance["line"] = str(row.line)
            try:
                account, applied = _decide(accounts, row, opening, provenance)
            except SalesEngineError as e:
                why = CHANGED if isinstance(e, CommandIdReused) else str(e)
                report.refused.append(Problem(where, why, row.line))
                continue
            if applied:
                changed.append(account)
                report.recorded += 1
            else:
                report.unchanged += 1
        if changed:
            accounts.commit(*changed)
        return report


def _decide(
    accounts: Accounts, row: _Row, opening: _Opening, provenance: dict[str, str]
) -> tuple[Account, bool]:
    """The account with the row's commands decided (nothing saved); whether any applied."""
    at = opening.at.isoformat()
    opened = {"cmd": "account_open", "account": row.key, "at": at, "owner": opening.owner}
    opened |= {"team": opening.team} if opening.team else {}
    commands = [{**opened, **row.fields}]
    if row.buying_power is not None:
        commands.append({"cmd": "buying_power", "account": row.key, "at": at, **row.buying_power})
    seen: dict[str, int] = {}
    for raw in commands:
        raw["id"] = command_id(ID_FORMAT, row.key, seen)
    account = accounts.find(row.key)
    if account is not None and not account.has_applied(commands[0]["id"]):
        raise AccountAlreadyExists(
            f"account '{row.key}' was recorded otherwise (account open or adopt): the file "
            "does not rewrite it; record a change with account change or account bp"
        )
    applied = False
    for raw in commands:
        account, result = accounts.decide(parse_account_command(raw), account, provenance)
        applied = applied or result.status == "applied"
    assert account is not None  # the opening made it, or found it
    return account, applied


def _rows(path: Path, spec: CsvMapping, fields: AccountsFrom, key: str) -> list[_Row]:
    header = read_header(path, encoding=spec.encoding, delimiter=spec.delimiter)
    columns = {"industry": fields.industry, "region": fields.region}
    needed = {column: f"account {name}" for name, column in columns.items() if column}
    if fields.buying_power is not None:
        needed[fields.buying_power.column] = "account buying_power"
    needed |= {column: "account note" for column in fields.notes if column not in needed}
    require_columns(path, header, {key: "account key", **needed})
    rows: list[_Row] = []
    for line, record in read_records(path, encoding=spec.encoding, delimiter=spec.delimiter):
        if len(record) != len(header):
            raise SourceError(
                f"{path}: line {line}: {len(record)} fields where the header has {len(header)}"
            )
        values = dict(zip(header, (value.strip() for value in record), strict=True))
        if not values[key]:
            continue  # named by no deal
        opening = {name: values[col] for name, col in columns.items() if col and values[col]}
        bp = _buying_power(path, line, values, fields)
        _check(path, line, values[key], opening, bp, fields)
        rows.append(_Row(line, values[key], opening, bp))
    return rows


def _buying_power(
    path: Path, line: int, values: dict[str, str], fields: AccountsFrom
) -> dict[str, Any] | None:
    spec = fields.buying_power
    if spec is None or not values[spec.column]:
        return None
    text = values[spec.column]
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0:
        raise SourceError(
            f"{path}: line {line}: column {spec.column}: {text!r} is not a number of 0 or "
            "more (the account's buying power is made from it)"
        )
    amount = (number * spec.unit * spec.share).quantize(Decimal("0.01"))
    note = f"{spec.column} {text} x {spec.unit:,} x {spec.share} (share assumed by the mapping)"
    quoted = [f"{column} {values[column]}" for column in fields.notes if values[column]]
    if quoted:
        note += "; " + ", ".join(quoted)
    return {"amount": str(amount), "currency": spec.currency, "note": note}


def _check(
    path: Path,
    line: int,
    key: str,
    opening: dict[str, Any],
    bp: dict[str, Any] | None,
    fields: AccountsFrom,
) -> None:
    """Refuse now a value the account commands would refuse once the deals are written,
    naming the column it came from."""
    columns = {"industry": fields.industry, "region": fields.region}
    if fields.buying_power is not None:
        columns["amount"] = fields.buying_power.column
    checks = [{"cmd": "account_open", "account": key, "owner": _SOME_OWNER, **opening}]
    if bp is not None:
        checks.append({"cmd": "buying_power", "account": key, **bp})
    for raw in checks:
        try:
            parse_account_command(raw)
        except ValidationError as e:
            message = describe_validation(e)
            for name, column in columns.items():
                if column:
                    message = message.replace(
                        f"field '{name}'", f"field '{name}' (column {column})"
                    )
            raise SourceError(f"{path}: line {line}: {message}") from None
