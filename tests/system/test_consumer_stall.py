"""A partition that stops moving while it holds messages means a stuck consumer, and the
worker replaces the consumer (libs/src/worker.c; librdkafka 2.0.2 can leave a partition
assigned and unfetched after broker failures). The probe (libs/tests/probes/consumer_stall.c)
drives the stall check and a replacement consumer against the real Kafka; a paused partition
stands in for the stuck client. The check must stay quiet for partitions that are merely
caught up, and must find the stuck one while the consumer's other partition keeps
delivering."""
import json
import os
import re
import subprocess
import uuid

import pytest

from conftest import BROKERS, ROOT, scratch_topic

# Runs a probe binary beside the local stack: not against make compose-test.
pytestmark = pytest.mark.local_stack

PROBE = os.path.join(ROOT, "build", "release", "tests", "consumer-stall-probe")
COUNT = 40
IDLE_MS = 2000


def test_a_stuck_partition_is_told_from_quiet_ones_and_a_new_consumer_gets_every_message():
    with scratch_topic("probe.stall", partitions=2) as topic:
        group = f"probe-stall-{uuid.uuid4().hex[:12]}"
        run = subprocess.run([PROBE, BROKERS, topic, group, str(COUNT), str(IDLE_MS)],
                             capture_output=True, text=True, timeout=180)
        assert run.returncode == 0, run.stderr
        outcome = json.loads(run.stdout)
        # Caught up, with nothing waiting: never stalled. Nor right after a time without
        # polling (a worker busy with a batch), though messages waited meanwhile. Nor when
        # the broker said once that messages wait, which had just arrived.
        assert outcome["quietStalled"] is False, outcome
        assert outcome["busyStalled"] is False, outcome
        assert outcome["lateStalled"] is False, outcome
        # Partition 0 paused while messages arrive for both: partition 1 kept delivering, and
        # the check named partition 0 with where it stood and how far the log went.
        assert outcome["deliveredWhilePaused"] > 0, outcome
        assert outcome["pausedStalled"] is True, outcome
        m = re.fullmatch(re.escape(topic) + r"\[0\] at offset (\d+) of (\d+)", outcome["pausedWhat"])
        assert m and int(m.group(1)) < int(m.group(2)), outcome
        # The new consumer in the group started at the committed offsets: every message sent
        # arrived, none twice.
        assert outcome["sent"] > COUNT, outcome
        assert outcome["first"] + outcome["afterReplace"] == outcome["sent"], outcome
        assert outcome["missing"] == 0 and outcome["duplicates"] == 0, outcome
