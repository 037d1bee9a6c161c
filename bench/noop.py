#!/usr/bin/env python3
"""Fleet no-op figures (prints them; not a test): how the cost of a converge grows with the fleet.

    .venv/bin/python bench/noop.py [--hosts 20] [--rtt-ms 50] [--runs 3]    (or `make bench`)

Brings up N sandbox hosts (real sshd in namespaces, from the plain base: Phase 1 installs Docker
Engine and Compose) and the machine-side services (apt cache, registry, seed sim, HF endpoint,
git daemon); with --rtt-ms each host's SSH goes through a relay on 127.0.0.1 that adds that
round trip (sandbox/bench/latency.py: the kernel here has no netem). Then:

- the first apply of deploys/node.py on all N hosts at once (wall time, remote commands);
- the no-op converge `--runs` times on N hosts and on 1 of them (its own one-host inventory):
  remote commands per host (GONKA_DEPLOY_COUNT_COMMANDS, gonka_deploy/counting.py), wall time
  min/median/max, the N/1 ratio, and the controller's CPU seconds per host (user+sys of the
  pyinfra process, resource.getrusage of the child). Each no-op must report no change.
- with --compare, the same no-op runs again as before issue 15 (GONKA_DEPLOY_FACT_CACHE=0:
  every fact its own round trip; GONKA_DEPLOY_BARRIERS=1: pyinfra's barrier per operation);
- `gonka-deploy status` (issue 14) `--runs` times on the N converged hosts and on 1: wall time
  min/median/max and the N/1 ratio; each must exit 0 (every host healthy);
- for each run, the hosts' own CPU (every process under each host's PID 1: sshd and what it
  runs, dockerd, containerd, shims, the stand-in containers) and how busy the machine was.
  All N sandbox hosts share this machine's CPUs, so N hosts need at least N times one host's
  own CPU spread over them: the floor printed after each figure, which the N/1 ratio cannot
  go under here (on a real fleet each host has its own CPUs).

With --keep the fleet stays up after the figures until interrupted (Ctrl-C), to look around.

Needs root and the Debian packages of scripts/debian-deps.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import runpy
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from pprint import pformat

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "sandbox")]


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def hosts_ticks(roots: list[int]) -> int:
    """CPU clock ticks of sandbox hosts so far: every process under each host's PID 1 (sshd and
    what it runs, dockerd, containerd, shims, containers), their own and their reaped
    children's; one pass over /proc for all of them."""
    from sandbox.bench.proc import descendants, process_table

    table = process_table()
    return sum(sum(int(v) for v in table[pid][11:15])   # utime stime cutime cstime
               for root in roots for pid in descendants(root, table) if pid in table)


def machine_ticks() -> int:
    """CPU the whole machine spent (user, nice, system, irq, softirq), in clock ticks."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6))


TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


class Cpu:
    """The hosts' own CPU and the machine's across a run (``with Cpu(pids) as cpu:``)."""

    def __init__(self, pids: list[int]):
        self.pids = pids

    # the /proc scans (a few tenths of a second each) lie outside the machine's window
    def __enter__(self):
        self.hosts0 = hosts_ticks(self.pids)
        self.machine0, self.t0 = machine_ticks(), time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        self.machine = (machine_ticks() - self.machine0) / TICK
        self.hosts = (hosts_ticks(self.pids) - self.hosts0) / TICK

    def text(self) -> str:
        n = len(self.pids)
        return (f"hosts' own CPU {self.hosts:.1f} s ({self.hosts / n:.2f} s per host), machine "
                f"busy {self.machine / (self.wall * CORES):.0%} of its {CORES} CPUs")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def apply(inventory: Path, env: dict, counts: Path, pids: list[int]) -> dict:
    """One `pyinfra INVENTORY deploys/node.py -y`: wall, CPU (the controller's, the hosts'),
    rc, totals, remote commands (kept in `counts`, with each command's first characters and
    seconds)."""
    argv = [sys.executable, "-m", "pyinfra", str(inventory), "deploys/node.py", "-y"]
    cpu0, t0 = cpu_children(), time.monotonic()
    with Cpu(pids) as usage:
        p = subprocess.run(argv, cwd=REPO,
                           env={**env, "GONKA_DEPLOY_COUNT_COMMANDS": str(counts)},
                           capture_output=True, text=True, timeout=3600)
    wall, cpu = time.monotonic() - t0, cpu_children() - cpu0
    text = p.stdout + p.stderr
    total = re.findall(r"Grand total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text)
    per_host = json.loads(counts.read_text()) if counts.exists() else {}
    return {"rc": p.returncode, "wall": wall, "cpu": cpu, "text": text, "usage": usage,
            "total": total[-1] if total else None, "counts": per_host}


def commands(run: dict) -> str:
    n = [c["commands"] for c in run["counts"].values()] or [0]
    t = [c["transfers"] for c in run["counts"].values()] or [0]
    return (f"remote commands per host {statistics.mean(n):.1f} (min {min(n)}, max {max(n)}), "
            f"file transfers per host {statistics.mean(t):.1f}")


def report(what: str, run: dict, hosts: int) -> None:
    h, success, error, no_change = run["total"] or ("?",) * 4
    print(f"{what}: {run['wall']:.1f} s wall, controller CPU {run['cpu']:.2f} s "
          f"({run['cpu'] / hosts:.2f} s per host), rc {run['rc']}; operations changed "
          f"{success}, failed {error}, no change {no_change}; {commands(run)}; "
          f"{run['usage'].text()}", flush=True)


def check(run: dict, noop: bool) -> None:
    if run["rc"]:
        print(run["text"][-6000:], file=sys.stderr)
        raise SystemExit(f"pyinfra failed (rc {run['rc']})")
    if noop and run["total"] and run["total"][1] != "-":
        print(run["text"][-6000:], file=sys.stderr)
        raise SystemExit("a no-op apply changed something")


def listen_drops() -> dict[str, int]:
    """The machine's TCP accept-queue overflows and drops (root network namespace, where the
    sandbox services listen; machine-wide, so other sandboxes count too)."""
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()
             if line.startswith("TcpExt:")]
    values = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:]), strict=True))
    return {k: values.get(k, 0) for k in ("ListenOverflows", "ListenDrops")}


def spread(values: list[float], digits: int = 1) -> str:
    return (f"min {min(values):.{digits}f} s, median {statistics.median(values):.{digits}f} s, "
            f"max {max(values):.{digits}f} s")


def floor(what: str, n: int, host_cpu_1: float, wall_1: float) -> None:
    """What the N hosts' own side needs of this machine: every sandbox host runs on the same
    CPUs, so N hosts need N times one host's own CPU, spread over them at best."""
    need = n * host_cpu_1 / CORES
    print(f"  {what}: one host's own side takes {host_cpu_1:.2f} s of CPU, so {n} hosts need at "
          f"least {need:.1f} s of this machine's {CORES} CPUs: a floor of {need / wall_1:.1f} x "
          f"the 1-host wall here, before the controller's share", flush=True)


