"""A perf profile of the stack under load, for the bench's "top costs per component".

Samples the software event cpu-clock (hardware counters are often missing in virtual
machines: `perf stat -e instructions true` says `<not supported>` there) on the stack's
processes only, with call graphs (`perf record -g`), while the bench offers one rate; then
counts each sample's own symbol (self time) per component. The Kafka JVMs are asked for a
map of their JIT-compiled code first (`jcmd PID Compiler.perfmap`, written to
/tmp/perf-PID.map where perf looks for it), so Java frames get names.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import cost

FREQUENCY = 499  # samples per second per CPU; odd so as not to beat with timers


def hardware_counters():
    """True if perf counts instructions here (a bare-metal or counter-passing machine)."""
    out = subprocess.run(["perf", "stat", "-e", "instructions", "true"], capture_output=True, text=True)
    return out.returncode == 0 and "not supported" not in out.stderr


def _stack_pids(stack):
    """pid -> component of every process of the stack (process trees of its programs)."""
    children = {}
    for path in os.listdir("/proc"):
        if path.isdigit():
            try:
                with open(f"/proc/{path}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(path))
    out = {}
    for program, pid in stack.programs.items():
        todo = [pid]
        while todo:
            p = todo.pop()
            out[p] = cost.component_of(program)
            todo.extend(children.get(p, []))
    return out


def record(stack, seconds, start_load, top=5):
    """Profiles `seconds` of the stack while start_load() (returning a Popen) offers orders."""
    if not shutil.which("perf"):
        return {"error": "perf is not installed (Debian linux-perf); the counters above are the profile"}
    stack.refresh()
    pids = _stack_pids(stack)
    maps = []
    for pid, comp in pids.items():
        if comp == "kafka" and shutil.which("jcmd"):
            subprocess.run(["jcmd", str(pid), "Compiler.perfmap"], capture_output=True)
            maps.append(f"/tmp/perf-{pid}.map")
    try:
        return _record(pids, seconds, start_load, top)
    finally:
        for path in maps:  # written by the JVM for perf script only
            if os.path.exists(path):
                os.remove(path)


def _record(pids, seconds, start_load, top):
    load = start_load()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "perf.data")
        try:
            time.sleep(2)  # past the load generator's start
            # A process of the list may end meanwhile (a PostgreSQL backend whose client left),
            # and perf refuses a list with a gone pid: keep the living ones, and try once more.
            for _ in range(2):
                alive = [p for p in pids if os.path.exists(f"/proc/{p}")]
                rec = subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", str(FREQUENCY), "-g",
                                      "-o", data, "-p", ",".join(map(str, alive)), "--", "sleep",
                                      str(seconds)], capture_output=True, text=True)
                if rec.returncode == 0 or "No such process" not in rec.stderr:
                    break
        finally:
            load.wait()
        if rec.returncode != 0:
            return {"error": f"perf record failed here: {rec.stderr.strip()[-300:]}"}
        script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,ip,sym,dso"],
                                capture_output=True, text=True).stdout
    return _summarise(script, pids, seconds, top) | {
        "hardwareCounters": hardware_counters(), "frequency": FREQUENCY}


def _summarise(script, pids, seconds, top):
    """Self-time shares per component from `perf script` (header line, then the call chain
    with the sampled frame first). A process started after the recording began (a new
    PostgreSQL backend) is placed by its command name."""
    per_comp, kernel, total, comp, expect_leaf = {}, {}, 0, None, False
    for line in script.splitlines():
        header = re.match(r"^\s*(\S.*?)\s+(\d+)/(\d+)\s*$", line)
        if header:
            comm, pid = header.group(1), int(header.group(2))
            comp = pids.get(pid) or ("postgres" if comm == "postgres" else f"other ({comm})")
            expect_leaf = True
            continue
        frame = re.match(r"^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        if frame and expect_leaf:
            sym, dso = frame.group(1), os.path.basename(frame.group(2))
            if sym == "[unknown]":
                sym = "[JIT or unmapped code]" if dso.startswith(("perf-", "[unknown]")) else f"[{dso}]"
            else:
                sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            counts = per_comp.setdefault(comp, {})
            counts[sym] = counts.get(sym, 0) + 1
            kernel[comp] = kernel.get(comp, 0) + (dso == "[kernel.kallsyms]")
            total += 1
            expect_leaf = False
    comps = []
    for comp, counts in sorted(per_comp.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(counts.values())
        comps.append({"component": comp, "samples": n, "share": 100 * n / max(1, total),
                      "kernelShare": 100 * kernel.get(comp, 0) / n,
                      "top": [{"symbol": s, "share": 100 * c / n}
                              for s, c in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]})
    return {"samples": total, "seconds": seconds, "components": comps}
