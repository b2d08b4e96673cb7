"""The Job end to end figure on the real services: one tick from a loopback CSV against a plain script."""

from __future__ import annotations

from pathlib import Path

import pika

from devtools import bench
from shared.messaging.queues import COLLECTED_DATA_QUEUE, RESOURCE_DATA_QUEUE

SIZES = bench.Sizes(job_points=2_000, repeat=1)


def queue_depths(amqp_url: str) -> dict[str, int | None]:
    """Messages waiting in the queues consumers read (None: the queue does not exist)."""
    depths: dict[str, int | None] = {}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        for queue in (RESOURCE_DATA_QUEUE, COLLECTED_DATA_QUEUE):
            channel = connection.channel()
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).method.message_count
            except pika.exceptions.ChannelClosedByBroker:
                depths[queue] = None
    finally:
        connection.close()
    return depths


def test_one_tick_stores_and_publishes_every_point_to_a_scratch_queue_only(
    tmp_path: Path, mongodb_uri: str, amqp_url: str
) -> None:
    before = queue_depths(amqp_url)
    work = bench.Bench(sizes=SIZES, services=bench.Services(mongodb_uri, amqp_url), work=tmp_path)

    (figure,) = bench.job_end_to_end(work)

    assert figure.figure == "Job end to end"
    assert figure.ours and figure.baseline and figure.ratio, figure.detail
    assert "2,000 points" in figure.detail
    assert queue_depths(amqp_url) == before