def noops(runs: int, n: int, full: Path, single: Path, env: dict, counts: Path,
          label: str, pids: list[int]) -> None:
    walls: dict[int, list[float]] = {n: [], 1: []}
    cpus: dict[int, list[float]] = {n: [], 1: []}
    own: dict[int, list[float]] = {n: [], 1: []}
    tag = "before" if label else "now"
    for i in range(runs):
        for size, inv in ((n, full), (1, single)):
            run = apply(inv, env, counts / f"noop-{tag}-{size}-{i + 1}.json", pids[:size])
            report(f"no-op {i + 1}, {size} host{'s' if size > 1 else ''}{label}", run, size)
            check(run, noop=True)
            walls[size].append(run["wall"])
            cpus[size].append(run["cpu"] / size)
            own[size].append(run["usage"].hosts / size)
    print(f"no-op wall{label}, {n} hosts: {spread(walls[n])}", flush=True)
    print(f"no-op wall{label}, 1 host: {spread(walls[1])}", flush=True)
    print(f"ratio{label} {n} hosts / 1 host (medians): "
          f"{statistics.median(walls[n]) / statistics.median(walls[1]):.2f}", flush=True)
    print(f"controller CPU per host per no-op{label}: {statistics.median(cpus[n]):.2f} s "
          f"({n} hosts), {statistics.median(cpus[1]):.2f} s (1 host); "
          f"machine load now {load()}", flush=True)
    print(f"each host's own CPU per no-op{label} (medians): {statistics.median(own[n]):.2f} s "
          f"({n} hosts), {statistics.median(own[1]):.2f} s (1 host)", flush=True)
    floor(f"no-op{label}", n, statistics.median(own[1]), statistics.median(walls[1]))


def status(inventory: Path, env: dict, pids: list[int]) -> dict:
    """One `gonka-deploy status INVENTORY`: wall time, exit code, the hosts' own CPU."""
    argv = [str(Path(sys.executable).with_name("gonka-deploy")), "status", str(inventory)]
    cpu0 = cpu_children()
    with Cpu(pids) as usage:
        p = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
    return {"rc": p.returncode, "wall": usage.wall, "cpu": cpu_children() - cpu0,
            "usage": usage, "text": p.stdout + p.stderr}


