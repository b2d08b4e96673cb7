"""Moving a live queue to the arguments this version declares: RabbitMQ cannot change them in place.

The messages move to a holding queue (`<name>.migrating`, durable, no arguments), the queue is deleted
once empty and declared again with its arguments, and the messages move back in their order. Each
move publishes with confirms before it acknowledges, so a crash leaves every message in one queue or
(at worst) in both, never in none; running the command again finishes an interrupted migration. While
the queue is missing, the service's publishers get their messages back as unroutable and retry later
(points wait in the outbox), so only the queue's consumers need to be stopped meanwhile.
"""

from __future__ import annotations

from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import ChannelClosedByBroker
from pydantic import BaseModel, Field

from shared.common.errors import QueueArgumentsError
from shared.common.settings import Settings
from shared.messaging.broker import PRECONDITION_FAILED, declare_queue, declare_queues
from shared.messaging.parking import operator_channel
from shared.messaging.queues import DEFAULT_EXCHANGE, QUEUES, queue_arguments

HOLDING_SUFFIX = ".migrating"
# A publisher may slip messages in between emptying the queue and deleting it: empty it again.
DELETE_ATTEMPTS = 5


class MigrationResult(BaseModel):
    """What a migration did: whether the queue had to be declared again, and how many messages moved."""

    queue: str
    redeclared: bool
    moved: int = 0
    arguments: dict[str, Any] = Field(default_factory=dict)


def migrate_queue(settings: Settings, name: str) -> MigrationResult:
    """Give a service queue the arguments this version declares, keeping its messages and their order."""
    if name not in QUEUES:
        raise QueueArgumentsError(f"{name!r} is not a queue of the service ({', '.join(QUEUES)})")
    holding = name + HOLDING_SUFFIX
    arguments = queue_arguments(name, settings)
    with operator_channel(settings, declare=()) as channel:
        connection = channel.connection
        work = _confirming(connection)
        work.queue_declare(holding, durable=True)
        if _declared_as_wanted(connection, name, settings):
            # Nothing to change, or an interrupted migration to finish.
            moved = _move(work, holding, name)
            work.queue_delete(holding, if_empty=True)
            return MigrationResult(queue=name, redeclared=False, moved=moved, arguments=arguments)
        work = _empty_and_delete(connection, work, name, holding)
        declare_queues(work, [name], settings=settings)
        moved = _move(work, holding, name)
        work.queue_delete(holding, if_empty=True)
        return MigrationResult(queue=name, redeclared=True, moved=moved, arguments=arguments)


def _confirming(connection: pika.BlockingConnection) -> BlockingChannel:
    channel = connection.channel()
    channel.confirm_delivery()
    return channel


def _declared_as_wanted(connection: pika.BlockingConnection, name: str, settings: Settings) -> bool:
    probe = connection.channel()
    try:
        declare_queue(probe, name, settings=settings)
    except QueueArgumentsError:
        return False
    probe.close()
    return True


def _empty_and_delete(
    connection: pika.BlockingConnection, work: BlockingChannel, name: str, holding: str
) -> BlockingChannel:
    """Move the queue's messages to the holding queue and delete it once empty; return a live channel."""
    for _ in range(DELETE_ATTEMPTS):
        _move(work, name, holding)
        try:
            work.queue_delete(name, if_empty=True)
            return work
        except ChannelClosedByBroker as error:
            if error.reply_code != PRECONDITION_FAILED:
                raise
            work = _confirming(connection)
    raise QueueArgumentsError(
        f"queue {name!r} kept receiving messages while it was being emptied ({DELETE_ATTEMPTS} tries); "
        f"its messages wait in {holding!r}: stop its publishers and run the migration again"
    )


def _move(channel: BlockingChannel, source: str, target: str) -> int:
    """Move every ready message from one queue to another, in order; each acknowledged once confirmed."""
    moved = 0
    while True:
        method, properties, body = channel.basic_get(source, auto_ack=False)
        if method is None:
            return moved
        channel.basic_publish(DEFAULT_EXCHANGE, target, body, properties=properties, mandatory=True)
        channel.basic_ack(method.delivery_tag)
        moved += 1
