"""Issue 9: librdkafka 2.0.2 can put an idempotent producer into a fatal state after broker
failures ("sequence desynchronization"); every later message would be refused. The producer
(libs/src/kafka.c) then replaces its librdkafka handle, and the outbox sends the rows of the
failed batch again. The probe (libs/tests/probes/producer_fatal.c) drives the real relay
against the real Kafka and PostgreSQL and raises the fatal error with librdkafka's own
rd_kafka_test_fatal_error(); this test checks the topic: every row once, none lost."""
import json
import os
import subprocess

import pytest

from conftest import (BROKERS, PG_PORT, ROOT, pg_password, read_since, scratch_topic, sql,
                      wait_until)

# Runs a probe binary beside the local stack: not against make compose-test.
pytestmark = pytest.mark.local_stack

PROBE = os.path.join(ROOT, "build", "release", "tests", "producer-fatal-probe")
COUNT = 40


def test_relay_recovers_from_a_fatal_producer_error_without_loss_or_duplicates():
    with scratch_topic("probe.fatal") as topic:
        relay_through_a_fatal_error(topic, "probe_fatal_" + topic.rsplit("-", 1)[1])


def relay_through_a_fatal_error(topic, schema):
    sql("order", f"CREATE SCHEMA {schema}")
    try:
        conninfo = (f"host=localhost port={PG_PORT} dbname=orders user=orders "
                    f"password={pg_password('orders')} options=-csearch_path={schema}")
        run = subprocess.run([PROBE, conninfo, BROKERS, topic, str(COUNT)],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        outcome = json.loads(run.stdout)
        # The pass that met the fatal error delivered nothing, said so, and left a new handle.
        assert outcome["beforeFatal"] == COUNT // 2
        assert outcome["atFatal"] == 0 and outcome["failedAtFatal"] == COUNT // 2, outcome
        assert outcome["replaced"] is True, outcome
        assert outcome["afterFatal"] == COUNT - COUNT // 2, outcome
        assert "replaced by a new producer" in run.stderr

        # The relay deletes a row once Kafka has acknowledged it: nothing is left waiting.
        assert sql("order", f"SELECT count(*) FROM {schema}.outbox") == [(0,)]
        messages = read_since({(topic, 0): 0},
                              until=lambda ms: len(ms) >= COUNT, timeout=30)
        # Nothing more arrives: the log holds every row of the outbox, each event once.
        wait_until(lambda: len(read_since({(topic, 0): 0})) == COUNT, 10, "the topic to settle")
        settled = read_since({(topic, 0): 0})
        assert sorted(m.key for m in settled) == sorted(f"probe-{i}" for i in range(COUNT))
        assert len({m.event["eventId"] for m in settled}) == COUNT
        assert len(messages) == COUNT
    finally:
        sql("order", f"DROP SCHEMA {schema} CASCADE")