def statuses(runs: int, n: int, full: Path, single: Path, env: dict, pids: list[int]) -> None:
    walls: dict[int, list[float]] = {n: [], 1: []}
    own: dict[int, list[float]] = {n: [], 1: []}
    for i in range(runs):
        for size, inv in ((n, full), (1, single)):
            run = status(inv, env, pids[:size])
            print(f"status {i + 1}, {size} host{'s' if size > 1 else ''}: {run['wall']:.2f} s "
                  f"wall, rc {run['rc']}, controller CPU {run['cpu']:.2f} s; "
                  f"{run['usage'].text()}", flush=True)
            if run["rc"]:
                print(run["text"][-4000:], file=sys.stderr)
                raise SystemExit("status found an unhealthy host on a converged fleet")
            walls[size].append(run["wall"])
            own[size].append(run["usage"].hosts / size)
    print(f"status wall, {n} hosts: {spread(walls[n], 2)}", flush=True)
    print(f"status wall, 1 host: {spread(walls[1], 2)}", flush=True)
    print(f"status ratio {n} hosts / 1 host (medians): "
          f"{statistics.median(walls[n]) / statistics.median(walls[1]):.2f}", flush=True)
    floor("status", n, statistics.median(own[1]), statistics.median(walls[1]))


def one_host_inventory(full: Path, out: Path) -> Path:
    """The first host of `full` alone, in its own inventories/ (same group name, same group
    data, same host data: the same node as in the fleet run)."""
    first = runpy.run_path(str(full))["sandbox_hosts"][0]
    inv = out / "inventories" / "sandbox.py"
    (out / "inventories" / "group_data").mkdir(parents=True, exist_ok=True)
    gd = full.parent / "group_data" / "sandbox.py"
    (out / "inventories" / "group_data" / "sandbox.py").write_text(gd.read_text())
    inv.write_text(f"sandbox_hosts = [\n    {pformat(first, width=94)},\n]\n")
    return inv


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=20, help="fleet size N (default 20)")
    ap.add_argument("--rtt-ms", type=float, default=0, help="round trip added to each SSH")
    ap.add_argument("--runs", type=int, default=3, help="no-op runs per fleet size")
    ap.add_argument("--compare", action="store_true",
                    help="also measure the no-op without the fact cache and with barriers")
    ap.add_argument("--keep", action="store_true",
                    help="keep the fleet up after the figures, until interrupted")
    ap.add_argument("--docker", action="store_true",
                    help="hosts with Docker preinstalled (a shorter first apply)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (namespaces, loop devices)", file=sys.stderr)
        return 1
    from sandbox.bench import Fleet, inventory
    from sandbox.bench.latency import Relays
    from sandbox.bench.services import start_services

    fleet, relays = Fleet(mode="netns"), None
    try:
        fleet.start()
        hosts = fleet.add(args.hosts, docker=args.docker)
        state: dict = {"services": []}
        start_services(fleet, state)
        ssh = None
        if args.rtt_ms:
            relays = Relays(args.rtt_ms)
            ssh = {h.name: ("127.0.0.1", relays.add(h.address, h.port)) for h in hosts}
        out = Path(tempfile.mkdtemp(prefix="gonka-bench-noop-"))
        inventory.write(out, hosts, str(fleet.key), fleet.gateway,
                        gonka_ref=state.get("gonka_ref"),
                        model=state.get("model", inventory.DEFAULT_MODEL),
                        model_commit=state.get("model_commit"),
                        images=inventory.standin_images(fleet.images), ssh=ssh,
                        alerting=inventory.standin_exporter(fleet.images))
        full = out / "inventories" / "sandbox.py"
        single = one_host_inventory(full, out / "one")
        env = dict(os.environ, GONKA_SECRETS_DIR=str(out / "secrets"),
                   GONKA_STATE_DIR=str(out / "nodes"), PYTHONPATH=str(REPO))
        counts = out / "counts"
        counts.mkdir()
        n = args.hosts
        print(f"{n} hosts, added RTT {args.rtt_ms:g} ms, machine load {load()} "
              f"({os.cpu_count()} CPUs)", flush=True)
        drops = listen_drops()
        pids = [h.pid for h in hosts]
        first = apply(full, env, counts / "first.json", pids)
        report(f"first apply, {n} hosts", first, n)
        after = listen_drops()
        print("  accept queues during it (machine-wide): "
              + ", ".join(f"{k} +{after[k] - drops[k]}" for k in after), flush=True)
        check(first, noop=False)
        modes = [("", {})]
        if args.compare:
            modes.append((" [before: no fact cache, barriers]",
                          {"GONKA_DEPLOY_FACT_CACHE": "0", "GONKA_DEPLOY_BARRIERS": "1"}))
        for label, extra in modes:
            noops(args.runs, n, full, single, {**env, **extra}, counts, label, pids)
        statuses(args.runs, n, full, single, env, pids)
        print(f"(inventories, node state, and in counts/ each run's commands: {out})", flush=True)
        if args.keep:
            print(f"fleet kept up: pyinfra {full} ...; Ctrl-C ends it", flush=True)
            signal.signal(signal.SIGTERM, signal.default_int_handler)   # as Ctrl-C
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass
        return 0
    finally:
        if relays:
            relays.close()
        fleet.stop()


if __name__ == "__main__":
    sys.exit(main())
