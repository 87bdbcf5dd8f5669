"""The event store: settings from a database URL, the recorders, the stored-event codec,
the notification-log reader, the store's identity and the start-up table creation.

Modules here import no read model, report or command-line code (checked by
import-linter); the SQL side (``sql``, ``identity``) loads SQLAlchemy only when used.
"""
