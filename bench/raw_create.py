"""The baseline of bench/topics_apply.py: topics created with raw confluent_kafka calls, in a process of
its own (so both sides of the ratio pay a process start), and nothing else (no file, no describe, no
plan, no wait for metadata).

    python bench/raw_create.py BOOTSTRAP NAMES_FILE batched   # the fewest CreateTopics Kafka accepts
    python bench/raw_create.py BOOTSTRAP NAMES_FILE each      # one CreateTopics per topic, each awaited

`batched` packs as many topics into each request as the KRaft controller takes: at most 10,000 metadata
records per request (a topic, each partition and each config is one record; KAFKA-14996), so 2,500
topics of one partition and two configs each.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # re-exported without __all__

CONFIG = {"retention.ms": "86400000", "cleanup.policy": "delete"}
MAX_RECORDS = 10_000
PER_REQUEST = MAX_RECORDS // (1 + 1 + len(CONFIG))


def main() -> None:
    bootstrap, names_file, mode = sys.argv[1:4]
    quiet = logging.getLogger("raw_create")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    client = AdminClient({"bootstrap.servers": bootstrap, "logger": quiet})  # type: ignore[dict-item]  # librdkafka takes a logger
    names = Path(names_file).read_text().split()
    size = PER_REQUEST if mode == "batched" else 1
    for start in range(0, len(names), size):
        chunk = names[start : start + size]
        topics = [NewTopic(n, num_partitions=1, replication_factor=1, config=CONFIG) for n in chunk]
        for future in client.create_topics(topics, operation_timeout=300, request_timeout=300).values():
            future.result()


if __name__ == "__main__":
    main()
