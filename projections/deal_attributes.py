"""Deal attributes over effective time, bitemporally: who owns the deal, its amount,
currency, expected close and open next step, in segments ``[valid_from, valid_to)``.

The values are ``attribute_fold``'s: the domain's own fold (``DealState``) after each
event, so the reports group and sum deals exactly as the aggregate sees them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table

from salesengine.projections.attribute_fold import ATTRIBUTE_TOPICS
from salesengine.projections.base import Payload, metadata
from salesengine.projections.bitemporal import DealRowsProjection, bitemporal_columns
from salesengine.projections.timeline import DealTimeline

table = Table(
    "deal_attributes",
    metadata,
    *bitemporal_columns(),
    Column("valid_from", BigInteger, nullable=False),
    Column("valid_to", BigInteger, nullable=True),
    Column("deal", String(200), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("account", String(200), nullable=True),
    Column("owner", String(200), nullable=True),
    Column("team", String(200), nullable=True),
    Column("region", String(200), nullable=True),
    Column("amount", BigInteger, nullable=True),  # ten-thousandths of the currency unit
    Column("currency", String(3), nullable=True),
    Column("expected_close", String(10), nullable=True),  # YYYY-MM-DD
    Column("next_action", String(4000), nullable=True),
    Column("next_due", BigInteger, nullable=True),
    # No time index: reports reach a deal's attributes from its interval, by deal_id
    # (the primary key); a time index here lures SQLite into a nested scan of both tables.
)


class DealAttributes(DealRowsProjection):
    name = "deal_attributes"
    table = table
    tables = (table,)
    topics = ATTRIBUTE_TOPICS
    payload_columns = (
        "valid_from",
        "valid_to",
        "deal",
        "policy",
        "account",
        "owner",
        "team",
        "region",
        "amount",
        "currency",
        "expected_close",
        "next_action",
        "next_due",
    )

    def changed_from(self, timeline: DealTimeline) -> int:
        return timeline.attributes_from

    def rows_from(self, timeline: DealTimeline, index: int) -> list[Payload]:
        return timeline.attributes.rows_from(index)
