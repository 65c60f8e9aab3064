"""The bench's two pictures, drawn with matplotlib from results (bench/results.py):

- bench-latency.png: end-to-end latency p50/p95/p99 against offered load, one line style per
  stack shape;
- bench-cpu.png: CPU-ms per order at each offered rate, stacked by component.
"""
import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

import results  # noqa: E402

STYLES = ["-", "--", ":"]


def draw(runs, out_dir):
    """Draws both pictures of the given results (first = the measured stack) into out_dir;
    returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    return [_latency(runs, os.path.join(out_dir, "bench-latency.png")),
            _cpu(runs, os.path.join(out_dir, "bench-cpu.png"))]


def _latency(runs, path):
    fig, ax = plt.subplots(figsize=(7, 4))
    for style, run in zip(STYLES, runs):
        rates = [r["offered"] for r in run["rates"]]
        for p, color in (("p50", "tab:green"), ("p95", "tab:orange"), ("p99", "tab:red")):
            ax.plot(rates, [r[p] for r in run["rates"]], style, marker="o", color=color,
                    label=f"{p}, {results.shape_name(run)}")
    ax.set_yscale("log")
    ax.set_xlabel("offered orders/s")
    ax.set_ylabel("POST → shipment visible (ms)")
    ax.set_title(f"End-to-end latency ({runs[0]['date'][:10]}, {runs[0]['commit']})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cpu(runs, path):
    bars = [(f"{r['offered']}/s{' *' if r.get('cpuBasis') == 'run' else ''}\n"
             f"k{run['shape']['kafkaNodes']}r{run['shape']['replicas']}", r)
            for run in runs for r in run["rates"]]
    # a fixed order, so that a component keeps its colour from one picture to the next
    first = ["postgres", "kafka", "order", "orchestrator", "inventory", "payment", "shipping",
             "read-model", "notification"]
    found = {c for _, r in bars for c in r["cpuMsPerOrder"]}
    comps = [c for c in first if c in found] + sorted(found - set(first))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(bars) + 3), 4.5))
    bottom = [0.0] * len(bars)
    tab20 = plt.get_cmap("tab20").colors
    colors = tab20[0::2] + tab20[1::2]  # the ten strong colours first
    for i, comp in enumerate(comps):
        values = [r["cpuMsPerOrder"].get(comp, 0.0) for _, r in bars]
        ax.bar([label for label, _ in bars], values, bottom=bottom, label=comp, color=colors[i % len(colors)])
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylabel("CPU-ms per order carried")
    ax.set_title("Where an order's CPU goes (/proc utime+stime)")
    ax.set_xlabel("offered rate, stack (k = Kafka nodes, r = instances); * = the stack fell"
                  " behind: whole run", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
