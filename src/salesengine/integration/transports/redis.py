"""Redis: one stream per subject, entries of plain fields (``data``, the JSON body, and
the headers), added by a script that skips an event its stream already holds
(docs/integration.md, "What Redis deduplicates")."""

from __future__ import annotations

from faststream.redis import RedisBroker
from redis.commands.core import AsyncScript

from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.transports.base import (
    BrokerTransport,
    BrokerUnavailable,
    Outgoing,
    acknowledged,
    failure_reason,
    message_headers,
)

# Adds a page's entries to their streams, in the order given, skipping each event its
# stream already holds. KEYS: the streams, then the hash of what each store has added
# to each stream. ARGV: the store id, then per entry the index of its stream in KEYS,
# its log position, its number of field names and values, and those.
#
# A store's events reach a stream in log order (the relay adds a page in log order,
# and a page only once the one before it is acknowledged), so an event is in its
# stream exactly when its position is at most the last one added there: the hash keeps
# that position per store and stream, and the script skips what is not beyond it. A
# stream that is gone (deleted) is started afresh. A script runs whole or, on an error,
# up to the failing command, so the hash never claims an entry that was not added.
ADD_ONCE = """
local marks = KEYS[#KEYS]
local store = ARGV[1]
local last = {}
local added = 0
local i = 2
while i <= #ARGV do
  local stream = KEYS[tonumber(ARGV[i])]
  local position = tonumber(ARGV[i + 1])
  local n = tonumber(ARGV[i + 2])
  local mark = store .. ' ' .. stream
  if last[stream] == nil then
    if redis.call('EXISTS', stream) == 0 then
      redis.call('HDEL', marks, mark)
      last[stream] = 0
    else
      last[stream] = tonumber(redis.call('HGET', marks, mark) or '0')
    end
  end
  if position > last[stream] then
    redis.call('XADD', stream, '*', unpack(ARGV, i + 3, i + 2 + n))
    redis.call('HSET', marks, mark, ARGV[i + 1])
    last[stream] = position
    added = added + 1
  end
  i = i + 3 + n
end
return added
"""
ADDED_KEY = "salesengine:relayed"  # the script's hash: "<store id> <stream>" -> position
PAGE_CHUNK = 200  # entries per script call: a script holds the server while it runs


class RedisTransport(BrokerTransport):
    """Redis streams that plain clients read as they are (``XREAD``: the body in
    ``data``, the headers as fields; faststream's stream subscribers read ``data`` as the
    body), added by ``ADD_ONCE`` a page at a time (``publish_page``), in log order as the
    script needs, so a republished page adds nothing twice."""

    kind = "redis"
    broker: RedisBroker

    def __init__(self, broker: RedisBroker) -> None:
        self._add: AsyncScript | None = None  # while connected
        super().__init__(broker)

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            stream=channel,
            title=channel,
            description=model.__doc__,
            schema=model,
        )

    async def start(self) -> None:
        await super().start()
        try:
            client = await self.broker.connect()
            self._add = client.register_script(ADD_ONCE)
        except Exception as e:  # redis-py raises its own
            raise BrokerUnavailable(failure_reason(e)) from e

    async def stop(self) -> None:
        self._add = None
        await super().stop()

    @property
    def paged(self) -> bool:
        return self._add is not None

    async def publish_page(self, messages: list[Outgoing]) -> None:
        for start in range(0, len(messages), PAGE_CHUNK):
            chunk = messages[start : start + PAGE_CHUNK]
            await acknowledged(self._add_entries(chunk), chunk[0].position)

    async def _send(self, message: Outgoing) -> None:
        await self._add_entries([message])

    async def _add_entries(self, messages: list[Outgoing]) -> int:
        add = self._add
        if add is None:
            raise BrokerUnavailable("not connected")
        streams: dict[str, int] = {}
        args: list[str | bytes | int] = [messages[0].store]
        for message in messages:
            index = streams.setdefault(message.subject, len(streams) + 1)
            fields = redis_fields(message)
            args += [index, message.position, 2 * len(fields)]
            for name, value in fields.items():
                args += [name, value]
        added: int = await add(keys=[*streams, ADDED_KEY], args=args)
        return added


def redis_fields(message: Outgoing) -> dict[str, str | bytes]:
    """A message as the fields of its stream entry: the body and every header."""
    fields: dict[str, str | bytes] = {"data": message.body}
    fields.update(message_headers(message))
    return fields
