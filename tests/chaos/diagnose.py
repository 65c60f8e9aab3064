"""What the chaos suite reports about a consumer group that stopped draining: which partitions
are behind and by how much, what each instance of the group's service believes it holds and
lags (its kafka_consumer_lag gauges), and where each instance's consumer thread is (its stack,
read with gdb). A stalled group is rare and depends on timing, so the report must say enough
to tell a stuck client library (the thread waits in a poll while partitions wait) from a
stuck handler (the thread waits in PostgreSQL) from the one run that shows it. CI keeps only
the end of a run's output: the report is short, and run.sh prints it again at the very end."""
import re
import shutil
import subprocess

import requests

import checks
import topology as t

FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?([A-Za-z_][\w.]*|\?\?) \(")
STACK_DEPTH = 9  # the innermost frames name the wait; the outer ones only the loop


def partitions_behind(brokers, group, topics):
    """[(topic, partition, committed, end)] of the group's partitions with messages left."""
    return [(topic, p, committed, end) for (topic, p), (committed, end)
            in sorted(checks.committed_and_end(brokers, group, topics).items())
            if end > max(committed, 0)]


def instance_lags(service, k):
    """The instance's own view: its non-zero kafka_consumer_lag gauges, as 'topic[p]=lag'."""
    try:
        text = requests.get(t.url(service, "/metrics", k), timeout=3).text
    except requests.RequestException as e:
        return f"metrics unreadable ({type(e).__name__})"
    lags = []
    for line in text.splitlines():
        m = re.match(r'kafka_consumer_lag\{.*topic="([^"]+)",partition="(\d+)"\} (\d+)', line)
        if m and m.group(3) != "0":
            lags.append(f"{m.group(1)}[{m.group(2)}]={m.group(3)}")
    return "lags " + (", ".join(lags) if lags else "none")


def consumer_stack(pid):
    """The consumer thread's innermost frames, innermost first ('poll < ... < ev_worker_run'),
    or why they could not be read."""
    if not shutil.which("gdb"):
        return "no gdb to read the stack"
    try:
        out = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex",
                              "thread apply all bt 40"], capture_output=True, text=True,
                             timeout=60).stdout
    except (subprocess.TimeoutExpired, OSError) as e:
        return f"gdb failed ({type(e).__name__})"
    for thread in re.split(r"\n(?=Thread \d+ )", out):
        # libc's and libraries' internals ("__futex...", unnamed frames) say nothing here
        frames = [m.group(1) for m in map(FRAME.match, thread.splitlines())
                  if m and not m.group(1).startswith(("_", "??"))]
        if "ev_worker_run" in frames:
            frames = frames[:frames.index("ev_worker_run") + 1]
            return " < ".join(frames[:STACK_DEPTH - 1] + frames[-1:] if len(frames) > STACK_DEPTH
                              else frames)
    return "no consumer thread found"


def report(brokers, stalled, groups):
    """Lines describing each group in `stalled` ({group: lag}); groups maps a group to its
    topics. The group's name is its service's (the topology table gives both)."""
    lines = []
    for group in sorted(stalled):
        try:
            behind = ", ".join(f"{topic}[{p}] committed {committed} of {end}"
                               for topic, p, committed, end in
                               partitions_behind(brokers, group, groups[group]))
        except Exception as e:  # a broker still away: say so and go on
            behind = f"partitions unreadable ({e})"
        lines.append(f"stall {group}: {stalled[group]} messages left: {behind}")
        for k in range(1, t.REPLICAS + 1):
            pid = t.pid_of(t.program(group, k))
            where = consumer_stack(pid) if pid else "not running"
            lines.append(f"stall {group}#{k} pid {pid}: {instance_lags(group, k)}; consumer at {where}")
    return lines
