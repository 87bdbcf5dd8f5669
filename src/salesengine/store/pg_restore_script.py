"""The SQL that psql runs around a PostgreSQL restore, in the restore's one transaction.

Before the archive's SQL: the revocations of the store being replaced are kept aside,
the target schema is checked to hold nothing at all (every kind of object, not only
tables) unless the restore is forced, and it is dropped. The check is in the same
transaction as the drop, and the drop of a schema that is not forced is RESTRICT:
whatever another session creates in it meanwhile makes the restore fail whole instead
of being dropped. After the archive's SQL: the schema is renamed when the names differ,
the kept revocations are put back on the restored tokens, and the keys of the subjects
the replaced store had erased are deleted again (a backup older than an erasure holds
them).
"""

from __future__ import annotations

import re

from salesengine.domain.erasure import ERASURE_TOPIC
from salesengine.store.backup_shared import TOKENS_TABLE
from salesengine.store.personal_keys import KEYS_TABLE
from salesengine.store.settings import EVENTS_TABLE
from salesengine.store.settings import quoted_ident as ident

KEPT = "pg_temp.salesengine_kept_revocations"
ERASED = "pg_temp.salesengine_kept_erasures"
# What the script prints at its end, for pg_backup to read back.
KEPT_MARK = "salesengine-kept-revoked="
ERASED_MARK = "salesengine-kept-erased="
NOT_EMPTY_MARK = "restore --force replaces all of it"

# Every kind of object a schema can hold that a DROP SCHEMA ... CASCADE would drop,
# counted by kind. Array types and the row types of relations come with their owners.
_HELD = """
SELECT kind, count(*) AS n FROM (
  SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
    WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table'
    WHEN 'c' THEN 'type' ELSE 'index' END AS kind
  FROM pg_class c WHERE c.relnamespace = space
  UNION ALL SELECT 'function' FROM pg_proc WHERE pronamespace = space
  UNION ALL SELECT 'type' FROM pg_type t WHERE t.typnamespace = space AND t.typrelid = 0
    AND NOT EXISTS (SELECT 1 FROM pg_type a WHERE a.typarray = t.oid)
  UNION ALL SELECT 'collation' FROM pg_collation WHERE collnamespace = space
  UNION ALL SELECT 'operator' FROM pg_operator WHERE oprnamespace = space
  UNION ALL SELECT 'operator family' FROM pg_opfamily WHERE opfnamespace = space
  UNION ALL SELECT 'conversion' FROM pg_conversion WHERE connamespace = space
  UNION ALL SELECT 'extension' FROM pg_extension WHERE extnamespace = space
  UNION ALL SELECT 'text search configuration' FROM pg_ts_config WHERE cfgnamespace = space
  UNION ALL SELECT 'text search dictionary' FROM pg_ts_dict WHERE dictnamespace = space
  UNION ALL SELECT 'statistics object' FROM pg_statistic_ext WHERE stxnamespace = space
) AS objects GROUP BY kind
"""


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def before_archive(schema: str, *, force: bool) -> str:
    """Keep the target's revocations, refuse a target that holds anything unless
    forced, and drop it."""
    check = ""
    if not force:
        check = f"""
  SELECT string_agg(n || ' ' || kind || CASE WHEN n = 1 THEN '' ELSE 's' END, ', '
                    ORDER BY kind)
    INTO held FROM ({_HELD}) AS counted;
  IF held IS NOT NULL THEN
    RAISE EXCEPTION 'schema % is not empty: it holds %; {NOT_EMPTY_MARK}',
      quote_ident(target), held;
  END IF;"""
    return f"""
CREATE TEMP TABLE {KEPT.split(".")[1]} (id text PRIMARY KEY, revoked_at timestamptz NOT NULL)
  ON COMMIT DROP;
CREATE TEMP TABLE {ERASED.split(".")[1]} (subject text PRIMARY KEY) ON COMMIT DROP;
DO $salesengine_restore$
DECLARE
  target text := {literal(schema)};
  space oid := (SELECT oid FROM pg_namespace WHERE nspname = target);
  held text;
BEGIN
  IF space IS NULL THEN
    RETURN;
  END IF;
  IF to_regclass(format('%I.%I', target, {literal(TOKENS_TABLE)})) IS NOT NULL THEN
    EXECUTE format('INSERT INTO {KEPT} SELECT id, revoked_at FROM %I.%I '
                   'WHERE revoked_at IS NOT NULL', target, {literal(TOKENS_TABLE)});
  END IF;
  IF to_regclass(format('%I.%I', target, {literal(EVENTS_TABLE["postgresql"])})) IS NOT NULL THEN
    EXECUTE format('INSERT INTO {ERASED} SELECT DISTINCT jsonb_array_elements_text('
                   'convert_from(state, ''UTF8'')::jsonb -> ''subjects'') FROM %I.%I '
                   'WHERE topic = %L', target, {literal(EVENTS_TABLE["postgresql"])},
                   {literal(ERASURE_TOPIC)});
  END IF;{check}
END
$salesengine_restore$;
DROP SCHEMA IF EXISTS {ident(schema)} {"CASCADE" if force else "RESTRICT"};
"""


def after_archive(source: str, schema: str) -> str:
    """Rename the restored schema to the target's, put the kept revocations back on
    the tokens the backup holds live, and print how many."""
    rename = ""
    if source != schema:
        rename = f"ALTER SCHEMA {ident(source)} RENAME TO {ident(schema)};\n"
    tokens = f"{ident(schema)}.{ident(TOKENS_TABLE)}"
    keys = f"{ident(schema)}.{ident(KEYS_TABLE)}"
    return f"""{rename}
CREATE TEMP TABLE salesengine_kept_count (n bigint NOT NULL, erased bigint NOT NULL)
  ON COMMIT DROP;
DO $salesengine_restore$
DECLARE
  kept bigint := 0;
  erased bigint := 0;
BEGIN
  IF to_regclass({literal(tokens)}) IS NOT NULL THEN
    UPDATE {tokens} AS t SET revoked_at = k.revoked_at FROM {KEPT} AS k
      WHERE t.id = k.id AND t.revoked_at IS NULL;
    GET DIAGNOSTICS kept = ROW_COUNT;
  END IF;
  IF to_regclass({literal(keys)}) IS NOT NULL THEN
    DELETE FROM {keys} WHERE subject IN (SELECT subject FROM {ERASED});
    GET DIAGNOSTICS erased = ROW_COUNT;
  END IF;
  INSERT INTO pg_temp.salesengine_kept_count VALUES (kept, erased);
END
$salesengine_restore$;
SELECT {literal(KEPT_MARK)} || n || ' ' || {literal(ERASED_MARK)} || erased
  FROM pg_temp.salesengine_kept_count;
"""


def kept_count(output: str, mark: str = KEPT_MARK) -> int:
    found = re.search(rf"{re.escape(mark)}(\d+)", output)
    return int(found.group(1)) if found else 0
