"""The stack's idle floor: CPU-ms per second of each component while no orders are placed,
read from /proc over a window (bench/cost.py's readers). Used to weigh the broker's and the
clients' settings, whose cost with no traffic is polls, heartbeats, commits and timers.

    EVENTIFY_PORT_OFFSET=300 /usr/bin/python3 bench/idle.py [seconds=30] [rounds=1]
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cost  # noqa: E402


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    offset = int(os.environ.get("EVENTIFY_PORT_OFFSET", "0"))
    run = os.environ.get("EVENTIFY_RUN_DIR", os.path.join(cost.ROOT, ".run"))
    stack = cost.Stack(os.path.abspath(run), offset)
    for _ in range(rounds):
        before, t0 = cost.cpu_ms(stack), time.monotonic()
        time.sleep(seconds)
        after, t1 = cost.cpu_ms(stack), time.monotonic()
        rates = {c: (after[c] - before.get(c, 0.0)) / (t1 - t0) for c in after}
        total = sum(rates.values())
        parts = ", ".join(f"{c} {r:.1f}" for c, r in sorted(rates.items(), key=lambda kv: -kv[1]))
        print(f"idle CPU-ms/s over {t1 - t0:.0f} s: total {total:.1f}; {parts}", flush=True)


if __name__ == "__main__":
    main()
